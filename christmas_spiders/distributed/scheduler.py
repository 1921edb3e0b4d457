"""A scrapy-redis scheduler whose queue, dedupe set and in-flight table belong to a crawl session.

Switched on by ``REDIS_URL`` in christmas_spiders/settings.py. Every worker started
with the same ``-a crawl_id=X`` joins session X:

* requests are deduplicated and queued in one atomic call, so start requests
  (the year index) are seeded by exactly one worker, whichever comes first, and
  ``dont_filter`` requests are deduplicated too (except retries);
* a popped request stays in the session's in-flight hash until this worker has
  fully processed its page (callback done, items through the pipelines, and
  stored when the storing pipeline reports ``items_persisted``); a worker that
  dies (SIGKILL) stops heart-beating and its in-flight requests are put back;
* a worker closes only when the shared queue is empty and no other worker has
  a request in flight; then the session's keys are set to expire.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.misc import load_object
from scrapy_redis.connection import get_redis_from_settings
from scrapy_redis.scheduler import Scheduler as RedisScheduler
from twisted.internet import task

from christmas_spiders import redis_keys
from christmas_spiders.distributed.dupefilter import SessionDupeFilter
from christmas_spiders.distributed.queue import ReliablePriorityQueue, token_owner
from christmas_spiders.signals import items_persisted

logger = logging.getLogger(__name__)

STATS_PREFIX = "christmas/distributed"


class RedisUnavailableError(RuntimeError):
    """Redis named by REDIS_URL does not answer."""


class SessionScheduler(RedisScheduler):
    """scrapy-redis ``Scheduler`` with per-session keys and a reliable in-flight table."""

    def __init__(self, server: Any, crawler: Crawler, **kwargs: Any) -> None:
        settings = crawler.settings
        super().__init__(
            server,
            persist=True,
            dupefilter_cls="christmas_spiders.distributed.dupefilter.SessionDupeFilter",
            serializer=kwargs.pop("serializer", None),
        )
        self.crawler = crawler
        self.stats = crawler.stats
        self.prefix: str = settings["CHRISTMAS_REDIS_KEY_PREFIX"]
        self.heartbeat_seconds = settings.getfloat("CHRISTMAS_WORKER_HEARTBEAT")
        self.worker_timeout = settings.getfloat("CHRISTMAS_WORKER_TIMEOUT")
        self.idle_poll = settings.getfloat("CHRISTMAS_IDLE_POLL")
        self.ack_interval = settings.getfloat("CHRISTMAS_ACK_INTERVAL")
        self.session_ttl = settings.getint("CHRISTMAS_SESSION_TTL")
        self.finished_ttl = settings.getint("CHRISTMAS_FINISHED_SESSION_TTL")
        # Requests popped per round trip; claimed (in flight) until handed to the engine.
        self.pop_batch = max(1, settings.getint("CHRISTMAS_POP_BATCH"))
        self._prefetched: deque[tuple[str, Request]] = deque()
        self.worker_id = uuid.uuid4().hex[:12]
        self._seq = 0
        # field -> Request popped by this worker and not yet acknowledged.
        self._mine: dict[str, Request] = {}
        # Pages fully processed whose items may still sit in a storing pipeline's batch:
        # (items scraped by then, field); acknowledged once that many items are stored.
        self._awaiting_storage: deque[tuple[int, str]] = deque()
        self._items_scraped = 0
        self._items_stored = 0
        self._wait_for_storage = False
        self._loops: list[task.LoopingCall] = []
        self.keys: dict[str, str] = {}
        self._worker_key = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SessionScheduler:
        settings = crawler.settings
        server = get_redis_from_settings(settings)
        try:
            server.ping()
        except Exception as exc:
            raise RedisUnavailableError(
                f"REDIS_URL={settings.get('REDIS_URL')} does not answer ({exc}); start Redis "
                "or unset REDIS_URL to crawl with a single worker"
            ) from exc
        serializer = settings.get("SCHEDULER_SERIALIZER")
        if isinstance(serializer, str):
            serializer = load_object(serializer)
        return cls(server, crawler, serializer=serializer)

    # --- lifecycle -------------------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        crawl_id = getattr(spider, "crawl_id", None)
        if not crawl_id:
            crawl_id = uuid.uuid4().hex
            spider.crawl_id = crawl_id
            logger.warning(
                "spider %s has no crawl_id; using a new session %s", spider.name, crawl_id
            )
        self.keys = redis_keys.session_keys(spider.name, str(crawl_id), self.prefix)
        self._worker_key = redis_keys.worker_key(
            spider.name, str(crawl_id), self.worker_id, self.prefix
        )
        self.queue = ReliablePriorityQueue(
            self.server,
            spider,
            self.keys["queue"],
            inflight_key=self.keys["inflight"],
            dupefilter_key=self.keys["dupefilter"],
            parked_key=self.keys["parked"],
            serializer=self.serializer,
        )
        self.df = SessionDupeFilter.from_spider(spider)
        self._beat()
        self.server.sadd(self.keys["workers"], self.worker_id)
        self.server.delete(self.keys["finished"])
        recovered = self._requeue_orphans()
        logger.info(
            "worker %s joined crawl session %s of %s (%d queued, %d in flight, %d recovered)",
            self.worker_id,
            crawl_id,
            spider.name,
            len(self.queue),
            self.server.hlen(self.keys["inflight"]),
            recovered,
        )
        self.crawler.signals.connect(self._on_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._on_item_scraped, signal=signals.item_scraped)
        self.crawler.signals.connect(self._on_items_persisted, signal=items_persisted)
        self.crawler.signals.connect(self._on_engine_started, signal=signals.spider_opened)
        for interval, function in (
            (self.heartbeat_seconds, self._beat),
            (self.ack_interval, self._acknowledge_done),
        ):
            loop = task.LoopingCall(function)
            loop.start(interval, now=False)
            self._loops.append(loop)

    def _engine_slot(self) -> Any:
        """The engine's slot (its ``inprogress`` requests), or None outside a crawl."""
        try:
            engine = self.crawler.engine
        except RuntimeError:  # Crawler.engine before the crawl started
            return None
        return getattr(engine, "_slot", None)

    def _on_engine_started(self, spider: Spider) -> None:
        scraper = self.crawler.engine.scraper
        pipelines = getattr(scraper.itemproc, "middlewares", ())
        self._wait_for_storage = any(
            getattr(pipeline, "sends_items_persisted", False) for pipeline in pipelines
        )

    def close(self, reason: str) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        # The scraper (and so the pipelines' last flush) closed before us.
        self._acknowledge_done(closing=True)
        unfinished = list(self._mine) + [field for field, _ in self._prefetched]
        self._prefetched.clear()
        if unfinished:
            # Stopped before these pages were processed: give them back right away.
            moved = self.queue.requeue(unfinished)
            self.stats.inc_value(f"{STATS_PREFIX}/requeued_on_close", moved)
            logger.info("worker %s gave back %d unfinished requests", self.worker_id, moved)
            self._mine.clear()
        finished = self._session_done() and not self.server.hlen(self.keys["inflight"])
        pipe = self.server.pipeline(transaction=False)
        pipe.delete(self._worker_key)
        pipe.srem(self.keys["workers"], self.worker_id)
        if finished:
            pipe.set(self.keys["finished"], reason)
            for key in self.keys.values():
                pipe.expire(key, self.finished_ttl)
        pipe.execute()
        logger.info(
            "worker %s left crawl session %s (%s)%s",
            self.worker_id,
            self.spider.crawl_id,
            reason,
            f"; session finished, its keys expire in {self.finished_ttl}s" if finished else "",
        )

    # --- queue -----------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        # dont_filter means "the spider de-duplicated this itself" (Scrapy sets it on start
        # requests, our spiders on listing pages after checking a local set). A worker's own
        # set cannot see the other workers' requests, so the session de-duplicates those too;
        # only retries (copies of a request already seen) pass unchecked.
        retry = "retry_times" in request.meta
        fingerprint = None if retry else self.df.request_fingerprint(request)
        if not self.queue.push_unique(request, fingerprint):
            self.df.log(request, self.spider)
            self.stats.inc_value(f"{STATS_PREFIX}/duplicates")
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if not self._prefetched:
            self._seq += 1
            self._prefetched.extend(
                self.queue.pop_reliable(f"{self.worker_id}|{self._seq}", self.pop_batch)
            )
            if not self._prefetched:
                return None
        field, request = self._prefetched.popleft()
        # Seeded now: its retries and redirects (copies of it) follow their own dont_filter.
        if request.meta.get("is_start_request"):
            request.meta["is_start_request"] = False
        self._mine[field] = request
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        return bool(self._prefetched) or len(self.queue) > 0

    # --- acknowledgement -------------------------------------------------------------

    def _on_item_scraped(self, item: Any, response: Any) -> None:
        self._items_scraped += 1

    def _on_items_persisted(self, count: int) -> None:
        self._items_stored += int(count)

    def _acknowledge_done(self, closing: bool = False) -> None:
        """Forget requests this worker has fully processed (one HDEL per sweep)."""
        in_progress = getattr(self._engine_slot(), "inprogress", None)
        if in_progress is None and not closing:
            return
        # Without the engine's slot nothing can be known done: those are given back.
        done = [
            field
            for field, request in self._mine.items()
            if in_progress is not None and request not in in_progress
        ]
        ready: list[str] = []
        parked: list[str] = []
        for field in done:
            del self._mine[field]
            if self._wait_for_storage:
                self._awaiting_storage.append((self._items_scraped, field))
                parked.append(field)
            else:
                ready.append(field)
        while self._awaiting_storage and (
            closing or self._awaiting_storage[0][0] <= self._items_stored
        ):
            ready.append(self._awaiting_storage.popleft()[1])
        ready_set = set(ready)
        self.queue.settle(ready, [field for field in parked if field not in ready_set])
        if ready:
            self.stats.inc_value(f"{STATS_PREFIX}/acknowledged", len(ready))

    # --- liveness and the end of a session -------------------------------------------

    def _beat(self) -> None:
        pipe = self.server.pipeline(transaction=False)
        pipe.set(self._worker_key, "1", px=int(self.worker_timeout * 1000))
        for key in self.keys.values():
            pipe.expire(key, self.session_ttl)
        pipe.execute()

    def _requeue_orphans(self) -> int:
        """Give back the in-flight requests of workers whose heartbeat lapsed."""
        fields = self.queue.inflight_fields()
        owners = {token_owner(field) for field in fields} - {self.worker_id}
        if not owners:
            return 0
        ordered = sorted(owners)
        pipe = self.server.pipeline(transaction=False)
        for owner in ordered:
            pipe.exists(
                redis_keys.worker_key(self.spider.name, self.spider.crawl_id, owner, self.prefix)
            )
        dead = {owner for owner, alive in zip(ordered, pipe.execute(), strict=True) if not alive}
        orphans = [field for field in fields if token_owner(field) in dead]
        moved = self.queue.requeue(orphans)
        if moved:
            self.stats.inc_value(f"{STATS_PREFIX}/recovered", moved)
            logger.warning(
                "recovered %d requests left in flight by stopped worker(s) %s",
                moved,
                ", ".join(sorted(dead)),
            )
        return moved

    def _session_done(self) -> bool:
        """Nothing queued, and no page in flight that could still make requests (pages
        whose items only await storage do not count)."""
        pipe = self.server.pipeline(transaction=False)
        pipe.zcard(self.keys["queue"])
        pipe.hkeys(self.keys["inflight"])
        pipe.smembers(self.keys["parked"])
        queued, inflight, parked = pipe.execute()
        return queued == 0 and not set(inflight) - set(parked)

    def _on_idle(self, spider: Spider) -> None:
        self._acknowledge_done()
        self._requeue_orphans()
        if self._session_done():
            return
        # Others still hold pages that may yield more requests: wait and look again soon.
        slot = self._engine_slot()
        if slot is not None:
            slot.nextcall.schedule(self.idle_poll)
        raise DontCloseSpider
