"""Redis faults mid-crawl: a worker never hangs, loses nothing, and its session resumes.

Each test has a redis-server of its own (fixture ``own_redis``, data on disk) that it
stops or kills while a real worker process (tests/distributed/worker.py) crawls the tiny
shop; the items stored are compared with the shop's ground truth. The last test runs the
shop spider as a user does (``scrapy crawl``, storing in Postgres) for its exit status
and the verdict of the session it resumes.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from christmas_spiders.db.engine import make_engine
from christmas_spiders.db.verdicts import session_verdict
from replicas.crawling import CrawlResult, run_crawl
from tests.distributed.tiny_shop import TinyShop, serve_tiny_shop
from tests.distributed.workers import Workers
from tests.fixtures.redis import RedisServer
from tests.test_crawl_verdicts import insert_stored_product
from tests.test_distributed_crawl import VENDOR, stored_products

PREFIX = "faults"
OUTAGE_START = "unreachable ("
OUTAGE_END = re.compile(r"is back after an outage of ([0-9.]+)s")


@dataclass
class Crawl:
    shop: TinyShop
    base_url: str
    workers: Workers
    worker: subprocess.Popen[bytes]
    crawl_id: str

    def seconds_to_exit(self, timeout: float = 30) -> float:
        started = time.monotonic()
        self.worker.wait(timeout)
        return time.monotonic() - started

    def resume(self) -> dict[str, Any]:
        """The stats of a new worker run on the same session (until it ends)."""
        return self.workers.run(f"crawl_id={self.crawl_id}")[0]

    def log(self) -> str:
        return (self.workers.out / f"worker-{self.worker.pid}.log").read_text()

    def complete(self) -> bool:
        """Every product stored, by any worker of the session."""
        return self.workers.items() == self.shop.expected_items(self.base_url)


def wait_for_year_pages(shop: TinyShop, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with shop.lock:
            if any(path.startswith("/year/") for path in shop.counts):
                return
        assert time.monotonic() < deadline, "no year page was requested"
        time.sleep(0.01)


@contextmanager
def crawl_mid_fault(
    own_redis: RedisServer, out: Path, crawl_id: str, **env: str
) -> Iterator[Crawl]:
    """A worker crawling the tiny shop, its first year pages in flight: the fault comes now,
    so their responses arrive with Redis away and the product requests they make cannot
    be queued (what hung workers before)."""
    # Slow pages keep the crawl going for several seconds, with pages in flight.
    shop = TinyShop(years=3, products_per_year=15, delay=0.2, year_delay=1.0)
    with serve_tiny_shop(shop) as base_url:
        workers = Workers(base_url, out, own_redis.url, PREFIX)
        try:
            worker = workers.start(f"crawl_id={crawl_id}", **env)
            wait_for_year_pages(shop)
            yield Crawl(shop, base_url, workers, worker, crawl_id)
        finally:
            workers.kill_all()


def test_redis_stopped_for_ten_seconds_the_crawl_finishes_with_every_item(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    with crawl_mid_fault(own_redis, tmp_path, "outage") as crawl:
        own_redis.stop()
        time.sleep(10)
        assert crawl.worker.poll() is None, "the worker gave up during a short outage"
        own_redis.start()
        assert crawl.worker.wait(120) == 0
        assert crawl.complete()
    stats = crawl.workers.stats(crawl.worker)
    assert stats["finish_reason"] == "finished"
    log = crawl.log()
    assert log.count(OUTAGE_START) == 1, log
    lengths = [float(seconds) for seconds in OUTAGE_END.findall(log)]
    assert len(lengths) == 1 and 9.5 <= lengths[0] <= 20, lengths
    assert stats["christmas/distributed/redis_outages"] == 1
    assert "Traceback" not in log and "Unhandled error" not in log


def test_redis_gone_past_the_limit_stops_the_worker_and_the_session_resumes(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    with crawl_mid_fault(own_redis, tmp_path, "gone", CHRISTMAS_REDIS_OUTAGE_LIMIT="3") as crawl:
        own_redis.kill()
        stopped_after = crawl.seconds_to_exit()
        own_redis.start()
        resumed = crawl.resume()
        assert crawl.complete()
    stopped = crawl.workers.stats(crawl.worker)
    assert stopped["finish_reason"] == "redis_unavailable"
    assert 3 <= stopped_after < 12, stopped_after
    assert stopped.get("item_scraped_count", 0) < 45  # stopped mid-crawl
    assert "stay in flight" in crawl.log()
    # The same crawl_id takes the stopped worker's pages back and finishes the session.
    assert resumed["finish_reason"] == "finished"
    assert resumed["christmas/distributed/recovered"] >= 1


def test_ctrl_c_during_an_outage_stops_the_worker_promptly(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    with crawl_mid_fault(own_redis, tmp_path, "interrupted") as crawl:
        own_redis.stop()
        time.sleep(2)
        crawl.worker.send_signal(signal.SIGINT)
        stopped_after = crawl.seconds_to_exit()
        own_redis.start()
        resumed = crawl.resume()
        assert crawl.complete()
    assert stopped_after < 5, stopped_after
    assert crawl.workers.stats(crawl.worker)["finish_reason"] == "shutdown"
    # It left the session cleanly, Redis away: its pages stay in flight, no error raised
    # out of the scheduler's close.
    log = crawl.log()
    assert "left crawl session interrupted (shutdown) with Redis unreachable" in log, log
    assert "Traceback" not in log and "Scheduler close failure" not in log, log
    assert resumed["finish_reason"] == "finished"


def test_scrapy_crawl_with_redis_gone_past_the_limit_exits_non_zero_and_resumes(
    own_redis: RedisServer,
    replica_sites: Callable[..., Any],
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The shop spider as a user runs it (``scrapy crawl``, storing in Postgres), its
    Redis killed mid-crawl: the process exits 1 with reason ``redis_unavailable``."""
    # Slow pages keep the crawl going, with product pages in flight when Redis goes.
    replica = replica_sites(seed=6, products_per_shop=60, faults="slow=0.5,slow_seconds=1.0")
    base_url = replica.urls[VENDOR]
    engine = make_engine(migrated_database_url)
    with engine.begin() as conn:
        # A stored product the shop does not list: a session proven complete delists it.
        insert_stored_product(conn, VENDOR, base_url + "/gone.html", 2001)
    monkeypatch.setenv("REDIS_URL", own_redis.url)
    settings = [
        f"CHRISTMAS_DATABASE_URL={migrated_database_url}",
        "CHRISTMAS_REDIS_OUTAGE_LIMIT=3",
        "CHRISTMAS_WORKER_TIMEOUT=2",
        "CHRISTMAS_WORKER_HEARTBEAT=0.5",
        "CHRISTMAS_IDLE_POLL=0.3",
    ]

    def crawl(out: Path) -> CrawlResult:
        return run_crawl(
            VENDOR, base_url, out, ["crawl_id=gone"], settings, store=True, timeout=240
        )

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(crawl, tmp_path / "first")
        deadline = time.monotonic() + 120
        while replica.requests(VENDOR)["product"] < 10:
            assert not first.done(), "the crawl ended before Redis went away"
            assert time.monotonic() < deadline, "no product page was fetched"
            time.sleep(0.05)
        own_redis.kill()
        killed_at = time.monotonic()
        stopped = first.result(timeout=60)
        stopped_after = time.monotonic() - killed_at
    assert stopped.returncode == 1, stopped.log[-3000:]
    assert stopped.stat("finish_reason") == "redis_unavailable"
    assert 3 <= stopped_after < 20, stopped_after
    assert stopped.stat("item_scraped_count") < 60  # stopped mid-crawl
    assert "crawl ended with reason redis_unavailable" in stopped.log
    assert stopped.log.rstrip().endswith("(exit status 1)"), stopped.log[-2000:]
    assert stopped.stat("christmas/verdict") == "failed"
    assert stopped.stat("christmas/delisted", None) is None

    # Redis back (its data kept): the same crawl_id finishes the session, exit status 0.
    own_redis.start()
    resumed = crawl(tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.log[-3000:]
    assert resumed.stat("finish_reason") == "finished"
    assert resumed.stat("christmas/distributed/recovered") >= 1
    # One session of two workers: the stopped one's pages were finished by the resumed
    # one, so the session passes, and its listings (both workers') prove what is gone.
    assert resumed.stat("christmas/verdict") == "passed", resumed.stat("christmas/verdict_reason")
    with engine.connect() as conn:
        verdict = session_verdict(conn, "gone")
        numbers = conn.execute(
            text(
                "SELECT monitor_report -> 'numbers' FROM crawl_runs "
                "WHERE crawl_id = 'gone' AND verdict = 'passed'"
            )
        ).scalar_one()
    engine.dispose()
    assert (verdict.status, verdict.workers, verdict.delisted) == ("passed", 2, 1)
    assert numbers["finish_reason"] == "finished" and numbers["resumed_workers"] == 1
    stored = stored_products(migrated_database_url)
    gone = [p for p in stored if p["link"] == base_url + "/gone.html"]
    assert [p["availability"] for p in gone] == ["delisted"]
    assert [p for p in stored if p not in gone] == replica.truth(VENDOR)
