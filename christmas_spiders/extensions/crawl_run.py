"""Record every crawl in ``crawl_runs``, judge it with Spidermon monitors, and delist.

At spider open a ``crawl_runs`` row is inserted (its ``started_at`` is the database's
clock, the same clock as ``products.last_synced_at``). At close the row gets the
finish reason, page/item/error counts, drops per reason, browser renders, and the
monitors' verdict (``monitors_passed``, ``monitor_report``), which is also logged.

Delisting: only after a COMPLETE crawl (``spider.full_crawl``, finish reason
``finished``, monitors passed) are the vendor's products not refreshed since the
crawl started marked ``delisted`` (the audit trigger records it, tagged with the
crawl id). A partial, failed or suspicious crawl marks nothing: a failed crawl
must never look like mass sell-outs. When several workers share a crawl id, the
last one to finish does it, counting from the earliest worker's start.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from sqlalchemy import Engine, text
from twisted.internet.threads import deferToThread

from christmas_spiders.config import get_config
from christmas_spiders.db.engine import make_engine
from christmas_spiders.db.store import set_crawl_id
from christmas_spiders.extensions.monitors import COVERAGE_STAT, run_monitors
from christmas_spiders.items import ITEM_FIELDS
from christmas_spiders.pipelines.upsert import crawl_database_url

logger = logging.getLogger(__name__)
ARGUMENT_NAMES = ("base_url", "years", "product_url", "release_year", "stale_hours", "crawl_id")
DROPPED_PREFIX = "christmas/dropped/"


def _json_safe(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class RecordCrawlRun:
    def __init__(self, crawler: Crawler, max_item_drop_ratio: float, min_field_coverage: float):
        self.crawler = crawler
        self.max_item_drop_ratio = max_item_drop_ratio
        self.min_field_coverage = min_field_coverage
        self.engine: Engine | None = None
        self.run_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordCrawlRun:
        if not crawler.settings.getbool("CHRISTMAS_STORE_ITEMS", True):
            # A deliberate off switch: INFO, not the WARNING of NotConfigured(message).
            logger.info("CHRISTMAS_STORE_ITEMS is off: crawl runs are not recorded")
            raise NotConfigured
        config = get_config()["monitors"]
        extension = cls(
            crawler,
            max_item_drop_ratio=crawler.settings.getfloat(
                "CHRISTMAS_MAX_ITEM_DROP_RATIO", config["max_item_drop_ratio"]
            ),
            min_field_coverage=crawler.settings.getfloat(
                "CHRISTMAS_MIN_FIELD_COVERAGE", config["min_field_coverage"]
            ),
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

    async def spider_opened(self, spider: Spider) -> None:
        try:
            await maybe_deferred_to_future(deferToThread(self._open, spider))
        except Exception as exc:
            # The pipeline reports an unreachable database; here it only costs the record.
            logger.error("could not record the start of the crawl in crawl_runs: %s", exc)

    def _open(self, spider: Spider) -> None:
        self.engine = make_engine(
            crawl_database_url(self.crawler), pool_size=1, connect_args={"connect_timeout": 10}
        )
        args = {
            name: _json_safe(getattr(spider, name))
            for name in ARGUMENT_NAMES
            if getattr(spider, name, None) is not None
        }
        with self.engine.begin() as conn:
            self.run_id = conn.execute(
                text(
                    "INSERT INTO crawl_runs (crawl_id, vendor, args, full_crawl) "
                    "VALUES (:crawl_id, :vendor, CAST(:args AS jsonb), :full_crawl) RETURNING id"
                ),
                {
                    "crawl_id": self.crawl_id(spider),
                    "vendor": self.vendor(spider),
                    "args": json.dumps(args, default=str),
                    "full_crawl": bool(getattr(spider, "full_crawl", False)),
                },
            ).scalar_one()

    def item_scraped(self, item: Any, spider: Spider) -> None:
        stats = self.crawler.stats
        for field in ITEM_FIELDS:
            value = item.get(field) if hasattr(item, "get") else None
            if value is not None and value != "":
                stats.inc_value(COVERAGE_STAT.format(field=field))

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = dict(self.crawler.stats.get_stats())
        full_crawl = bool(getattr(spider, "full_crawl", False))
        previous_items = None
        if self.engine is not None and self.run_id is not None:
            try:
                previous_items = await maybe_deferred_to_future(
                    deferToThread(self._previous_complete_items, spider)
                )
            except Exception as exc:
                logger.error("could not read the previous crawl runs: %s", exc)
        meta = {
            "finish_reason": reason,
            "full_crawl": full_crawl,
            "previous_items": previous_items,
            "max_item_drop_ratio": self.max_item_drop_ratio,
            "min_field_coverage": self.min_field_coverage,
        }
        report = run_monitors(spider, stats, meta)
        report["previous_items"] = previous_items
        failed = [check for check in report["checks"] if check["status"] != "OK"]
        if report["passed"]:
            logger.info(
                "crawl %s of %s: monitors passed", self.crawl_id(spider), self.vendor(spider)
            )
        else:
            logger.warning(
                "crawl %s of %s: monitors FAILED: %s",
                self.crawl_id(spider),
                self.vendor(spider),
                "; ".join(f"{c['monitor']}: {c['error']}" for c in failed),
            )
        self.crawler.stats.set_value("christmas/monitors_passed", report["passed"])
        if self.engine is None or self.run_id is None:
            logger.error("crawl run not recorded: the database was not reachable at start")
            return
        try:
            delisted = await maybe_deferred_to_future(
                deferToThread(self._close, spider, reason, stats, report, full_crawl)
            )
        except Exception as exc:
            logger.error("could not record the end of the crawl in crawl_runs: %s", exc)
            return
        finally:
            self.engine.dispose()
        if delisted is not None:
            self.crawler.stats.set_value("christmas/delisted", delisted)
            logger.info(
                "complete crawl: %d products of %s marked delisted", delisted, self.vendor(spider)
            )

    def _previous_complete_items(self, spider: Spider) -> int | None:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT items FROM crawl_runs WHERE vendor = :vendor AND full_crawl "
                    "AND finish_reason = 'finished' AND id < :run_id "
                    "ORDER BY started_at DESC, id DESC LIMIT 1"
                ),
                {"vendor": self.vendor(spider), "run_id": self.run_id},
            ).scalar()

    def _close(
        self,
        spider: Spider,
        reason: str,
        stats: dict[str, Any],
        report: dict[str, Any],
        full_crawl: bool,
    ) -> int | None:
        assert self.engine is not None
        dropped = {
            key.removeprefix(DROPPED_PREFIX): int(value)
            for key, value in stats.items()
            if key.startswith(DROPPED_PREFIX)
        }
        delisted = None
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE crawl_runs SET finished_at = now(), finish_reason = :reason, "
                    "pages = :pages, items = :items, dropped = CAST(:dropped AS jsonb), "
                    "browser_renders = :renders, errors = :errors, "
                    "monitors_passed = :passed, monitor_report = CAST(:report AS jsonb) "
                    "WHERE id = :run_id"
                ),
                {
                    "reason": reason,
                    "pages": int(stats.get("response_received_count", 0)),
                    "items": int(stats.get("item_scraped_count", 0)),
                    "dropped": json.dumps(dropped),
                    "renders": int(stats.get("christmas/browser_renders", 0)),
                    "errors": int(stats.get("log_count/ERROR", 0)),
                    "passed": report["passed"],
                    "report": json.dumps(report, default=str),
                    "run_id": self.run_id,
                },
            )
            if full_crawl and reason == "finished" and report["passed"]:
                delisted = self._delist(conn, spider)
                if delisted is not None:
                    conn.execute(
                        text("UPDATE crawl_runs SET delisted = :n WHERE id = :run_id"),
                        {"n": delisted, "run_id": self.run_id},
                    )
        return delisted

    def _delist(self, conn: Any, spider: Spider) -> int | None:
        crawl_id = self.crawl_id(spider)
        # Serialise the workers of one crawl id, then let only the last one delist.
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:crawl_id))"), {"crawl_id": crawl_id}
        )
        others_running = conn.execute(
            text(
                "SELECT count(*) FROM crawl_runs WHERE crawl_id = :crawl_id "
                "AND id <> :run_id AND finished_at IS NULL"
            ),
            {"crawl_id": crawl_id, "run_id": self.run_id},
        ).scalar_one()
        if others_running:
            return None
        set_crawl_id(conn, crawl_id)
        return conn.execute(
            text(
                "UPDATE products SET availability = 'delisted' "
                "WHERE vendor = :vendor AND availability <> 'delisted' AND last_synced_at < "
                "(SELECT min(started_at) FROM crawl_runs WHERE crawl_id = :crawl_id)"
            ),
            {"vendor": self.vendor(spider), "crawl_id": crawl_id},
        ).rowcount
