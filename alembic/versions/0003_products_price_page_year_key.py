"""Price-sorted product pages of one shop: release_year becomes a key column of
ix_products_vendor_availability_price, (vendor, availability, price, id, release_year).

As an INCLUDE column (0002) the year could be checked only by an index-only scan,
so the API read the page's ids that way and then joined back for the rows. As the
last key column, btree checks a year range on each index entry during a plain index
scan too: the page's rows are read straight from the heap in page order, only those
that match, without the join. Order by (price, id) is unchanged (id is unique).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_products_vendor_availability_price"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="products")
    op.create_index(INDEX, "products", ["vendor", "availability", "price", "id", "release_year"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="products")
    op.create_index(
        INDEX,
        "products",
        ["vendor", "availability", "price", "id"],
        postgresql_include=["release_year"],
    )
