"""Recording a crawl run: its ``crawl_runs`` row, written at open, while running and at close.

At open the row gets the crawl id, vendor, spider arguments, ``full_crawl`` and kind;
its ``started_at`` is the database's clock, the same clock as ``products.last_synced_at``.
While the worker runs its ``heartbeat_at`` is refreshed (:func:`heartbeat`). At close
it gets the finish time and reason and the worker's numbers (:func:`finish_run`), and
the product links its year pages listed refresh ``products.last_listed_at`` and
``listed_sold_out`` (:func:`record_listed`). The worker that judges the session writes the verdict
(:func:`record_verdict`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Integer, cast, func, select, text, update
from sqlalchemy.orm import Session

from christmas_spiders.crawl.judge import Verdict
from christmas_spiders.crawl.numbers import ABANDONED, FINISHED, RunNumbers
from christmas_spiders.db.models import CrawlRun


def _json_safe(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def start_run(
    session: Session,
    crawl_id: str,
    vendor: str,
    arguments: Mapping[str, Any],
    full_crawl: bool,
    kind: str | None = None,
) -> CrawlRun:
    """Insert the run's row (in ``session``'s transaction) and return it, its id set."""
    # Through JSON text and back: any other argument value is stored as its string.
    args = json.loads(json.dumps({k: _json_safe(v) for k, v in arguments.items()}, default=str))
    run = CrawlRun(
        crawl_id=crawl_id,
        vendor=vendor,
        args=args,
        full_crawl=full_crawl,
        kind=kind or ("full" if full_crawl else "years"),
        heartbeat_at=func.now(),
    )
    session.add(run)
    session.flush()
    return run


def heartbeat(session: Session, run_id: int) -> None:
    """The worker is alive: ``heartbeat_at`` = now (only while its row is open)."""
    session.execute(
        update(CrawlRun)
        .where(CrawlRun.id == run_id, CrawlRun.finished_at.is_(None))
        .values(heartbeat_at=func.now())
    )


def finish_run(session: Session, run_id: int, numbers: RunNumbers) -> CrawlRun:
    """Write the worker's end and numbers (in ``session``'s transaction); return its row.

    A row closed as abandoned while the worker was in fact alive (its heartbeat held up)
    gets the worker's real end."""
    run = session.get_one(CrawlRun, run_id)
    run.finished_at = func.now()  # type: ignore[assignment]
    run.heartbeat_at = func.now()  # type: ignore[assignment]
    run.finish_reason = numbers.finish_reason
    run.pages = numbers.pages
    run.items = numbers.items
    run.dropped = dict(numbers.dropped)
    run.browser_renders = numbers.browser_renders
    run.errors = numbers.errors
    run.numbers = numbers.as_dict()
    session.flush()
    return run


# Where the tile no longer says sold out, a refresh reads the product page
# (platforms/refresh.py, back_in_stock): where that page was not stored since the
# session started (it failed, was dropped, or another reason's read did), the tile's
# previous stock is kept, so the next refresh reads it again rather than never.
_LISTED = """
UPDATE products SET last_listed_at = now(),
    listed_sold_out = CASE
        WHEN listed.sold_out IS FALSE
             AND products.last_synced_at < :started
             AND (products.listed_sold_out
                  OR (products.listed_sold_out IS NULL
                      AND products.availability = 'out_of_stock'))
        THEN products.listed_sold_out
        ELSE listed.sold_out
    END
FROM unnest(CAST(:links AS text[]), CAST(:sold_out AS boolean[])) AS listed(link, sold_out)
WHERE products.vendor = :vendor AND products.link = listed.link
"""


def record_listed(
    session: Session,
    vendor: str,
    links: Collection[str],
    stock: Mapping[str, bool | None],
    started: dt.datetime,
) -> int:
    """``last_listed_at`` = now for ``vendor``'s products whose link a year page listed,
    and ``listed_sold_out`` = what its tile said about stock (``stock``; a link not in it:
    None, the tile showed none), but for a page a refresh had to read for it and that
    was not stored since ``started`` (the session's start). Returns how
    many products matched. One statement (a hash join on the links)."""
    if not links:
        return 0
    ordered = sorted(links)
    return session.execute(
        text(_LISTED),
        {
            "vendor": vendor,
            "links": ordered,
            "sold_out": [stock.get(link) for link in ordered],
            "started": started,
        },
    ).rowcount


def session_workers(session: Session, crawl_id: str) -> list[RunNumbers]:
    """The numbers of every worker of session ``crawl_id`` (an abandoned one: empty)."""
    rows = session.execute(
        select(CrawlRun.numbers, CrawlRun.finish_reason, CrawlRun.full_crawl, CrawlRun.kind)
        .where(CrawlRun.crawl_id == crawl_id)
        .order_by(CrawlRun.id)
    ).all()
    workers = []
    for row in rows:
        if row.numbers and row.finish_reason != ABANDONED:
            workers.append(RunNumbers.from_dict(row.numbers))
        else:
            workers.append(
                RunNumbers(finish_reason=ABANDONED, full_crawl=row.full_crawl, kind=row.kind)
            )
    return workers


def session_started(session: Session, crawl_id: str) -> dt.datetime:
    """When the session's first worker started (the database's clock)."""
    return session.scalar(
        select(func.min(CrawlRun.started_at)).where(CrawlRun.crawl_id == crawl_id)
    )  # type: ignore[return-value]


def previous_session_items(
    session: Session,
    crawl_id: str,
    vendor: str,
    kind: str,
    count: str = "items",
    full_crawl: bool | None = None,
) -> int | None:
    """``count`` (a number of the report: ``items``, ``listed``) of ``vendor``'s latest
    judged session of ``kind`` that finished, other than ``crawl_id``, and that walked
    every year or not as ``full_crawl`` says (None: either); None: there was none."""
    numbers = CrawlRun.monitor_report["numbers"]
    walked = () if full_crawl is None else (CrawlRun.full_crawl.is_(full_crawl),)
    return session.scalar(
        select(cast(numbers[count].astext, Integer))
        .where(
            CrawlRun.vendor == vendor,
            CrawlRun.kind == kind,
            *walked,
            CrawlRun.crawl_id != crawl_id,
            CrawlRun.verdict.is_not(None),
            numbers["finish_reason"].astext == FINISHED,
        )
        .order_by(CrawlRun.finished_at.desc(), CrawlRun.id.desc())
        .limit(1)
    )


def record_verdict(session: Session, run: CrawlRun, verdict: Verdict, delisted: int) -> None:
    """The session's verdict, on the row of the worker that judged it."""
    run.monitors_passed = verdict.passed
    run.monitor_report = verdict.report()
    run.verdict = "passed" if verdict.passed else "failed"
    run.verdict_reason = verdict.reason
    run.delisted = delisted
    session.flush()
