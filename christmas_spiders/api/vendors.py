"""/api/v1/vendors: products per vendor, in stock, and the last crawl run with its verdict.

The verdict is the crawl session's (christmas_spiders.db.verdicts.session_verdict): one
for all workers of the run's crawl id, ``running`` only while a worker is alive.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import data_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import csv_rows, json_record
from christmas_spiders.api.params import FORMAT, VENDOR, Query
from christmas_spiders.db.models import CrawlRun, Product
from christmas_spiders.db.verdicts import session_verdict

bp = Blueprint("vendors", __name__)

RUN_COLUMNS = (
    "crawl_id",
    "started_at",
    "finished_at",
    "finish_reason",
    "full_crawl",
    "pages",
    "items",
    "errors",
    "delisted",
    "monitors_passed",
)
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
    vendors = args["vendor"]
    counts = select(
        Product.vendor,
        func.count().label("products"),
        func.count().filter(Product.availability == "in_stock").label("in_stock"),
        func.count().filter(Product.availability == "out_of_stock").label("out_of_stock"),
        func.count().filter(Product.availability == "delisted").label("delisted"),
    ).group_by(Product.vendor)
    last_runs = (
        select(CrawlRun)
        .ext(distinct_on(CrawlRun.vendor))
        .order_by(CrawlRun.vendor, CrawlRun.started_at.desc(), CrawlRun.id.desc())
    )
    if vendors:
        counts = counts.where(Product.vendor.in_(vendors))
        last_runs = last_runs.where(CrawlRun.vendor.in_(vendors))
    conn = request_connection()
    count_rows = {row.vendor: row for row in conn.execute(counts)}
    run_rows = {row.vendor: row for row in conn.execute(last_runs)}
    result: list[dict[str, Any]] = []
    for vendor in sorted(set(count_rows) | set(run_rows)):
        count = count_rows.get(vendor)
        run = run_rows.get(vendor)
        entry: dict[str, Any] = {
            "vendor": vendor,
            "products": count.products if count else 0,
            "in_stock": count.in_stock if count else 0,
            "out_of_stock": count.out_of_stock if count else 0,
            "delisted": count.delisted if count else 0,
            "last_run": None,
        }
        if run is not None:
            session = session_verdict(conn, run.crawl_id)
            entry["last_run"] = {
                **json_record({column: getattr(run, column) for column in RUN_COLUMNS}),
                "dropped": run.dropped or {},
                "verdict": session.status,
                "verdict_reason": session.reason,
                "workers": session.workers,
                "monitor_report": run.monitor_report,
            }
        result.append(entry)
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
