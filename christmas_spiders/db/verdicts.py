"""The verdict of a crawl session, read from ``crawl_runs`` (no Scrapy needed).

A crawl session is every ``crawl_runs`` row of one ``crawl_id``: one row per worker
process. The last worker to finish judges the session's summed numbers and writes the
verdict on its own row (``verdict``, ``verdict_reason``); :func:`session_verdict` reads
it back. A worker whose heartbeat stopped for longer than the worker timeout is gone
(killed, lost its host or its database): :func:`close_abandoned_runs` closes its row as
``abandoned`` so it neither blocks the verdict nor shows as running.

Consumers that act on a crawl's changes (alerts) wait for ``status == "passed"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, select, update

from christmas_spiders.config import get_config
from christmas_spiders.db.models import CrawlRun

RUNNING = "running"
PASSED = "passed"
FAILED = "failed"
ABANDONED = "abandoned"
#: No crawl_runs row has this crawl id.
UNKNOWN = "unknown"


def worker_timeout_seconds() -> float:
    """The configured worker timeout (``distributed.worker_timeout_seconds``)."""
    return float(get_config()["distributed"]["worker_timeout_seconds"])


@dataclass(frozen=True)
class SessionVerdict:
    crawl_id: str
    #: running | passed | failed | abandoned (every worker gone, none judged) | unknown
    status: str
    reason: str
    vendor: str | None = None
    workers: int = 0
    #: Workers still running (heartbeat fresh) and workers closed or seen as abandoned.
    running: int = 0
    abandoned: int = 0
    delisted: int = 0
    finished_at: dt.datetime | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def _gone(timeout_seconds: float, *, by_start: bool) -> ColumnElement[bool]:
    """SQL: a running row whose last sign of life is older than the timeout. A row
    without a heartbeat (written before heartbeats were) is judged by its start only
    when ``by_start``: closing it, not reading it."""
    last_alive = (
        func.coalesce(CrawlRun.heartbeat_at, CrawlRun.started_at)
        if by_start
        else CrawlRun.heartbeat_at
    )
    return CrawlRun.finished_at.is_(None) & (
        last_alive < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, timeout_seconds)
    )


def _judged(row: Row[Any]) -> str | None:
    if row.verdict is not None:
        return str(row.verdict)
    # A run judged before session verdicts were recorded: its monitors' verdict.
    if row.monitors_passed is not None:
        return PASSED if row.monitors_passed else FAILED
    return None


def session_verdict(
    conn: Connection, crawl_id: str, timeout_seconds: float | None = None
) -> SessionVerdict:
    """The verdict of session ``crawl_id`` (read only: nothing is written).

    ``running`` while a worker's heartbeat is fresh; else the verdict of the latest
    worker that judged it; ``abandoned`` when every worker finished or is gone but none
    judged (a worker killed, a database lost at the end).
    """
    timeout = worker_timeout_seconds() if timeout_seconds is None else timeout_seconds
    gone = func.coalesce(_gone(timeout, by_start=False), False).label("gone")
    rows = conn.execute(
        select(
            CrawlRun.vendor,
            CrawlRun.finished_at,
            CrawlRun.finish_reason,
            CrawlRun.verdict,
            CrawlRun.verdict_reason,
            CrawlRun.monitors_passed,
            CrawlRun.delisted,
            gone,
        )
        .where(CrawlRun.crawl_id == crawl_id)
        .order_by(CrawlRun.finished_at.desc().nulls_first(), CrawlRun.id.desc())
    ).all()
    if not rows:
        return SessionVerdict(crawl_id, UNKNOWN, "no crawl run has this crawl id")
    running = sum(1 for r in rows if r.finished_at is None and not r.gone)
    abandoned = sum(1 for r in rows if r.gone or r.finish_reason == ABANDONED)
    common = {
        "vendor": rows[0].vendor,
        "workers": len(rows),
        "running": running,
        "abandoned": abandoned,
    }
    if running:
        return SessionVerdict(
            crawl_id, RUNNING, f"{running} of {len(rows)} workers running", **common
        )
    judged = [r for r in rows if _judged(r) is not None]
    if judged:
        last = max(judged, key=lambda r: r.finished_at or dt.datetime.min.replace(tzinfo=dt.UTC))
        return SessionVerdict(
            crawl_id,
            str(_judged(last)),
            last.verdict_reason or "",
            delisted=last.delisted,
            finished_at=last.finished_at,
            **common,
        )
    return SessionVerdict(
        crawl_id,
        ABANDONED,
        f"no worker judged the session ({abandoned} of {len(rows)} workers abandoned)",
        finished_at=max((r.finished_at for r in rows if r.finished_at), default=None),
        **common,
    )


def close_abandoned_runs(
    conn: Connection,
    timeout_seconds: float | None = None,
    *,
    vendor: str | None = None,
    crawl_id: str | None = None,
) -> list[int]:
    """Close the running rows whose heartbeat stopped for longer than the timeout
    (``finish_reason = 'abandoned'``, ``finished_at`` now); returns their ids."""
    timeout = worker_timeout_seconds() if timeout_seconds is None else timeout_seconds
    statement = (
        update(CrawlRun)
        .where(_gone(timeout, by_start=True))
        .values(finished_at=func.now(), finish_reason=ABANDONED)
        .returning(CrawlRun.id)
    )
    if vendor is not None:
        statement = statement.where(CrawlRun.vendor == vendor)
    if crawl_id is not None:
        statement = statement.where(CrawlRun.crawl_id == crawl_id)
    return sorted(conn.execute(statement).scalars())
