"""One database engine per crawl, shared by the pipeline, the lifecycle and refresh queries."""

from __future__ import annotations

import json
import time

from scrapy import signals
from scrapy.utils.test import get_crawler
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from christmas_spiders import settings as project_settings
from christmas_spiders.crawl.database import APPLICATION_NAME, crawl_database
from christmas_spiders.db.writer import ProductWriter
from replicas.catalogue import generate_catalogue
from replicas.crawling import run_crawl
from replicas.server import serve_replicas
from replicas.truth import ground_truth
from tests.fixtures.engine_count import ENGINES_STAT


def _crawl_connections(engine: Engine, database_url: str, expected: int) -> int:
    """The crawl connections open on the test's database, once they reach ``expected``
    (a closed connection leaves pg_stat_activity a moment later) or after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        with engine.connect() as conn:
            count = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = :db AND application_name = :name"
                ),
                {"db": make_url(database_url).database, "name": APPLICATION_NAME},
            ).scalar_one()
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_a_crawler_has_one_database_until_its_engine_stops(storage_engine, migrated_database_url):
    crawler = get_crawler(settings_dict={"CHRISTMAS_DATABASE_URL": migrated_database_url})
    other = get_crawler(settings_dict={"CHRISTMAS_DATABASE_URL": migrated_database_url})
    database = crawl_database(crawler)
    assert crawl_database(crawler) is database
    assert crawl_database(other) is not database
    assert not database.engine_created  # nothing connects before it is needed
    assert database.engine is database.engine
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    # Back in the pool, still open, until the crawl's engine stops.
    assert _crawl_connections(storage_engine, migrated_database_url, 1) == 1
    crawler.signals.send_catch_log(signals.engine_stopped)
    assert _crawl_connections(storage_engine, migrated_database_url, 0) == 0
    assert crawl_database(crawler) is not database
    other.signals.send_catch_log(signals.engine_stopped)


def test_a_refresh_crawl_opens_exactly_one_engine(storage_engine, migrated_database_url, tmp_path):
    vendor = "hallmark_ornaments"  # plain HTTP pages: no browser needed
    catalogue = generate_catalogue(seed=7, products_per_shop=12)
    extensions = {
        **project_settings.EXTENSIONS,
        "tests.fixtures.engine_count.CountEngines": 0,
    }
    with serve_replicas(catalogue) as urls:
        base = urls[vendor]
        stored = ground_truth(catalogue, vendor, base, day=1)
        ProductWriter(storage_engine, "seed").write(stored)
        with storage_engine.begin() as conn:
            conn.execute(text("UPDATE products SET last_synced_at = now() - interval '2 days'"))
        result = run_crawl(
            vendor,
            base,
            tmp_path,
            ["crawl_id=one-engine", "stale_hours=24"],
            [
                f"CHRISTMAS_DATABASE_URL={migrated_database_url}",
                f"EXTENSIONS={json.dumps(extensions)}",
            ],
            store=True,
            timeout=180,
        )
    assert result.returncode == 0, result.log[-3000:]
    # The spider's stale query, the pipeline's writes and the crawl_runs record: one engine.
    assert f"refreshing {len(stored)} products not synced for 24 hours" in result.log
    assert result.stat("christmas/db/unchanged") + result.stat("christmas/db/changed") == len(
        stored
    )
    assert result.stat(ENGINES_STAT) == 1
    with storage_engine.connect() as conn:
        run = conn.execute(
            text("SELECT items, finish_reason, finished_at FROM crawl_runs WHERE crawl_id = :c"),
            {"c": "one-engine"},
        ).one()
    assert (run.items, run.finish_reason) == (len(stored), "finished")
    assert run.finished_at is not None
