"""The collectors' questions in SQL, for the API and the dashboard alike (no Flask, no Scrapy).

- :func:`ornament_summaries`: one row per sku across the shops (the ``ornament_summary``
  table a trigger keeps current, see db/audit_sql.py), filtered and ranked: the biggest
  cross-shop spreads, the rarest, the cheapest, sold out everywhere.
- :func:`rarity`: per sku, the shops listing it, those with it in stock now, and the
  share of the last 90 days it was in stock anywhere.
- :func:`collection_value`: what a list of skus costs at each shop, the cheapest way to
  buy them all and what a seller could ask (:data:`COLLECTION_JSON`: the same answer
  written as JSON by Postgres, for the API's JSON route).
- :func:`year_stats`: prices per shop and release year, with the appreciation against
  the original retail prices and against a market index.

Values are Python values (prices ``Decimal``, shares and growth rates ``float``); the
API turns them into JSON. The listing's statement is also offered in parts
(:func:`summary_statement`, :func:`page_statement`) so the API can page it by keyset.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.types import NullType

from christmas_spiders.db.audit_sql import SHARE_FUNCTION, SUMMARY_FRESH_COLUMNS
from christmas_spiders.db.models import IndexClose, OrnamentSummary, Product, RetailPrice

SUMMARY = OrnamentSummary.__table__.c
# The days rarity looks back over.
RARITY_DAYS = 90
PERCENT_PLACES = Decimal("0.1")
# Skus per collection question.
MAX_COLLECTION_SKUS = 500
DAYS_PER_YEAR = 365.25

Converter = Callable[[Any], Any]
# Sort name -> (never-NULL summary column, the type of its value in a cursor).
SUMMARY_SORTS: dict[str, tuple[Any, Converter]] = {
    "spread": (SUMMARY.spread_key, Decimal),
    "spread_percent": (SUMMARY.spread_percent_key, Decimal),
    "cheapest": (SUMMARY.cheapest_key, Decimal),
    "offers": (SUMMARY.offers, int),
    "rarity": (SUMMARY.rarity_key, int),
    "sku": (SUMMARY.sku, str),
}
SUMMARY_ID = SUMMARY.sku
SUMMARY_COLUMNS = (
    "sku",
    *SUMMARY_FRESH_COLUMNS,
    "spread_amount",
    "spread_percent",
    "lowest_price_seen",
)
SORT_KEY_COLUMNS = ("spread_key", "spread_percent_key", "cheapest_key", "rarity_key")
SUMMARY_SELECT = [SUMMARY[name] for name in (*SUMMARY_COLUMNS, *SORT_KEY_COLUMNS, "in_stock_spans")]
# The filters of the listing, in this order: (name, number of values) each.
SummaryShape = tuple[tuple[str, int], ...]
SUMMARY_FILTERS = (
    "vendor",
    "release_year",
    "year_min",
    "year_max",
    "q",
    "min_offers",
    "in_stock_offers",
    "min_spread_percent",
)


def round_percent(value: Decimal | None) -> Decimal | None:
    """A spread percent as answered: one decimal place, half up (as SQL's round())."""
    return None if value is None else value.quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)


def spread_percent(amount: Decimal, cheapest: Decimal) -> Decimal | None:
    """The spread as a percent of the cheapest price (None when that is free), rounded."""
    return round_percent(amount / cheapest * 100) if cheapest else None


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bound(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_NAME = func.unnest(SUMMARY.names).table_valued("name").render_derived()
SUMMARY_CONDITIONS: dict[str, ColumnElement[bool]] = {
    "release_year": SUMMARY.release_year == _bound("release_year", SUMMARY.release_year),
    "year_min": SUMMARY.release_year >= _bound("year_min", SUMMARY.release_year),
    "year_max": SUMMARY.release_year <= _bound("year_max", SUMMARY.release_year),
    "q": exists().select_from(_NAME).where(_NAME.c.name.ilike(bindparam("q"), escape="\\")),
    "min_offers": SUMMARY.offers >= _bound("min_offers", SUMMARY.offers),
    "in_stock_offers": SUMMARY.in_stock_offers == _bound("in_stock_offers", SUMMARY.offers),
    "min_spread_percent": SUMMARY.spread_percent
    >= bindparam("min_spread_percent", type_=Numeric()),
}


def _condition(name: str, count: int) -> ColumnElement[bool]:
    if name == "vendor":
        # Carried by any of them (listed now, in stock or not).
        return SUMMARY.vendors.overlap(array([bindparam(f"vendor_{i}") for i in range(count)]))
    return SUMMARY_CONDITIONS[name]


def summary_shape(filters: Mapping[str, Any]) -> tuple[SummaryShape, dict[str, Any]]:
    """(shape, bound values) of the listing filters given (absent ones: None or missing).

    ``vendor`` is a list of vendor names; ``q`` is matched as a substring of any name.
    """
    shape: list[tuple[str, int]] = []
    values: dict[str, Any] = {}
    for name in SUMMARY_FILTERS:
        value = filters.get(name)
        if value is None:
            continue
        if name == "vendor":
            shape.append((name, len(value)))
            values.update({f"vendor_{index}": item for index, item in enumerate(value)})
        else:
            shape.append((name, 1))
            values[name] = like_pattern(value) if name == "q" else value
    unknown = set(filters) - set(SUMMARY_FILTERS)
    if unknown:
        raise ValueError(f"unknown ornament filters: {', '.join(sorted(unknown))}")
    return tuple(shape), values


@functools.lru_cache(maxsize=256)
def summary_statement(shape: SummaryShape) -> Select[Any]:
    """The summary rows matching one combination of filters, unordered (values bound)."""
    condition = and_(True, *(_condition(name, count) for name, count in shape))
    return select(*SUMMARY_SELECT).where(condition)


def ordering(sort: str, columns: Any) -> list[Any]:
    """ORDER BY of ``sort`` (``-`` descending) over ``columns`` (a table's or subquery's
    ``.c``), the sku breaking ties in the same direction."""
    name = sort.lstrip("-")
    key = columns[SUMMARY_SORTS[name][0].key]
    keys = [key] if name == "sku" else [key, columns.sku]
    return [column.desc() if sort.startswith("-") else column for column in keys]


AT = bindparam("at", type_=DateTime(timezone=True))
# A list of skus as one array parameter (one plan whatever its length).
SKUS = bindparam("skus", type_=ARRAY(String))


def in_stock_share(spans: Any) -> Any:
    """The share of the ``RARITY_DAYS`` before ``:at`` that ``spans`` cover."""
    return getattr(func, SHARE_FUNCTION)(spans, AT, RARITY_DAYS)


def page_statement(page: Select[Any], sort: str) -> Select[Any]:
    """``page`` (summary rows, ordered and limited) with the share of the last 90 days
    in stock (``:at``: now), computed for the page's rows only."""
    rows = page.subquery("page")
    return select(
        *(_plain(rows.c[name]) for name in (*SUMMARY_COLUMNS, *SORT_KEY_COLUMNS)),
        in_stock_share(rows.c.in_stock_spans).label("in_stock_share"),
    ).order_by(*ordering(sort, rows.c))


def _plain(column: Any) -> Any:
    # psycopg returns text[] as a list already; SQLAlchemy's ARRAY would walk every item
    # again in Python (most of a page's time).
    if isinstance(column.type, ARRAY):
        return type_coerce(column, NullType()).label(column.key)
    return column


def share(value: float | None) -> float:
    return round(value or 0.0, 4)


PAGE_COLUMNS = (*SUMMARY_COLUMNS, *SORT_KEY_COLUMNS, "in_stock_share")


def _maybe(text: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else text(value)


def _end(vendor: str | None, product: str | None, price: Any) -> dict[str, Any] | None:
    return None if vendor is None else {"vendor": vendor, "product_id": product, "price": price}


def summary_record(
    row: Sequence[Any], text: Callable[[Any], Any] = lambda value: value
) -> dict[str, Any]:
    """One row of :func:`page_statement` as the listing answers it; ``text`` turns each
    price into what the caller shows (the API: ``str``)."""
    values = dict(zip(PAGE_COLUMNS, row, strict=True))
    amount = values["spread_amount"]
    percent = values["spread_percent"]
    return {
        "sku": values["sku"],
        "names": values["names"],
        "release_year": values["release_year"],
        "offers": values["offers"],
        "in_stock_offers": values["in_stock_offers"],
        "cheapest": _end(
            values["cheapest_vendor"],
            values["cheapest_product_id"],
            text(values["cheapest_price"]),
        ),
        "dearest": _end(
            values["dearest_vendor"], values["dearest_product_id"], text(values["dearest_price"])
        ),
        "spread": None
        if amount is None
        else {"amount": text(amount), "percent": _maybe(text, round_percent(percent))},
        "lowest_price_seen": _maybe(text, values["lowest_price_seen"]),
        "rarity": {
            "carried_by": values["vendors"],
            "in_stock_at": values["in_stock_vendors"],
            "in_stock_share_90d": share(values["in_stock_share"]),
        },
    }


def _now(at: dt.datetime | None) -> dt.datetime:
    return at if at is not None else dt.datetime.now(dt.UTC)


def ornament_summaries(
    conn: Connection,
    filters: Mapping[str, Any] | None = None,
    sort: str = "sku",
    limit: int | None = 100,
    at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The first ``limit`` records (see :func:`summary_record`) matching ``filters``
    (``vendor``: a list, ``release_year``, ``year_min``, ``year_max``, ``q``,
    ``min_offers``, ``in_stock_offers``, ``min_spread_percent``), in ``sort`` order
    (a key of ``SUMMARY_SORTS``, ``-`` for descending: ``-spread`` is the biggest
    spreads first, ``rarity`` the rarest first). ``at``: the time rarity looks back
    from (default now). The API pages the same statement by keyset."""
    shape, values = summary_shape(filters or {})
    rows = conn.execute(listing_statement(shape, sort, limit), {**values, "at": _now(at)})
    return [summary_record(row) for row in rows]


@functools.lru_cache(maxsize=256)
def listing_statement(shape: SummaryShape, sort: str, limit: int | None) -> Select[Any]:
    """:func:`page_statement` over the first ``limit`` summary rows of ``shape`` in
    ``sort`` order, built once per combination: building it (column proxies, then its
    cache key) cost more than the query it runs."""
    statement = summary_statement(shape).order_by(*ordering(sort, SUMMARY))
    if limit is not None:
        statement = statement.limit(limit)
    return page_statement(statement, sort)


RARITY = select(
    SUMMARY.sku,
    SUMMARY.vendors,
    SUMMARY.in_stock_vendors,
    in_stock_share(SUMMARY.in_stock_spans).label("in_stock_share"),
).where(SUMMARY.sku == any_(SKUS))


def rarity(
    conn: Connection, skus: Iterable[str], at: dt.datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Per sku stored: ``carried_by`` (the shops listing it, in stock or sold out),
    ``in_stock_at`` (those with it in stock now) and ``in_stock_share_90d`` (the share
    of the 90 days before ``at``, default now, that some shop had it in stock: the
    summary's in-stock spans, see db/audit_sql.py). Skus not stored are left out."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = conn.execute(RARITY, {"skus": wanted, "at": _now(at)})
    return {
        row.sku: {
            "carried_by": list(row.vendors),
            "in_stock_at": list(row.in_stock_vendors),
            "in_stock_share_90d": share(row.in_stock_share),
        }
        for row in rows
    }


COLLECTION_OFFERS = (
    select(
        Product.id.label("product_id"),
        Product.sku,
        Product.vendor,
        Product.name,
        Product.price,
        Product.availability,
    )
    .where(Product.sku == any_(SKUS))
    .order_by(Product.sku, Product.price, Product.vendor, Product.id)
)


def _choice(offer: Mapping[str, Any]) -> dict[str, Any]:
    return {name: offer[name] for name in ("sku", "vendor", "product_id", "name", "price")}


def _basket(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": sum((choice["price"] for choice in choices), Decimal("0.00")),
        "count": len(choices),
        "items": choices,
    }


def collection_value(conn: Connection, skus: Sequence[str]) -> dict[str, Any]:
    """What the collection ``skus`` (as stored: upper case, no spaces) is worth.

    - ``shops``: per shop, over the skus it lists (in stock or sold out; a delisted
      offer is no price): ``listed``, ``in_stock`` (how many of the skus), ``total`` (at
      its current prices) and ``in_stock_total``; a shop listing a sku twice counts its
      cheaper offer.
    - ``buy``: the cheapest way to buy them all: each sku from its cheapest in-stock
      offer (``items``, ``total``, ``count``), and ``not_in_stock``: the listed skus no
      shop has in stock.
    - ``sell``: what a seller could ask: each listed sku at its dearest listing.
    - ``not_carried``: the skus no shop lists.
    Ties go to the vendor first in name order, as on /ornaments/<sku>.
    """
    wanted = list(dict.fromkeys(skus))
    if len(wanted) > MAX_COLLECTION_SKUS:
        raise ValueError(f"at most {MAX_COLLECTION_SKUS} skus per collection")
    offers: dict[str, list[dict[str, Any]]] = {sku: [] for sku in wanted}
    if wanted:
        for row in conn.execute(COLLECTION_OFFERS, {"skus": wanted}):
            if row.availability != "delisted":
                offers[row.sku].append(dict(row._mapping))
    shops: dict[str, dict[str, Any]] = {}
    buy: list[dict[str, Any]] = []
    sell: list[dict[str, Any]] = []
    not_in_stock: list[str] = []
    not_carried: list[str] = []
    for sku in wanted:
        listed = offers[sku]  # cheapest first
        if not listed:
            not_carried.append(sku)
            continue
        in_stock = [offer for offer in listed if offer["availability"] == "in_stock"]
        if in_stock:
            buy.append(_choice(in_stock[0]))
        else:
            not_in_stock.append(sku)
        dearest = max(offer["price"] for offer in listed)
        sell.append(_choice(next(offer for offer in listed if offer["price"] == dearest)))
        counted: set[tuple[str, bool]] = set()
        for offer in listed:
            shop = shops.setdefault(
                offer["vendor"],
                {
                    "vendor": offer["vendor"],
                    "listed": 0,
                    "in_stock": 0,
                    "total": Decimal("0.00"),
                    "in_stock_total": Decimal("0.00"),
                },
            )
            # Each shop's first (cheapest) offer of the sku, and its cheapest in stock.
            if (offer["vendor"], False) not in counted:
                counted.add((offer["vendor"], False))
                shop["listed"] += 1
                shop["total"] += offer["price"]
            if offer["availability"] == "in_stock" and (offer["vendor"], True) not in counted:
                counted.add((offer["vendor"], True))
                shop["in_stock"] += 1
                shop["in_stock_total"] += offer["price"]
    return {
        "skus": len(wanted),
        "shops": [shops[vendor] for vendor in sorted(shops)],
        "buy": {**_basket(buy), "not_in_stock": not_in_stock},
        "sell": _basket(sell),
        "not_carried": not_carried,
    }


# collection_value's answer, aggregated by Postgres and written as JSON there: a
# collection of 100 skus is ~300 offers, which as Python rows (a Decimal per price,
# summed per shop) cost most of the request. Prices and totals are numeric(12,2) sums,
# sent as their text ("24.95"); ties go as in collection_value (price, then vendor, then
# id); shops are in code-point order of their names, as Python's sorted(). Run on the
# driver's cursor (christmas_spiders.api.db.fetch_rows), hence psycopg's %(name)s parameters.
COLLECTION_JSON = """
WITH wanted AS (
    SELECT sku, position
    FROM unnest(%(skus)s::varchar[]) WITH ORDINALITY AS asked (sku, position)
),
offers AS (
    SELECT id AS product_id, sku, vendor, name, price, availability = 'in_stock' AS in_stock
    FROM products
    WHERE sku = ANY(%(skus)s::varchar[]) AND availability <> 'delisted'
),
buy AS (
    SELECT DISTINCT ON (sku) sku, vendor, product_id, name, price
    FROM offers WHERE in_stock
    ORDER BY sku, price, vendor, product_id
),
sell AS (
    SELECT DISTINCT ON (sku) sku, vendor, product_id, name, price
    FROM offers
    ORDER BY sku, price DESC, vendor, product_id
),
at_shop AS (
    -- Each shop's cheapest offer of a sku, and its cheapest in stock.
    SELECT vendor, sku, min(price) AS price, min(price) FILTER (WHERE in_stock) AS stocked
    FROM offers GROUP BY vendor, sku
),
shops AS (
    SELECT vendor, count(*) AS listed, count(stocked) AS in_stock, sum(price) AS total,
        coalesce(sum(stocked), 0.00) AS in_stock_total
    FROM at_shop GROUP BY vendor
)
SELECT json_build_object(
    'skus', (SELECT count(*) FROM wanted),
    'shops', (
        SELECT coalesce(json_agg(shop ORDER BY shop.vendor COLLATE "C"), '[]')
        FROM shops CROSS JOIN LATERAL (
            SELECT shops.vendor, shops.listed, shops.in_stock, shops.total::text AS total,
                shops.in_stock_total::text AS in_stock_total
        ) AS shop
    ),
    'buy', (
        SELECT json_build_object(
            'total', coalesce(sum(buy.price), 0.00)::text,
            'count', count(*),
            'items', coalesce(json_agg(item ORDER BY position), '[]'),
            'not_in_stock', (
                SELECT coalesce(json_agg(sku ORDER BY position), '[]')
                FROM wanted
                WHERE sku IN (SELECT sku FROM sell) AND sku NOT IN (SELECT sku FROM buy)
            )
        )
        FROM buy JOIN wanted USING (sku) CROSS JOIN LATERAL (
            SELECT buy.sku, buy.vendor, buy.product_id, buy.name, buy.price::text AS price
        ) AS item
    ),
    'sell', (
        SELECT json_build_object(
            'total', coalesce(sum(sell.price), 0.00)::text,
            'count', count(*),
            'items', coalesce(json_agg(item ORDER BY position), '[]')
        )
        FROM sell JOIN wanted USING (sku) CROSS JOIN LATERAL (
            SELECT sell.sku, sell.vendor, sell.product_id, sell.name, sell.price::text AS price
        ) AS item
    ),
    'not_carried', (
        SELECT coalesce(json_agg(sku ORDER BY position), '[]')
        FROM wanted WHERE sku NOT IN (SELECT sku FROM sell)
    )
)::text
"""


def _growth(ratio: float, years: float) -> float | None:
    """Compound yearly growth of ``ratio`` over ``years`` (None under a year)."""
    if years < 1 or ratio <= 0:
        return None
    return round(ratio ** (1 / years) - 1, 4)


YEAR_STAT_COLUMNS = (
    "vendor",
    "release_year",
    "count",
    "min_price",
    "max_price",
    "mean_price",
    "median_price",
    "in_stock_share",
    "retail_known",
    "median_multiple",
    "basket_multiple",
    "basket_growth",
    "index_growth",
)


def _year_statement(
    vendors: Sequence[str] | None,
    year_min: int | None,
    year_max: int | None,
    availability: Sequence[str] | None,
) -> Select[Any]:
    in_stock = case((Product.availability == "in_stock", 1.0), else_=0.0)
    retail = RetailPrice.retail_price
    known = retail.is_not(None)
    statement = (
        select(
            Product.vendor,
            Product.release_year,
            func.count().label("count"),
            func.min(Product.price).label("min_price"),
            func.max(Product.price).label("max_price"),
            func.round(func.avg(Product.price), 2).label("mean_price"),
            # percentile_cont works on double precision: back to NUMERIC, 2 places.
            func.round(
                cast(func.percentile_cont(0.5).within_group(Product.price), Numeric), 2
            ).label("median_price"),
            func.round(cast(func.avg(in_stock), Numeric), 4).label("in_stock_share"),
            func.count(retail).label("retail_known"),
            # NULL ratios (no retail price) are left out of the median; a float, not
            # rounded to cents as the price's type would have it.
            type_coerce(
                func.percentile_cont(0.5).within_group(Product.price / retail).filter(known), Float
            ).label("median_multiple"),
            func.sum(Product.price).filter(known).label("basket_price"),
            func.sum(retail).label("basket_retail"),
        )
        .outerjoin(RetailPrice, RetailPrice.sku == Product.sku)
        .group_by(Product.vendor, Product.release_year)
        .order_by(Product.vendor, Product.release_year)
    )
    if vendors:
        statement = statement.where(Product.vendor.in_(list(vendors)))
    if year_min is not None:
        statement = statement.where(Product.release_year >= year_min)
    if year_max is not None:
        statement = statement.where(Product.release_year <= year_max)
    if availability:
        statement = statement.where(Product.availability.in_(list(availability)))
    return statement


_YEAR = cast(func.extract("year", IndexClose.date), Integer)
# Each year's first close, and the latest close.
_FIRST_DATES = (
    select(_YEAR.label("year"), func.min(IndexClose.date).label("date")).group_by(_YEAR).subquery()
)
FIRST_CLOSES = select(_FIRST_DATES.c.year, IndexClose.date, IndexClose.close).join(
    _FIRST_DATES, _FIRST_DATES.c.date == IndexClose.date
)
LATEST_CLOSE = select(IndexClose.date, IndexClose.close).order_by(IndexClose.date.desc()).limit(1)


def index_growth(conn: Connection) -> dict[int, float | None]:
    """Per calendar year with closes: the index's compound yearly growth from that
    year's first close to the latest one (None under a year apart)."""
    latest = conn.execute(LATEST_CLOSE).one_or_none()
    if latest is None:
        return {}
    growth: dict[int, float | None] = {}
    for row in conn.execute(FIRST_CLOSES):
        years = (latest.date - row.date).days / DAYS_PER_YEAR
        growth[row.year] = _growth(float(latest.close / row.close), years)
    return growth


def year_stats(
    conn: Connection,
    vendors: Sequence[str] | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    availability: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Per vendor and release year: count, min, max, mean and median price, in-stock
    share; and where retail prices are known (``retail_known`` products):
    ``median_multiple`` (the median of price / retail price), ``basket_multiple`` (the
    year's offers together against their retail prices), ``basket_growth`` (that
    multiple as compound yearly growth since January 1 of the release year, up to
    ``today``) and, beside it, ``index_growth`` (the index's compound yearly growth from
    its first close of the release year to its latest). Each is None where unknown or
    under a year."""
    today = today or dt.datetime.now(dt.UTC).date()
    growth = index_growth(conn)
    rows = []
    for row in conn.execute(_year_statement(vendors, year_min, year_max, availability)):
        values = dict(row._mapping)
        basket_price = values.pop("basket_price")
        basket_retail = values.pop("basket_retail")
        multiple = float(basket_price / basket_retail) if basket_retail else None
        years = (today - dt.date(values["release_year"], 1, 1)).days / DAYS_PER_YEAR
        median = values["median_multiple"]
        values.update(
            in_stock_share=float(values["in_stock_share"]),
            median_multiple=None if median is None else round(float(median), 3),
            basket_multiple=None if multiple is None else round(multiple, 3),
            basket_growth=None if multiple is None else _growth(multiple, years),
            index_growth=growth.get(values["release_year"]),
        )
        rows.append(values)
    return rows
