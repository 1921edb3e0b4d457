"""The shop spiders shared by workers through Redis, stored in Postgres, and run by scrapyd.

Real parts throughout: the replica shops, Chromium for their JS pages, Redis, a
migrated Postgres database of the test's own, and a scrapyd started by the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from christmas_spiders import redis_keys
from christmas_spiders.db.engine import make_engine
from christmas_spiders.db.models import PRODUCT_FIELDS
from christmas_spiders.db.verdicts import SessionVerdict, session_verdict
from replicas.catalogue import generate_catalogue
from replicas.crawling import crawl_environment
from replicas.server import serve_replicas
from replicas.truth import ground_truth
from tests.fixtures.redis import joined_worker_id
from tests.fixtures.scrapyd import (
    PROJECT_ROOT,
    Scrapyd,
    deploy_project,
    free_port,
    start_scrapyd,
    stop_process_group,
    wait_until_up,
)

VENDOR = "ornament_shop"
FIELDS = PRODUCT_FIELDS


def stored_products(database_url: str) -> list[dict[str, Any]]:
    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        rows = conn.execute(f"SELECT {', '.join(FIELDS)} FROM products ORDER BY link").fetchall()
    products = [dict(zip(FIELDS, row, strict=True)) for row in rows]
    for product in products:
        assert isinstance(product["price"], Decimal)
        product["price"] = f"{product['price']:.2f}"
        if product["was_price"] is not None:  # NULL where the page shows no "was" price
            product["was_price"] = f"{product['was_price']:.2f}"
    return products


def session_rows(database_url: str, crawl_id: str) -> list[tuple[Any, ...]]:
    """(finish_reason, verdict, finished) of each worker row of the session."""
    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        return conn.execute(
            "SELECT finish_reason, verdict, finished_at IS NOT NULL FROM crawl_runs "
            "WHERE crawl_id = %s ORDER BY id",
            (crawl_id,),
        ).fetchall()


def verdict_of(database_url: str, crawl_id: str) -> SessionVerdict:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return session_verdict(conn, crawl_id)
    finally:
        engine.dispose()


def replica_stats(base_url: str) -> dict[str, Any]:
    with urlopen(base_url + "/__replica__/stats", timeout=10) as response:
        return json.loads(response.read())


def start_worker(
    base_url: str, out: Path, target: tuple[str, str], crawl_id: str, database_url: str, name: str
) -> subprocess.Popen[bytes]:
    """A ``scrapy crawl`` worker; ``target`` is (REDIS_URL, key prefix of the test)."""
    env = crawl_environment("replica")
    env["REDIS_URL"], env["CHRISTMAS_REDIS_PREFIX"] = target
    command = [sys.executable, "-m", "scrapy", "crawl", VENDOR]
    command += ["-a", f"base_url={base_url}", "-a", f"crawl_id={crawl_id}"]
    for setting in (
        f"CHRISTMAS_DATABASE_URL={database_url}",
        f"CHRISTMAS_STATS_FILE={out / (name + '.stats.json')}",
        f"LOG_FILE={out / (name + '.log')}",
        f"CHRISTMAS_YEAR_LINKS_FILE={out / 'unused.json'}",
        "CHRISTMAS_WORKER_TIMEOUT=3",
        "CHRISTMAS_WORKER_HEARTBEAT=1",
        "CHRISTMAS_IDLE_POLL=0.5",
        "CHRISTMAS_UPSERT_BATCH_SIZE=20",
    ):
        command += ["-s", setting]
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = 240) -> None:
    try:
        for proc in procs:
            assert proc.wait(timeout) == 0, f"worker {proc.pid} exited {proc.returncode}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def test_redis(redis_url: str) -> Iterator[tuple[str, str]]:
    """(REDIS_URL, a key prefix of this test's own); its keys are removed afterwards."""
    prefix = f"cs-test-{uuid.uuid4().hex[:8]}"
    yield redis_url, prefix
    server = redis.Redis.from_url(redis_url)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


def test_two_workers_store_exactly_the_shop_and_fetch_no_page_twice(
    test_redis: tuple[str, str], migrated_database_url: str, tmp_path: Path
) -> None:
    catalogue = generate_catalogue(seed=5, products_per_shop=120)
    with serve_replicas(catalogue) as base_urls:
        base_url = base_urls[VENDOR]
        procs = [
            start_worker(base_url, tmp_path, test_redis, "s1", migrated_database_url, f"w{n}")
            for n in range(2)
        ]
        finish(procs)
        pages = replica_stats(base_url)["pages"]
        truth = ground_truth(catalogue, VENDOR, base_url)
        assert stored_products(migrated_database_url) == truth
        twice = {page: n for page, n in pages.items() if n > 1 and not page.startswith("/ajax/")}
        assert twice == {}
        stats = [json.loads((tmp_path / f"w{n}.stats.json").read_text()) for n in range(2)]
        assert sum(s.get("item_scraped_count", 0) for s in stats) == len(truth)
        assert all(s["finish_reason"] == "finished" for s in stats)
        assert sum(s.get("christmas/browser_renders", 0) for s in stats) == 1  # the index
        # One verdict for the session: the last worker judged the summed numbers.
        assert sorted(s["christmas/verdict"] for s in stats) == ["passed", "pending"]
        rows = session_rows(migrated_database_url, "s1")
        assert sorted(row[1] or "" for row in rows) == ["", "passed"]
        session = verdict_of(migrated_database_url, "s1")
        assert (session.status, session.workers, session.running) == ("passed", 2, 0)

        # The next session fetches every product again, but renders no year index:
        # its links come from the Redis cache.
        again = start_worker(base_url, tmp_path, test_redis, "s2", migrated_database_url, "next")
        finish([again])
        pages_after = replica_stats(base_url)["pages"]
    next_stats = json.loads((tmp_path / "next.stats.json").read_text())
    assert next_stats["christmas/year_links/cache_hit"] == 1
    assert "christmas/browser_renders" not in next_stats
    assert next_stats["item_scraped_count"] == len(truth)
    index_pages = [page for page, n in pages_after.items() if "by-year" in page]
    assert index_pages and all(pages_after[page] == pages[page] for page in index_pages)
    product_paths = {str(item["link"]).removeprefix(base_url) for item in truth}
    assert all(pages_after[path] == 2 for path in product_paths)


def test_a_worker_killed_mid_crawl_loses_no_product(
    test_redis: tuple[str, str], migrated_database_url: str, tmp_path: Path
) -> None:
    catalogue = generate_catalogue(seed=6, products_per_shop=150)
    # Slow pages keep requests in flight, so the kill surely catches some, and keep the
    # crawl going long enough for the doomed worker to hold product pages at all.
    faults = "slow=0.5,slow_seconds=1.0"
    server = redis.Redis.from_url(test_redis[0])
    inflight = redis_keys.session_keys(VENDOR, "k1", test_redis[1])["inflight"]
    with serve_replicas(catalogue, faults=faults) as base_urls:
        base_url = base_urls[VENDOR]
        # The doomed worker starts first, so it surely holds product pages when killed (a
        # survivor started at the same time sometimes crawled everything by itself); the
        # survivor joins the same session just before the kill.
        doomed = start_worker(base_url, tmp_path, test_redis, "k1", migrated_database_url, "d")
        survivor = None
        try:
            owner = joined_worker_id(tmp_path / "d.log")
            deadline = time.monotonic() + 120
            while not (
                replica_stats(base_url)["kinds"].get("product", 0) >= 40
                and any(f.decode().startswith(owner + "|") for f in server.hkeys(inflight))
            ):
                assert time.monotonic() < deadline, "the doomed worker never held product pages"
                assert doomed.poll() is None, "the crawl ended before the kill"
                time.sleep(0.05)
            survivor = start_worker(
                base_url, tmp_path, test_redis, "k1", migrated_database_url, "s"
            )
            os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its Chromium
            doomed.wait()
            finish([survivor])
        finally:
            finish([p for p in (doomed, survivor) if p is not None and p.poll() is None])
        truth = ground_truth(catalogue, VENDOR, base_url, faults=faults)
    assert stored_products(migrated_database_url) == truth
    survivor_stats = json.loads((tmp_path / "s.stats.json").read_text())
    assert survivor_stats["christmas/distributed/recovered"] >= 1
    assert survivor_stats["finish_reason"] == "finished"
    # The killed worker's row is closed as abandoned (an end time, not "running"); the
    # survivor judged the session, and delisted nothing: the dead worker's listings are lost.
    assert session_rows(migrated_database_url, "k1") == [
        ("abandoned", None, True),
        ("finished", "passed", True),
    ]
    session = verdict_of(migrated_database_url, "k1")
    assert (session.status, session.abandoned, session.delisted) == ("passed", 1, 0)


def test_deployed_with_scrapyd_deploy_a_cron_entry_runs_a_crawl_into_postgres(
    test_redis: tuple[str, str], migrated_database_url: str, tmp_path: Path
) -> None:
    catalogue = generate_catalogue(seed=7, products_per_shop=60)
    password = uuid.uuid4().hex
    port = free_port()
    scrapyd_dir = tmp_path / "scrapyd"
    # Jobs get their database and Redis from scrapyd's environment.
    job_env = {
        "DATABASE_URL": migrated_database_url,
        "REDIS_URL": test_redis[0],
        "CHRISTMAS_REDIS_PREFIX": test_redis[1],
        "ENV": "replica",
    }
    proc = start_scrapyd(scrapyd_dir, port, password, env=job_env)
    server = Scrapyd(f"http://127.0.0.1:{port}", "christmas", password, scrapyd_dir)
    try:
        wait_until_up(server.url, server.auth, proc, scrapyd_dir)
        egg = deploy_project(server, tmp_path)
        # The egg is the crawler alone: the replica shops stay with the checkout.
        with zipfile.ZipFile(egg) as deployed_egg:
            packages = {name.split("/")[0] for name in deployed_egg.namelist()}
        assert packages == {"christmas_spiders", "EGG-INFO"}, packages

        with serve_replicas(catalogue) as base_urls:
            base_url = base_urls[VENDOR]
            state = tmp_path / "state.json"
            state.write_text(
                json.dumps(
                    {"e2e": {"last_slot": (datetime.now(UTC) - timedelta(seconds=61)).isoformat()}}
                )
            )
            config = tmp_path / "config.json"
            config.write_text(
                json.dumps(
                    {
                        "scrapyd": {
                            "url": server.url,
                            "username": "christmas",
                            "password": password,
                        },
                        "schedules": [
                            {
                                "name": "e2e",
                                "spider": VENDOR,
                                "cron": "* * * * *",
                                "args": {"base_url": base_url},
                            }
                        ],
                        "scheduler": {"state_file": str(state)},
                    }
                )
            )
            fired = subprocess.run(
                [sys.executable, "-m", "christmas_spiders.scheduler", "--once"],
                cwd=PROJECT_ROOT,
                env={**os.environ, "CONFIG_PATH": str(config)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert fired.returncode == 0, fired.stderr
            job = json.loads(state.read_text())["e2e"]
            assert job["last_status"] == "scheduled", fired.stderr
            log = server.wait_for_job("christmas_spiders", job["last_job"], timeout=240)
            truth = ground_truth(catalogue, VENDOR, base_url)
    finally:
        stop_process_group(proc)
    assert "Spider closed (finished)" in log, log[-3000:]
    assert f"joined crawl session {job['crawl_id']}" in log
    assert stored_products(migrated_database_url) == truth
