"""The Redis session scheduler in-process, on a real Redis: dedupe, claims, recovery.

Runs scrapy-redis inside the test process, so pytest's warnings-as-errors also checks
that scrapy-redis 0.9.1 uses no API Scrapy 2.19 deprecates on these paths.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from scrapy import Request, Spider
from scrapy_selenium import SeleniumRequest

from christmas_spiders import redis_keys
from christmas_spiders.browser.request import ElementPresent, element_present
from christmas_spiders.distributed.guard import MAX_BACKOFF_SECONDS, RedisUnavailable
from christmas_spiders.distributed.scheduler import SessionScheduler
from tests.fixtures.crawler import project_crawler
from tests.fixtures.redis import RedisServer


class SessionSpider(Spider):
    name = "session_spider"

    def parse_page(self, response: Any) -> None:
        return None


def open_scheduler(redis_url: str, prefix: str, crawl_id: str) -> SessionScheduler:
    settings = {
        "REDIS_URL": redis_url,
        "CHRISTMAS_REDIS_KEY_PREFIX": prefix,
        "CHRISTMAS_POP_BATCH": 2,
        "CHRISTMAS_WORKER_TIMEOUT": 30,
    }
    crawler = project_crawler(SessionSpider, settings)
    crawler.stats.open_spider()
    spider = SessionSpider(crawl_id=crawl_id)
    spider.settings = crawler.settings
    scheduler = SessionScheduler.from_crawler(crawler)
    scheduler.open(spider)
    return scheduler


def page(n: int, **kwargs: Any) -> Request:
    return Request(f"http://shop.test/page/{n}", **kwargs)


def test_a_session_queues_each_page_once_and_hands_out_the_best_first(
    redis_url: str, prefix: str
) -> None:
    worker = open_scheduler(redis_url, prefix, "c1")
    other = open_scheduler(redis_url, prefix, "c1")
    try:
        assert worker.enqueue_request(page(1))
        assert not other.enqueue_request(page(1))  # seen in the session, by another worker
        # dont_filter does not escape the session's check, except for retries.
        assert not worker.enqueue_request(page(1, dont_filter=True))
        assert worker.enqueue_request(page(1, dont_filter=True, meta={"retry_times": 1}))
        assert worker.enqueue_request(page(2, priority=10))
        # A start request from every worker: only the first seeds it.
        assert worker.enqueue_request(page(3, dont_filter=True, meta={"is_start_request": True}))
        assert not other.enqueue_request(page(3, dont_filter=True, meta={"is_start_request": True}))

        first = worker.next_request()
        assert first is not None and first.url.endswith("/page/2")  # priority 10 first
        claimed = [other.next_request().url, other.next_request().url]  # type: ignore[union-attr]
        second = worker.next_request()  # from worker's own claimed batch
        urls = sorted([first.url, second.url, *claimed])  # type: ignore[union-attr]
        assert urls == sorted([f"http://shop.test/page/{n}" for n in (1, 1, 2, 3)])
        assert worker.next_request() is None and other.next_request() is None
        inflight = redis.Redis.from_url(redis_url).hkeys(worker.keys["inflight"])
        assert len(inflight) == 4  # every page handed out is held until acknowledged

        # Another session of the same spider starts from nothing.
        fresh = open_scheduler(redis_url, prefix, "c2")
        assert fresh.enqueue_request(page(1))
        fresh.close("finished")
    finally:
        worker._mine.clear()
        other._mine.clear()
        worker.close("shutdown")
        other.close("shutdown")


def test_requests_of_a_worker_that_stopped_heart_beating_are_recovered(
    redis_url: str, prefix: str
) -> None:
    server = redis.Redis.from_url(redis_url)
    dead = open_scheduler(redis_url, prefix, "c3")
    for n in range(3):
        dead.enqueue_request(page(n))
    held = [dead.next_request() for _ in range(2)]
    assert all(held)
    # SIGKILL: no close(), the heartbeat key just expires.
    for loop in dead._loops:
        loop.stop()
    server.delete(redis_keys.worker_key("session_spider", "c3", dead.worker_id, prefix))

    heir = open_scheduler(redis_url, prefix, "c3")
    try:
        assert heir.stats.get_value("christmas/distributed/recovered") == 2
        urls = sorted(r.url for r in iter(heir.next_request, None))  # type: ignore[union-attr]
        assert urls == [f"http://shop.test/page/{n}" for n in range(3)]
    finally:
        heir.close("shutdown")


def test_selenium_requests_survive_the_queue(redis_url: str, prefix: str) -> None:
    worker = open_scheduler(redis_url, prefix, "c4")
    try:
        spider = worker.spider
        request = SeleniumRequest(
            url="http://shop.test/year/1995",
            callback=spider.parse_page,
            wait_time=7,
            wait_until=element_present("#productCategoryBlock a.quickview[href]"),
            cb_kwargs={"year": 1995},
        )
        assert worker.enqueue_request(request)
        popped = worker.next_request()
        assert isinstance(popped, SeleniumRequest)
        assert popped.callback == spider.parse_page
        assert popped.wait_time == 7 and popped.cb_kwargs == {"year": 1995}
        assert popped.wait_until == ElementPresent("#productCategoryBlock a.quickview[href]")
    finally:
        worker.close("shutdown")


def test_while_redis_is_away_requests_wait_in_the_worker_and_nothing_is_acknowledged(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    worker = open_scheduler(own_redis.url, "away", "c5")
    server = redis.Redis.from_url(own_redis.url)
    try:
        assert worker.enqueue_request(page(1))
        held = worker.next_request()
        assert held is not None
        own_redis.stop()
        with caplog.at_level(logging.WARNING, logger="christmas_spiders.distributed.guard"):
            # The page held made a request: accepted, kept in the worker.
            assert worker.enqueue_request(page(2))
            assert worker.next_request() is None
            assert worker.has_pending_requests()  # the spider must not look finished
            with pytest.raises(RedisUnavailable):
                worker._acknowledge_done(everything=True)
            for _ in range(20):
                assert worker.next_request() is None  # fails fast, logs nothing more
            own_redis.start()
            time.sleep(MAX_BACKOFF_SECONDS)
            # The request first, then the page that made it is forgotten.
            worker._acknowledge_done()
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2, messages
        assert "unreachable" in messages[0] and "is back after an outage of" in messages[1]
        assert server.hlen(worker.keys["inflight"]) == 0
        assert worker.stats.get_value("christmas/distributed/acknowledged") == 1
        again = worker.next_request()
        assert again is not None and again.url == page(2).url
    finally:
        worker.close("shutdown")
