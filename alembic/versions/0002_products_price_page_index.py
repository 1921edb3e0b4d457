"""Index for price-sorted product pages of one shop and availability (the API's
"cheapest in stock at this shop" page): (vendor, availability, price, id), release_year
included, so the page's ids come from an index-only scan in page order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_products_vendor_availability_price",
        "products",
        ["vendor", "availability", "price", "id"],
        postgresql_include=["release_year"],
    )


def downgrade() -> None:
    op.drop_index("ix_products_vendor_availability_price", table_name="products")
