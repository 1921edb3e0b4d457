"""Name search by index: a trigram GIN index on products.name (extension pg_trgm) for
``ILIKE '%text%'``, and a btree on (name, id) for the search's name order.

With both the planner has a cheap plan for either kind of search: a rare word is
looked up in the trigram index; a common one walks the names in order and stops at the
search's row limit. Without them every search read and matched all product names.

The extension is created when missing (pg_trgm is a trusted extension: the database's
owner may create it); the downgrade drops it only when this migration created it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TRIGRAM_INDEX = "ix_products_name_trgm"
NAME_INDEX = "ix_products_name_id"
# Set as the extension's comment when this migration creates it: the downgrade then
# knows the extension is its own to drop (and leaves one installed before it alone).
CREATED_MARK = "pg_trgm, created by christmas_spiders migration 0009"


def _installed(conn: sa.Connection) -> bool:
    found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
    return found.first() is not None


def upgrade() -> None:
    conn = op.get_bind()
    if not _installed(conn):
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE EXTENSION pg_trgm"))
        except sa.exc.DBAPIError as exc:
            raise RuntimeError(
                "migration 0009 needs the PostgreSQL extension pg_trgm (name search by "
                "index) and could not create it: install the server's contrib modules "
                "(Debian: postgresql-contrib) or have a superuser run "
                f"`CREATE EXTENSION pg_trgm` in this database, then upgrade again ({exc.orig})"
            ) from exc
        conn.execute(sa.text(f"COMMENT ON EXTENSION pg_trgm IS '{CREATED_MARK}'"))
    op.create_index(
        TRIGRAM_INDEX,
        "products",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(NAME_INDEX, "products", ["name", "id"])


def downgrade() -> None:
    op.drop_index(NAME_INDEX, table_name="products")
    op.drop_index(TRIGRAM_INDEX, table_name="products")
    conn = op.get_bind()
    comment = conn.execute(
        sa.text(
            "SELECT obj_description(oid, 'pg_extension') FROM pg_extension "
            "WHERE extname = 'pg_trgm'"
        )
    ).scalar()
    if comment == CREATED_MARK:
        conn.execute(sa.text("DROP EXTENSION pg_trgm"))
