"""Store validated, normalised items in PostgreSQL (ITEM_PIPELINES 300).

Items are batched (``pipeline.batch_size`` items or ``pipeline.batch_seconds``,
whichever comes first) and each batch is one upsert transaction tagged with the
crawl id (``SET LOCAL christmas.crawl_id``) for the audit trigger. The database
work runs in a thread, so the crawl keeps downloading while a batch is written.

When the database stays down after ``pipeline.db_retries`` retries the crawl is
closed with reason ``database_unavailable``; the unstored items (and any still in
flight) go to a dead-letter JSON-lines file named in the ERROR log line, to be
loaded with ``python -m christmas_spiders.db replay-dead-letter FILE``.

``CHRISTMAS_STORE_ITEMS = False`` switches the pipeline off (crawls without a database).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from twisted.internet.defer import DeferredLock
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread

from christmas_spiders.crawl.database import crawl_database
from christmas_spiders.db.store import schema_problem
from christmas_spiders.db.writer import (
    REPLAY_COMMAND,
    DatabaseUnavailable,
    PendingItem,
    ProductWriter,
    WriteResult,
    append_dead_letters,
    dead_letter_line,
)
from christmas_spiders.signals import items_persisted

logger = logging.getLogger(__name__)


class DatabaseSchemaError(RuntimeError):
    """The database has no (or an old) christmas_spiders schema."""


class UpsertProductPipeline:
    # Sends christmas_spiders.signals.items_persisted after each batch stored (or
    # dead-lettered): a Redis-shared crawl forgets a page only once its items are safe.
    sends_items_persisted = True

    def __init__(
        self,
        crawler: Crawler,
        batch_size: int,
        batch_seconds: float,
        retries: int,
        retry_base_seconds: float,
        dead_letter_dir: Path,
    ) -> None:
        self.crawler = crawler
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds
        self.retries = retries
        self.retry_base_seconds = retry_base_seconds
        self.dead_letter_dir = dead_letter_dir
        self.pending: list[PendingItem] = []
        self.writer: ProductWriter | None = None
        self.database_down = False
        self.dead_letter_path: Path | None = None
        self._lock = DeferredLock()
        self._timer: LoopingCall | None = None
        self._oldest_pending: dt.datetime | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UpsertProductPipeline:
        settings = crawler.settings
        if not settings.getbool("CHRISTMAS_STORE_ITEMS"):
            # A deliberate off switch: INFO, not the WARNING of NotConfigured(message).
            logger.info("CHRISTMAS_STORE_ITEMS is off: items are not stored")
            raise NotConfigured
        dead_letter_dir = Path(settings["CHRISTMAS_DEAD_LETTER_DIR"])
        if not dead_letter_dir.is_absolute():
            dead_letter_dir = Path.cwd() / dead_letter_dir
        return cls(
            crawler,
            batch_size=settings.getint("CHRISTMAS_UPSERT_BATCH_SIZE"),
            batch_seconds=settings.getfloat("CHRISTMAS_UPSERT_BATCH_SECONDS"),
            retries=settings.getint("CHRISTMAS_DB_RETRIES"),
            retry_base_seconds=settings.getfloat("CHRISTMAS_DB_RETRY_BASE_SECONDS"),
            dead_letter_dir=dead_letter_dir,
        )

    @property
    def spider(self) -> Spider:
        assert self.crawler.spider is not None
        return self.crawler.spider

    @property
    def crawl_id(self) -> str:
        return str(
            getattr(self.spider, "crawl_id", None) or self.crawler.stats.get_value("crawl_id", "")
        )

    async def open_spider(self) -> None:
        # The crawl's one engine (disposed when the crawl's engine stops); its first access
        # resolves the database URL, which may start the embedded Postgres: in a thread.
        database = crawl_database(self.crawler)
        engine = await maybe_deferred_to_future(deferToThread(lambda: database.engine))
        await maybe_deferred_to_future(deferToThread(self._check_schema, engine))
        self.writer = ProductWriter(engine, self.crawl_id, self.retries, self.retry_base_seconds)
        vendor = getattr(self.spider, "vendor", None) or self.spider.name
        self.dead_letter_path = self.dead_letter_dir / f"{vendor}-{self.crawl_id}.jsonl"
        self._timer = LoopingCall(self._flush_if_due)
        self._timer.start(max(self.batch_seconds / 2, 0.05), now=False)

    @staticmethod
    def _check_schema(engine: Engine) -> None:
        """Stop at once on a database without the schema (every write would fail).

        An unreachable database is not an error here: the writes retry, then dead-letter.
        """
        try:
            with engine.connect() as conn:
                problem = schema_problem(conn)
        except OperationalError as exc:
            logger.warning("database not reachable at start (%s); writes will retry", exc.orig)
            return
        if problem:
            url = engine.url.render_as_string(hide_password=True)
            raise DatabaseSchemaError(
                f"database {url} cannot store products: {problem}. Migrate it first: "
                f"alembic -x url={url} upgrade head  (or: christmas db "
                f"--database-url {url} upgrade)"
            )

    async def process_item(self, item: Any) -> Any:
        pending = PendingItem(ItemAdapter(item).asdict(), dt.datetime.now(dt.UTC))
        if self.database_down:
            self._dead_letter([pending])
            self._persisted(1)
            return item
        if not self.pending:
            self._oldest_pending = pending.scraped_at
        self.pending.append(pending)
        if len(self.pending) >= self.batch_size:
            await self._flush()
        return item

    def _flush_if_due(self) -> None:
        if not self.pending or self._oldest_pending is None:
            return
        age = (dt.datetime.now(dt.UTC) - self._oldest_pending).total_seconds()
        if age >= self.batch_seconds:
            deferred_from_coro(self._flush())

    async def _flush(self) -> None:
        await maybe_deferred_to_future(self._lock.acquire())
        try:
            batch, self.pending = self.pending, []
            self._oldest_pending = None
            if not batch:
                return
            if self.database_down:
                self._dead_letter(batch)
            else:
                await self._write(batch)
            self._persisted(len(batch))
        finally:
            self._lock.release()

    def _persisted(self, count: int) -> None:
        self.crawler.signals.send_catch_log(items_persisted, count=count)

    async def _write(self, batch: list[PendingItem]) -> None:
        assert self.writer is not None
        stats = self.crawler.stats
        try:
            result: WriteResult = await maybe_deferred_to_future(
                deferToThread(self.writer.write, [p.item for p in batch])
            )
        except DatabaseUnavailable as exc:
            self._database_lost(exc, batch)
            return
        stats.inc_value("christmas/db/batches")
        stats.inc_value("christmas/db/inserted", result.inserted)
        stats.inc_value("christmas/db/changed", result.changed)
        stats.inc_value("christmas/db/unchanged", result.unchanged)
        if result.retries:
            stats.inc_value("christmas/db/retries", result.retries)
        if result.rejected:
            # Validation should have stopped these; keep them anyway (nothing is lost).
            self._dead_letter(
                [PendingItem(dict(item), batch[0].scraped_at) for item, _ in result.rejected]
            )
        for item, reason in result.rejected:
            stats.inc_value("christmas/dropped/db_rejected")
            logger.error(
                "item refused by the database (%s): %s; kept in %s",
                reason,
                item.get("link"),
                self.dead_letter_path,
            )

    def _database_lost(self, exc: DatabaseUnavailable, batch: list[PendingItem]) -> None:
        self.database_down = True
        self.crawler.stats.set_value("christmas/db/unavailable", True)
        unstored = batch + self.pending
        self._dead_letter(unstored)
        self.pending = []
        logger.error(
            "%s. The crawl stops (reason database_unavailable); %d items not stored were "
            "written to the dead-letter file %s; once the database is back, load them with: "
            "%s %s",
            exc,
            len(unstored),
            self.dead_letter_path,
            REPLAY_COMMAND,
            self.dead_letter_path,
        )
        engine = self.crawler.engine
        if engine is not None and engine.running:
            deferred_from_coro(engine.close_spider_async(reason="database_unavailable"))

    def _dead_letter(self, batch: list[PendingItem]) -> None:
        if not batch:
            return
        assert self.dead_letter_path is not None
        append_dead_letters(
            self.dead_letter_path,
            [dead_letter_line(p.item, self.crawl_id, p.scraped_at) for p in batch],
        )
        self.crawler.stats.inc_value("christmas/db/dead_lettered", len(batch))

    async def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        await self._flush()
        dead = self.crawler.stats.get_value("christmas/db/dead_lettered", 0)
        if dead:
            logger.error(
                "%d items were not stored; they are in %s; load them with: %s %s",
                dead,
                self.dead_letter_path,
                REPLAY_COMMAND,
                self.dead_letter_path,
            )
