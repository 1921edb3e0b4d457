"""/api/v1/vendors: products per vendor, in stock, and the last crawl run with its verdict.

The verdict is the crawl session's (christmas_spiders.db.verdicts.session_verdict): one
for all workers of the run's crawl id, ``running`` only while a worker is alive. The
query is in christmas_spiders.api.vendor_queries, shared with the dashboard's shops page.
"""

from __future__ import annotations

from flask import Blueprint, Response

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows
from christmas_spiders.api.params import FORMAT, VENDOR, Query
from christmas_spiders.api.vendor_queries import RUN_COLUMNS, vendor_summaries

bp = Blueprint("vendors", __name__)

CSV_COLUMNS = (
    "vendor",
    "products",
    "in_stock",
    "out_of_stock",
    "delisted",
    *(f"last_run_{column}" for column in RUN_COLUMNS),
    "last_run_verdict",
)


VENDORS = Query(VENDOR, FORMAT)


@bp.get("/vendors")
@documented(
    "Products per vendor, in stock, last crawl run and its monitor verdict", VENDORS, rows="Vendor"
)
def list_vendors() -> Response:
    args = VENDORS.parse()
    result = vendor_summaries(request_connection(), args["vendor"])
    if args["format"] == "csv":
        flat = []
        for entry in result:
            run = entry["last_run"] or {}
            flat.append(
                {
                    **{key: entry[key] for key in CSV_COLUMNS[:5]},
                    **{f"last_run_{column}": run.get(column) for column in RUN_COLUMNS},
                    "last_run_verdict": run.get("verdict"),
                }
            )
        return csv_rows(flat, CSV_COLUMNS, "vendors.csv")
    return data_response(result, {"count": len(result)})
