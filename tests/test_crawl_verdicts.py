"""Crawl verdicts on the real parts: replica shops (with faults), Chromium for their JS
pages, a Postgres database of the test's own, ``scrapy crawl`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from christmas_spiders.db.verdicts import session_verdict
from replicas.crawling import PROJECT_ROOT, crawl_environment, run_crawl
from replicas.faults import fault_for
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


def insert_stored_product(
    conn, vendor: str, link: str, release_year: int, product_id: str = "gone"
) -> None:
    """A product row as an earlier crawl left it (synced two days ago, in stock)."""
    conn.execute(
        text(
            "INSERT INTO products (id, vendor, vendor_id, sku, name, price, brand, "
            "availability, release_year, link, last_synced_at) VALUES (:id, :v, :id, "
            "'QX0001', 'Stored ornament', 9.99, 'Hallmark', 'in_stock', :y, :link, "
            "now() - interval '2 days')"
        ),
        {"id": product_id, "v": vendor, "y": release_year, "link": link},
    )


@pytest.mark.parametrize(
    "status",
    # A server error on every retry, and a page the shop took away (not retried) while a
    # listing still links it.
    [500, 404],
)
def test_a_listed_product_whose_page_fails_is_kept_and_an_unlisted_one_delisted(
    replica_sites, storage_engine, migrated_database_url, tmp_path, status
):
    clean = replica_sites(seed=11, products_per_shop=250)
    base = clean.urls[VENDOR]
    first = _crawl(base, tmp_path / "c1", migrated_database_url, "crawl_id=c1")
    assert first.returncode == 0, first.log[-3000:]
    stored = _availability(storage_engine)
    assert len(stored) == len(clean.truth(VENDOR))
    # A product the shop no longer lists (its row: as a past crawl left it).
    with storage_engine.begin() as conn:
        insert_stored_product(conn, VENDOR, base + "/gone.html", 2001)

    # The same shop, two product pages answering ``status`` every time.
    faults = f"permanent_error=2,permanent_status={status}"
    faulty = replica_sites(seed=11, products_per_shop=250, faults=faults)
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
    assert faulty.stats(VENDOR)["faults"]["permanent_error"] >= 2
    assert second.stat(f"downloader/response_status_count/{status}") >= 2
    assert second.stat("christmas/verdict") == "passed", second.stat("christmas/verdict_reason")
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


def test_a_database_that_does_not_exist_stops_the_crawl_before_any_page(
    migrated_database_url, tmp_path, replica_sites
):
    # The server answers; the database named is not on it.
    missing = migrated_database_url.rsplit("/", 1)[0] + "/no_such_database"
    replica = replica_sites(seed=3, products_per_shop=20)
    done = _crawl(replica.urls[VENDOR], tmp_path, missing, "crawl_id=missing")
    assert done.returncode == 1, done.log[-2000:]
    assert done.stat("finish_reason") == "database_unavailable"
    assert 'database "no_such_database" does not exist' in done.log
    assert done.stat("response_received_count") == 0
    assert replica.requests(VENDOR)["product"] == 0
    assert "crawl ended with reason database_unavailable;" in done.log
    assert done.log.rstrip().endswith("(exit status 1)")


def test_a_crawl_that_fails_its_monitors_exits_non_zero_and_delists_nothing(
    replica_sites, storage_engine, migrated_database_url, tmp_path
):
    # 3 of 30 product pages fail on every retry: 10%, above the 1% a crawl may meet.
    replica = replica_sites(seed=5, products_per_shop=30, faults="permanent_error=3")
    base = replica.urls[VENDOR]
    with storage_engine.begin() as conn:
        # A stored product the shop does not list: a passing complete crawl would delist it.
        insert_stored_product(conn, VENDOR, base + "/gone.html", 2001)
    done = _crawl(base, tmp_path, migrated_database_url, "crawl_id=bad")
    assert done.returncode == 1, done.log[-3000:]
    assert done.stat("finish_reason") == "finished"
    assert done.stat("christmas/failed/product_page") == 3
    assert done.stat("christmas/verdict") == "failed"
    assert "3 of 30 product pages failed (10.0%, more than 1.0%)" in done.stat(
        "christmas/verdict_reason"
    )
    assert "crawl verdict failed" in done.log and "(exit status 1)" in done.log
    assert _availability(storage_engine)[base + "/gone.html"] == "in_stock"
    with storage_engine.connect() as conn:
        assert session_verdict(conn, "bad").status == "failed"

    # The cron scheduler that started it reads the same verdict and logs it.
    state = tmp_path / "scheduler-state.json"
    state.write_text(
        json.dumps({"nightly": {"last_slot": "2026-01-01T00:00:00+00:00", "crawl_id": "bad"}})
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "database_url": migrated_database_url,
                "scrapyd": {"url": f"http://127.0.0.1:{free_port()}"},
                # Next due in a year: nothing is scheduled.
                "schedules": [{"name": "nightly", "spider": VENDOR, "cron": "0 3 1 1 *"}],
                "scheduler": {"state_file": str(state)},
            }
        )
    )
    scheduler = subprocess.run(
        [sys.executable, "-m", "christmas_spiders.scheduler", "--once", "--max-attempts", "1"],
        cwd=PROJECT_ROOT,
        env={**crawl_environment(None), "CONFIG_PATH": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # (No scrapyd is there to ask about jobs: the verdict is logged before it is asked.)
    reason = done.stat("christmas/verdict_reason")
    assert f"nightly: crawl bad verdict failed: {reason}" in scheduler.stderr
    assert json.loads(state.read_text())["nightly"]["last_verdict"] == "failed"


def test_a_worker_that_ends_badly_exits_non_zero_while_a_sibling_judges(
    replica_sites, storage_engine, migrated_database_url, tmp_path
):
    with storage_engine.begin() as conn:
        # A sibling worker of session "pair", alive: the session's verdict is its to give.
        conn.execute(
            text(
                "INSERT INTO crawl_runs (crawl_id, vendor, started_at, heartbeat_at) "
                "VALUES ('pair', :v, now(), now() + interval '1 hour')"
            ),
            {"v": VENDOR},
        )
    replica = replica_sites(seed=3, products_per_shop=20)
    done = _crawl(
        replica.urls[VENDOR],
        tmp_path,
        migrated_database_url,
        "crawl_id=pair",
        f"product_url={replica.urls[VENDOR]}/never-stored.html",
    )
    assert done.stat("finish_reason") == "start_error"
    assert done.stat("christmas/verdict") == "pending"
    assert done.returncode == 1, done.log[-2000:]
    assert "crawl ended with reason start_error; verdict pending" in done.log


def test_products_listed_but_dropped_or_on_a_failed_year_page_are_kept(
    replica_sites, storage_engine, migrated_database_url, tmp_path
):
    shop = {"seed": 11, "products_per_shop": 250, "malformed_ratio": 0.02}
    clean = replica_sites(**shop)
    base = clean.urls[VENDOR]
    first = _crawl(base, tmp_path / "c1", migrated_database_url, "crawl_id=c1")
    assert first.returncode == 0, first.log[-3000:]
    catalogue = clean.catalogue.shops[VENDOR]
    year_of = catalogue.year_of()
    dropped = [v for v in catalogue.reachable_vendor_ids() if catalogue.listings[v].malformed]
    assert len(dropped) == 6
    other_year = min(year_of.values())
    with storage_engine.begin() as conn:
        # Products whose pages a past crawl could read, unreadable now (still listed).
        for vendor_id in dropped:
            insert_stored_product(
                conn,
                VENDOR,
                base + catalogue.listings[vendor_id].path,
                year_of[vendor_id],
                f"was-{vendor_id}",
            )
        # And one the shop no longer lists.
        insert_stored_product(conn, VENDOR, base + "/gone.html", other_year)
        # A crawl run of the vendor left running by a process that is gone.
        stale = conn.execute(
            text(
                "INSERT INTO crawl_runs (crawl_id, vendor, started_at, heartbeat_at) VALUES "
                "('dead', :v, now() - interval '2 hours', now() - interval '1 hour') "
                "RETURNING id"
            ),
            {"v": VENDOR},
        ).scalar_one()

    # The same shop, one year page answering 503 on every retry (and no other page).
    faults = "error=0.004,error_times=10,seed=11"
    faulty = replica_sites(**shop, faults=faults)
    faulty_base = faulty.urls[VENDOR]
    pages = [
        (year_page.year, f"{year_page.path}?page={n}")
        for year_page in catalogue.years
        for n in range(1, len(year_page.listing.pages) + 1)
    ]
    failing = [
        (year, key) for year, key in pages if fault_for(faulty.faults, 11, VENDOR, key) == "error"
    ]
    assert len(failing) == 1 and failing[0][1].endswith("?page=1")
    failed_year = failing[0][0]
    assert not [
        path for path in catalogue.by_path if fault_for(faulty.faults, 11, VENDOR, path) is not None
    ]
    unlisted = {v for v, year in year_of.items() if year == failed_year} - set(dropped)
    assert unlisted and failed_year != other_year
    with storage_engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET link = replace(link, :old, :new)"),
            {"old": base, "new": faulty_base},
        )
    before = _availability(storage_engine)
    second = _crawl(faulty_base, tmp_path / "c2", migrated_database_url, "crawl_id=c2")
    assert second.returncode == 0, second.log[-3000:]
    assert second.stat("christmas/verdict") == "passed", second.stat("christmas/verdict_reason")
    after = _availability(storage_engine)
    # The dropped ones and the failed year's stay as they were; the product no page lists goes.
    kept = {faulty_base + catalogue.listings[v].path for v in [*dropped, *unlisted]}
    assert {link: after[link] for link in kept} == {link: before[link] for link in kept}
    assert after.pop(faulty_base + "/gone.html") == "delisted"
    assert "delisted" not in after.values()
    assert second.stat("christmas/delisted") == 1
    assert second.stat("christmas/failed/year_page") == 1
    assert second.stat("christmas/years/incomplete/listing_page_failed") == 1
    assert sum(second.prefixed("christmas/dropped/").values()) == len(dropped)
    with storage_engine.connect() as conn:
        numbers = conn.execute(
            text("SELECT numbers FROM crawl_runs WHERE crawl_id = 'c2'")
        ).scalar_one()
        assert numbers["incomplete_years"] == {str(failed_year): ["listing_page_failed"]}
        # The next crawl of the vendor closed the stale run: an end time, abandoned.
        assert conn.execute(
            text("SELECT finish_reason, finished_at IS NOT NULL FROM crawl_runs WHERE id = :id"),
            {"id": stale},
        ).one() == ("abandoned", True)
