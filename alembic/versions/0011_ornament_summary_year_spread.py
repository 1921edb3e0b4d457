"""An index of the ornament summary by release year in spread order.

One release year's listing by spread (``/api/v1/ornaments?release_year=Y&sort=-spread``)
read the year's ~600 skus through the year index and sorted them; in this index the
page is a walk of the year's entries in keyset order (Postgres CPU per page about half).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_ornament_summary_release_year_spread_key"


def upgrade() -> None:
    op.create_index(INDEX, "ornament_summary", ["release_year", "spread_key", "sku"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="ornament_summary")
