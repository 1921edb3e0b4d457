"""/api/v1/ornaments/<sku>: every shop's offer for one ornament, cheapest first."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import String, bindparam, func, select, union_all

from christmas_spiders.api.audit_queries import audit_numeric
from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import NotFound, data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows, json_record
from christmas_spiders.api.params import FORMAT, MAX_SKU_LENGTH, PathKey, Query, normalise_sku
from christmas_spiders.db.models import Product, ProductAudit

bp = Blueprint("ornaments", __name__)

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
ORNAMENT = Query(
    PathKey(
        name="sku",
        description="Hallmark sku.",
        thing="ornament with sku",
        # Once normalised: 1 to MAX_SKU_LENGTH characters, none of them NUL.
        pattern=re.compile(f"[^\\x00]{{1,{MAX_SKU_LENGTH}}}"),
        normalise=normalise_sku,
    ),
    FORMAT,
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


# Built once: only the sku changes between requests.
OFFERS = offers_statement()


def spread(offers: list[dict[str, Any]]) -> dict[str, Any] | None:
    in_stock = [offer for offer in offers if offer["availability"] == "in_stock"]
    if not in_stock:
        return None
    cheapest = min(in_stock, key=lambda offer: offer["price"])
    dearest = max(in_stock, key=lambda offer: offer["price"])
    amount: Decimal = dearest["price"] - cheapest["price"]
    percent = (
        (amount / cheapest["price"] * 100).quantize(Decimal("0.1")) if cheapest["price"] else None
    )
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


@bp.get("/ornaments/<sku>")
@documented(
    "Every shop's offer for one ornament, cheapest first, with the in-stock spread",
    ORNAMENT,
    one="Ornament",
    description="The comparison (CSV: the offers).",
    csv=True,
    not_found=True,
)
def get_ornament(sku: str) -> Response:
    args = ORNAMENT.parse(sku=sku)
    wanted = args["sku"]
    offers = [dict(row._mapping) for row in request_connection().execute(OFFERS, {"sku": wanted})]
    if not offers:
        raise NotFound(f"no ornament with sku {wanted!r}")
    if args["format"] == "csv":
        return csv_rows(offers, OFFER_COLUMNS, f"ornament-{wanted}.csv")
    summary = spread(offers)
    names = sorted({offer["name"] for offer in offers})
    data = {
        "sku": wanted,
        "names": names,
        "offers": [json_record(offer) for offer in offers],
        "spread": None
        if summary is None
        else {
            **json_record(summary),
            "cheapest": json_record(summary["cheapest"]),
            "dearest": json_record(summary["dearest"]),
        },
    }
    return data_response(data, {"count": len(offers)})
