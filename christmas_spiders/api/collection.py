"""/api/v1/collection: what a list of skus is worth at each shop, bought or sold.

Both formats answer :func:`christmas_spiders.db.ornaments.collection_value` over the offers
of one statement.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from christmas_spiders.api.db import fetch_rows
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows
from christmas_spiders.api.params import FORMAT, MAX_SKU_LENGTH, Query, SkuList
from christmas_spiders.db.ornaments import (
    COLLECTION_OFFERS_SQL,
    MAX_COLLECTION_SKUS,
    collection_parameters,
    collection_value,
)

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
    value = collection_value(fetch_rows(COLLECTION_OFFERS_SQL, collection_parameters(skus)), skus)
    if args["format"] == "csv":
        return csv_rows(_lines(value, skus), CSV_COLUMNS, "collection.csv")
    return data_response(value, {"skus": skus})
