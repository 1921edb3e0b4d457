"""Delisting: the vendor's products a complete crawl session did not list are ``delisted``.

Only on a proof of completeness (:class:`Completeness`, :func:`completeness_of_run`): the
session walked every year's listings (kind ``full``, or ``refresh`` with ``-a
mode=refresh``: its listing walk is a full crawl's, whichever product pages it then
read), every worker finished with reason ``finished``
(none was abandoned: its listings are lost), and the session passed its monitors. A
year whose listing was not read completely (a failed listing page, a product count that
does not match, a browser wait that timed out) delists nothing of that year.

"Not seen" means not listed: a product a year page listed keeps its state whether its
own page answered, failed or was dropped (``products.last_listed_at``), and so does
a product this session stored. A session that would delist more than
``CHRISTMAS_MAX_DELIST_RATIO`` of the vendor's products delists nothing: the caller
fails its verdict. The audit trigger records each change, tagged with the crawl id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from christmas_spiders.crawl.judge import Verdict
from christmas_spiders.crawl.numbers import FINISHED, FULL, REFRESH, RunNumbers
from christmas_spiders.db.models import Product
from christmas_spiders.db.store import set_crawl_id

DELISTED = "delisted"
# Kinds of crawl whose listing walk, done over every year, proves presence.
LISTING_KINDS = (FULL, REFRESH)


@dataclass(frozen=True)
class Completeness:
    """Whether a crawl is proven to have seen every listed product of its vendor, and why."""

    proven: bool
    reason: str


def completeness_of_run(numbers: RunNumbers, verdict: Verdict) -> Completeness:
    if not numbers.full_crawl or numbers.kind not in LISTING_KINDS:
        return Completeness(
            False, "not every year's listing was walked (some years, one product, stale rows)"
        )
    if numbers.finish_reason != FINISHED:
        return Completeness(False, f"the crawl ended with reason {numbers.finish_reason!r}")
    if numbers.abandoned_workers:
        return Completeness(
            False, f"{numbers.abandoned_workers} worker(s) abandoned: their listings are lost"
        )
    if not verdict.passed:
        return Completeness(False, "the crawl failed its monitors")
    kind = "a full crawl" if numbers.kind == FULL else "a refresh of every listing"
    return Completeness(True, f"{kind} that finished and passed its monitors")


@dataclass(frozen=True)
class Delisting:
    #: Products marked delisted (0 when refused or not proven).
    delisted: int
    #: Products not listed that this session would have delisted.
    candidates: int
    #: The vendor's products not delisted before the session.
    listed_products: int
    #: Why nothing was delisted, if so (no proof, over the share cap).
    refused: str | None = None


def _unseen(vendor: str, started: dt.datetime, skip_years: Collection[int]) -> ColumnElement[bool]:
    condition = (
        (Product.vendor == vendor)
        & (Product.availability != DELISTED)
        & (Product.last_synced_at < started)
        & or_(Product.last_listed_at.is_(None), Product.last_listed_at < started)
    )
    if skip_years:
        condition = condition & Product.release_year.not_in(sorted(skip_years))
    return condition


def delist_unseen(
    session: Session,
    vendor: str,
    crawl_id: str,
    started: dt.datetime,
    completeness: Completeness,
    incomplete_years: Collection[int],
    max_ratio: float,
) -> Delisting:
    """In ``session``'s transaction: mark ``vendor``'s products neither listed nor
    stored since ``started`` (outside ``incomplete_years``) delisted, unless that is more
    than ``max_ratio`` of the vendor's products."""
    active = session.scalar(
        select(func.count())
        .select_from(Product)
        .where(Product.vendor == vendor, Product.availability != DELISTED)
    )
    unseen = _unseen(vendor, started, incomplete_years)
    candidates = session.scalar(select(func.count()).select_from(Product).where(unseen))
    assert active is not None and candidates is not None
    if not completeness.proven:
        return Delisting(0, candidates, active, completeness.reason)
    if candidates > max_ratio * active:
        return Delisting(
            0,
            candidates,
            active,
            f"{candidates} of {active} products not listed ({candidates / active:.1%}), "
            f"more than {max_ratio:.0%}: nothing delisted",
        )
    if not candidates:
        return Delisting(0, 0, active)
    set_crawl_id(session.connection(), crawl_id)
    delisted = session.execute(
        update(Product)
        .where(unseen)
        .values(availability=DELISTED)
        .execution_options(synchronize_session=False)
    ).rowcount
    return Delisting(delisted, candidates, active)
