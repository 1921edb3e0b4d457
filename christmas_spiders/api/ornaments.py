"""/api/v1/ornaments: one row per sku across the shops (spreads, rarity), and
/api/v1/ornaments/<sku>: every shop's offer for one ornament, cheapest first.

The routes' SQL is in christmas_spiders.api.ornament_queries, built on the ornament
summary's in christmas_spiders.db.ornaments (shared with the dashboard).
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, Response

from christmas_spiders.api.db import fetch_rows, readonly_engine
from christmas_spiders.api.envelope import NotFound, data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.ornament_queries import (
    OFFER_COLUMNS,
    OFFERS_SQL,
    OFFERS_VALUES,
    ORNAMENT_ORDER,
    json_list_sql,
    list_statement,
    listing_record,
    offers_rarity,
    ranges_years,
    spread,
)
from christmas_spiders.api.output import csv_rows, json_record, stream_csv
from christmas_spiders.api.pagination import ROW_LIMIT
from christmas_spiders.api.params import (
    CURSOR,
    FORMAT,
    LIMIT,
    MAX_SKU_LENGTH,
    VENDOR,
    YEAR_MAX,
    YEAR_MIN,
    Integer,
    Money,
    PathKey,
    Query,
    Text,
    described,
    normalise_sku,
)
from christmas_spiders.db.ornaments import summary_shape

bp = Blueprint("ornaments", __name__)

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
    rows = fetch_rows(OFFERS_SQL, {**OFFERS_VALUES, "sku": wanted, "at": dt.datetime.now(dt.UTC)})
    if not rows:
        raise NotFound(f"no ornament with sku {wanted!r}")
    offers = [dict(zip(OFFER_COLUMNS, row, strict=False)) for row in rows]
    if args["format"] == "csv":
        return csv_rows(offers, OFFER_COLUMNS, f"ornament-{wanted}.csv")
    summary = spread(offers)
    names = sorted({offer["name"] for offer in offers})
    data = {
        "sku": wanted,
        "names": names,
        "rarity": offers_rarity(rows[0]),
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


ORNAMENT_LIST = Query(
    described(VENDOR, "Carried by (listed at, in stock or not) any of these vendors."),
    Integer(name="release_year", minimum=1, maximum=9999, description="Exact release year."),
    YEAR_MIN,
    YEAR_MAX,
    Text(name="q", description="A name contains (any case)."),
    Integer(name="min_offers", minimum=0, maximum=1000, description="offers >= min_offers."),
    Integer(
        name="in_stock_offers",
        minimum=0,
        maximum=1000,
        description="Exactly this many offers in stock (0: sold out everywhere).",
    ),
    Money(name="min_spread_percent", description="spread.percent >= min_spread_percent."),
    ORNAMENT_ORDER.sort_param(
        "sku",
        "Sort key, '-' prefix for descending, ties broken by sku: spread, spread_percent "
        "(no spread sorts below every spread), cheapest (nothing in stock sorts above "
        "every price), offers, rarity (rarest first: fewest shops with it in stock, then "
        "fewest listing it), sku (default).",
    ),
    LIMIT,
    CURSOR,
    FORMAT,
)


@bp.get("/ornaments")
@documented(
    "One row per sku across the shops: offers, in-stock spread, lowest price seen, rarity",
    ORNAMENT_LIST,
    page="OrnamentSummary",
)
def list_ornaments() -> Response:
    args = ORNAMENT_LIST.parse()
    filters = ORNAMENT_LIST.filters(args)
    shape, values = summary_shape(filters)
    page = ORNAMENT_ORDER.page("ornaments", args, filters)
    parameters = {**values, **page.parameters, "at": dt.datetime.now(dt.UTC)}
    if page.csv:
        statement = list_statement(shape, page.sort, page.after, page.limited, page.csv)
        return stream_csv(readonly_engine(), statement, "ornaments.csv", parameters)
    sql, columns = json_list_sql(shape, page.sort, page.after, page.parameters[ROW_LIMIT])
    rows = fetch_rows(sql, parameters, prepare=not ranges_years(shape))
    return ORNAMENT_ORDER.response(rows, page, listing_record, columns=columns)
