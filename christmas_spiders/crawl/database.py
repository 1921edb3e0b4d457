"""The crawl's database: one engine per crawl, shared by every component that needs it.

The upsert pipeline, the crawl lifecycle extension and the spider's refresh queries
all reach the same :class:`CrawlDatabase` through :func:`crawl_database`. It is
created on first use; its engine is created on first access (the URL may start the
embedded Postgres, so that happens where the caller chose: a thread, usually) and
disposed when the crawl's engine stops, after every ``spider_closed`` handler ran.
"""

from __future__ import annotations

import threading
import weakref

from scrapy import signals
from scrapy.crawler import Crawler
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from christmas_spiders.db.engine import database_url, make_engine

# Every connection of a crawl carries this name (pg_stat_activity.application_name).
APPLICATION_NAME = "christmas_spiders crawl"
# The pipeline writes batches from a thread while the lifecycle extension and the
# spider's refresh queries take a connection now and then.
POOL_SIZE = 2
MAX_OVERFLOW = 2
CONNECT_TIMEOUT_SECONDS = 10

_databases: weakref.WeakKeyDictionary[Crawler, CrawlDatabase] = weakref.WeakKeyDictionary()
_databases_lock = threading.Lock()


def crawl_database_url(crawler: Crawler) -> str:
    """The database of this crawl: CHRISTMAS_DATABASE_URL, else the project's (config/embedded)."""
    return crawler.settings.get("CHRISTMAS_DATABASE_URL") or database_url()


class CrawlDatabase:
    """The engine of one crawl, created once, on first access, from the crawl's settings."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The crawl's engine (blocking on first access: it resolves the database URL)."""
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(
                    crawl_database_url(self.crawler),
                    pool_size=POOL_SIZE,
                    max_overflow=MAX_OVERFLOW,
                    connect_args={
                        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                        "application_name": APPLICATION_NAME,
                    },
                )
            return self._engine

    @property
    def engine_created(self) -> bool:
        return self._engine is not None

    def session(self) -> Session:
        """An ORM session on the crawl's engine (the caller opens its transaction)."""
        return Session(self.engine)

    def dispose(self) -> None:
        """Close the engine's connections; a later access would open a new pool."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()


def crawl_database(crawler: Crawler) -> CrawlDatabase:
    """The :class:`CrawlDatabase` of ``crawler``: created on first call, the same one after,
    disposed (and forgotten) at ``engine_stopped``."""
    with _databases_lock:
        database = _databases.get(crawler)
        if database is None:
            database = _databases[crawler] = CrawlDatabase(crawler)
            crawler.signals.connect(_close_database, signal=signals.engine_stopped)
    return database


def _close_database(sender: Crawler) -> None:
    # The crawler's SignalManager sends its own signals with the crawler as sender.
    with _databases_lock:
        database = _databases.pop(sender, None)
    if database is not None:
        database.dispose()
