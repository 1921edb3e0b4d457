"""/api/v1/stats/years: price statistics and appreciation per vendor and release year.

The SQL is :func:`christmas_spiders.db.ornaments.year_stats`, shared with the dashboard.
"""

from __future__ import annotations

from flask import Blueprint, Response

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows
from christmas_spiders.api.params import (
    AVAILABILITY,
    FORMAT,
    VENDOR,
    YEAR_MAX,
    YEAR_MIN,
    Query,
    described,
)
from christmas_spiders.db.ornaments import YEAR_STAT_COLUMNS, year_stats

bp = Blueprint("stats", __name__)

YEAR_STATS = Query(
    VENDOR,
    YEAR_MIN,
    YEAR_MAX,
    described(AVAILABILITY, "Only products with this availability."),
    FORMAT,
)


@bp.get("/stats/years")
@documented(
    "Per vendor and release year: prices, in-stock share, and appreciation against "
    "retail prices and an index",
    YEAR_STATS,
    rows="YearStat",
)
def get_year_stats() -> Response:
    args = YEAR_STATS.parse()
    rows = year_stats(
        request_connection(),
        vendors=args["vendor"],
        year_min=args["year_min"],
        year_max=args["year_max"],
        availability=args["availability"],
    )
    if args["format"] == "csv":
        return csv_rows(rows, YEAR_STAT_COLUMNS, "stats-years.csv")
    return data_response(rows, {"count": len(rows)})
