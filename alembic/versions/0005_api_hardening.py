"""The read API's installation secret and its key check.

``api_settings``: one row holding the secret that signs pagination cursors, generated
by the server (``gen_random_uuid`` draws from its strong random source) so that no two
installations share it and no constant in the code can forge a cursor.

``christmas_api_key(key_hash)``: the key a SHA-256 hash belongs to (id and name), or
no row. It runs as its owner (SECURITY DEFINER), so the API's read-only role can check
one hash without any privilege on ``api_keys`` itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

KEY_FUNCTION = """
CREATE FUNCTION christmas_api_key(key_hash text)
RETURNS TABLE (id integer, name text)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
-- A definer function resolves names only where its owner decides.
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT k.id, k.name::text FROM public.api_keys AS k
    WHERE k.key_hash = christmas_api_key.key_hash AND k.revoked_at IS NULL
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_settings",
        # Always true: the table holds one row.
        sa.Column("singleton", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "cursor_secret",
            sa.Text(),
            server_default=sa.text(
                "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')"
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("singleton", name="pk_api_settings"),
        sa.CheckConstraint("singleton", name=op.f("ck_api_settings_one_row")),
    )
    op.execute("INSERT INTO api_settings DEFAULT VALUES")
    op.execute(KEY_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION christmas_api_key(text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION christmas_api_key(text)")
    op.drop_table("api_settings")
