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
  a request in flight; then the session's keys are set to expire;
* every Redis call goes through the crawler's :class:`RedisGuard`: while Redis is
  away, new requests wait in the worker, nothing is acknowledged, the loops keep
  running, and past ``CHRISTMAS_REDIS_OUTAGE_LIMIT`` the worker closes with reason
  ``redis_unavailable``, leaving its pages in flight for the next run of the session.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.misc import load_object
from scrapy_redis.scheduler import Scheduler as RedisScheduler
from twisted.internet import task
from twisted.python.failure import Failure

from christmas_spiders import redis_keys
from christmas_spiders.crawl.numbers import REDIS_UNAVAILABLE
from christmas_spiders.distributed.dupefilter import SessionDupeFilter
from christmas_spiders.distributed.guard import REDIS_ERRORS, RedisGuard, RedisUnavailable
from christmas_spiders.distributed.pages import FIELD_META, PARENT_META
from christmas_spiders.distributed.queue import ReliablePriorityQueue, token_owner
from christmas_spiders.signals import items_persisted

logger = logging.getLogger(__name__)

STATS_PREFIX = "christmas/distributed"


class RedisUnavailableError(RuntimeError):
    """Redis named by REDIS_URL does not answer."""


@dataclass
class _PageOutput:
    """A handed-out page whose callback output is being processed."""

    pending: int = 0  # requests not yet scheduled, items not yet through the pipelines
    ended: bool = False  # the callback yielded its last output


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
        self.guard: RedisGuard = kwargs.pop("guard", None) or RedisGuard(
            server, settings.getfloat("CHRISTMAS_REDIS_OUTAGE_LIMIT")
        )
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
        # field -> Request handed to the engine and not yet fully processed.
        self._mine: dict[str, Request] = {}
        # Handed-out pages whose response reached the spider (so no retry or redirect of
        # them follows), and those whose callback output is being processed.
        self._responded: set[str] = set()
        self._pages: dict[str, _PageOutput] = {}
        # Fully processed pages, to acknowledge (or park) at the next sweep.
        self._to_ack: list[str] = []
        self._to_park: list[str] = []
        # Pages fully processed whose items may still sit in a storing pipeline's batch:
        # (items scraped by then, field); acknowledged once that many items are stored.
        self._awaiting_storage: deque[tuple[int, str]] = deque()
        # Requests scheduled while Redis was away, queued in order once it is back.
        self._unsent: deque[tuple[Request, str | None]] = deque()
        self._items_scraped = 0
        self._items_stored = 0
        self._wait_for_storage = False
        # The spider is idle and waits for other workers' pages (see _on_idle).
        self._waiting = False
        self._closing: str | None = None
        self._outages_seen = 0
        self._loops: list[task.LoopingCall] = []
        self.keys: dict[str, str] = {}
        self._worker_key = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SessionScheduler:
        settings = crawler.settings
        guard = RedisGuard.from_crawler(crawler)
        try:
            guard.server.ping()
        except REDIS_ERRORS as exc:
            raise RedisUnavailableError(
                f"REDIS_URL={settings.get('REDIS_URL')} does not answer ({exc}); start Redis "
                "or unset REDIS_URL to crawl with a single worker"
            ) from exc
        serializer = settings.get("SCHEDULER_SERIALIZER")
        if isinstance(serializer, str):
            serializer = load_object(serializer)
        return cls(guard.server, crawler, serializer=serializer, guard=guard)

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
        self.df = SessionDupeFilter(
            self.server,
            self.keys["dupefilter"],
            debug=self.crawler.settings.getbool("DUPEFILTER_DEBUG"),
            guard=self.guard,
        )
        try:
            self._join(spider, str(crawl_id))
        except RedisUnavailable as exc:
            raise RedisUnavailableError(f"cannot join crawl session {crawl_id}: {exc}") from exc
        self._outages_seen = self.guard.outages
        connect = self.crawler.signals.connect
        connect(self._on_idle, signal=signals.spider_idle)
        connect(self._on_request_scheduled, signal=signals.request_scheduled)
        connect(self._on_response_received, signal=signals.response_received)
        connect(self._on_item_scraped, signal=signals.item_scraped)
        connect(self._on_item_settled, signal=signals.item_dropped)
        connect(self._on_item_settled, signal=signals.item_error)
        connect(self._on_items_persisted, signal=items_persisted)
        connect(self._on_engine_started, signal=signals.spider_opened)
        for interval, function in (
            (self.heartbeat_seconds, self._heartbeat_tick),
            (self.ack_interval, self._acknowledge_tick),
            (self.idle_poll, self._idle_tick),
        ):
            self._loops.append(self._start_loop(function, interval))

    def _join(self, spider: Spider, crawl_id: str) -> None:
        call = self.guard.call
        call(self._beat)
        call(self.server.sadd, self.keys["workers"], self.worker_id)
        call(self.server.delete, self.keys["finished"])
        recovered = self._requeue_orphans()
        logger.info(
            "worker %s joined crawl session %s of %s (%d queued, %d in flight, %d recovered)",
            self.worker_id,
            crawl_id,
            spider.name,
            call(len, self.queue),
            call(self.server.hlen, self.keys["inflight"]),
            recovered,
        )

    def _start_loop(self, function: Callable[[], None], interval: float) -> task.LoopingCall:
        """A LoopingCall that outlives any error of ``function`` (logged, then next tick)."""

        def tick() -> None:
            try:
                function()
            except RedisUnavailable:
                return  # logged once by the guard; the next tick tries again
            except Exception:
                logger.exception("worker %s: %s failed", self.worker_id, function.__name__)

        loop = task.LoopingCall(tick)
        loop.start(interval, now=False).addErrback(self._log_failure, function.__name__)
        return loop

    def _log_failure(self, failure: Failure, what: str) -> None:
        logger.error("worker %s: %s stopped: %s", self.worker_id, what, failure.getErrorMessage())

    def _on_engine_started(self, spider: Spider) -> None:
        scraper = self.crawler.engine.scraper
        pipelines = getattr(scraper.itemproc, "middlewares", ())
        self._wait_for_storage = any(
            getattr(pipeline, "sends_items_persisted", False) for pipeline in pipelines
        )

    def _close_spider(self, reason: str) -> None:
        if self._closing is not None:
            return
        self._closing = reason
        closed = deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))
        closed.addErrback(self._log_failure, "closing the spider")

    def close(self, reason: str) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        held = len(self._mine) + len(self._prefetched) + len(self._awaiting_storage)
        if reason == REDIS_UNAVAILABLE:
            # Nothing is acknowledged: requests made by these pages may not have reached
            # Redis. The session's next worker takes the pages back once this worker's
            # heartbeat has lapsed, and fetches them again.
            logger.warning(
                "worker %s left crawl session %s (%s): its %d pages stay in flight; run it "
                "again with crawl_id=%s once Redis is back to resume",
                self.worker_id,
                self.spider.crawl_id,
                reason,
                held,
                self.spider.crawl_id,
            )
            return
        try:
            self._leave(reason)
        except RedisUnavailable:
            logger.warning(
                "worker %s left crawl session %s (%s) with Redis unreachable: its %d pages "
                "stay in flight and are fetched again when the session resumes",
                self.worker_id,
                self.spider.crawl_id,
                reason,
                held,
            )

    def _leave(self, reason: str) -> None:
        # The scraper (and so the pipelines' last flush) closed before us: every page
        # handed to the engine is processed.
        self._acknowledge_done(everything=True)
        unfinished = [field for field, _ in self._prefetched]
        if unfinished:
            # Claimed but never handed to the engine: give them back right away.
            moved = self.guard.call(self.queue.requeue, unfinished)
            self._prefetched.clear()
            self.stats.inc_value(f"{STATS_PREFIX}/requeued_on_close", moved)
            logger.info("worker %s gave back %d unfinished requests", self.worker_id, moved)
        finished = self._session_done() and not self.guard.call(
            self.server.hlen, self.keys["inflight"]
        )
        pipe = self.server.pipeline(transaction=False)
        pipe.delete(self._worker_key)
        pipe.srem(self.keys["workers"], self.worker_id)
        if finished:
            pipe.set(self.keys["finished"], reason)
            for key in self.keys.values():
                pipe.expire(key, self.finished_ttl)
        self.guard.call(pipe.execute)
        logger.info(
            "worker %s left crawl session %s (%s)%s",
            self.worker_id,
            self.spider.crawl_id,
            reason,
            f"; session finished, its keys expire in {self.finished_ttl}s" if finished else "",
        )

    # --- queue -----------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        # Tracking marks stay in this worker (a popped request gets a field of its own).
        request.meta.pop(FIELD_META, None)
        request.meta.pop(PARENT_META, None)
        # dont_filter means "the spider de-duplicated this itself" (Scrapy sets it on start
        # requests, our spiders on listing pages after checking a local set). A worker's own
        # set cannot see the other workers' requests, so the session de-duplicates those too;
        # only retries (copies of a request already seen) pass unchecked.
        retry = "retry_times" in request.meta
        fingerprint = None if retry else self.df.request_fingerprint(request)
        if not self._unsent:
            try:
                return self._push(request, fingerprint)
            except RedisUnavailable:
                pass
        # Kept in order until Redis is back; the page that made it is not acknowledged
        # before it is queued (see _acknowledge_done).
        self._unsent.append((request, fingerprint))
        return True

    def _push(self, request: Request, fingerprint: str | None) -> bool:
        if not self.guard.call(self.queue.push_unique, request, fingerprint):
            self.df.log(request, self.spider)
            self.stats.inc_value(f"{STATS_PREFIX}/duplicates")
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def _flush_unsent(self) -> None:
        while self._unsent:
            self._push(*self._unsent[0])
            self._unsent.popleft()

    def next_request(self) -> Request | None:
        if not self._prefetched:
            if self._closing is not None:
                return None
            self._seq += 1
            try:
                popped = self.guard.call(
                    self.queue.pop_reliable, f"{self.worker_id}|{self._seq}", self.pop_batch
                )
            except RedisUnavailable:
                return None
            if not popped:
                return None
            self._prefetched.extend(popped)
        field, request = self._prefetched.popleft()
        # Seeded now: its retries and redirects (copies of it) follow their own dont_filter.
        if request.meta.get("is_start_request"):
            request.meta["is_start_request"] = False
        request.meta[FIELD_META] = field
        self._mine[field] = request
        self._waiting = False
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        if self._prefetched or self._unsent or self.guard.away:
            return True
        try:
            return self.guard.call(len, self.queue) > 0
        except RedisUnavailable:
            return True

    # --- what became of the pages handed out (public signals and PageOutputMiddleware) -

    def _on_response_received(self, response: Response, request: Request) -> None:
        field = request.meta.get(FIELD_META)
        if field in self._mine:
            self._responded.add(field)

    def _on_request_scheduled(self, request: Request) -> None:
        parent = request.meta.pop(PARENT_META, None)
        if parent is not None:
            self._settle_output(parent)
            return
        field = request.meta.get(FIELD_META)
        if field in self._mine and field not in self._responded:
            # A retry or a redirect of a page handed out (it carries the page's meta):
            # once it is queued, the page itself is done.
            self._page_done(field)

    def page_output_started(self, field: str) -> None:
        if field in self._mine:
            self._pages.setdefault(field, _PageOutput())

    def page_output_yielded(self, field: str) -> None:
        page = self._pages.get(field)
        if page is not None:
            page.pending += 1

    def page_output_ended(self, field: str) -> None:
        page = self._pages.get(field)
        if page is not None:
            page.ended = True
            self._settle_output(field, 0)

    def _settle_output(self, field: str, count: int = 1) -> None:
        page = self._pages.get(field)
        if page is None:
            return
        page.pending -= count
        if page.ended and page.pending <= 0:
            self._page_done(field)

    def _on_item_scraped(self, item: Any, response: Any) -> None:
        self._items_scraped += 1
        self._on_item_settled(item, response)

    def _on_item_settled(self, item: Any, response: Any) -> None:
        if isinstance(response, Response) and response.request is not None:
            field = response.meta.get(FIELD_META)
            if field is not None:
                self._settle_output(field)

    def _on_items_persisted(self, count: int) -> None:
        self._items_stored += int(count)

    def _page_done(self, field: str) -> None:
        self._pages.pop(field, None)
        self._responded.discard(field)
        if self._mine.pop(field, None) is None:
            return
        if self._wait_for_storage:
            self._awaiting_storage.append((self._items_scraped, field))
            self._to_park.append(field)
        else:
            self._to_ack.append(field)

    # --- acknowledgement -------------------------------------------------------------

    def _acknowledge_tick(self) -> None:
        self._acknowledge_done()

    def _acknowledge_done(self, everything: bool = False) -> None:
        """Forget pages this worker has fully processed (one round trip per sweep).

        ``everything``: the engine holds no page any more (idle, or closed). Raises
        :class:`RedisUnavailable` with the work kept for the next sweep."""
        if everything:
            for field in list(self._mine):
                self._page_done(field)
        # The requests the done pages made go first: a page must not be forgotten while
        # what it found exists only in this worker.
        self._flush_unsent()
        stored = 0
        while stored < len(self._awaiting_storage) and (
            everything or self._awaiting_storage[stored][0] <= self._items_stored
        ):
            stored += 1
        ready = self._to_ack + [self._awaiting_storage[n][1] for n in range(stored)]
        ready_set = set(ready)
        parked = [field for field in self._to_park if field not in ready_set]
        if ready or parked:
            self.guard.call(self.queue.settle, ready, parked)
        self._to_ack, self._to_park = [], []
        for _ in range(stored):
            self._awaiting_storage.popleft()
        if ready:
            self.stats.inc_value(f"{STATS_PREFIX}/acknowledged", len(ready))

    # --- liveness, outages and the end of a session ----------------------------------

    def _heartbeat_tick(self) -> None:
        if self.guard.limit_exceeded:
            if self._closing is None:
                # A warning: the finish reason, the verdict and the exit status report the
                # stop; an ERROR line would count against the session that resumes it.
                logger.warning(
                    "Redis unreachable for %.0fs (limit %gs): stopping worker %s",
                    self.guard.outage_seconds,
                    self.guard.limit_seconds,
                    self.worker_id,
                )
            self._close_spider(REDIS_UNAVAILABLE)
            return
        self.guard.call(self._beat)
        if self.guard.outages != self._outages_seen:
            self._reclaim_lost_claims()
            self._outages_seen = self.guard.outages

    def _beat(self) -> None:
        pipe = self.server.pipeline(transaction=False)
        pipe.set(self._worker_key, "1", px=int(self.worker_timeout * 1000))
        for key in self.keys.values():
            pipe.expire(key, self.session_ttl)
        pipe.execute()

    def _reclaim_lost_claims(self) -> None:
        """After an outage: give back requests claimed in Redis by a pop whose answer
        never reached this worker (it would hold them, unknowingly, for ever)."""
        known = set(self._mine) | {field for field, _ in self._prefetched}
        known |= set(self._to_ack) | {field for _, field in self._awaiting_storage}
        fields = self.guard.call(self.queue.inflight_fields)
        lost = [f for f in fields if token_owner(f) == self.worker_id and f not in known]
        if lost:
            moved = self.guard.call(self.queue.requeue, lost)
            self.stats.inc_value(f"{STATS_PREFIX}/reclaimed", moved)
            logger.warning(
                "worker %s gave back %d requests claimed during an outage", self.worker_id, moved
            )

    def _requeue_orphans(self) -> int:
        """Give back the in-flight requests of workers whose heartbeat lapsed."""
        fields = self.guard.call(self.queue.inflight_fields)
        owners = {token_owner(field) for field in fields} - {self.worker_id}
        if not owners:
            return 0
        ordered = sorted(owners)
        pipe = self.server.pipeline(transaction=False)
        for owner in ordered:
            pipe.exists(
                redis_keys.worker_key(self.spider.name, self.spider.crawl_id, owner, self.prefix)
            )
        alive = self.guard.call(pipe.execute)
        dead = {owner for owner, up in zip(ordered, alive, strict=True) if not up}
        orphans = [field for field in fields if token_owner(field) in dead]
        moved = self.guard.call(self.queue.requeue, orphans)
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
        queued, inflight, parked = self.guard.call(pipe.execute)
        return queued == 0 and not set(inflight) - set(parked)

    def _look_at_the_session(self) -> bool:
        """Whether the session is done, as seen by an idle worker."""
        # Idle: the engine holds no page, so all handed out are processed.
        self._acknowledge_done(everything=True)
        self._requeue_orphans()
        return self._session_done()

    def _on_idle(self, spider: Spider) -> None:
        try:
            if self._look_at_the_session():
                return
        except RedisUnavailable:
            pass
        # Others still hold pages that may yield more requests (or Redis is away): the
        # idle loop looks again every idle_poll seconds, and the engine asks for
        # requests at its own heartbeat.
        self._waiting = True
        raise DontCloseSpider

    def _idle_tick(self) -> None:
        if self._waiting and self._closing is None and self._look_at_the_session():
            self._close_spider("finished")
