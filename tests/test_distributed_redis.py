"""Several workers on one Redis crawl session: shared work, no page twice, resume after SIGKILL.

Workers are real ``scrapy`` processes (tests/distributed/worker.py) on a tiny shop that
counts requests per path; Redis is real (fixture ``redis_url``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import redis

from christmas_spiders import redis_keys
from christmas_spiders.config import DEFAULTS
from tests.distributed.tiny_shop import TinyShop, serve_tiny_shop
from tests.distributed.workers import Workers, wait_for_fetches
from tests.fixtures.redis import joined_worker_id


def test_two_workers_share_one_session_and_fetch_no_page_twice(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    single_shop = TinyShop(years=3, products_per_year=15)
    with serve_tiny_shop(single_shop) as base_url:
        single = Workers(base_url, tmp_path / "single", redis_url, prefix)
        single.out.mkdir()
        single.run("crawl_id=alone")
        single_items = single.items()
    assert single_items == single_shop.expected_items(base_url)

    pair_shop = TinyShop(years=3, products_per_year=15, delay=0.08)
    with serve_tiny_shop(pair_shop) as base_url:
        pair = Workers(base_url, tmp_path / "pair", redis_url, prefix)
        # One more product page at once than one worker asks for: both have joined.
        pair_shop.hold_products_until = pair.concurrency + 1
        pair.out.mkdir()
        stats = pair.run("crawl_id=together", count=2)
        items = pair.items()
    # Same items as one worker alone (links differ only by the shop's port).
    assert [{**i, "link": i["link"].split("/product/")[1]} for i in items] == [
        {**i, "link": i["link"].split("/product/")[1]} for i in single_items
    ]
    assert pair_shop.counts and max(pair_shop.counts.values()) == 1, pair_shop.counts
    assert sum(pair_shop.counts.values()) == 1 + 6 + 45
    fetched = [s.get("downloader/response_count", 0) for s in stats]
    assert all(n > 0 for n in fetched), f"one worker did all the work: {fetched}"
    assert sum(fetched) == 52
    # The finished session's keys expire; nothing is left in its queue or in flight.
    server = redis.Redis.from_url(redis_url)
    keys = redis_keys.session_keys("tinyshop", "together", prefix)
    assert server.zcard(keys["queue"]) == 0 and server.hlen(keys["inflight"]) == 0
    assert (
        0
        < server.ttl(keys["dupefilter"])
        <= DEFAULTS["distributed"]["finished_session_ttl_seconds"]
    )


def test_a_new_session_fetches_everything_again_and_reuses_the_year_links(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    shop = TinyShop(years=2, products_per_year=6)
    with serve_tiny_shop(shop) as base_url:
        workers = Workers(base_url, tmp_path, redis_url, prefix)
        first = workers.run("crawl_id=monday", CHRISTMAS_YEAR_LINKS_TTL="600")[0]
        assert first["christmas/year_links/cache_miss"] == 1
        second = workers.run("crawl_id=tuesday")[0]
        assert second["christmas/year_links/cache_hit"] == 1
        assert "christmas/year_links/cache_miss" not in second
        assert second["item_scraped_count"] == 12
        # Every page again, except the year index: its links came from the cache.
        assert shop.counts.pop("/index") == 1
        assert set(shop.counts.values()) == {2}, shop.counts

        # A forced refresh renders the index, and stores links that live 1 s this time.
        forced = workers.run(
            "crawl_id=wednesday", "refresh_year_links=1", CHRISTMAS_YEAR_LINKS_TTL="1"
        )
        assert forced[0]["christmas/year_links/refresh_forced"] == 1
        time.sleep(1.5)
        expired = workers.run("crawl_id=thursday")[0]
        assert expired["christmas/year_links/cache_miss"] == 1
        assert "christmas/year_links/cache_hit" not in expired
    # Counted afresh after the pop above: rendered by wednesday (forced) and thursday (expired).
    assert shop.counts["/index"] == 2


def test_without_redis_the_year_links_are_cached_in_a_local_file(tmp_path: Path) -> None:
    shop = TinyShop(years=2, products_per_year=3)
    with serve_tiny_shop(shop) as base_url:
        workers = Workers(base_url, tmp_path, None, "unused")
        first = workers.run()[0]
        second = workers.run()[0]
    assert "scheduler/enqueued/redis" not in first  # Scrapy's own scheduler
    assert first["christmas/year_links/cache_miss"] == 1
    assert second["christmas/year_links/cache_hit"] == 1
    assert shop.counts["/index"] == 1
    cached = json.loads((tmp_path / "year-links.json").read_text())
    assert [entry["links"] for entry in cached.values()] == [
        [[2001, f"{base_url}/year/2001"], [2002, f"{base_url}/year/2002"]]
    ]


def worker_id(workers: Workers, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    return joined_worker_id(workers.out / f"worker-{proc.pid}.log", timeout)


def wait_until_in_flight(server: redis.Redis, key: str, owner: str, timeout: float = 60) -> None:
    """Wait until ``owner`` holds requests in flight, so killing it loses something."""
    deadline = time.monotonic() + timeout
    while not any(f.decode().startswith(owner + "|") for f in server.hkeys(key)):
        assert time.monotonic() < deadline, f"worker {owner} never had a request in flight"
        time.sleep(0.02)


def test_a_worker_killed_mid_crawl_loses_nothing_the_other_finishes(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    shop = TinyShop(years=3, products_per_year=15, delay=0.15)
    with serve_tiny_shop(shop) as base_url:
        workers = Workers(base_url, tmp_path, redis_url, prefix)
        try:
            # The doomed worker crawls before the survivor starts: started together, a slow
            # start could leave the whole crawl to the survivor.
            doomed = workers.start("crawl_id=k1")
            inflight = redis_keys.session_keys("tinyshop", "k1", prefix)["inflight"]
            server = redis.Redis.from_url(redis_url)
            wait_until_in_flight(server, inflight, worker_id(workers, doomed))
            survivor = workers.start("crawl_id=k1")
            wait_for_fetches(shop, 12)
            wait_until_in_flight(server, inflight, worker_id(workers, doomed))
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            assert survivor.wait(120) == 0
        finally:
            workers.kill_all()
        stats = workers.stats(survivor)
        items = workers.items()
    assert items == shop.expected_items(base_url)
    assert stats["christmas/distributed/recovered"] >= 1
    assert stats["finish_reason"] == "finished"


def test_a_worker_killed_and_restarted_with_the_same_crawl_id_finishes_the_session(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    shop = TinyShop(years=3, products_per_year=15, delay=0.15)
    with serve_tiny_shop(shop) as base_url:
        workers = Workers(base_url, tmp_path, redis_url, prefix)
        try:
            doomed = workers.start("crawl_id=k2")
            wait_for_fetches(shop, 20)
            inflight = redis_keys.session_keys("tinyshop", "k2", prefix)["inflight"]
            wait_until_in_flight(
                redis.Redis.from_url(redis_url), inflight, worker_id(workers, doomed)
            )
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            before = dict(shop.counts)
            stats = workers.run("crawl_id=k2")[0]
        finally:
            workers.kill_all()
        items = workers.items()
    assert items == shop.expected_items(base_url)
    assert stats["christmas/distributed/recovered"] >= 1
    # The restarted worker fetched again only pages the first one had not acknowledged
    # (in flight, or done within the last ack interval): each at most once more.
    refetched = [path for path, n in shop.counts.items() if n > 1]
    assert max(shop.counts.values()) <= 2
    assert all(before.get(path) == 1 for path in refetched)
    assert len(refetched) <= stats["christmas/distributed/recovered"]
    assert sum(shop.counts.values()) < 2 * 52
