"""Every Redis call of a worker goes through one :class:`RedisGuard`, so a Redis outage
never raises into Scrapy's engine, never kills a loop and never blocks the reactor.

A call that fails with a connection error (Redis stopped, restarting, still loading its
data) marks Redis *away*: the guard logs that once, and from then on calls fail fast with
:class:`RedisUnavailable` until the next retry is due (the delay doubles from
``INITIAL_BACKOFF_SECONDS`` to ``MAX_BACKOFF_SECONDS``); the callers keep their work
(unsent requests, unacknowledged pages) and hand it over on a later call. The first call
that succeeds ends the outage, logged with its length. Once an outage lasts longer than
``distributed.redis_outage_limit_seconds`` (setting ``CHRISTMAS_REDIS_OUTAGE_LIMIT``),
:attr:`RedisGuard.limit_exceeded` turns true and the session scheduler stops the worker
with finish reason ``redis_unavailable``.

The client makes one attempt per call with short socket timeouts: redis-py's own retries
would block the reactor while Redis is away, and the guard does the retrying.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings
from scrapy_redis.connection import get_redis

logger = logging.getLogger(__name__)

T = TypeVar("T")

STATS_PREFIX = "christmas/distributed"
INITIAL_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
# Connect and read timeouts of the client: the reactor waits at most this long per call.
CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 5.0
# redis-py's BusyLoadingError (a restarted Redis reading its data) is a ConnectionError.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class RedisUnavailable(Exception):
    """Redis is away: the call was not made, or failed; try again later."""


def redis_from_settings(settings: BaseSettings) -> redis.Redis:
    """A client for ``REDIS_URL`` (and ``REDIS_PARAMS``) that tries each call once."""
    params: dict[str, Any] = {
        "encoding": "utf-8",
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        **settings.getdict("REDIS_PARAMS"),
    }
    params["retry"] = Retry(NoBackoff(), 0)
    params.pop("retry_on_timeout", None)
    return get_redis(url=settings.get("REDIS_URL"), **params)


class RedisGuard:
    """Runs Redis calls, tells whether Redis is away and for how long."""

    _by_crawler: weakref.WeakKeyDictionary[Crawler, RedisGuard] = weakref.WeakKeyDictionary()

    def __init__(
        self,
        server: redis.Redis,
        limit_seconds: float,
        *,
        name: str = "Redis",
        stats: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.limit_seconds = limit_seconds
        self.name = name
        self.stats = stats
        self.clock = clock
        self.down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = INITIAL_BACKOFF_SECONDS
        # Outages begun so far: a caller that saw fewer knows one happened meanwhile.
        self.outages = 0
        # Crawler.stats exists only once the crawl starts; spiders build the guard earlier.
        self.crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisGuard:
        """The crawler's one guard (and client): the scheduler, the dupefilter and the
        year-link cache share it, so an outage is logged and timed once."""
        guard = cls._by_crawler.get(crawler)
        if guard is None:
            settings = crawler.settings
            guard = cls(
                redis_from_settings(settings),
                settings.getfloat("CHRISTMAS_REDIS_OUTAGE_LIMIT"),
                name=f"Redis at {settings.get('REDIS_URL')}",
            )
            guard.crawler = crawler
            cls._by_crawler[crawler] = guard
        return guard

    @property
    def away(self) -> bool:
        return self.down_since is not None

    @property
    def outage_seconds(self) -> float:
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    @property
    def limit_exceeded(self) -> bool:
        return self.down_since is not None and self.outage_seconds > self.limit_seconds

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)``, or :class:`RedisUnavailable` while Redis is away."""
        if self.down_since is not None and self.clock() < self._retry_at:
            raise RedisUnavailable(f"{self.name} unreachable")
        try:
            result = function(*args, **kwargs)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise RedisUnavailable(f"{self.name} unreachable: {exc}") from exc
        if self.down_since is not None:
            self._recovered()
        return result

    def ping(self) -> bool:
        """Whether Redis answers now (ends an outage when it does)."""
        try:
            return bool(self.call(self.server.ping))
        except RedisUnavailable:
            return False

    def _failed(self, exc: Exception) -> None:
        now = self.clock()
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            self._backoff = INITIAL_BACKOFF_SECONDS
            self._inc("redis_outages")
            logger.warning(
                "%s unreachable (%s): retrying with backoff; the worker stops if it stays "
                "away for more than %gs",
                self.name,
                exc,
                self.limit_seconds,
            )
        else:
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
        self._retry_at = now + self._backoff

    def _recovered(self) -> None:
        seconds = self.outage_seconds
        self.down_since = None
        self._inc("redis_outage_seconds", round(seconds, 3))
        logger.warning("%s is back after an outage of %.1fs", self.name, seconds)

    def _inc(self, name: str, value: float = 1) -> None:
        stats = self.stats
        if stats is None and self.crawler is not None:
            stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"{STATS_PREFIX}/{name}", value)
