"""``CrawlLifecycle``: record the run, judge the session, delist (EXTENSIONS 520).

At spider open the worker's runs of the vendor left open by processes that are gone
are closed as abandoned and the run's ``crawl_runs`` row is inserted (:mod:`.record`);
a database that cannot take it stops the crawl at once (``database_unavailable``),
before any page is fetched. While the crawl runs the row's heartbeat is refreshed
every ``CHRISTMAS_WORKER_HEARTBEAT`` seconds. Every scraped item adds to the
field-coverage stats.

At close, in one transaction: the worker's numbers (:class:`~.numbers.RunNumbers`) and
the product links its year pages listed are recorded; then, serialised per crawl id,
siblings whose heartbeat stopped for longer than ``CHRISTMAS_WORKER_TIMEOUT`` are
closed as abandoned, and the last worker of the session judges the session's summed
numbers (:mod:`.judge`), delists on a proof of completeness (:mod:`.delist`) and
writes the verdict. The stats get ``christmas/verdict`` (passed / failed / pending:
another worker judges) and ``christmas/verdict_reason``: the project's ``crawl``
command exits non-zero on anything but a pass.

``CHRISTMAS_STORE_ITEMS = False`` switches it off (crawls without a database).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from sqlalchemy import func, select
from twisted.internet import task
from twisted.internet.threads import deferToThread

from christmas_spiders.crawl.database import CrawlDatabase, crawl_database
from christmas_spiders.crawl.delist import Delisting, completeness_of_run, delist_unseen
from christmas_spiders.crawl.judge import Verdict, judge
from christmas_spiders.crawl.numbers import RunNumbers, combine, count_filled_fields
from christmas_spiders.crawl.record import (
    finish_run,
    heartbeat,
    previous_session_items,
    record_listed,
    record_verdict,
    session_started,
    session_workers,
    start_run,
)
from christmas_spiders.db.models import CrawlRun
from christmas_spiders.db.verdicts import close_abandoned_runs

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
# Stats the crawl command and the stats file read.
VERDICT_STAT = "christmas/verdict"
VERDICT_REASON_STAT = "christmas/verdict_reason"
PENDING = "pending"
DATABASE_UNAVAILABLE = "database_unavailable"


@dataclass(frozen=True)
class Outcome:
    """What the close did: judged the session (verdict, delisting) or left it to others."""

    verdict: Verdict | None
    delisting: Delisting | None = None
    others_running: int = 0
    abandoned: Collection[int] = ()


class CrawlLifecycle:
    def __init__(
        self,
        crawler: Crawler,
        database: CrawlDatabase,
        heartbeat_seconds: float,
        worker_timeout_seconds: float,
    ) -> None:
        self.crawler = crawler
        self.database = database
        self.heartbeat_seconds = heartbeat_seconds
        self.worker_timeout_seconds = worker_timeout_seconds
        self.run_id: int | None = None
        self._heartbeat_loop: task.LoopingCall | None = None
        self._heartbeat_busy = False
        self._heartbeat_failing = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlLifecycle:
        settings = crawler.settings
        if not settings.getbool("CHRISTMAS_STORE_ITEMS"):
            # A deliberate off switch: INFO, not the WARNING of NotConfigured(message).
            logger.info("CHRISTMAS_STORE_ITEMS is off: crawl runs are not recorded")
            raise NotConfigured
        extension = cls(
            crawler,
            crawl_database(crawler),
            settings.getfloat("CHRISTMAS_WORKER_HEARTBEAT"),
            settings.getfloat("CHRISTMAS_WORKER_TIMEOUT"),
        )
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
        """The crawl walked every year: a full crawl, or a refresh (``lists_every_year``:
        it reads every listing as a full crawl does, whichever product pages it reads)."""
        return bool(getattr(spider, "lists_every_year", getattr(spider, "full_crawl", False)))

    def kind(self, spider: Spider) -> str:
        kind = getattr(spider, "crawl_kind", None)
        return str(kind) if kind else ("full" if self.full_crawl(spider) else "years")

    # ------------------------------------------------------------------ open

    async def spider_opened(self, spider: Spider) -> None:
        try:
            self.run_id = await maybe_deferred_to_future(deferToThread(self._start, spider))
        except Exception as exc:
            logger.error(
                "could not record the start of the crawl in crawl_runs (%s): the crawl stops "
                "(reason %s) before fetching anything",
                str(exc).strip().splitlines()[0],
                DATABASE_UNAVAILABLE,
            )
            self.crawler.stats.set_value("christmas/db/unavailable", True)
            engine = self.crawler.engine
            assert engine is not None
            deferred_from_coro(engine.close_spider_async(reason=DATABASE_UNAVAILABLE))
            return
        self._heartbeat_loop = task.LoopingCall(self._beat)
        self._heartbeat_loop.start(self.heartbeat_seconds, now=False)

    def _start(self, spider: Spider) -> int:
        arguments = {
            name: getattr(spider, name)
            for name in ARGUMENT_NAMES
            if getattr(spider, name, None) is not None
        }
        with self.database.session() as session, session.begin():
            closed = close_abandoned_runs(
                session.connection(), self.worker_timeout_seconds, vendor=self.vendor(spider)
            )
            if closed:
                logger.warning(
                    "closed %d crawl run(s) of %s left running by processes that are gone "
                    "(ids %s) as abandoned",
                    len(closed),
                    self.vendor(spider),
                    ", ".join(map(str, closed)),
                )
            run = start_run(
                session,
                self.crawl_id(spider),
                self.vendor(spider),
                arguments,
                self.full_crawl(spider),
                self.kind(spider),
            )
            return run.id

    def _beat(self) -> None:
        if self._heartbeat_busy or self.run_id is None:
            return
        self._heartbeat_busy = True
        deferred = deferToThread(self._write_heartbeat, self.run_id)
        deferred.addCallbacks(self._beat_done, self._beat_failed)

    def _write_heartbeat(self, run_id: int) -> None:
        with self.database.session() as session, session.begin():
            heartbeat(session, run_id)

    def _beat_done(self, _: object) -> None:
        self._heartbeat_busy = False
        if self._heartbeat_failing:
            self._heartbeat_failing = False
            logger.info("crawl run heartbeat written again")

    def _beat_failed(self, failure: Any) -> None:
        self._heartbeat_busy = False
        if not self._heartbeat_failing:
            # Once per outage: the writes of the pipeline say the rest.
            self._heartbeat_failing = True
            logger.warning("could not write the crawl run's heartbeat: %s", failure.value)

    def item_scraped(self, item: Any) -> None:
        count_filled_fields(self.crawler.stats, item)

    # ------------------------------------------------------------------ close

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        if self._heartbeat_loop is not None and self._heartbeat_loop.running:
            self._heartbeat_loop.stop()
        stats = self.crawler.stats
        if self.run_id is None:
            self._set_verdict("failed", f"crawl run not recorded: finished with reason {reason}")
            return
        incomplete = getattr(spider, "incomplete_years", None) or {}
        listed: Collection[str] = getattr(spider, "listed_links", None) or ()
        stock: Mapping[str, bool | None] = getattr(spider, "listed_stock", None) or {}
        numbers = RunNumbers.from_stats(
            dict(stats.get_stats()),
            reason,
            self.full_crawl(spider),
            kind=self.kind(spider),
            incomplete_years=incomplete,
            listed=len(listed),
        )
        try:
            outcome = await maybe_deferred_to_future(
                deferToThread(self._finish, spider, numbers, listed, stock)
            )
        except Exception as exc:
            logger.error("could not record the end of the crawl in crawl_runs: %s", exc)
            self._set_verdict("failed", f"the end of the crawl could not be recorded: {exc}")
            return
        if outcome.abandoned:
            logger.warning(
                "closed %d worker(s) of crawl %s whose heartbeat stopped as abandoned",
                len(outcome.abandoned),
                self.crawl_id(spider),
            )
        if outcome.verdict is None:
            logger.info(
                "crawl %s of %s: %d other worker(s) still running; the last to finish judges",
                self.crawl_id(spider),
                self.vendor(spider),
                outcome.others_running,
            )
            self._set_verdict(PENDING, "another worker of the session judges it")
            return
        self._log_verdict(spider, outcome.verdict, outcome.delisting)
        stats.set_value("christmas/monitors_passed", outcome.verdict.passed)
        self._set_verdict("passed" if outcome.verdict.passed else "failed", outcome.verdict.reason)
        if outcome.delisting is not None and outcome.delisting.refused is None:
            stats.set_value("christmas/delisted", outcome.delisting.delisted)

    def _set_verdict(self, verdict: str, reason: str) -> None:
        self.crawler.stats.set_value(VERDICT_STAT, verdict)
        self.crawler.stats.set_value(VERDICT_REASON_STAT, reason)

    def _log_verdict(self, spider: Spider, verdict: Verdict, delisting: Delisting | None) -> None:
        numbers = verdict.numbers
        workers = f" ({numbers.workers} workers)" if numbers and numbers.workers > 1 else ""
        if verdict.passed:
            logger.info(
                "crawl %s of %s%s: monitors passed",
                self.crawl_id(spider),
                self.vendor(spider),
                workers,
            )
        else:
            logger.warning(
                "crawl %s of %s%s: monitors FAILED: %s",
                self.crawl_id(spider),
                self.vendor(spider),
                workers,
                verdict.reason,
            )
        if delisting is None:
            return
        if delisting.refused is None:
            logger.info(
                "complete crawl: %d products of %s marked delisted",
                delisting.delisted,
                self.vendor(spider),
            )
        else:
            logger.info(
                "nothing delisted (%d products not listed): %s",
                delisting.candidates,
                delisting.refused,
            )

    def _finish(
        self,
        spider: Spider,
        numbers: RunNumbers,
        listed: Collection[str],
        stock: Mapping[str, bool | None],
    ) -> Outcome:
        assert self.run_id is not None
        vendor, crawl_id = self.vendor(spider), self.crawl_id(spider)
        settings = self.crawler.settings
        with self.database.session() as session, session.begin():
            run = finish_run(session, self.run_id, numbers)
            record_listed(session, vendor, listed, stock, session_started(session, crawl_id))
            # Serialise the workers of one crawl id; this worker's end is written first, so
            # a worker finishing at the same moment sees it once this transaction commits.
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(crawl_id))))
            abandoned = close_abandoned_runs(
                session.connection(), self.worker_timeout_seconds, crawl_id=crawl_id
            )
            others = session.scalar(
                select(func.count())
                .select_from(CrawlRun)
                .where(
                    CrawlRun.crawl_id == crawl_id,
                    CrawlRun.id != run.id,
                    CrawlRun.finished_at.is_(None),
                )
            )
            if others:
                return Outcome(None, others_running=others, abandoned=abandoned)
            whole = combine(session_workers(session, crawl_id))
            whole = whole.with_previous(
                previous_session_items(
                    session,
                    crawl_id,
                    vendor,
                    whole.kind,
                    whole.compared_count,
                    whole.full_crawl,
                )
            )
            verdict = judge(whole, self.crawler)
            delisting = delist_unseen(
                session,
                vendor,
                crawl_id,
                session_started(session, crawl_id),
                completeness_of_run(whole, verdict),
                [int(year) for year in whole.incomplete_years],
                settings.getfloat("CHRISTMAS_MAX_DELIST_RATIO"),
            )
            if delisting.refused is not None and completeness_of_run(whole, verdict).proven:
                verdict = verdict.failed_with("Delisting", delisting.refused)
            record_verdict(session, run, verdict, delisting.delisted)
            return Outcome(verdict, delisting, abandoned=abandoned)
