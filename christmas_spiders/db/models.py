"""SQLAlchemy 2.0 models: the one schema shared by the crawler, the API and Alembic.

Against the first scraper's ``products`` table (docs/storage.md, "Schema"):
prices are NUMERIC (exact cents), names and links are TEXT (real names exceed 40
characters, real links 100), timestamps carry a time zone, ``release_year`` is an
integer, ``currency`` is added, and (vendor, vendor_id) is unique.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZMULTIRANGE
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from christmas_spiders.db.audit_sql import LISTING_JSON, product_json
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
        # Name search (migration 0009): ILIKE '%text%' by trigrams (a rare word), the
        # names in (name, id) order up to the search's limit (a common word).
        Index(
            "ix_products_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        Index("ix_products_name_id", "name", "id"),
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
            "availability IN ('in_stock', 'out_of_stock', 'unknown', 'delisted')",
            name="availability_known",
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
    # in_stock, out_of_stock, unknown (stock wording the crawler does not know), or
    # delisted (not seen in the vendor's last complete crawl).
    availability: Mapped[str] = mapped_column(String(16))
    release_year: Mapped[int] = mapped_column(Integer)
    link: Mapped[str] = mapped_column(Text)
    # The struck "was" / retail price shown beside the price; NULL where none (0006).
    was_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # The stock wording the page showed; NULL where structured data gave the stock, or
    # stored before the column (0012). A refresh re-reads a row stored unknown only when
    # the crawl's wording now reads this text otherwise.
    stock_text: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # When a year page of the vendor last listed this product (set at the end of each
    # crawl worker, whether the product's own page then answered or not); delisting
    # needs a complete crawl that did not list it.
    last_listed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # What the listing tile said about stock when last_listed_at was written (True: a
    # sold-out word; False: none, on a shop whose tiles show stock; NULL: never seen on
    # such a listing): a refresh reads a page whose tile stopped saying sold out (0010).
    listed_sold_out: Mapped[bool | None] = mapped_column(Boolean)


# What the API answers of a product, in order: its id, the item's fields, when a crawl
# last saw it and when it was first stored (api.product_queries).
PRODUCT_RECORD_COLUMNS: tuple[str, ...] = ("id", *PRODUCT_FIELDS, "last_synced_at", "created_at")
# The JSON kind (audit_sql.product_json) of each column type a record holds.
_JSON_KIND_OF_TYPE = {str: "text", Decimal: "money", int: "integer", dt.datetime: "time"}
PRODUCTS_TABLE = cast(Table, Product.__table__)


def product_record_kinds() -> tuple[tuple[str, str], ...]:
    """``(name, JSON kind)`` of each record column, by its column's type."""
    kinds = []
    for name in PRODUCT_RECORD_COLUMNS:
        python_type = PRODUCTS_TABLE.c[name].type.python_type
        if python_type not in _JSON_KIND_OF_TYPE:
            raise TypeError(f"products.{name}: no JSON kind for {python_type.__name__} values")
        kinds.append((name, _JSON_KIND_OF_TYPE[python_type]))
    return tuple(kinds)


# The record as the API answers it, kept by Postgres (migration 0014). A column of the
# table, not a mapped attribute: its expression is built from the columns above, and
# nothing loads it into a Product.
PRODUCTS_TABLE.append_column(
    Column(
        "record_json",
        Text,
        Computed(product_json(product_record_kinds()), persisted=True),
        nullable=False,
    )
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
        CheckConstraint("verdict IN ('passed', 'failed')", name="verdict_known"),
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
    # full / years / product / refresh: a session is compared with the previous one of its kind.
    kind: Mapped[str] = mapped_column(String(16), server_default="full")
    # Written every few seconds while the worker runs: a row whose heartbeat stopped for
    # longer than the worker timeout belongs to a process that is gone (closed "abandoned").
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # This worker's numbers (christmas_spiders.crawl.numbers.RunNumbers), summed per session.
    numbers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The session's verdict, on the row of the worker that judged it (the last to finish):
    # passed / failed, and why. NULL on the other workers' rows and while running.
    verdict: Mapped[str | None] = mapped_column(String(16))
    verdict_reason: Mapped[str | None] = mapped_column(Text)


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


class ApiSettings(Base):
    """The read API's installation values (one row, made by migration 0005)."""

    __tablename__ = "api_settings"
    __table_args__ = (CheckConstraint("singleton", name="one_row"),)

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    # Signs pagination cursors: generated per installation, never a constant in code.
    cursor_secret: Mapped[str] = mapped_column(
        Text,
        server_default=text("replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')"),
    )


# --- Price alerts (christmas_spiders.alerts; migration 0004) ---

ALERT_KINDS: tuple[str, ...] = ("at_or_below", "drop_percent", "back_in_stock", "new_offer")

# The alert service reads one crawl's audit rows once its verdict is known.
Index("ix_product_audit_crawl_id_id", ProductAudit.crawl_id, ProductAudit.id)


class AlertRule(Base):
    """One watch on a sku (every shop, or one): what fires it and where it is sent."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        Index("ix_alert_rules_sku", "sku"),
        CheckConstraint(
            "kind IN ('at_or_below', 'drop_percent', 'back_in_stock', 'new_offer')",
            name="kind_known",
        ),
        CheckConstraint(
            "(kind = 'at_or_below' AND threshold >= 0) "
            "OR (kind = 'drop_percent' AND threshold > 0 AND threshold <= 100) "
            "OR (kind IN ('back_in_stock', 'new_offer') AND threshold IS NULL)",
            name="threshold_fits_kind",
        ),
        CheckConstraint("cardinality(notify) > 0", name="has_destination"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    sku: Mapped[str] = mapped_column(String(32))
    # NULL: every shop.
    vendor: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    # A price for at_or_below, a percentage for drop_percent, NULL otherwise.
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Apprise URLs.
    notify: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # at_or_below: true while no in-stock offer is at or below the price (the next
    # crossing fires); false once it fired, until the cheapest goes back above.
    armed: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # The rule judges only changes after its creation (audit ids above this).
    since_audit_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class AlertCursor(Base):
    """The alert service's position (one row): every audit row up to it is handled or held."""

    __tablename__ = "alert_cursor"
    __table_args__ = (CheckConstraint("id", name="single_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default="true")
    last_audit_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class AlertCrawl(Base):
    """A crawl the alert service met: held while pending, then handled once, passed or failed."""

    __tablename__ = "alert_crawls"
    __table_args__ = (
        Index("ix_alert_crawls_status", "status"),
        CheckConstraint("status IN ('pending', 'passed', 'failed')", name="status_known"),
    )

    crawl_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    # Every audit row of this crawl with an id up to this is handled (or predates it).
    handled_through: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AlertOffer(Base):
    """Each offer's price and stock as the alert service last accepted them.

    Only changes by hand and of passed crawls are applied, so the cheapest in-stock
    offer of a sku is judged on verified data, never on a failed crawl's."""

    __tablename__ = "alert_offers"
    __table_args__ = (Index("ix_alert_offers_sku", "sku"),)

    product_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str] = mapped_column(String(32))
    # NULL once the product is deleted.
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    availability: Mapped[str | None] = mapped_column(String(16))
    # The audit row each value came from: an older row applied later changes nothing.
    price_audit_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    availability_audit_id: Mapped[int] = mapped_column(BigInteger, server_default="0")


class AlertDelivery(Base):
    """One message to one destination: the outbox the sender works from, and the log."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_crawl_id", "crawl_id"),
        CheckConstraint("kind IN ('alert', 'operator', 'test')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # alert (a digest of rule matches), operator (a failed crawl), test (`alerts test`).
    kind: Mapped[str] = mapped_column(String(8))
    # NULL: changes by hand (or a test).
    crawl_id: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # What the message says, one entry per alert (rule, product, audit ids, values).
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(8), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# Sort keys of the ornament listing: never NULL, so a keyset can page through them. An
# ornament without a value sorts below every spread and above every price.
NO_SPREAD = "-1"
NO_PRICE = "9999999999.99"
# The listing's sort keys with an index each, in keyset order (key, sku).
SORTED_SUMMARY_KEYS = ("spread_key", "spread_percent_key", "cheapest_key", "rarity_key", "offers")


class OrnamentSummary(Base):
    """One row per sku across the shops, kept current by a trigger on ``products``
    (db/audit_sql.py): the ornament listing and its rankings read it instead of
    aggregating every offer on each request."""

    __tablename__ = "ornament_summary"
    __table_args__ = (
        # Each sort's keyset order, the release year last (migration 0015): a page
        # bounded by a year range skips other years' entries in the index itself,
        # without reading their rows.
        *(
            Index(f"ix_ornament_summary_{key}", key, "sku", "release_year")
            for key in SORTED_SUMMARY_KEYS
        ),
        Index("ix_ornament_summary_release_year", "release_year"),
        # One year's page by spread in keyset order (migration 0011).
        Index("ix_ornament_summary_release_year_spread_key", "release_year", "spread_key", "sku"),
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
    # The row as the API's listing answers it, but for its 90-day share (migration 0013).
    listing_json: Mapped[str] = mapped_column(Text, Computed(LISTING_JSON, persisted=True))


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
