"""/api/v1/products, /products/<id>, /products/<id>/history and /products/<id>/prices."""

from __future__ import annotations

from flask import Blueprint, Response

from christmas_spiders.api.audit_queries import (
    AUDIT_COLUMNS,
    AUDIT_ORDER,
    audit_record,
    audit_values,
    history_sql,
    history_statement,
)
from christmas_spiders.api.db import fetch_rows, readonly_engine, request_connection
from christmas_spiders.api.envelope import NotFound, data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows, json_record, stream_csv
from christmas_spiders.api.params import (
    AVAILABILITY,
    CURSOR,
    FIELD,
    FORMAT,
    JSON_ONLY,
    LIMIT,
    MAX_SKU_LENGTH,
    ON_SALE,
    PRODUCT_ID,
    SINCE,
    UNTIL,
    VENDOR,
    YEAR_MAX,
    YEAR_MIN,
    Integer,
    Money,
    Query,
    Text,
    Timestamp,
    normalise_sku,
)
from christmas_spiders.api.product_queries import (
    PRICE_COLUMNS,
    PRODUCT_BY_ID,
    PRODUCT_ORDER,
    ensure_known,
    price_intervals,
    product_list_sql,
    product_list_statement,
    product_record,
    product_shape,
)

bp = Blueprint("products", __name__)

PRODUCT_LIST = Query(
    VENDOR,
    Text(
        name="sku",
        max_length=MAX_SKU_LENGTH,
        normalise=normalise_sku,
        description="Hallmark sku (QX5257).",
    ),
    Integer(name="release_year", minimum=1, maximum=9999, description="Exact release year."),
    YEAR_MIN,
    YEAR_MAX,
    AVAILABILITY,
    Money(name="price_min", upper="price_max", description="price >= price_min."),
    Money(name="price_max", description="price <= price_max."),
    ON_SALE,
    Text(name="q", description="Name contains (any case)."),
    Timestamp(
        name="changed_since",
        description="Products with an audited change at or after this time.",
    ),
    Timestamp(name="synced_since", description="Products seen by a crawl at or after this time."),
    PRODUCT_ORDER.sort_param(
        "id", "Sort key; '-' prefix for descending; ties broken by id. Default id."
    ),
    LIMIT,
    CURSOR,
    FORMAT,
)


@bp.get("/products")
@documented("Products, filtered and sorted, keyset-paginated", PRODUCT_LIST, page="Product")
def list_products() -> Response:
    args = PRODUCT_LIST.parse()
    filters = PRODUCT_LIST.filters(args)
    shape, values = product_shape(filters)
    page = PRODUCT_ORDER.page("products", args, filters)
    parameters = {**values, **page.parameters}
    if page.csv:
        statement = product_list_statement(shape, page.sort, page.after, page.limited)
        return stream_csv(readonly_engine(), statement, "products.csv", parameters)
    sql, columns = product_list_sql(shape, page.sort, page.after, page.limited)
    rows = fetch_rows(sql, parameters)
    return PRODUCT_ORDER.response(rows, page, product_record, columns=columns)


PRODUCT = Query(PRODUCT_ID, JSON_ONLY)


@bp.get("/products/<product_id>")
@documented("One product", PRODUCT, one="Product", description="The product.", not_found=True)
def get_product(product_id: str) -> Response:
    product_id = PRODUCT.parse(product_id=product_id)["product_id"]
    rows = fetch_rows(PRODUCT_BY_ID, {"product_id": product_id})
    if not rows:
        raise NotFound(f"no product with id {product_id!r}")
    return data_response(product_record(rows[0]))


HISTORY = Query(
    PRODUCT_ID,
    FIELD,
    SINCE,
    UNTIL,
    AUDIT_ORDER.sort_param("changed_at", "'-' for newest first."),
    LIMIT,
    CURSOR,
    FORMAT,
)


@bp.get("/products/<product_id>/history")
@documented(
    "A product's audited changes (price, availability, ...)",
    HISTORY,
    page="AuditRow",
    not_found=True,
)
def product_history(product_id: str) -> Response:
    args = HISTORY.parse(product_id=product_id)
    product_id = args["product_id"]
    filters = HISTORY.filters(args)
    page = AUDIT_ORDER.page(f"history:{product_id}", args, filters)
    shape = (
        len(filters.get("field", ())),
        "since" in filters,
        "until" in filters,
        page.sort,
        page.after,
        page.limited,
    )
    parameters = {"product_id": product_id, **audit_values(filters), **page.parameters}
    conn = request_connection()
    if page.csv:
        ensure_known(conn, product_id)
        statement = history_statement(*shape)
        return stream_csv(readonly_engine(), statement, f"history-{product_id}.csv", parameters)
    rows = fetch_rows(history_sql(*shape), parameters)
    if not rows:
        ensure_known(conn, product_id)
    return AUDIT_ORDER.response(
        rows, page, audit_record, {"product_id": product_id}, columns=AUDIT_COLUMNS
    )


PRICES = Query(
    PRODUCT_ID,
    Timestamp(
        name="since", upper="until", description="Intervals still valid at or after this time."
    ),
    Timestamp(name="until", description="Intervals starting before this time."),
    FORMAT,
)


@bp.get("/products/<product_id>/prices")
@documented(
    "A product's prices as intervals (from the price_history view)",
    PRICES,
    rows="PriceInterval",
    not_found=True,
)
def product_prices(product_id: str) -> Response:
    """The product's prices as intervals (valid_to null: the current price), oldest first."""
    args = PRICES.parse(product_id=product_id)
    product_id = args["product_id"]
    conn = request_connection()
    statement = price_intervals(product_id, args["since"], args["until"])
    rows = [dict(row._mapping) for row in conn.execute(statement)]
    if not rows:
        ensure_known(conn, product_id)
    if args["format"] == "csv":
        return csv_rows(rows, PRICE_COLUMNS, f"prices-{product_id}.csv")
    data = [json_record(row) for row in rows]
    return data_response(data, {"product_id": product_id, "count": len(data)})
