"""Crawl verdicts on the real parts: replica shops (with faults), Chromium for their JS
pages, a Postgres database of the test's own, ``scrapy crawl`` as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from christmas_spiders.db.verdicts import session_verdict
from replicas.crawling import PROJECT_ROOT, crawl_environment, run_crawl
from tests.fixtures.scrapyd import free_port

VENDOR = "ornament_shop"


def _crawl(replica_url: str | None, tmp_path: Path, database_url: str, *arguments: str, **kw):
    return run_crawl(
        VENDOR,
        replica_url,
        tmp_path,
        list(arguments),
        [f"CHRISTMAS_DATABASE_URL={database_url}", *kw.pop("settings", [])],
        store=True,
        timeout=kw.pop("timeout", 300),
    )


def _availability(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT link, availability FROM products")).all())


def test_a_listed_product_whose_page_fails_is_kept_and_an_unlisted_one_delisted(
    replica_sites, storage_engine, migrated_database_url, tmp_path
):
    clean = replica_sites(seed=11, products_per_shop=250)
    base = clean.urls[VENDOR]
    first = _crawl(base, tmp_path / "c1", migrated_database_url, "crawl_id=c1")
    assert first.returncode == 0, first.log[-3000:]
    stored = _availability(storage_engine)
    assert len(stored) == len(clean.truth(VENDOR))
    # A product the shop no longer lists (its row: as a past crawl left it).
    with storage_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (id, vendor, vendor_id, sku, name, price, brand, "
                "availability, release_year, link, last_synced_at) VALUES ('gone', :v, "
                "'gone-1', 'QX0001', 'Gone ornament', 9.99, 'Hallmark', 'in_stock', 2001, "
                ":link, now() - interval '2 days')"
            ),
            {"v": VENDOR, "link": base + "/gone.html"},
        )

    # The same shop, two product pages answering 500 on every retry.
    faulty = replica_sites(seed=11, products_per_shop=250, faults="permanent_error=2")
    faulty_base = faulty.urls[VENDOR]
    failing = {link for link in stored if link not in {i["link"] for i in clean.truth(VENDOR)}}
    assert not failing
    with storage_engine.begin() as conn:
        # The second replica serves on another port: move the stored links there.
        conn.execute(
            text("UPDATE products SET link = replace(link, :old, :new)"),
            {"old": base, "new": faulty_base},
        )
    second = _crawl(faulty_base, tmp_path / "c2", migrated_database_url, "crawl_id=c2")
    assert second.returncode == 0, second.log[-3000:]
    assert second.stat("christmas/failed/product_page") == 2
    assert second.stat("christmas/verdict") == "passed"
    after = _availability(storage_engine)
    # The two failing products are listed: kept as they were; the unlisted one delisted.
    assert after.pop(faulty_base + "/gone.html") == "delisted"
    assert "delisted" not in after.values()
    assert second.stat("christmas/delisted") == 1
    with storage_engine.connect() as conn:
        verdict = session_verdict(conn, "c2")
        assert (verdict.status, verdict.delisted, verdict.workers) == ("passed", 1, 1)
        listed = conn.execute(
            text("SELECT count(*) FROM products WHERE last_listed_at IS NOT NULL")
        ).scalar()
    assert listed == len(after)


def test_failed_crawls_exit_non_zero(migrated_database_url, tmp_path, replica_sites):
    closed_port = free_port()
    # An unreachable shop: the year index fails, the verdict fails.
    unreachable = _crawl(
        f"http://127.0.0.1:{closed_port}",
        tmp_path / "unreachable",
        migrated_database_url,
        "crawl_id=down",
        settings=["RETRY_TIMES=0"],
    )
    assert unreachable.returncode == 1, unreachable.log[-2000:]
    assert unreachable.stat("christmas/verdict") == "failed"
    assert "the year index failed 1 times" in unreachable.stat("christmas/verdict_reason")
    assert "crawl verdict failed" in unreachable.log

    # A database that is not there: stopped before a single page is fetched.
    replica = replica_sites(seed=3, products_per_shop=20)
    no_database = _crawl(
        replica.urls[VENDOR],
        tmp_path / "nodb",
        f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        "crawl_id=nodb",
    )
    assert no_database.returncode == 1, no_database.log[-2000:]
    assert no_database.stat("finish_reason") == "database_unavailable"
    assert no_database.stat("response_received_count") == 0
    assert replica.stats(VENDOR)["kinds"].get("product", 0) == 0

    # A product_url that is not stored: start_error.
    unknown = _crawl(
        replica.urls[VENDOR],
        tmp_path / "unknown",
        migrated_database_url,
        f"product_url={replica.urls[VENDOR]}/never-stored.html",
    )
    assert unknown.returncode == 1
    assert unknown.stat("finish_reason") == "start_error"


def _scrapy_crawl(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", VENDOR, "-s", "CHRISTMAS_STORE_ITEMS=0"]
    for argument in arguments:
        command += ["-a", argument]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_environment("replica"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_bad_argument_is_one_line_before_any_request():
    for argument, message in (
        ("year=1995", "unknown argument year; known: base_url, years, crawl_id"),
        ("stale_hours=inf", "stale_hours='inf' is not a positive number of hours"),
        ("stale_hours=nan", "stale_hours='nan' is not a positive number of hours"),
        ("release_year=1995", "release_year= only goes with product_url="),
    ):
        done = _scrapy_crawl("base_url=http://127.0.0.1:9", argument)
        assert done.returncode == 2, done.stderr[-2000:]
        # Scrapy's own start-up lines, then one line of ours; nothing after it.
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert lines[-1] == f"error: bad spider argument: {VENDOR}: {message}" or (
            lines[-1].startswith(f"error: bad spider argument: {VENDOR}: ") and message in lines[-1]
        )
        assert sum(line.startswith("error:") for line in lines) == 1
        assert "Spider opened" not in done.stderr
        assert "Traceback" not in done.stderr
        assert "Task exception was never retrieved" not in done.stderr
