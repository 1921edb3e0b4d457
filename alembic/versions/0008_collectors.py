"""The collectors' questions: retail_prices (original issue prices), index_closes (a
market index, the yardstick of appreciation), and ornament_summary (one row per sku
across the shops, kept current by statement triggers on products; its functions and
triggers are defined once in db/audit_sql.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from christmas_spiders.db import audit_sql
from christmas_spiders.db.models import NO_PRICE, NO_SPREAD

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

SUMMARY_INDEXES = {
    "ix_ornament_summary_spread_key": ["spread_key", "sku"],
    "ix_ornament_summary_spread_percent_key": ["spread_percent_key", "sku"],
    "ix_ornament_summary_cheapest_key": ["cheapest_key", "sku"],
    "ix_ornament_summary_rarity_key": ["rarity_key", "sku"],
    "ix_ornament_summary_offers": ["offers", "sku"],
    "ix_ornament_summary_release_year": ["release_year"],
}


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "retail_prices",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("release_year", sa.Integer(), nullable=False),
        sa.Column("retail_price", sa.Numeric(12, 2), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("sku", name="pk_retail_prices"),
        sa.CheckConstraint("retail_price > 0", name=op.f("ck_retail_prices_retail_price_positive")),
    )
    op.create_table(
        "index_closes",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("close", sa.Numeric(14, 4), nullable=False),
        sa.PrimaryKeyConstraint("date", name="pk_index_closes"),
        sa.CheckConstraint("close > 0", name=op.f("ck_index_closes_close_positive")),
    )
    text_array = postgresql.ARRAY(sa.Text())
    op.create_table(
        "ornament_summary",
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("names", text_array, server_default="{}", nullable=False),
        sa.Column("release_year", sa.Integer(), nullable=True),
        sa.Column("offers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("in_stock_offers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("vendors", text_array, server_default="{}", nullable=False),
        sa.Column("in_stock_vendors", text_array, server_default="{}", nullable=False),
        sa.Column("cheapest_vendor", sa.String(32), nullable=True),
        sa.Column("cheapest_product_id", sa.String(24), nullable=True),
        sa.Column("cheapest_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("dearest_vendor", sa.String(32), nullable=True),
        sa.Column("dearest_product_id", sa.String(24), nullable=True),
        sa.Column("dearest_price", sa.Numeric(12, 2), nullable=True),
        sa.Column("spread_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("spread_percent", sa.Numeric(), nullable=True),
        sa.Column("lowest_price_seen", sa.Numeric(12, 2), nullable=True),
        sa.Column(
            "in_stock_spans", postgresql.TSTZMULTIRANGE(), server_default="{}", nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column(
            "spread_key",
            sa.Numeric(12, 2),
            sa.Computed(f"coalesce(spread_amount, {NO_SPREAD})", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "spread_percent_key",
            sa.Numeric(),
            sa.Computed(f"coalesce(spread_percent, {NO_SPREAD})", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "cheapest_key",
            sa.Numeric(12, 2),
            sa.Computed(f"coalesce(cheapest_price, {NO_PRICE})", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "rarity_key",
            sa.Integer(),
            sa.Computed(
                "cardinality(in_stock_vendors) * 1000 + cardinality(vendors)", persisted=True
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sku", name="pk_ornament_summary"),
    )
    for name, columns in SUMMARY_INDEXES.items():
        op.create_index(name, "ornament_summary", columns)
    # Functions and triggers: the one definition; fills the table from today's products.
    audit_sql.install_ornament_summary(op.get_bind())


def downgrade() -> None:
    audit_sql.uninstall_ornament_summary(op.get_bind())
    for name in SUMMARY_INDEXES:
        op.drop_index(name, table_name="ornament_summary")
    op.drop_table("ornament_summary")
    op.drop_table("index_closes")
    op.drop_table("retail_prices")
