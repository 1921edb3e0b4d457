"""ornament_summary gains ``listing_json``: each row as the ornament listing answers it,
kept by Postgres as a generated column (its expression is defined once in
db/audit_sql.py).

A listing page read twenty values per sku, cast its prices to text, and built and
encoded a record of each in Python: most of the page's CPU. It now reads one text per
sku and appends the share of the last 90 days in stock, the one value that depends on
when the page is asked.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from christmas_spiders.db import audit_sql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for statement in audit_sql.CREATE_JSON_FUNCTIONS:
        op.execute(statement)
    op.add_column(
        "ornament_summary",
        sa.Column(
            "listing_json",
            sa.Text(),
            sa.Computed(audit_sql.LISTING_JSON, persisted=True),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("ornament_summary", "listing_json")
    for statement in audit_sql.DROP_JSON_FUNCTIONS:
        op.execute(statement)
