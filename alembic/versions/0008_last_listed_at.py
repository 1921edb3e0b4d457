"""products.last_listed_at: when a listing page of the vendor last showed the product.

A refresh crawl (``-a mode=refresh``) reads only the product pages whose tile changed,
so ``last_synced_at`` (the last read of the product page) no longer says whether the
product is still listed; delisting counts a product as seen when either is recent.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("last_listed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("products", "last_listed_at")
