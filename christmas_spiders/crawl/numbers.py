"""The numbers of one crawl run, as the record stores them and the judge reads them.

A run's numbers come from its Scrapy stats at close (:meth:`RunNumbers.from_stats`);
they are plain values (:meth:`RunNumbers.as_dict` / :meth:`RunNumbers.from_dict` for
the ``crawl_runs.numbers`` column), so the numbers of every worker of one crawl session
are summed (:func:`combine`) before the session is judged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scrapy.statscollectors import StatsCollector

from christmas_spiders.items import ITEM_FIELDS

DROPPED_PREFIX = "christmas/dropped/"
FAILED_PREFIX = "christmas/failed/"
# Items in which each field was filled (not None, not ""), counted at item_scraped.
COVERAGE_STAT = "christmas/coverage/{field}"
# Items whose stock the spiders could not read (layout drift, issue "monitors see drift").
UNKNOWN_AVAILABILITY_STAT = "christmas/availability/unknown"
PRODUCT_PAGES_STAT = "christmas/product_pages"
FINISHED = "finished"
ABANDONED = "abandoned"
# A worker that stopped because Redis stayed away: it acknowledged nothing, so its pages
# stay in the session's in-flight table for the session's next worker.
REDIS_UNAVAILABLE = "redis_unavailable"

# Kinds of crawl, for comparing a run with the previous one of the same kind.
FULL = "full"
REFRESH = "refresh"
YEARS = "years"
PRODUCT = "product"


def count_filled_fields(stats: StatsCollector, item: Any) -> None:
    """Add ``item``'s filled fields to the crawl's ``christmas/coverage/<field>`` stats."""
    for name in ITEM_FIELDS:
        value = item.get(name) if hasattr(item, "get") else None
        if value is not None and value != "":
            stats.inc_value(COVERAGE_STAT.format(field=name))


def _prefixed(stats: Mapping[str, Any], prefix: str) -> dict[str, int]:
    return {
        key.removeprefix(prefix): int(value)
        for key, value in stats.items()
        if key.startswith(prefix)
    }


@dataclass(frozen=True)
class RunNumbers:
    finish_reason: str
    #: The crawl walked every year of the vendor (no years/product_url/stale_hours): a
    #: full crawl, or a refresh (``-a mode=refresh``, kind ``refresh``).
    full_crawl: bool
    pages: int = 0
    items: int = 0
    errors: int = 0
    browser_renders: int = 0
    #: Product pages answered (parsed or dropped), ``christmas/product_pages``.
    product_pages: int = 0
    #: Requests failed after their retries, per kind (year_index, year_page, product_page).
    failed: Mapping[str, int] = field(default_factory=dict)
    #: Requests Scrapy's retry middleware gave up on (each logs an ERROR of its own).
    retries_exhausted: int = 0
    #: Items dropped, per reason.
    dropped: Mapping[str, int] = field(default_factory=dict)
    #: Items with each item field filled.
    filled: Mapping[str, int] = field(default_factory=dict)
    #: Items whose availability the spider could not read.
    unknown_availability: int = 0
    #: Years whose listing was not read completely, each with why (str(year) -> reasons).
    incomplete_years: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Product links listed on the year pages read.
    listed: int = 0
    #: Items of the vendor's previous finished session of the same kind (None: none).
    previous_items: int | None = None
    #: full / refresh / years / product ("" for a full_crawl flag alone: derived).
    kind: str = ""
    #: Workers summed into these numbers, those of them closed as abandoned, and those
    #: that stopped with Redis away, their pages then finished by a later worker.
    workers: int = 1
    abandoned_workers: int = 0
    resumed_workers: int = 0

    def __post_init__(self) -> None:
        # Only a crawl of every year is a full one (a copy with full_crawl=False is not).
        if not self.kind or (self.kind == FULL and not self.full_crawl):
            object.__setattr__(self, "kind", FULL if self.full_crawl else YEARS)

    @property
    def listing_refresh(self) -> bool:
        """A refresh that walked every listing (``-a mode=refresh``): of the products its
        listings showed it reads only the pages whose tile changed and the new ones."""
        return self.kind == REFRESH and self.full_crawl

    def share_base(self, count: int) -> int:
        """What a share of pages or items is taken of: ``count``, or for a listing refresh
        the products its listings showed. The pages such a refresh reads are where drops
        and unknown stock gather (a page dropped once is new on every refresh, a row of
        unknown stock is always read); the rest stand as stored."""
        return max(count, self.listed) if self.listing_refresh else count

    @property
    def compared_count(self) -> str:
        """The count compared with the previous session of the kind: ``items``, or for a
        listing refresh ``listed`` (its items are the few pages whose tile changed)."""
        return "listed" if self.listing_refresh else "items"

    @property
    def product_requests(self) -> int:
        """Product pages asked for: answered ones plus those that failed."""
        return self.product_pages + self.failed.get("product_page", 0)

    @property
    def failed_requests(self) -> int:
        return sum(self.failed.values())

    @property
    def unexplained_errors(self) -> int:
        """ERROR lines beyond those each failed request logs (the spider's, and Scrapy's
        "Gave up retrying"): a traceback, a lost database... fail a crawl whatever
        their number."""
        return max(0, self.errors - self.failed_requests - self.retries_exhausted)

    @classmethod
    def from_stats(
        cls,
        stats: Mapping[str, Any],
        finish_reason: str,
        full_crawl: bool,
        previous_items: int | None = None,
        *,
        kind: str = "",
        incomplete_years: Mapping[int, Iterable[str]] | None = None,
        listed: int = 0,
    ) -> RunNumbers:
        return cls(
            finish_reason=finish_reason,
            full_crawl=full_crawl,
            pages=int(stats.get("response_received_count", 0)),
            items=int(stats.get("item_scraped_count", 0)),
            errors=int(stats.get("log_count/ERROR", 0)),
            browser_renders=int(stats.get("christmas/browser_renders", 0)),
            product_pages=int(stats.get(PRODUCT_PAGES_STAT, 0)),
            failed=_prefixed(stats, FAILED_PREFIX),
            retries_exhausted=int(stats.get("retry/max_reached", 0)),
            dropped=_prefixed(stats, DROPPED_PREFIX),
            filled={
                name: int(stats.get(COVERAGE_STAT.format(field=name), 0)) for name in ITEM_FIELDS
            },
            unknown_availability=int(stats.get(UNKNOWN_AVAILABILITY_STAT, 0)),
            incomplete_years={
                str(year): sorted(set(reasons))
                for year, reasons in sorted((incomplete_years or {}).items())
            },
            listed=listed,
            previous_items=previous_items,
            kind=kind,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (the ``crawl_runs.numbers`` column)."""
        values = asdict(self)
        values["incomplete_years"] = {k: list(v) for k, v in self.incomplete_years.items()}
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunNumbers:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_previous(self, previous_items: int | None) -> RunNumbers:
        return replace(self, previous_items=previous_items)


def _summed(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


def combine(workers: Sequence[RunNumbers]) -> RunNumbers:
    """The numbers of a crawl session: every worker's counts summed.

    Its finish reason is ``finished`` when every worker that finished did so; a worker
    closed as abandoned does not set it (the others fetched its pages again) but is
    counted in ``abandoned_workers``. Nor does a worker stopped with reason
    ``redis_unavailable`` once another worker finished: a worker finishes only when the
    session's queue is empty and nothing is in flight, so the stopped worker's pages
    (left in flight for this) were fetched again; it is counted in ``resumed_workers``.
    The stopped worker recorded its listings at its end, so they count as seen.
    """
    if not workers:
        raise ValueError("a crawl session has at least one worker")
    closed = [w for w in workers if w.finish_reason != ABANDONED]
    session_done = any(w.finish_reason == FINISHED for w in closed)
    resumed = sum(w.finish_reason == REDIS_UNAVAILABLE for w in closed) if session_done else 0
    settled = (FINISHED, REDIS_UNAVAILABLE) if session_done else (FINISHED,)
    reasons = [w.finish_reason for w in closed if w.finish_reason not in settled]
    incomplete: dict[str, set[str]] = {}
    for worker in workers:
        for year, why in worker.incomplete_years.items():
            incomplete.setdefault(year, set()).update(why)
    first = workers[0]
    return RunNumbers(
        finish_reason=reasons[0] if reasons else (FINISHED if closed else ABANDONED),
        full_crawl=all(w.full_crawl for w in workers),
        pages=sum(w.pages for w in workers),
        items=sum(w.items for w in workers),
        errors=sum(w.errors for w in workers),
        browser_renders=sum(w.browser_renders for w in workers),
        product_pages=sum(w.product_pages for w in workers),
        failed=_summed(w.failed for w in workers),
        retries_exhausted=sum(w.retries_exhausted for w in workers),
        dropped=_summed(w.dropped for w in workers),
        filled=_summed(w.filled for w in workers),
        unknown_availability=sum(w.unknown_availability for w in workers),
        incomplete_years={year: sorted(why) for year, why in sorted(incomplete.items())},
        listed=sum(w.listed for w in workers),
        previous_items=first.previous_items,
        kind=first.kind,
        workers=len(workers),
        abandoned_workers=len(workers) - len(closed),
        resumed_workers=resumed,
    )
