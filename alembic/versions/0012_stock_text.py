"""products gains ``stock_text``: the stock wording the product page showed (NULL where
the shop's structured data gave the stock).

A refresh reads a row stored ``unknown`` again only when the crawl's stock wording now
reads its ``stock_text`` as in or out of stock (the phrase was mapped since): an
unchanged page with the same unknown phrase tells nothing new. Existing rows start
NULL, and a row stored ``unknown`` without it is read by the next refresh, as before.

Not an audited column (the audit tracks the availability the text was read as), so the
audit trigger stays as it is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("stock_text", sa.Text))


def downgrade() -> None:
    op.drop_column("products", "stock_text")
