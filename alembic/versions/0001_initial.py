"""Initial schema: products, product_audit (+ audit trigger, append-only, NOTIFY,
price_history view, audit_settings), crawl_runs, api_keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from christmas_spiders.config import get_config
from christmas_spiders.db import audit_sql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), server_default="USD", nullable=False),
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("availability", sa.String(16), nullable=False),
        sa.Column("release_year", sa.Integer(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column(
            "last_synced_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("vendor", "vendor_id", name="uq_products_vendor_vendor_id"),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_not_negative")),
        sa.CheckConstraint(
            "availability IN ('in_stock', 'out_of_stock', 'delisted')",
            name=op.f("ck_products_availability_known"),
        ),
    )
    op.create_index("ix_products_sku", "products", ["sku"])
    op.create_index("ix_products_vendor_release_year", "products", ["vendor", "release_year"])
    op.create_index("ix_products_availability", "products", ["availability"])
    op.create_index("ix_products_last_synced_at", "products", ["last_synced_at"])

    op.create_table(
        "product_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("product_id", sa.String(24), nullable=False),
        sa.Column("operation", sa.String(6), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("crawl_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_product_audit"),
    )
    op.create_index(
        "ix_product_audit_product_id_changed_at", "product_audit", ["product_id", "changed_at"]
    )
    op.create_index("ix_product_audit_changed_at", "product_audit", ["changed_at"])
    op.create_index("ix_product_audit_field_changed_at", "product_audit", ["field", "changed_at"])

    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("crawl_id", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column(
            "args", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finish_reason", sa.String(64), nullable=True),
        sa.Column("full_crawl", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("items", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "dropped", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("browser_renders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("monitors_passed", sa.Boolean(), nullable=True),
        sa.Column("monitor_report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("delisted", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crawl_runs"),
    )
    op.create_index("ix_crawl_runs_vendor_started_at", "crawl_runs", ["vendor", "started_at"])
    op.create_index("ix_crawl_runs_crawl_id", "crawl_runs", ["crawl_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )

    op.create_table(
        "audit_settings",
        sa.Column("id", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("tracked_fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("notify_channel", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_settings"),
        sa.CheckConstraint("id", name=op.f("ck_audit_settings_single_row")),
    )

    # Triggers, append-only enforcement, NOTIFY, price_history: the one definition.
    audit_sql.install(op.get_bind(), get_config()["audit"])


def downgrade() -> None:
    audit_sql.uninstall(op.get_bind())
    op.drop_table("audit_settings")
    op.drop_table("api_keys")
    op.drop_index("ix_crawl_runs_crawl_id", table_name="crawl_runs")
    op.drop_index("ix_crawl_runs_vendor_started_at", table_name="crawl_runs")
    op.drop_table("crawl_runs")
    op.drop_index("ix_product_audit_field_changed_at", table_name="product_audit")
    op.drop_index("ix_product_audit_changed_at", table_name="product_audit")
    op.drop_index("ix_product_audit_product_id_changed_at", table_name="product_audit")
    op.drop_table("product_audit")
    op.drop_index("ix_products_last_synced_at", table_name="products")
    op.drop_index("ix_products_availability", table_name="products")
    op.drop_index("ix_products_vendor_release_year", table_name="products")
    op.drop_index("ix_products_sku", table_name="products")
    op.drop_table("products")
