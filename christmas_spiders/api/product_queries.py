"""The products routes' SQL: records, the filtered listing, one product, its prices.

The product columns come from the product definition (``items.ITEM_FIELDS``, through
``db.models.PRODUCT_RECORD_COLUMNS``), so a new item field appears in every product
answer and export without a change here.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Numeric,
    Select,
    String,
    and_,
    bindparam,
    column,
    exists,
    false,
    func,
    or_,
    select,
    table,
)

from christmas_spiders.api.db import compiled_sql
from christmas_spiders.api.envelope import NotFound
from christmas_spiders.api.pagination import Keyset, key_text
from christmas_spiders.db.models import (
    PRODUCT_RECORD_COLUMNS,
    PRODUCTS_TABLE,
    Product,
    ProductAudit,
)

PRODUCT_COLUMNS = PRODUCT_RECORD_COLUMNS
PRODUCT_SELECT = [Product.__table__.c[name] for name in PRODUCT_COLUMNS]
# Each row as the API answers it (db.models, migration 0014).
RECORD_JSON = PRODUCTS_TABLE.c.record_json
PRODUCT_ORDER = Keyset(
    sorts={
        "id": (Product.id, str),
        "price": (Product.price, Decimal),
        "name": (Product.name, str),
        "release_year": (Product.release_year, int),
        "last_synced_at": (Product.last_synced_at, dt.datetime.fromisoformat),
    },
    id_column=Product.id,
    id_type=str,
)


def product_record(row: tuple[Any, ...]) -> orjson.Fragment:
    """A row of :func:`product_list_sql` or :data:`PRODUCT_BY_ID` as its record: the
    JSON Postgres keeps of it (``products.record_json``), written into the answer as is."""
    return orjson.Fragment(row[0])


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The filters a query uses: (name, number of values) each, in a fixed order. Lists
# (comma-separated values) are IN lists of that many bound parameters.
ProductShape = tuple[tuple[str, int], ...]
LIST_FILTERS = ("vendor", "availability")


def _bound(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


# Each scalar filter's condition, its value bound under the filter's name.
CONDITIONS: dict[str, ColumnElement[bool]] = {
    "sku": Product.sku == _bound("sku", Product.sku),
    "release_year": Product.release_year == _bound("release_year", Product.release_year),
    "year_min": Product.release_year >= _bound("year_min", Product.release_year),
    "year_max": Product.release_year <= _bound("year_max", Product.release_year),
    "price_min": Product.price >= _bound("price_min", Product.price),
    "price_max": Product.price <= _bound("price_max", Product.price),
    "q": Product.name.ilike(_bound("q", Product.name), escape="\\"),
    "changed_since": exists().where(
        ProductAudit.product_id == Product.id,
        ProductAudit.changed_at >= _bound("changed_since", ProductAudit.changed_at),
    ),
    "synced_since": Product.last_synced_at >= _bound("synced_since", Product.last_synced_at),
    # On sale: a was_price above the price (NULL was_price: not on sale).
    "on_sale": func.coalesce(Product.was_price > Product.price, false())
    == bindparam("on_sale", type_=Boolean),
}


def _condition(name: str, count: int) -> ColumnElement[bool]:
    if name in LIST_FILTERS:
        values = Product.__table__.c[name]
        return values.in_([_bound(f"{name}_{index}", values) for index in range(count)])
    return CONDITIONS[name]


def product_shape(filters: dict[str, Any]) -> tuple[ProductShape, dict[str, Any]]:
    """(shape, bound values) of the product filters given."""
    shape: list[tuple[str, int]] = []
    values: dict[str, Any] = {}
    for name, value in filters.items():
        if name in LIST_FILTERS:
            shape.append((name, len(value)))
            values.update({f"{name}_{index}": item for index, item in enumerate(value)})
        else:
            shape.append((name, 1))
            values[name] = f"%{escape_like(value)}%" if name == "q" else value
    return tuple(shape), values


@functools.lru_cache(maxsize=512)
def product_list_statement(shape: ProductShape, sort: str, after: bool, limited: bool) -> Any:
    """The products query for one combination of filters (and list lengths), sort, cursor
    and limit, with every value a bound parameter.

    Built once per combination: constructing a SQLAlchemy statement costs more Python
    than compiling it (which SQLAlchemy caches anyway), and a page request is otherwise
    short. The values come with the execution (``product_shape``, ``Keyset.page``).
    """
    return _list_statement(PRODUCT_SELECT, shape, sort, after, limited)


@functools.lru_cache(maxsize=512)
def product_list_sql(
    shape: ProductShape, sort: str, after: bool, limited: bool
) -> tuple[str, tuple[str, ...]]:
    """The JSON page's query as SQL text for ``db.fetch_rows``, and its columns: each
    row's stored record (:func:`product_record`), then the sort's key (a price as
    Postgres's text, "24.95", as the cursor keeps it) and the id for the next page's
    cursor."""
    sort_column = PRODUCT_ORDER.column(sort)
    keys = [] if sort_column is Product.id else [sort_column]
    columns = [
        RECORD_JSON,
        *(key_text(key) for key in keys),
        Product.id,
    ]
    statement = _list_statement(columns, shape, sort, after, limited)
    return compiled_sql(statement), tuple(column.key for column in columns)


def _list_statement(
    columns: list[Any], shape: ProductShape, sort: str, after: bool, limited: bool
) -> Any:
    condition = and_(True, *(_condition(name, count) for name, count in shape))
    # One shop's offers by price (the cheapest-first page) walk
    # ix_products_vendor_availability_price in page order; its last key column lets the
    # scan skip other years without reading their rows (migration 0003).
    statement = select(*columns).where(condition)
    return PRODUCT_ORDER.statement(statement, sort, after, limited)


PRODUCT_BY_ID = compiled_sql(
    select(RECORD_JSON).where(Product.id == bindparam("product_id", type_=String))
)

# Whether a product id is known: the product exists, or its audit rows (they outlive it).
KNOWN_PRODUCT = select(
    exists().where(Product.id == bindparam("product_id", type_=String))
    | exists().where(ProductAudit.product_id == bindparam("product_id", type_=String))
)


def ensure_known(conn: Connection, product_id: str) -> None:
    """404 unless the product exists or has audit rows (the audit outlives a deleted one)."""
    if not conn.execute(KNOWN_PRODUCT, {"product_id": product_id}).scalar_one():
        raise NotFound(f"no product with id {product_id!r}")


# The view db/audit_sql.py defines (migration 0001): each price with the interval it held.
PRICE_HISTORY = table(
    "price_history",
    column("product_id", String),
    column("price", Numeric(12, 2)),
    column("valid_from", DateTime(timezone=True)),
    column("valid_to", DateTime(timezone=True)),
    column("crawl_id", String),
)
PRICE_COLUMNS = ("price", "valid_from", "valid_to", "crawl_id")


def price_intervals(
    product_id: str, since: dt.datetime | None, until: dt.datetime | None
) -> Select[Any]:
    """The product's price intervals overlapping [since, until), oldest first."""
    view = PRICE_HISTORY.c
    statement = (
        select(*(view[name] for name in PRICE_COLUMNS))
        .where(view.product_id == product_id)
        .order_by(view.valid_from)
    )
    if since is not None:
        statement = statement.where(or_(view.valid_to.is_(None), view.valid_to > since))
    if until is not None:
        statement = statement.where(view.valid_from < until)
    return statement
