"""products gains ``record_json``: each row as the API answers it, kept by Postgres as a
generated column (its expression is built by db/audit_sql.product_json).

A page of products read fifteen values per row, cast its prices to text, and built and
encoded a record of each in Python: most of the page's CPU. It now reads one text per
row.

A migration that adds or drops an item field's column drops this column and adds it
again with the new list of columns (the expression names them).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from christmas_spiders.db import audit_sql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

# The record's columns at this revision, in the API's order, with their JSON kinds.
RECORD_COLUMNS = (
    ("id", "text"),
    ("vendor", "text"),
    ("vendor_id", "text"),
    ("sku", "text"),
    ("name", "text"),
    ("price", "money"),
    ("currency", "text"),
    ("brand", "text"),
    ("availability", "text"),
    ("release_year", "integer"),
    ("link", "text"),
    ("was_price", "money"),
    ("stock_text", "text"),
    ("last_synced_at", "time"),
    ("created_at", "time"),
)


def upgrade() -> None:
    op.execute(audit_sql.CREATE_JSON_TIME_FUNCTION)
    op.add_column(
        "products",
        sa.Column(
            "record_json",
            sa.Text(),
            sa.Computed(audit_sql.product_json(RECORD_COLUMNS), persisted=True),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("products", "record_json")
    op.execute(audit_sql.DROP_JSON_TIME_FUNCTION)
