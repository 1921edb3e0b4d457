"""scrapy-redis's dupefilter, keyed by crawl session instead of by spider."""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy_redis.dupefilter import RFPDupeFilter

from christmas_spiders import redis_keys
from christmas_spiders.distributed.guard import RedisGuard, RedisUnavailable, redis_from_settings


class SessionDupeFilter(RFPDupeFilter):
    """One fingerprint set per (spider, crawl_id): a new crawl_id fetches everything again.

    The session scheduler checks fingerprints itself, in the same Lua call that queues a
    request; this filter's own Redis calls go through the crawler's :class:`RedisGuard`.
    """

    def __init__(self, server: Any, key: str, debug: bool = False, guard: Any = None) -> None:
        super().__init__(server, key=key, debug=debug)
        self.guard = guard if guard is not None else RedisGuard(server)

    @classmethod
    def from_spider(cls, spider: Spider) -> SessionDupeFilter:
        settings = spider.settings
        crawler = getattr(spider, "crawler", None)
        guard = (
            RedisGuard.from_crawler(crawler)
            if crawler is not None
            else RedisGuard(
                redis_from_settings(settings), settings.getfloat("CHRISTMAS_REDIS_OUTAGE_LIMIT")
            )
        )
        key = redis_keys.session_keys(
            spider.name,
            str(spider.crawl_id),
            settings["CHRISTMAS_REDIS_KEY_PREFIX"],
        )["dupefilter"]
        return cls(guard.server, key, debug=settings.getbool("DUPEFILTER_DEBUG"), guard=guard)

    def request_seen(self, request: Request) -> bool:
        try:
            return bool(self.guard.call(super().request_seen, request))
        except RedisUnavailable:
            # Unknown while Redis is away: the scheduler's queueing call checks again.
            return False

    def clear(self) -> None:
        try:
            self.guard.call(super().clear)
        except RedisUnavailable:
            return

    def close(self, reason: str = "") -> None:
        # The set belongs to the session, not to this worker: the session scheduler
        # lets it expire once the session is finished, so other workers keep using it.
        return None
