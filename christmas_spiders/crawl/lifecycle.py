"""``CrawlLifecycle``: record the run, judge it, delist (EXTENSIONS 520).

At spider open the run's ``crawl_runs`` row is inserted (:mod:`.record`). Every
scraped item adds to the field-coverage stats. At close the product links the
spider's listing pages showed are recorded (``last_listed_at``), the run's numbers
(:class:`~.numbers.RunNumbers`) are judged (:mod:`.judge`), the verdict is logged and
recorded with the numbers, and, in the same transaction, a run proven complete
delists what it did not see (:mod:`.delist`). All database work goes through the
crawl's one engine (:func:`~.database.crawl_database`), in a thread.

``CHRISTMAS_STORE_ITEMS = False`` switches it off (crawls without a database).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from christmas_spiders.crawl.database import CrawlDatabase, crawl_database
from christmas_spiders.crawl.delist import Completeness, completeness_of_run, delist_unseen
from christmas_spiders.crawl.judge import Verdict, judge
from christmas_spiders.crawl.numbers import RunNumbers, count_filled_fields
from christmas_spiders.crawl.record import (
    finish_run,
    previous_complete_items,
    record_listed,
    start_run,
)

logger = logging.getLogger(__name__)
# The spider arguments recorded in crawl_runs.args (those that are set).
ARGUMENT_NAMES = (
    "base_url",
    "years",
    "product_url",
    "release_year",
    "stale_hours",
    "mode",
    "crawl_id",
)


class CrawlLifecycle:
    def __init__(self, crawler: Crawler, database: CrawlDatabase) -> None:
        self.crawler = crawler
        self.database = database
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLifecycle:
        if not crawler.settings.getbool("CHRISTMAS_STORE_ITEMS"):
            # A deliberate off switch: INFO, not the WARNING of NotConfigured(message).
            logger.info("CHRISTMAS_STORE_ITEMS is off: crawl runs are not recorded")
            raise NotConfigured
        extension = cls(crawler, crawl_database(crawler))
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    @staticmethod
    def vendor(spider: Spider) -> str:
        return str(getattr(spider, "vendor", None) or spider.name)

    @staticmethod
    def crawl_id(spider: Spider) -> str:
        return str(getattr(spider, "crawl_id", "") or "")

    @staticmethod
    def full_crawl(spider: Spider) -> bool:
        return bool(getattr(spider, "full_crawl", False))

    # ------------------------------------------------------------------ open

    async def spider_opened(self, spider: Spider) -> None:
        try:
            self.run_id = await maybe_deferred_to_future(deferToThread(self._start, spider))
        except Exception as exc:
            # The pipeline reports an unreachable database; here it only costs the record.
            logger.error("could not record the start of the crawl in crawl_runs: %s", exc)

    def _start(self, spider: Spider) -> int:
        arguments = {
            name: getattr(spider, name)
            for name in ARGUMENT_NAMES
            if getattr(spider, name, None) is not None
        }
        with self.database.session() as session, session.begin():
            run = start_run(
                session,
                self.crawl_id(spider),
                self.vendor(spider),
                arguments,
                self.full_crawl(spider),
            )
            return run.id

    def item_scraped(self, item: Any) -> None:
        count_filled_fields(self.crawler.stats, item)

    # ------------------------------------------------------------------ close

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = dict(self.crawler.stats.get_stats())
        previous_items = None
        if self.run_id is not None:
            try:
                previous_items = await maybe_deferred_to_future(
                    deferToThread(self._previous_items, spider)
                )
            except Exception as exc:
                logger.error("could not read the previous crawl runs: %s", exc)
        lists_every_year = getattr(spider, "lists_every_year", None)
        numbers = RunNumbers.from_stats(
            stats,
            reason,
            self.full_crawl(spider),
            previous_items,
            lists_every_year=None if lists_every_year is None else bool(lists_every_year),
            incomplete_years=tuple(sorted(getattr(spider, "incomplete_years", None) or ())),
        )
        listed: Collection[str] = getattr(spider, "listed_links", None) or ()
        verdict = judge(numbers, self.crawler)
        self._log_verdict(spider, verdict)
        self.crawler.stats.set_value("christmas/monitors_passed", verdict.passed)
        if self.run_id is None:
            logger.error("crawl run not recorded: the database was not reachable at start")
            return
        completeness = completeness_of_run(numbers, verdict)
        try:
            delisted = await maybe_deferred_to_future(
                deferToThread(self._finish, spider, numbers, verdict, completeness, listed)
            )
        except Exception as exc:
            logger.error("could not record the end of the crawl in crawl_runs: %s", exc)
            return
        if delisted is not None:
            self.crawler.stats.set_value("christmas/delisted", delisted)
            logger.info(
                "complete crawl: %d products of %s marked delisted", delisted, self.vendor(spider)
            )

    def _log_verdict(self, spider: Spider, verdict: Verdict) -> None:
        if verdict.passed:
            logger.info(
                "crawl %s of %s: monitors passed", self.crawl_id(spider), self.vendor(spider)
            )
        else:
            logger.warning(
                "crawl %s of %s: monitors FAILED: %s",
                self.crawl_id(spider),
                self.vendor(spider),
                "; ".join(f"{c.monitor}: {c.error}" for c in verdict.failures),
            )

    def _previous_items(self, spider: Spider) -> int | None:
        assert self.run_id is not None
        with self.database.session() as session:
            return previous_complete_items(session, self.run_id, self.vendor(spider))

    def _finish(
        self,
        spider: Spider,
        numbers: RunNumbers,
        verdict: Verdict,
        completeness: Completeness,
        listed: Collection[str],
    ) -> int | None:
        assert self.run_id is not None
        with self.database.session() as session, session.begin():
            record_listed(session, self.vendor(spider), listed)
            run = finish_run(session, self.run_id, numbers, verdict)
            return delist_unseen(session, run, completeness)
