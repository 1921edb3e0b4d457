"""/api/v1/products, /products/<id>, /products/<id>/history and /products/<id>/prices."""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Numeric,
    String,
    and_,
    bindparam,
    column,
    exists,
    or_,
    select,
    table,
)

from christmas_spiders.api.db import readonly_engine, request_connection
from christmas_spiders.api.envelope import NotFound, data_response
from christmas_spiders.api.output import (
    csv_rows,
    json_only,
    json_record,
    stream_csv,
    wants_csv,
)
from christmas_spiders.api.pagination import (
    convert_key,
    decode_cursor,
    encode_cursor,
    keyset_condition,
    next_link,
    query_scope,
)
from christmas_spiders.api.params import QueryArgs
from christmas_spiders.db.audit_sql import AUDITABLE_FIELDS
from christmas_spiders.db.models import PRODUCT_FIELDS, Product, ProductAudit

bp = Blueprint("products", __name__)

AVAILABILITIES = ("in_stock", "out_of_stock", "delisted")
PRODUCT_ID_RE = re.compile(r"^[0-9a-f]{24}$")
PRODUCT_COLUMNS = ("id", *PRODUCT_FIELDS, "last_synced_at", "created_at")
PRODUCT_SELECT = [Product.__table__.c[name] for name in PRODUCT_COLUMNS]
PRODUCT_SORTS: dict[str, Any] = {
    "id": (Product.id, str),
    "price": (Product.price, Decimal),
    "name": (Product.name, str),
    "release_year": (Product.release_year, int),
    "last_synced_at": (Product.last_synced_at, dt.datetime.fromisoformat),
}
AUDIT_COLUMNS = (
    "id",
    "product_id",
    "operation",
    "field",
    "old_value",
    "new_value",
    "changed_at",
    "crawl_id",
)
AUDIT_SELECT = [ProductAudit.__table__.c[name] for name in AUDIT_COLUMNS]
AUDIT_SORTS = ("changed_at", "-changed_at")


def sort_choices(names: Any) -> list[str]:
    return [prefix + name for name in names for prefix in ("", "-")]


def normalise_sku(sku: str) -> str:
    """As the spiders store it: upper-cased, white space removed."""
    return "".join(sku.split()).upper()


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def limit_for(args: QueryArgs, csv: bool) -> int | None:
    api = current_app.config["CHRISTMAS"]["api"]
    if csv:
        # A CSV export streams every matching row unless a limit is asked for.
        return args.integer("limit", 1, 2_000_000_000)
    return args.integer("limit", 1, int(api["max_limit"]), default=int(api["default_limit"]))


def product_record(row: Any) -> dict[str, Any]:
    # Hot path (a page is up to 500 of these): unpack the row in PRODUCT_COLUMNS order.
    # Times stay datetimes: the JSON provider (orjson) writes them as "...Z" in C.
    (
        id_,
        vendor,
        vendor_id,
        sku,
        name,
        price,
        currency,
        brand,
        availability,
        release_year,
        link,
        last_synced_at,
        created_at,
    ) = row
    return {
        "id": id_,
        "vendor": vendor,
        "vendor_id": vendor_id,
        "sku": sku,
        "name": name,
        "price": str(price),
        "currency": currency,
        "brand": brand,
        "availability": availability,
        "release_year": release_year,
        "link": link,
        "last_synced_at": last_synced_at,
        "created_at": created_at,
    }


def audit_record(row: Any) -> dict[str, Any]:
    id_, product_id, operation, field, old_value, new_value, changed_at, crawl_id = row
    return {
        "id": id_,
        "product_id": product_id,
        "operation": operation,
        "field": field,
        "old_value": old_value,
        "new_value": new_value,
        "changed_at": changed_at,
        "crawl_id": crawl_id,
    }


def paginate(
    statement: Any,
    route: str,
    sort: str,
    filters: dict[str, Any],
    sort_column: Any,
    id_column: Any,
    converters: tuple[Any, Any],
    args: QueryArgs,
    csv: bool,
) -> tuple[Any, str, int | None]:
    """Apply the keyset cursor, the order and the limit; returns (statement, scope, limit).

    JSON pages fetch one row more than the limit: it tells whether a next page exists.
    """
    descending = sort.startswith("-")
    scope = query_scope(route, sort, filters)
    token = args.raw("cursor")
    single_key = sort_column is id_column
    if token is not None:
        key = convert_key(decode_cursor(token, scope, 2), converters)
        if single_key:
            statement = statement.where(keyset_condition([id_column], [key[1]], descending))
        else:
            statement = statement.where(keyset_condition([sort_column, id_column], key, descending))
    columns = [sort_column] if single_key else [sort_column, id_column]
    statement = statement.order_by(*(c.desc() if descending else c for c in columns))
    limit = limit_for(args, csv)
    if limit is not None:
        statement = statement.limit(limit if csv else limit + 1)
    return statement, scope, limit


# Bound-parameter names of the keyset and the limit in a prebuilt page statement.
AFTER_KEY = "after_key"
AFTER_ID = "after_id"
ROW_LIMIT = "row_limit"


def keyset_page(
    statement: Any, sort_column: Any, id_column: Any, descending: bool, after: bool, limited: bool
) -> Any:
    """``paginate`` for a statement built once: the cursor's key and the limit are bound
    parameters (``AFTER_KEY``, ``AFTER_ID``, ``ROW_LIMIT``; see ``page_parameters``)."""
    single_key = sort_column is id_column
    columns = [sort_column] if single_key else [sort_column, id_column]
    if after:
        bound = [bindparam(AFTER_ID, type_=id_column.type)]
        if not single_key:
            bound.insert(0, bindparam(AFTER_KEY, type_=sort_column.type))
        statement = statement.where(keyset_condition(columns, bound, descending))
    statement = statement.order_by(*(c.desc() if descending else c for c in columns))
    if limited:
        statement = statement.limit(bindparam(ROW_LIMIT, type_=Integer))
    return statement


def page_parameters(
    route: str,
    sort: str,
    filters: dict[str, Any],
    single_key: bool,
    converters: tuple[Any, Any],
    args: QueryArgs,
    csv: bool,
) -> tuple[dict[str, Any], str, int | None]:
    """The values for ``keyset_page``'s parameters: (values, scope, limit).

    JSON pages fetch one row more than the limit: it tells whether a next page exists.
    """
    scope = query_scope(route, sort, filters)
    values: dict[str, Any] = {}
    token = args.raw("cursor")
    if token is not None:
        key, values[AFTER_ID] = convert_key(decode_cursor(token, scope, 2), converters)
        if not single_key:
            values[AFTER_KEY] = key
    limit = limit_for(args, csv)
    if limit is not None:
        values[ROW_LIMIT] = limit if csv else limit + 1
    return values, scope, limit


def page_response(
    rows: list[Any],
    limit: int,
    scope: str,
    key_of: Any,
    records: list[dict[str, Any]],
    meta: dict[str, Any],
) -> Response:
    token = None
    if len(rows) > limit:
        token = encode_cursor(scope, key_of(rows[limit - 1]))
    meta = {**meta, "limit": limit, "count": len(records)}
    return data_response(records, meta, token, next_link(token) if token else None)


# The filters a query uses: (name, number of values) each, in a fixed order. Lists
# (comma-separated values) are IN lists of that many bound parameters.
ProductShape = tuple[tuple[str, int], ...]
PRODUCT_LIST_FILTERS = ("vendor", "availability")


def _product_condition(name: str, count: int) -> ColumnElement[bool]:
    """The condition of one filter, its values as bound parameters named after it."""

    def bound(column: Any, key: str = name) -> Any:
        return bindparam(key, type_=column.type)

    if name in PRODUCT_LIST_FILTERS:
        column = Product.__table__.c[name]
        return column.in_([bound(column, f"{name}_{index}") for index in range(count)])
    if name == "sku":
        return Product.sku == bound(Product.sku)
    if name == "release_year":
        return Product.release_year == bound(Product.release_year)
    if name == "year_min":
        return Product.release_year >= bound(Product.release_year)
    if name == "year_max":
        return Product.release_year <= bound(Product.release_year)
    if name == "price_min":
        return Product.price >= bound(Product.price)
    if name == "price_max":
        return Product.price <= bound(Product.price)
    if name == "q":
        return Product.name.ilike(bound(Product.name), escape="\\")
    if name == "changed_since":
        return exists().where(
            ProductAudit.product_id == Product.id,
            ProductAudit.changed_at >= bound(ProductAudit.changed_at),
        )
    if name == "synced_since":
        return Product.last_synced_at >= bound(Product.last_synced_at)
    raise ValueError(name)


@functools.lru_cache(maxsize=512)
def product_list_statement(shape: ProductShape, sort: str, after: bool, limited: bool) -> Any:
    """The products query for one combination of filters (and list lengths), sort, cursor
    and limit, with every value a bound parameter.

    Built once per combination: constructing a SQLAlchemy statement costs more Python
    than compiling it (which SQLAlchemy caches anyway), and a page request is otherwise
    short. The values come with the execution (``product_filters``, ``page_parameters``).
    """
    sort_column, _ = PRODUCT_SORTS[sort.lstrip("-")]
    descending = sort.startswith("-")
    condition = and_(True, *(_product_condition(name, count) for name, count in shape))
    # One shop's offers by price (the cheapest-first page) walk
    # ix_products_vendor_availability_price in page order; its last key column lets the
    # scan skip other years without reading their rows (migration 0003).
    statement = select(*PRODUCT_SELECT).where(condition)
    return keyset_page(statement, sort_column, Product.id, descending, after, limited)


def product_filters(args: QueryArgs) -> tuple[ProductShape, dict[str, Any], dict[str, Any]]:
    """(shape, bound values, filters as given) of the product filters in the query string."""
    vendors = args.string_list("vendor")
    sku = args.string("sku", max_length=64)
    if sku is not None:
        sku = normalise_sku(sku)
    release_year = args.integer("release_year", 1, 9999)
    year_min = args.integer("year_min", 1, 9999)
    year_max = args.integer("year_max", 1, 9999)
    availability = args.choice_list("availability", AVAILABILITIES)
    price_min = args.decimal("price_min")
    price_max = args.decimal("price_max")
    q = args.string("q")
    changed_since = args.timestamp("changed_since")
    synced_since = args.timestamp("synced_since")
    filters = {
        "vendor": vendors,
        "sku": sku,
        "release_year": release_year,
        "year_min": year_min,
        "year_max": year_max,
        "availability": availability,
        "price_min": price_min,
        "price_max": price_max,
        "q": q,
        "changed_since": changed_since,
        "synced_since": synced_since,
    }
    filters = {key: value for key, value in filters.items() if value is not None}
    shape: list[tuple[str, int]] = []
    values: dict[str, Any] = {}
    for name, value in filters.items():
        if name in PRODUCT_LIST_FILTERS:
            shape.append((name, len(value)))
            values.update({f"{name}_{index}": item for index, item in enumerate(value)})
        else:
            shape.append((name, 1))
            values[name] = f"%{escape_like(value)}%" if name == "q" else value
    return tuple(shape), values, filters


PRODUCT_LIST_PARAMETERS = (
    "vendor",
    "sku",
    "release_year",
    "year_min",
    "year_max",
    "availability",
    "price_min",
    "price_max",
    "q",
    "changed_since",
    "synced_since",
    "sort",
    "limit",
    "cursor",
)


@bp.get("/products")
def list_products() -> Response:
    args = QueryArgs(PRODUCT_LIST_PARAMETERS)
    csv = wants_csv()
    sort = args.choice("sort", sort_choices(PRODUCT_SORTS), default="id") or "id"
    shape, values, filters = product_filters(args)
    sort_column, converter = PRODUCT_SORTS[sort.lstrip("-")]
    page, scope, limit = page_parameters(
        "products", sort, filters, sort_column is Product.id, (converter, str), args, csv
    )
    statement = product_list_statement(shape, sort, AFTER_ID in page, ROW_LIMIT in page)
    parameters = {**values, **page}
    if csv:
        return stream_csv(readonly_engine(), statement, "products.csv", parameters)
    rows = request_connection().execute(statement, parameters).all()
    assert limit is not None
    attr = sort_column.key
    return page_response(
        rows,
        limit,
        scope,
        lambda row: [getattr(row, attr), row.id],
        [product_record(row) for row in rows[:limit]],
        {"sort": sort, "filters": json_record(filters)},
    )


def _checked_product_id(product_id: str) -> str:
    # Ids are 24 hex characters; anything else cannot exist (and never reaches SQL).
    if not PRODUCT_ID_RE.match(product_id):
        raise NotFound(f"no product with id {product_id[:64]!r}")
    return product_id


PRODUCT_BY_ID = select(*PRODUCT_SELECT).where(Product.id == bindparam("product_id", type_=String))


@bp.get("/products/<product_id>")
def get_product(product_id: str) -> Response:
    QueryArgs(())
    json_only()
    product_id = _checked_product_id(product_id)
    row = request_connection().execute(PRODUCT_BY_ID, {"product_id": product_id}).one_or_none()
    if row is None:
        raise NotFound(f"no product with id {product_id!r}")
    return data_response(product_record(row))


HISTORY_PARAMETERS = ("field", "since", "until", "sort", "limit", "cursor")


def audit_filters(args: QueryArgs) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """Conditions on product_audit and the filters as given (for /changes)."""
    conditions: list[ColumnElement[bool]] = []
    fields = args.choice_list("field", AUDITABLE_FIELDS)
    if fields:
        conditions.append(ProductAudit.field.in_(fields))
    since = args.timestamp("since")
    if since is not None:
        conditions.append(ProductAudit.changed_at >= since)
    until = args.timestamp("until")
    if until is not None:
        conditions.append(ProductAudit.changed_at < until)
    filters = {"field": fields, "since": since, "until": until}
    return conditions, {key: value for key, value in filters.items() if value is not None}


def history_filters(args: QueryArgs) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(number of fields, bound values, filters as given) of the history filters."""
    fields = args.choice_list("field", AUDITABLE_FIELDS)
    since = args.timestamp("since")
    until = args.timestamp("until")
    values: dict[str, Any] = {f"field_{index}": field for index, field in enumerate(fields or ())}
    if since is not None:
        values["since"] = since
    if until is not None:
        values["until"] = until
    filters = {"field": fields, "since": since, "until": until}
    return (
        len(fields or ()),
        values,
        {key: value for key, value in filters.items() if value is not None},
    )


@functools.lru_cache(maxsize=128)
def history_statement(
    fields: int, since: bool, until: bool, sort: str, after: bool, limited: bool
) -> Any:
    """One product's audit rows (``:product_id``), built once per combination of filters,
    sort, cursor and limit (see ``product_list_statement``)."""
    changed_at = ProductAudit.changed_at
    conditions = [ProductAudit.product_id == bindparam("product_id", type_=String)]
    if fields:
        field_type = ProductAudit.field.type
        conditions.append(
            ProductAudit.field.in_(
                [bindparam(f"field_{index}", type_=field_type) for index in range(fields)]
            )
        )
    if since:
        conditions.append(changed_at >= bindparam("since", type_=changed_at.type))
    if until:
        conditions.append(changed_at < bindparam("until", type_=changed_at.type))
    statement = select(*AUDIT_SELECT).where(*conditions)
    return keyset_page(statement, changed_at, ProductAudit.id, sort.startswith("-"), after, limited)


# Whether a product id is known: the product exists, or its audit rows (they outlive it).
KNOWN_PRODUCT = select(
    exists().where(Product.id == bindparam("product_id", type_=String))
    | exists().where(ProductAudit.product_id == bindparam("product_id", type_=String))
)


def ensure_known(conn: Connection, product_id: str) -> None:
    """404 unless the product exists or has audit rows (the audit outlives a deleted one)."""
    if not conn.execute(KNOWN_PRODUCT, {"product_id": product_id}).scalar_one():
        raise NotFound(f"no product with id {product_id!r}")


@bp.get("/products/<product_id>/history")
def product_history(product_id: str) -> Response:
    args = QueryArgs(HISTORY_PARAMETERS)
    csv = wants_csv()
    product_id = _checked_product_id(product_id)
    sort = args.choice("sort", AUDIT_SORTS, default="changed_at") or "changed_at"
    fields, values, filters = history_filters(args)
    conn = request_connection()
    page, scope, limit = page_parameters(
        f"history:{product_id}",
        sort,
        filters,
        False,
        (dt.datetime.fromisoformat, int),
        args,
        csv,
    )
    statement = history_statement(
        fields, "since" in values, "until" in values, sort, AFTER_ID in page, ROW_LIMIT in page
    )
    parameters = {"product_id": product_id, **values, **page}
    if csv:
        ensure_known(conn, product_id)
        return stream_csv(readonly_engine(), statement, f"history-{product_id}.csv", parameters)
    rows = conn.execute(statement, parameters).all()
    if not rows:
        ensure_known(conn, product_id)
    assert limit is not None
    return page_response(
        rows,
        limit,
        scope,
        lambda row: [row.changed_at, row.id],
        [audit_record(row) for row in rows[:limit]],
        {"product_id": product_id, "sort": sort, "filters": json_record(filters)},
    )


# The view of helper "storage"'s migration: each price with the interval it held.
PRICE_HISTORY = table(
    "price_history",
    column("product_id", String),
    column("price", Numeric(12, 2)),
    column("valid_from", DateTime(timezone=True)),
    column("valid_to", DateTime(timezone=True)),
    column("crawl_id", String),
)
PRICE_COLUMNS = ("price", "valid_from", "valid_to", "crawl_id")


@bp.get("/products/<product_id>/prices")
def product_prices(product_id: str) -> Response:
    """The product's prices as intervals (valid_to null: the current price), oldest first."""
    args = QueryArgs(("since", "until"))
    csv = wants_csv()
    product_id = _checked_product_id(product_id)
    view = PRICE_HISTORY.c
    statement = (
        select(*(view[name] for name in PRICE_COLUMNS))
        .where(view.product_id == product_id)
        .order_by(view.valid_from)
    )
    since = args.timestamp("since")
    if since is not None:
        statement = statement.where(or_(view.valid_to.is_(None), view.valid_to > since))
    until = args.timestamp("until")
    if until is not None:
        statement = statement.where(view.valid_from < until)
    conn = request_connection()
    rows = [dict(row._mapping) for row in conn.execute(statement)]
    if not rows:
        ensure_known(conn, product_id)
    if csv:
        return csv_rows(rows, PRICE_COLUMNS, f"prices-{product_id}.csv")
    data = [json_record(row) for row in rows]
    return data_response(data, {"product_id": product_id, "count": len(data)})
