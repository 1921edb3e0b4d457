"""products gains ``listed_sold_out``: what the product's listing tile said about stock
at the last listing read (True: a sold-out word, False: a tile of a shop whose tiles
show stock without one, NULL: not seen on such a listing since the column exists).

A refresh reads a product page as ``back_in_stock`` when the tile no longer says sold
out but said so at the previous listing read: the tile compared with the tile, not with
the stored availability (a backordered product is stored out of stock while its tile
shows no sold-out word). Existing rows start NULL, where the refresh keeps the rule of
before (a tile without the word while stored out of stock) until a listing is read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("listed_sold_out", sa.Boolean))


def downgrade() -> None:
    op.drop_column("products", "listed_sold_out")
