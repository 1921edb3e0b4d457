"""Whether a crawl's changes may be alerted, from the crawl session's one verdict.

The verdict itself is :func:`christmas_spiders.db.verdicts.session_verdict` (summed over
every worker of the crawl id, judged by the last one). For alerts it comes down to three
answers: ``pending`` while a worker still runs or before the session has a row,
``passed`` once it passed, ``failed`` when it failed or every worker is gone unjudged
(abandoned): such a session proves nothing, so its changes are never alerted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection

from christmas_spiders.db.verdicts import ABANDONED, FAILED, PASSED, session_verdict

Status = Literal["pending", "passed", "failed"]


@dataclass(frozen=True)
class Verdict:
    status: Status
    # Why a crawl failed (or what it waits for), for the operator.
    reason: str = ""

    @property
    def decided(self) -> bool:
        return self.status != "pending"


def crawl_verdict(conn: Connection, crawl_id: str) -> Verdict:
    session = session_verdict(conn, crawl_id)
    if session.status == PASSED:
        return Verdict("passed")
    if session.status in (FAILED, ABANDONED):
        vendor = f"{session.vendor} " if session.vendor else ""
        return Verdict("failed", f"{vendor}crawl {session.status}: {session.reason}")
    return Verdict("pending", session.reason)
