"""Cache of the year links read from a shop's JavaScript-built year index.

Rendering the year index needs a browser; its links change once a year at most.
A crawl asks :class:`YearLinksCache` first and renders the index only on a miss
(stats ``christmas/year_links/cache_hit`` / ``cache_miss``). Entries live
``crawl.year_links_ttl_seconds`` (setting ``CHRISTMAS_YEAR_LINKS_TTL``).
``-a refresh_year_links=1`` or ``-s CHRISTMAS_REFRESH_YEAR_LINKS=1`` forces a
render. With ``REDIS_URL`` the cache is shared in Redis by every worker; without
it, it is a JSON file (``crawl.year_links_cache_file``, setting
``CHRISTMAS_YEAR_LINKS_FILE``).

The spider base uses it at its year-index step::

    links = self.year_links_cache.get(self)        # None: render the index
    ...
    self.year_links_cache.put(self, [[year, url], ...])
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from scrapy import Spider
from scrapy.crawler import Crawler

from christmas_spiders import redis_keys
from christmas_spiders.distributed.guard import RedisGuard, RedisUnavailable

logger = logging.getLogger(__name__)

STATS_PREFIX = "christmas/year_links"
_TRUE = {"1", "true", "yes", "on"}


class YearLinksStore(Protocol):
    def load(self, spider: str, origin: str) -> list[Any] | None: ...

    def save(self, spider: str, origin: str, links: list[Any], ttl_seconds: int) -> None: ...


class RedisYearLinksStore:
    """One JSON string per (spider, origin) with a Redis TTL, shared by every worker.

    Its calls go through the crawler's :class:`~christmas_spiders.distributed.guard.RedisGuard`:
    while Redis is away a load is a miss (the index is rendered) and a save is skipped."""

    def __init__(self, guard: Any, prefix: str) -> None:
        self.guard = guard
        self.prefix = prefix

    def load(self, spider: str, origin: str) -> list[Any] | None:
        key = redis_keys.year_links_key(spider, origin, self.prefix)
        try:
            raw = self.guard.call(self.guard.server.get, key)
        except RedisUnavailable:
            return None
        return None if raw is None else json.loads(raw)

    def save(self, spider: str, origin: str, links: list[Any], ttl_seconds: int) -> None:
        key = redis_keys.year_links_key(spider, origin, self.prefix)
        try:
            self.guard.call(
                self.guard.server.set, key, json.dumps(links), ex=max(1, int(ttl_seconds))
            )
        except RedisUnavailable:
            logger.warning("year links of %s not cached: Redis is unreachable", spider)


class FileYearLinksStore:
    """A small JSON file ``{"<spider> <origin>": {"expires_at": ts, "links": [...]}}``."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = path
        self.clock = clock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            # A damaged cache only costs one render of the index.
            logger.warning("ignoring unreadable year-link cache %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, spider: str, origin: str) -> list[Any] | None:
        entry = self._read().get(f"{spider} {origin}")
        if not isinstance(entry, dict) or entry.get("expires_at", 0) <= self.clock():
            return None
        return entry.get("links")

    def save(self, spider: str, origin: str, links: list[Any], ttl_seconds: int) -> None:
        data = self._read()
        now = self.clock()
        data = {k: v for k, v in data.items() if v.get("expires_at", 0) > now}
        data[f"{spider} {origin}"] = {"expires_at": now + ttl_seconds, "links": links}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crawl killed mid-write leaves the old file whole.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".year-links-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, self.path)


def _origin(spider: Spider) -> str:
    base_url = str(getattr(spider, "base_url", "") or "")
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else base_url


class YearLinksCache:
    """Year links per (spider, origin), kept ``ttl_seconds``; counts hits and misses."""

    def __init__(
        self,
        store: YearLinksStore,
        ttl_seconds: int,
        stats: Any = None,
        force_refresh: bool = False,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.stats = stats
        self.force_refresh = force_refresh
        self.crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> YearLinksCache:
        settings = crawler.settings
        ttl = settings.getint("CHRISTMAS_YEAR_LINKS_TTL")
        store: YearLinksStore
        if settings.get("REDIS_URL"):
            store = RedisYearLinksStore(
                RedisGuard.from_crawler(crawler), settings["CHRISTMAS_REDIS_KEY_PREFIX"]
            )
        else:
            store = FileYearLinksStore(Path(settings["CHRISTMAS_YEAR_LINKS_FILE"]))
        cache = cls(store, ttl, force_refresh=settings.getbool("CHRISTMAS_REFRESH_YEAR_LINKS"))
        # Crawler.stats exists only once the crawl starts; spiders build this earlier.
        cache.crawler = crawler
        return cache

    def _inc(self, name: str) -> None:
        stats = self.stats
        if stats is None and self.crawler is not None:
            stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"{STATS_PREFIX}/{name}")

    def wants_refresh(self, spider: Spider) -> bool:
        argument = str(getattr(spider, "refresh_year_links", "") or "").strip().lower()
        return self.force_refresh or argument in _TRUE

    def get(self, spider: Spider) -> list[Any] | None:
        """The cached links, or None when the index must be rendered (a miss)."""
        if self.wants_refresh(spider):
            self._inc("cache_miss")
            self._inc("refresh_forced")
            logger.info("year links of %s: refresh forced, rendering the index", spider.name)
            return None
        links = self.store.load(spider.name, _origin(spider))
        if not links:
            self._inc("cache_miss")
            return None
        self._inc("cache_hit")
        logger.info("year links of %s: %d from the cache", spider.name, len(links))
        return links

    def put(self, spider: Spider, links: list[Any]) -> None:
        if not links:
            # An empty index is a broken page, not a fact worth remembering.
            return
        self.store.save(spider.name, _origin(spider), list(links), self.ttl_seconds)
