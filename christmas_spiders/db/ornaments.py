"""The collectors' questions in SQL, for the API and the dashboard alike (no Flask, no Scrapy).

- :func:`ornament_summaries`: one row per sku across the shops (the ``ornament_summary``
  table a trigger keeps current, see db/audit_sql.py), filtered and ranked: the biggest
  cross-shop spreads, the rarest, the cheapest, sold out everywhere.
- :func:`rarity`: per sku, the shops listing it, those with it in stock now, and the
  share of the last 90 days it was in stock anywhere.
- :func:`collection_value`: what a list of skus costs at each shop, the cheapest way to
  buy them all and what a seller could ask, from the offers
  :data:`COLLECTION_OFFERS_SQL` reads.
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
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.types import NullType

from christmas_spiders.db.audit_sql import SHARE_FUNCTION, SUMMARY_FRESH_COLUMNS
from christmas_spiders.db.models import IndexClose, OrnamentSummary, Product, RetailPrice

SUMMARY = OrnamentSummary.__table__.c
# The days rarity looks back over, and the decimal places of its share.
RARITY_DAYS = 90
SHARE_PLACES = 4
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


def summary_condition(shape: SummaryShape) -> ColumnElement[bool]:
    """The WHERE of one combination of filters (values bound)."""
    return and_(True, *(_condition(name, count) for name, count in shape))


@functools.lru_cache(maxsize=256)
def summary_statement(shape: SummaryShape) -> Select[Any]:
    """The summary rows matching one combination of filters, unordered (values bound)."""
    return select(*SUMMARY_SELECT).where(summary_condition(shape))


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
    """The share of the ``RARITY_DAYS`` before ``:at`` that ``spans`` cover, rounded to
    ``SHARE_PLACES`` by Postgres (NUMERIC): every answer, JSON or CSV, one sku or a
    listing, takes the same rounding. The days and places are written into the SQL: a
    statement's text carries no bound value of its own."""
    share = getattr(func, SHARE_FUNCTION)(spans, AT, literal_column(str(RARITY_DAYS)))
    return func.round(cast(share, Numeric), literal_column(str(SHARE_PLACES)))


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


def share(value: Decimal | None) -> float:
    """A share :func:`in_stock_share` read (NULL: no spans to cover) as the API's number."""
    return 0.0 if value is None else float(value)


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


# Every listed offer (a delisted one is no price) of the skus bound as ``skus``: one
# text, the skus joined by commas (a sku has none), since dumping a list as an array
# parameter costs more than the query's own parsing. Prices in cents (exact: prices are
# NUMERIC(12, 2)), so totals are sums of ints, and as the API writes them ("24.95").
# Cheapest first (by the column: ``price`` alone would name the output's text); ties by
# vendor, then id, in code-point order (Python's). Run on the driver's cursor (psycopg's
# %(name)s).
COLLECTION_OFFERS_SQL = """
SELECT sku, vendor, id, name, (price * 100)::bigint AS cents, price::text AS price,
       availability = 'in_stock'
FROM products
WHERE sku = ANY(string_to_array(%(skus)s, ',')) AND availability <> 'delisted'
ORDER BY products.sku, products.price, products.vendor COLLATE "C", products.id COLLATE "C"
"""


def collection_parameters(skus: Sequence[str]) -> dict[str, str]:
    """The bound values of :data:`COLLECTION_OFFERS_SQL` for ``skus``."""
    if any("," in sku for sku in skus):
        raise ValueError("a sku holds no comma")
    return {"skus": ",".join(skus)}


def money_text(cents: int) -> str:
    """Cents as the API writes a price: "24.95" (prices are never negative)."""
    return f"{cents // 100}.{cents % 100:02d}"


def _basket(choices: list[tuple[Any, ...]]) -> dict[str, Any]:
    return {
        "total": money_text(sum(choice[4] for choice in choices)),
        "count": len(choices),
        "items": [
            {
                "sku": sku,
                "vendor": vendor,
                "product_id": product_id,
                "name": name,
                "price": price,
            }
            for sku, vendor, product_id, name, _cents, price, _in_stock in choices
        ],
    }


def collection_value(offers: Iterable[tuple[Any, ...]], skus: Sequence[str]) -> dict[str, Any]:
    """What the collection ``skus`` (as stored: upper case, no spaces) is worth, from
    ``offers``: the rows of :data:`COLLECTION_OFFERS_SQL` for them. Prices as text.

    - ``shops``: per shop, over the skus it lists (in stock or sold out; a delisted
      offer is no price): ``listed``, ``in_stock`` (how many of the skus), ``total`` (at
      its current prices) and ``in_stock_total``; a shop listing a sku twice counts its
      cheaper offer.
    - ``buy``: the cheapest way to buy them all: each sku from its cheapest in-stock
      offer (``items``, ``total``, ``count``), and ``not_in_stock``: the listed skus no
      shop has in stock.
    - ``sell``: what a seller could ask: each listed sku at its dearest listing.
    - ``not_carried``: the skus no shop lists.
    Ties go to the vendor first in name order, then to the lower product id.
    """
    wanted = list(dict.fromkeys(skus))
    if len(wanted) > MAX_COLLECTION_SKUS:
        raise ValueError(f"at most {MAX_COLLECTION_SKUS} skus per collection")
    # Per shop: listed, in stock, total cents, in-stock total cents, and the skus its
    # last listed and last in-stock offers counted were of.
    shops: dict[str, list[Any]] = {}
    # Per sku: its cheapest in-stock offer, and its dearest (the first at the top price).
    bought: dict[str, tuple[Any, ...]] = {}
    sold: dict[str, tuple[Any, ...]] = {}
    # One pass: the offers come a sku at a time, cheapest first.
    current = None
    top = -1
    for offer in offers:
        sku, vendor, _id, _name, cents, _price, in_stock = offer
        if sku != current:
            current, top = sku, -1
        if in_stock and sku not in bought:
            bought[sku] = offer
        if cents > top:
            top = cents
            sold[sku] = offer
        shop = shops.get(vendor)
        if shop is None:
            shop = shops[vendor] = [0, 0, 0, 0, None, None]
        # Each shop's first (cheapest) offer of the sku, and its cheapest in stock.
        if shop[4] != sku:
            shop[4] = sku
            shop[0] += 1
            shop[2] += cents
        if in_stock and shop[5] != sku:
            shop[5] = sku
            shop[1] += 1
            shop[3] += cents
    buy = [bought[sku] for sku in wanted if sku in bought]
    sell = [sold[sku] for sku in wanted if sku in sold]
    not_in_stock = [sku for sku in wanted if sku in sold and sku not in bought]
    not_carried = [sku for sku in wanted if sku not in sold]
    return {
        "skus": len(wanted),
        "shops": [
            {
                "vendor": vendor,
                "listed": listed_count,
                "in_stock": in_stock_count,
                "total": money_text(total),
                "in_stock_total": money_text(in_stock_total),
            }
            for vendor, (listed_count, in_stock_count, total, in_stock_total, *_) in sorted(
                shops.items()
            )
        ],
        "buy": {**_basket(buy), "not_in_stock": not_in_stock},
        "sell": _basket(sell),
        "not_carried": not_carried,
    }


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
