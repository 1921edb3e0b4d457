"""/api/v1/stats/years: price statistics per vendor and release year."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import Numeric, case, cast, func, select

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows, json_record
from christmas_spiders.api.params import (
    AVAILABILITY,
    FORMAT,
    VENDOR,
    YEAR_MAX,
    YEAR_MIN,
    Query,
    described,
)
from christmas_spiders.db.models import Product

bp = Blueprint("stats", __name__)

YEAR_COLUMNS = (
    "vendor",
    "release_year",
    "count",
    "min_price",
    "max_price",
    "mean_price",
    "median_price",
    "in_stock_share",
)


YEAR_STATS = Query(
    VENDOR,
    YEAR_MIN,
    YEAR_MAX,
    described(AVAILABILITY, "Only products with this availability."),
    FORMAT,
)


@bp.get("/stats/years")
@documented(
    "Per vendor and release year: count, min, max, mean, median price, in-stock share",
    YEAR_STATS,
    rows="YearStat",
)
def year_stats() -> Response:
    args = YEAR_STATS.parse()
    vendors = args["vendor"]
    year_min = args["year_min"]
    year_max = args["year_max"]
    availability = args["availability"]
    in_stock = case((Product.availability == "in_stock", 1.0), else_=0.0)
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
        )
        .group_by(Product.vendor, Product.release_year)
        .order_by(Product.vendor, Product.release_year)
    )
    if vendors:
        statement = statement.where(Product.vendor.in_(vendors))
    if year_min is not None:
        statement = statement.where(Product.release_year >= year_min)
    if year_max is not None:
        statement = statement.where(Product.release_year <= year_max)
    if availability:
        statement = statement.where(Product.availability.in_(availability))
    rows = [dict(row._mapping) for row in request_connection().execute(statement)]
    for row in rows:
        row["in_stock_share"] = float(row["in_stock_share"])
    if args["format"] == "csv":
        return csv_rows(rows, YEAR_COLUMNS, "stats-years.csv")
    data: list[dict[str, Any]] = [json_record(row) for row in rows]
    return data_response(data, {"count": len(data)})
