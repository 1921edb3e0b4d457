"""Recording a crawl run: its ``crawl_runs`` row, written at open and at close.

At open the row gets the crawl id, vendor, spider arguments and ``full_crawl``; its
``started_at`` is the database's clock, the same clock as ``products.last_synced_at``.
At close, first the product links its listing pages showed refresh
``products.last_listed_at`` (:func:`record_listed`); then the run gets the finish time
and reason, the run's numbers and the judge's verdict
(``monitors_passed``, ``monitor_report``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from christmas_spiders.crawl.judge import Verdict
from christmas_spiders.crawl.numbers import RunNumbers
from christmas_spiders.db.models import CrawlRun


def _json_safe(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def start_run(
    session: Session, crawl_id: str, vendor: str, arguments: Mapping[str, Any], full_crawl: bool
) -> CrawlRun:
    """Insert the run's row (in ``session``'s transaction) and return it, its id set."""
    # Through JSON text and back: any other argument value is stored as its string.
    args = json.loads(json.dumps({k: _json_safe(v) for k, v in arguments.items()}, default=str))
    run = CrawlRun(crawl_id=crawl_id, vendor=vendor, args=args, full_crawl=full_crawl)
    session.add(run)
    session.flush()
    return run


def previous_complete_items(session: Session, run_id: int, vendor: str) -> int | None:
    """Items of ``vendor``'s last complete, finished run before ``run_id`` (None: none)."""
    return session.scalar(
        select(CrawlRun.items)
        .where(
            CrawlRun.vendor == vendor,
            CrawlRun.full_crawl.is_(True),
            CrawlRun.finish_reason == "finished",
            CrawlRun.id < run_id,
        )
        .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
        .limit(1)
    )


def record_listed(session: Session, vendor: str, links: Collection[str]) -> int:
    """``last_listed_at`` = now for ``vendor``'s products whose link a listing page
    showed (in ``session``'s transaction); returns how many rows it touched."""
    if not links:
        return 0
    return session.execute(
        text(
            "UPDATE products SET last_listed_at = now() "
            "FROM unnest(CAST(:links AS text[])) AS listed(link) "
            "WHERE products.vendor = :vendor AND products.link = listed.link"
        ),
        {"vendor": vendor, "links": sorted(links)},
    ).rowcount


def finish_run(session: Session, run_id: int, numbers: RunNumbers, verdict: Verdict) -> CrawlRun:
    """Write the run's end (in ``session``'s transaction) and return its row."""
    run = session.get_one(CrawlRun, run_id)
    run.finished_at = func.now()  # type: ignore[assignment]
    run.finish_reason = numbers.finish_reason
    run.pages = numbers.pages
    run.items = numbers.items
    run.dropped = dict(numbers.dropped)
    run.browser_renders = numbers.browser_renders
    run.errors = numbers.errors
    run.monitors_passed = verdict.passed
    run.monitor_report = verdict.report()
    session.flush()
    return run
