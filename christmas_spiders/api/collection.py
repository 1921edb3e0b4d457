"""/api/v1/collection: what a list of skus is worth at each shop, bought or sold.

The JSON answer is built by Postgres in one statement (:data:`COLLECTION_JSON`); the CSV
export, like the dashboard, uses :func:`christmas_spiders.db.ornaments.collection_value`,
which answers the same (the tests compare the two).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response

from christmas_spiders.api.db import fetch_rows, request_connection
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows
from christmas_spiders.api.params import FORMAT, MAX_SKU_LENGTH, Query, SkuList
from christmas_spiders.db.ornaments import MAX_COLLECTION_SKUS, collection_value

bp = Blueprint("collection", __name__)

COLLECTION = Query(
    SkuList(
        name="skus",
        max_items=MAX_COLLECTION_SKUS,
        # Every sku at its longest, with its comma.
        max_raw_length=MAX_COLLECTION_SKUS * (MAX_SKU_LENGTH + 1),
        description=f"The collection's skus (at most {MAX_COLLECTION_SKUS}): comma-separated, "
        "or the parameter repeated.",
    ),
    FORMAT,
)
# collection_value's answer, aggregated by Postgres and written as JSON there: a
# collection of 100 skus is ~300 offers, which as Python rows (a Decimal per price,
# summed per shop) cost most of the request. Prices and totals are numeric(12,2) sums,
# sent as their text ("24.95"); ties go as in collection_value (price, then vendor, then
# id); shops are in code-point order of their names, as Python's sorted().
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
        SELECT coalesce(json_agg(json_build_object(
            'vendor', vendor, 'listed', listed, 'in_stock', in_stock,
            'total', total::text, 'in_stock_total', in_stock_total::text
        ) ORDER BY vendor COLLATE "C"), '[]')
        FROM shops
    ),
    'buy', (
        SELECT json_build_object(
            'total', coalesce(sum(price), 0.00)::text,
            'count', count(*),
            'items', coalesce(json_agg(json_build_object(
                'sku', sku, 'vendor', vendor, 'product_id', product_id, 'name', name,
                'price', price::text
            ) ORDER BY position), '[]'),
            'not_in_stock', (
                SELECT coalesce(json_agg(sku ORDER BY position), '[]')
                FROM wanted
                WHERE sku IN (SELECT sku FROM sell) AND sku NOT IN (SELECT sku FROM buy)
            )
        )
        FROM buy JOIN wanted USING (sku)
    ),
    'sell', (
        SELECT json_build_object(
            'total', coalesce(sum(price), 0.00)::text,
            'count', count(*),
            'items', coalesce(json_agg(json_build_object(
                'sku', sku, 'vendor', vendor, 'product_id', product_id, 'name', name,
                'price', price::text
            ) ORDER BY position), '[]')
        )
        FROM sell JOIN wanted USING (sku)
    ),
    'not_carried', (
        SELECT coalesce(json_agg(sku ORDER BY position), '[]')
        FROM wanted WHERE sku NOT IN (SELECT sku FROM sell)
    )
)::text
"""

# The export: one line per sku, what buying and selling it comes to.
CSV_COLUMNS = (
    "sku",
    "carried",
    "buy_vendor",
    "buy_price",
    "sell_vendor",
    "sell_price",
)


def _lines(value: dict[str, Any], skus: list[str]) -> list[dict[str, Any]]:
    buy = {item["sku"]: item for item in value["buy"]["items"]}
    sell = {item["sku"]: item for item in value["sell"]["items"]}
    lines = []
    for sku in skus:
        bought, sold = buy.get(sku, {}), sell.get(sku, {})
        lines.append(
            {
                "sku": sku,
                "carried": sku in sell,
                "buy_vendor": bought.get("vendor"),
                "buy_price": bought.get("price"),
                "sell_vendor": sold.get("vendor"),
                "sell_price": sold.get("price"),
            }
        )
    return lines


@bp.get("/collection")
@documented(
    "A collection's value: each shop's total, the cheapest way to buy it, a seller's ask",
    COLLECTION,
    one="Collection",
    description="The collection's value (CSV: one line per sku).",
    csv=True,
)
def get_collection() -> Response:
    args = COLLECTION.parse()
    skus: list[str] = args["skus"]
    if args["format"] == "csv":
        value = collection_value(request_connection(), skus)
        return csv_rows(_lines(value, skus), CSV_COLUMNS, "collection.csv")
    # Each sku once, in the order first given (as collection_value counts them).
    wanted = list(dict.fromkeys(skus))
    ((answer,),) = fetch_rows(COLLECTION_JSON, {"skus": wanted})
    return data_response(orjson.Fragment(answer), {"skus": skus})
