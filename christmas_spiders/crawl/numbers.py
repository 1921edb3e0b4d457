"""The numbers of one crawl run, as the record stores them and the judge reads them.

A run's numbers come from its Scrapy stats at close (:meth:`RunNumbers.from_stats`);
they are plain values, so the numbers of several workers of one crawl session can be
combined before they are judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy.statscollectors import StatsCollector

from christmas_spiders.items import ITEM_FIELDS

DROPPED_PREFIX = "christmas/dropped/"
# Items in which each field was filled (not None, not ""), counted at item_scraped.
COVERAGE_STAT = "christmas/coverage/{field}"


def count_filled_fields(stats: StatsCollector, item: Any) -> None:
    """Add ``item``'s filled fields to the crawl's ``christmas/coverage/<field>`` stats."""
    for name in ITEM_FIELDS:
        value = item.get(name) if hasattr(item, "get") else None
        if value is not None and value != "":
            stats.inc_value(COVERAGE_STAT.format(field=name))


@dataclass(frozen=True)
class RunNumbers:
    finish_reason: str
    #: The crawl walked every year of the vendor (no years/product_url/stale_hours) and
    #: read every listed product page (not a refresh).
    full_crawl: bool
    pages: int = 0
    items: int = 0
    errors: int = 0
    browser_renders: int = 0
    #: Items dropped, per reason.
    dropped: Mapping[str, int] = field(default_factory=dict)
    #: Items with each item field filled.
    filled: Mapping[str, int] = field(default_factory=dict)
    #: Items of the vendor's previous complete, finished run (None: there was none).
    previous_items: int | None = None
    #: The crawl read every listing page of every year (a full crawl or a refresh).
    lists_every_year: bool | None = None
    #: Years whose listing was not read completely (a failed page, a short count...).
    incomplete_years: tuple[int, ...] = ()

    @property
    def walked_every_listing(self) -> bool:
        """Every listing of every year read: ``lists_every_year``, else ``full_crawl``."""
        return self.full_crawl if self.lists_every_year is None else self.lists_every_year

    @classmethod
    def from_stats(
        cls,
        stats: Mapping[str, Any],
        finish_reason: str,
        full_crawl: bool,
        previous_items: int | None = None,
        lists_every_year: bool | None = None,
        incomplete_years: tuple[int, ...] = (),
    ) -> RunNumbers:
        return cls(
            finish_reason=finish_reason,
            full_crawl=full_crawl,
            pages=int(stats.get("response_received_count", 0)),
            items=int(stats.get("item_scraped_count", 0)),
            errors=int(stats.get("log_count/ERROR", 0)),
            browser_renders=int(stats.get("christmas/browser_renders", 0)),
            dropped={
                key.removeprefix(DROPPED_PREFIX): int(value)
                for key, value in stats.items()
                if key.startswith(DROPPED_PREFIX)
            },
            filled={
                name: int(stats.get(COVERAGE_STAT.format(field=name), 0)) for name in ITEM_FIELDS
            },
            previous_items=previous_items,
            lists_every_year=lists_every_year,
            incomplete_years=incomplete_years,
        )
