"""Whether a crawl's changes may be alerted: the ONE place that reads a crawl's verdict.

Today the verdict lives in ``crawl_runs``, one row per worker process (several rows
may share a crawl_id): a crawl is pending while any of its rows has no
``finished_at`` (or while it has no row yet), passed when every row finished with
finish reason ``finished`` and ``monitors_passed`` true, and failed otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, text

Status = Literal["pending", "passed", "failed"]


@dataclass(frozen=True)
class Verdict:
    status: Status
    # Why a crawl failed (or what it waits for), for the operator.
    reason: str = ""

    @property
    def decided(self) -> bool:
        return self.status != "pending"


_RUNS = text(
    "SELECT id, vendor, finished_at, finish_reason, monitors_passed, monitor_report "
    "FROM crawl_runs WHERE crawl_id = :crawl_id ORDER BY id"
)


def _failed_checks(report: dict[str, Any] | None) -> str:
    checks = (report or {}).get("checks") or []
    failed = [
        f"{check.get('monitor')}: {check.get('error')}"
        for check in checks
        if check.get("status") != "OK"
    ]
    return "; ".join(failed) or "monitors did not pass"


def crawl_verdict(conn: Connection, crawl_id: str) -> Verdict:
    runs = conn.execute(_RUNS, {"crawl_id": crawl_id}).mappings().all()
    if not runs:
        return Verdict("pending", "no crawl_runs row yet")
    running = [run for run in runs if run["finished_at"] is None]
    if running:
        return Verdict("pending", f"{len(running)} of {len(runs)} worker(s) still running")
    problems = []
    for run in runs:
        who = f"{run['vendor']} worker (crawl_runs id {run['id']})"
        if run["finish_reason"] != "finished":
            problems.append(f"{who} finished with reason {run['finish_reason']!r}")
        if run["monitors_passed"] is not True:
            problems.append(f"{who} failed its monitors: {_failed_checks(run['monitor_report'])}")
    if problems:
        return Verdict("failed", "; ".join(problems))
    return Verdict("passed")
