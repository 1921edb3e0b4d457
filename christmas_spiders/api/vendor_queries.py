"""The vendors route's query, shared with the dashboard: product counts per vendor and
its last crawl run, with the run's crawl session verdict."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from christmas_spiders.api.output import json_record
from christmas_spiders.db.models import CrawlRun, Product
from christmas_spiders.db.verdicts import session_verdict

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


def vendor_summaries(conn: Connection, vendors: list[str] | None = None) -> list[dict[str, Any]]:
    """Each vendor (all, or those named): product counts and the last crawl run, verdict
    included (the dashboard's shops page shows the same)."""
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
    return result
