"""The ornaments routes' SQL: one sku's offers with their price ranges and rarity, and the
listing of ornament summaries (JSON pages and CSV export).

The summary's own SQL (its columns, filters, sorts and rarity) is in
christmas_spiders.db.ornaments, shared with the dashboard.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    String,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy import Text as SqlText

from christmas_spiders.api.audit_queries import audit_numeric
from christmas_spiders.api.db import compiled_query, compiled_sql
from christmas_spiders.api.pagination import Keyset, key_text
from christmas_spiders.db.models import OrnamentSummary, Product, ProductAudit
from christmas_spiders.db.ornaments import (
    SUMMARY,
    SUMMARY_ID,
    SUMMARY_SORTS,
    SummaryShape,
    in_stock_share,
    ordering,
    page_statement,
    share,
    spread_percent,
    summary_condition,
    summary_statement,
)

OFFER_COLUMNS = (
    "product_id",
    "vendor",
    "vendor_id",
    "name",
    "price",
    "currency",
    "availability",
    "link",
    "last_synced_at",
    "lowest_price_seen",
    "highest_price_seen",
)


def offers_statement() -> Any:
    """Every offer of the sku bound as ``:sku``, with the lowest and highest price seen."""
    sku = bindparam("sku", type_=String)
    offers = select(Product.id).where(Product.sku == sku).subquery()
    # Every price an offer ever had: the current one and both sides of each price change.
    seen = union_all(
        select(Product.id.label("product_id"), Product.price.label("price")).where(
            Product.sku == sku
        ),
        select(ProductAudit.product_id, audit_numeric(ProductAudit.new_value)).where(
            ProductAudit.product_id.in_(select(offers.c.id)), ProductAudit.field == "price"
        ),
        select(ProductAudit.product_id, audit_numeric(ProductAudit.old_value)).where(
            ProductAudit.product_id.in_(select(offers.c.id)), ProductAudit.field == "price"
        ),
    ).subquery()
    extremes = (
        select(
            seen.c.product_id,
            func.min(seen.c.price).label("lowest_price_seen"),
            func.max(seen.c.price).label("highest_price_seen"),
        )
        .group_by(seen.c.product_id)
        .subquery()
    )
    return (
        select(
            Product.id.label("product_id"),
            Product.vendor,
            Product.vendor_id,
            Product.name,
            Product.price,
            Product.currency,
            Product.availability,
            Product.link,
            Product.last_synced_at,
            extremes.c.lowest_price_seen,
            extremes.c.highest_price_seen,
        )
        .join(extremes, extremes.c.product_id == Product.id)
        .where(Product.sku == sku)
        .order_by(Product.price, Product.vendor, Product.id)
    )


# Built once: only the sku changes between requests (the dashboard's comparison page).
OFFERS = offers_statement()


def offers_with_rarity() -> Any:
    """:func:`offers_statement` with the sku's rarity (``db.ornaments.rarity``) on every
    offer: one statement, one round trip."""
    offers = offers_statement().subquery("offers")
    return (
        select(
            *offers.c,
            SUMMARY.vendors,
            SUMMARY.in_stock_vendors,
            in_stock_share(SUMMARY.in_stock_spans),
        )
        .select_from(offers)
        .outerjoin(OrnamentSummary, OrnamentSummary.sku == bindparam("sku", type_=String))
        .order_by(offers.c.price, offers.c.vendor, offers.c.product_id)
    )


# Built once, run as a prepared statement on the driver's cursor (db.fetch_rows): only
# the sku and the time change between requests.
# The statement's own values (the audit field compared, 'price') go with each request's.
OFFERS_SQL, OFFERS_VALUES = compiled_query(offers_with_rarity())


def offers_rarity(row: tuple[Any, ...]) -> dict[str, Any]:
    """The rarity columns that follow an offer's in :data:`OFFERS_SQL`."""
    vendors, in_stock_vendors, in_stock_share = row[len(OFFER_COLUMNS) :]
    # The trigger writes a sku's summary with its offers; none only where it was bypassed.
    if vendors is None:
        return NO_RARITY
    return {
        "carried_by": vendors,
        "in_stock_at": in_stock_vendors,
        "in_stock_share_90d": share(in_stock_share),
    }


NO_RARITY = {"carried_by": [], "in_stock_at": [], "in_stock_share_90d": 0.0}


def spread(offers: list[dict[str, Any]]) -> dict[str, Any] | None:
    in_stock = [offer for offer in offers if offer["availability"] == "in_stock"]
    if not in_stock:
        return None
    cheapest = min(in_stock, key=lambda offer: offer["price"])
    dearest = max(in_stock, key=lambda offer: offer["price"])
    amount: Decimal = dearest["price"] - cheapest["price"]
    percent = spread_percent(amount, cheapest["price"])
    return {
        "in_stock_offers": len(in_stock),
        "cheapest": {
            "vendor": cheapest["vendor"],
            "product_id": cheapest["product_id"],
            "price": cheapest["price"],
        },
        "dearest": {
            "vendor": dearest["vendor"],
            "product_id": dearest["product_id"],
            "price": dearest["price"],
        },
        "amount": amount,
        "percent": percent,
    }


# The listing's keyset, over the summary's sorts; the route declares its sort parameter.
ORNAMENT_ORDER = Keyset(sorts=SUMMARY_SORTS, id_column=SUMMARY_ID, id_type=str)


# The export's columns: one line per sku, lists joined with "; ".
LIST_CSV_COLUMNS = (
    "sku",
    "names",
    "release_year",
    "offers",
    "in_stock_offers",
    "cheapest_vendor",
    "cheapest_price",
    "dearest_vendor",
    "dearest_price",
    "spread_amount",
    "spread_percent",
    "lowest_price_seen",
    "carried_by",
    "in_stock_at",
    "in_stock_share_90d",
)


def csv_statement(page: Any, sort: str) -> Any:
    rows = page_statement(page, sort).subquery("rows")
    joined = {
        "names": func.array_to_string(rows.c.names, "; "),
        "carried_by": func.array_to_string(rows.c.vendors, "; "),
        "in_stock_at": func.array_to_string(rows.c.in_stock_vendors, "; "),
        "spread_percent": func.round(rows.c.spread_percent, 1),
        "in_stock_share_90d": rows.c.in_stock_share,
    }
    columns = [
        (joined[name] if name in joined else rows.c[name]).label(name) for name in LIST_CSV_COLUMNS
    ]
    return select(*columns).select_from(rows).order_by(*ordering(sort, rows.c))


@functools.lru_cache(maxsize=512)
def list_statement(shape: SummaryShape, sort: str, after: bool, limited: bool, csv: bool) -> Any:
    """The listing for one combination of filters, sort, cursor, limit and format, every
    value bound (built once: see ``product_queries.product_list_statement``)."""
    inner = ORNAMENT_ORDER.statement(summary_statement(shape), sort, after, limited)
    return csv_statement(inner, sort) if csv else page_statement(inner, sort)


@functools.lru_cache(maxsize=512)
def json_list_sql(
    shape: SummaryShape, sort: str, after: bool, row_limit: int
) -> tuple[str, tuple[str, ...]]:
    """The JSON page's query as SQL text for ``db.fetch_rows``, and its columns: each
    row's record (for :func:`listing_record`: its stored ``listing_json``, see
    db/audit_sql.py, closed by Postgres with the row's share of the last 90 days in
    stock), then the sku and the sort's key as Postgres's text ("24.95", as the cursor
    keeps it) for the next page's cursor.

    The row limit is written into the SQL, not bound: Postgres plans an unknown LIMIT
    for a tenth of the table, every row with its 90-day share computed, so the prepared
    statement's generic plan looked dearer than planning each page for its values, and
    it planned every execution anew (a quarter of the statement's cost). With the limit
    known the generic plan is as cheap and is kept. Clients use few limits; each is a
    statement of its own.
    """
    # The sort's key column, unless the sort is by sku (selected anyway).
    keys = [key for key in (ORNAMENT_ORDER.column(sort),) if key is not SUMMARY.sku]
    matching = select(SUMMARY.listing_json, SUMMARY.in_stock_spans, SUMMARY.sku, *keys)
    inner = ORNAMENT_ORDER.statement(
        matching.where(summary_condition(shape)), sort, after, limited=True, written=row_limit
    )
    rows = inner.subquery("page")
    share_text = cast(in_stock_share(rows.c.in_stock_spans), SqlText)
    columns: list[Any] = [
        rows.c.listing_json.concat(share_text).concat(literal_column("'}}'")).label("record"),
        rows.c.sku,
        *(key_text(rows.c[key.key]) for key in keys),
    ]
    statement = select(*columns).order_by(*ordering(sort, rows.c))
    return compiled_sql(statement), tuple(column.key for column in columns)


def ranges_years(shape: SummaryShape) -> bool:
    """Whether the filters bound the release year by a range.

    A prepared statement's generic plan cannot know how wide the range is: it guesses a
    sliver of the rows and reads every sku of the years through their index, then sorts
    them all (about 3,700 for six years: 5.5 ms of Postgres CPU per page), where planned
    for the values it walks the sort key's index, the year checked on each entry
    (migration 0015: 0.6 ms).
    """
    return any(name in ("year_min", "year_max") for name, _count in shape)


def listing_record(row: tuple[Any, ...]) -> orjson.Fragment:
    """A row of :func:`json_list_sql` as the listing answers it (the record of
    ``db.ornaments.summary_record``, prices as text), its JSON written as is."""
    return orjson.Fragment(row[0])
