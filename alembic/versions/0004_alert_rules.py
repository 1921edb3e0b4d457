"""Price alerts: alert_rules, the service's position (alert_cursor), the crawls it met
(alert_crawls), its view of every offer (alert_offers), the outbox and log of messages
(alert_deliveries), and an index on product_audit (crawl_id, id).

Installed on a database that already holds products, the service starts from now:
the cursor is set to the last audit row, and alert_offers is filled from products, so
history is never alerted and the first crossing is judged against today's offers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_index("ix_product_audit_crawl_id_id", "product_audit", ["crawl_id", "id"])

    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Numeric(12, 2), nullable=True),
        sa.Column("notify", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("armed", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("since_audit_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
        sa.UniqueConstraint("name", name="uq_alert_rules_name"),
        sa.CheckConstraint(
            "kind IN ('at_or_below', 'drop_percent', 'back_in_stock', 'new_offer')",
            name=op.f("ck_alert_rules_kind_known"),
        ),
        sa.CheckConstraint(
            "(kind = 'at_or_below' AND threshold >= 0) "
            "OR (kind = 'drop_percent' AND threshold > 0 AND threshold <= 100) "
            "OR (kind IN ('back_in_stock', 'new_offer') AND threshold IS NULL)",
            name=op.f("ck_alert_rules_threshold_fits_kind"),
        ),
        sa.CheckConstraint("cardinality(notify) > 0", name=op.f("ck_alert_rules_has_destination")),
    )
    op.create_index("ix_alert_rules_sku", "alert_rules", ["sku"])

    op.create_table(
        "alert_cursor",
        sa.Column("id", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("last_audit_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_cursor"),
        sa.CheckConstraint("id", name=op.f("ck_alert_cursor_single_row")),
    )

    op.create_table(
        "alert_crawls",
        sa.Column("crawl_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("handled_through", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "first_seen_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("crawl_id", name="pk_alert_crawls"),
        sa.CheckConstraint(
            "status IN ('pending', 'passed', 'failed')", name=op.f("ck_alert_crawls_status_known")
        ),
    )
    op.create_index("ix_alert_crawls_status", "alert_crawls", ["status"])

    op.create_table(
        "alert_offers",
        sa.Column("product_id", sa.String(24), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=True),
        sa.Column("availability", sa.String(16), nullable=True),
        sa.Column("price_audit_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("availability_audit_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="pk_alert_offers"),
    )
    op.create_index("ix_alert_offers_sku", "alert_offers", ["sku"])

    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("crawl_id", sa.String(64), nullable=True),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "alerts", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("status", sa.String(8), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
        sa.CheckConstraint(
            "kind IN ('alert', 'operator', 'test')", name=op.f("ck_alert_deliveries_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')",
            name=op.f("ck_alert_deliveries_status_known"),
        ),
    )
    op.create_index(
        "ix_alert_deliveries_status_next_attempt_at",
        "alert_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_alert_deliveries_crawl_id", "alert_deliveries", ["crawl_id"])

    # Start from now: history is not alerted, offers are today's.
    op.execute(
        "INSERT INTO alert_cursor (id, last_audit_id) "
        "SELECT true, coalesce(max(id), 0) FROM product_audit"
    )
    op.execute(
        "INSERT INTO alert_offers (product_id, sku, vendor, price, availability) "
        "SELECT id, sku, vendor, price, availability FROM products"
    )


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_crawl_id", table_name="alert_deliveries")
    op.drop_index("ix_alert_deliveries_status_next_attempt_at", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_offers_sku", table_name="alert_offers")
    op.drop_table("alert_offers")
    op.drop_index("ix_alert_crawls_status", table_name="alert_crawls")
    op.drop_table("alert_crawls")
    op.drop_table("alert_cursor")
    op.drop_index("ix_alert_rules_sku", table_name="alert_rules")
    op.drop_table("alert_rules")
    op.drop_index("ix_product_audit_crawl_id_id", table_name="product_audit")
