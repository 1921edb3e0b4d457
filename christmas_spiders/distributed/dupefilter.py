"""scrapy-redis's dupefilter, keyed by crawl session instead of by spider."""

from __future__ import annotations

from scrapy import Spider
from scrapy_redis.connection import get_redis_from_settings
from scrapy_redis.dupefilter import RFPDupeFilter

from christmas_spiders import redis_keys


class SessionDupeFilter(RFPDupeFilter):
    """One fingerprint set per (spider, crawl_id): a new crawl_id fetches everything again."""

    @classmethod
    def from_spider(cls, spider: Spider) -> SessionDupeFilter:
        settings = spider.settings
        server = get_redis_from_settings(settings)
        key = redis_keys.session_keys(
            spider.name,
            str(spider.crawl_id),
            settings["CHRISTMAS_REDIS_KEY_PREFIX"],
        )["dupefilter"]
        return cls(server, key=key, debug=settings.getbool("DUPEFILTER_DEBUG"))

    def close(self, reason: str = "") -> None:
        # The set belongs to the session, not to this worker: the session scheduler
        # lets it expire once the session is finished, so other workers keep using it.
        return None
