"""Delisting: the vendor's products a complete crawl did not see are marked ``delisted``.

Only on a proof of completeness (:class:`Completeness`): a run is complete when it read
every listing page of every year completely (a full crawl, or a refresh: the listings
prove presence, whichever product pages were read), finished with reason ``finished``
and passed its monitors (:func:`completeness_of_run`). A partial, failed or suspicious
crawl marks nothing: a failed crawl must never look like mass sell-outs.

"Seen" means listed or read since the crawl started: ``products.last_listed_at`` (the
crawl's listed links, written at its end) or ``last_synced_at``.

When several workers share a crawl id, the last one to finish delists, counting from
the earliest worker's start. The audit trigger records each change, tagged with the
crawl id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from christmas_spiders.crawl.judge import Verdict
from christmas_spiders.crawl.numbers import RunNumbers
from christmas_spiders.db.models import CrawlRun, Product
from christmas_spiders.db.store import set_crawl_id

DELISTED = "delisted"


@dataclass(frozen=True)
class Completeness:
    """Whether a crawl is proven to have seen every listed product of its vendor, and why."""

    proven: bool
    reason: str


def completeness_of_run(numbers: RunNumbers, verdict: Verdict) -> Completeness:
    if not numbers.walked_every_listing:
        return Completeness(False, "not every year's listing was walked (some years, products)")
    if numbers.incomplete_years:
        years = ", ".join(map(str, sorted(numbers.incomplete_years)))
        return Completeness(False, f"the listings of {years} were not read completely")
    if numbers.finish_reason != "finished":
        return Completeness(False, f"the crawl ended with reason {numbers.finish_reason!r}")
    if not verdict.passed:
        return Completeness(False, "the crawl failed its monitors")
    return Completeness(True, "every listing read; the crawl finished and passed its monitors")


def delist_unseen(session: Session, run: CrawlRun, completeness: Completeness) -> int | None:
    """In ``session``'s transaction (the one that finishes ``run``): mark the vendor's
    products not synced since the crawl started ``delisted`` and count them in
    ``run.delisted``. None when nothing was done: no proof, or other workers of the crawl
    are still running (the last one delists)."""
    if not completeness.proven:
        return None
    # This run's own finish is written first: a worker finishing at the same moment sees
    # it once this transaction commits, and delists then.
    session.flush()
    # Serialise the workers of one crawl id, then let only the last one delist.
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(run.crawl_id))))
    others_running = session.scalar(
        select(func.count())
        .select_from(CrawlRun)
        .where(
            CrawlRun.crawl_id == run.crawl_id,
            CrawlRun.id != run.id,
            CrawlRun.finished_at.is_(None),
        )
    )
    if others_running:
        return None
    set_crawl_id(session.connection(), run.crawl_id)
    crawl_started = (
        select(func.min(CrawlRun.started_at))
        .where(CrawlRun.crawl_id == run.crawl_id)
        .scalar_subquery()
    )
    delisted = session.execute(
        update(Product)
        .where(
            Product.vendor == run.vendor,
            Product.availability != DELISTED,
            Product.last_synced_at < crawl_started,
            or_(Product.last_listed_at.is_(None), Product.last_listed_at < crawl_started),
        )
        .values(availability=DELISTED)
        .execution_options(synchronize_session=False)
    ).rowcount
    run.delisted = delisted
    return delisted
