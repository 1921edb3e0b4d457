"""SQLAlchemy 2.0 models: the one schema shared by the crawler, the API and Alembic.

Changes from the user's original ``products`` table (see README, "Schema"):
prices are NUMERIC (exact cents), names and links are TEXT (real names exceed 40
characters, real links 100), timestamps carry a time zone, ``release_year`` is an
integer, ``currency`` is added, and (vendor, vendor_id) is unique.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZMULTIRANGE
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from christmas_spiders.items import ITEM_FIELDS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The product columns filled from a crawled item: the item's fields, in order (each has
# a Mapped column on Product below; tests/test_items.py checks they agree).
PRODUCT_FIELDS: tuple[str, ...] = ITEM_FIELDS


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Product(Base):
    """The latest known state of one product at one shop."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("vendor", "vendor_id", name="uq_products_vendor_vendor_id"),
        Index("ix_products_sku", "sku"),
        Index("ix_products_vendor_release_year", "vendor", "release_year"),
        Index("ix_products_availability", "availability"),
        Index("ix_products_last_synced_at", "last_synced_at"),
        # The API's price-sorted page of one shop and availability (migrations 0002,
        # 0003): pages in (price, id) order; a year range is checked in the index.
        Index(
            "ix_products_vendor_availability_price",
            "vendor",
            "availability",
            "price",
            "id",
            "release_year",
        ),
        # The database refuses what validation should already have refused.
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(
            "availability IN ('in_stock', 'out_of_stock', 'delisted')", name="availability_known"
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(32))
    vendor_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    brand: Mapped[str] = mapped_column(String(128))
    # in_stock, out_of_stock, or delisted (not seen in the vendor's last complete crawl).
    availability: Mapped[str] = mapped_column(String(16))
    release_year: Mapped[int] = mapped_column(Integer)
    link: Mapped[str] = mapped_column(Text)
    last_synced_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ProductAudit(Base):
    """One changed tracked field of one product; written only by the audit trigger."""

    __tablename__ = "product_audit"
    __table_args__ = (
        Index("ix_product_audit_product_id_changed_at", "product_id", "changed_at"),
        Index("ix_product_audit_changed_at", "changed_at"),
        Index("ix_product_audit_field_changed_at", "field", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # No foreign key: the audit outlives a deleted product.
    product_id: Mapped[str] = mapped_column(String(24))
    # INSERT, UPDATE or DELETE.
    operation: Mapped[str] = mapped_column(String(6))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The crawl that made the change (SET LOCAL christmas.crawl_id); NULL for changes by hand.
    crawl_id: Mapped[str | None] = mapped_column(String(64))


class AuditSettings(Base):
    """The audit trigger's settings (one row), copied from the config by `sync-audit`."""

    __tablename__ = "audit_settings"
    __table_args__ = (CheckConstraint("id", name="single_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    tracked_fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    notify_channel: Mapped[str] = mapped_column(Text)


class CrawlRun(Base):
    """One spider process's crawl (several workers of one session share a crawl_id)."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        Index("ix_crawl_runs_vendor_started_at", "vendor", "started_at"),
        Index("ix_crawl_runs_crawl_id", "crawl_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    crawl_id: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    # True when the crawl walked every year of the vendor (no years/product_url/stale_hours).
    full_crawl: Mapped[bool] = mapped_column(Boolean, server_default="false")
    pages: Mapped[int] = mapped_column(Integer, server_default="0")
    items: Mapped[int] = mapped_column(Integer, server_default="0")
    dropped: Mapped[dict[str, int]] = mapped_column(JSONB, server_default="{}")
    browser_renders: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, server_default="0")
    # Spidermon verdict: NULL while running, then true/false with the report.
    monitors_passed: Mapped[bool | None] = mapped_column(Boolean)
    monitor_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    delisted: Mapped[int] = mapped_column(Integer, server_default="0")


class ApiKey(Base):
    """An API key, stored only as a SHA-256 hash."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, shown by `keys list` to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# Sort keys of the ornament listing: never NULL, so a keyset can page through them. An
# ornament without a value sorts below every spread and above every price.
NO_SPREAD = "-1"
NO_PRICE = "9999999999.99"


class OrnamentSummary(Base):
    """One row per sku across the shops, kept current by a trigger on ``products``
    (db/audit_sql.py): the ornament listing and its rankings read it instead of
    aggregating every offer on each request."""

    __tablename__ = "ornament_summary"
    __table_args__ = (
        Index("ix_ornament_summary_spread_key", "spread_key", "sku"),
        Index("ix_ornament_summary_spread_percent_key", "spread_percent_key", "sku"),
        Index("ix_ornament_summary_cheapest_key", "cheapest_key", "sku"),
        Index("ix_ornament_summary_rarity_key", "rarity_key", "sku"),
        Index("ix_ornament_summary_offers", "offers", "sku"),
        Index("ix_ornament_summary_release_year", "release_year"),
    )

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    names: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # The year most of its offers give (the earliest of a tie).
    release_year: Mapped[int | None] = mapped_column(Integer)
    # Every stored offer, delisted ones included (as on /ornaments/<sku>).
    offers: Mapped[int] = mapped_column(Integer, server_default="0")
    in_stock_offers: Mapped[int] = mapped_column(Integer, server_default="0")
    # The shops listing it (in stock or sold out; not delisted), and those with it in stock.
    vendors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    in_stock_vendors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    cheapest_vendor: Mapped[str | None] = mapped_column(String(32))
    cheapest_product_id: Mapped[str | None] = mapped_column(String(24))
    cheapest_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    dearest_vendor: Mapped[str | None] = mapped_column(String(32))
    dearest_product_id: Mapped[str | None] = mapped_column(String(24))
    dearest_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Between the cheapest and the dearest in-stock offer: NULL with fewer than two.
    spread_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Unrounded (the API rounds it as /ornaments/<sku> does); NULL when the cheapest is free.
    spread_percent: Mapped[Decimal | None] = mapped_column(Numeric)
    # The lowest price any offer of the sku was stored at.
    lowest_price_seen: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # When some offer was in stock; the last span is open while one still is.
    in_stock_spans: Mapped[Any] = mapped_column(TSTZMULTIRANGE, server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    spread_key: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), Computed(f"coalesce(spread_amount, {NO_SPREAD})", persisted=True)
    )
    spread_percent_key: Mapped[Decimal] = mapped_column(
        Numeric, Computed(f"coalesce(spread_percent, {NO_SPREAD})", persisted=True)
    )
    cheapest_key: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), Computed(f"coalesce(cheapest_price, {NO_PRICE})", persisted=True)
    )
    # Rarest first: fewest shops with it in stock, then fewest shops listing it.
    rarity_key: Mapped[int] = mapped_column(
        Integer,
        Computed("cardinality(in_stock_vendors) * 1000 + cardinality(vendors)", persisted=True),
    )


class RetailPrice(Base):
    """An ornament's original issue price (`christmas db import-retail-prices`)."""

    __tablename__ = "retail_prices"
    __table_args__ = (CheckConstraint("retail_price > 0", name="retail_price_positive"),)

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    release_year: Mapped[int] = mapped_column(Integer)
    retail_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    imported_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class IndexClose(Base):
    """A market index's daily close (`christmas db import-index`), the yardstick of
    /stats/years' appreciation."""

    __tablename__ = "index_closes"
    __table_args__ = (CheckConstraint("close > 0", name="close_positive"),)

    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    close: Mapped[Decimal] = mapped_column(Numeric(14, 4))
