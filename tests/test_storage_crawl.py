"""Real Scrapy crawls through the project's pipeline and crawl-run extension into real Postgres.

The feed spider (tests.fixtures.feed_spider) yields prepared items without network, so
these tests are about storage: stored rows, crawl_runs, monitors, delisting.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from christmas_spiders.db.ids import product_id
from tests.fixtures.storage import run_feed_crawl, sample_items


def _stats(done) -> dict[str, str]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run(conn, crawl_id: str):
    return conn.execute(text("SELECT * FROM crawl_runs WHERE crawl_id = :c"), {"c": crawl_id}).one()


def test_a_crawl_stores_every_item_and_records_its_run(
    storage_engine, migrated_database_url, tmp_path
):
    items = sample_items(120)
    stats = _stats(run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="first"))
    assert stats["christmas/db/inserted"] == "120"

    again = run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="second")
    # Every row written again, none changed: only last_synced_at was refreshed.
    second_stats = _stats(again)
    assert (second_stats["christmas/db/unchanged"], second_stats["christmas/db/changed"]) == (
        "120",
        "0",
    )
    assert "christmas/db/updated" not in second_stats

    with storage_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT id, sku, price::text, release_year FROM products ORDER BY id")
        ).all()
        expected = sorted(
            (product_id(i["vendor"], i["vendor_id"]), i["sku"], i["price"], i["release_year"])
            for i in items
        )
        assert [tuple(row) for row in stored] == expected
        # The identical second crawl wrote no audit row: 2 per product, all from "first".
        audit = conn.execute(
            text("SELECT crawl_id, count(*) FROM product_audit GROUP BY crawl_id")
        ).all()
        assert [tuple(row) for row in audit] == [("first", 240)]

        run = _run(conn, "first")
        assert run.vendor == "ornament_shop"
        assert run.finish_reason == "finished"
        assert run.full_crawl is True
        # One page: the feed spider's data: URL.
        assert (run.items, run.errors, run.pages, run.browser_renders) == (120, 0, 1, 0)
        assert run.finished_at > run.started_at
        assert run.monitors_passed is True
        assert {c["status"] for c in run.monitor_report["checks"]} == {"OK"}
        assert run.args == {"crawl_id": "first"}
        second = _run(conn, "second")
        assert second.monitor_report["previous_items"] == 120


def test_delisting_only_after_complete_crawls_that_passed_their_monitors(
    storage_engine, migrated_database_url, tmp_path
):
    items = sample_items(10)
    _stats(run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="c1"))

    # Complete crawl missing one product: it is delisted, and the audit says by whom.
    _stats(run_feed_crawl(tmp_path, migrated_database_url, items[1:], crawl_id="c2"))
    gone = product_id("ornament_shop", "orn-0")
    with storage_engine.connect() as conn:
        assert _run(conn, "c2").delisted == 1
        assert conn.execute(
            text("SELECT id FROM products WHERE availability = 'delisted'")
        ).scalars().all() == [gone]
        assert conn.execute(
            text(
                "SELECT old_value, new_value, crawl_id FROM product_audit "
                "WHERE product_id = :id AND operation = 'UPDATE'"
            ),
            {"id": gone},
        ).one() == ("in_stock", "delisted", "c2")

    # A partial crawl (some years only) marks nothing, though it saw only 3 products.
    _stats(
        run_feed_crawl(tmp_path, migrated_database_url, items[1:4], crawl_id="c3", full_crawl=False)
    )
    # A complete crawl whose item count fell by more than 20% fails its monitors: nothing marked.
    stats = _stats(run_feed_crawl(tmp_path, migrated_database_url, items[1:6], crawl_id="c4"))
    assert stats["christmas/monitors_passed"] == "False"
    with storage_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM products WHERE availability = 'delisted'")
            ).scalar()
            == 1
        )
        partial, failed = _run(conn, "c3"), _run(conn, "c4")
        assert (partial.full_crawl, partial.monitors_passed, partial.delisted) == (False, True, 0)
        assert (failed.monitors_passed, failed.delisted) == (False, 0)
        verdict = {c["monitor"]: c for c in failed.monitor_report["checks"]}
        count_check = verdict[
            "Item count/a complete crawl yields items, no fewer than the last complete one allows"
        ]
        assert count_check["status"] == "FAIL"
        assert (
            "5 items, down more than 20% from the previous complete run's 9"
            in (count_check["error"])
        )

    # The delisted product comes back when a crawl sees it again (audited too).
    _stats(
        run_feed_crawl(tmp_path, migrated_database_url, items[:1], crawl_id="c5", full_crawl=False)
    )
    with storage_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT availability FROM products WHERE id = :id"), {"id": gone}
            ).scalar()
            == "in_stock"
        )


def test_crawl_without_storage_needs_no_database(tmp_path):
    done = run_feed_crawl(
        tmp_path,
        None,
        sample_items(3),
        crawl_id="nodb",
        settings={"CHRISTMAS_STORE_ITEMS": False},
    )
    stats = _stats(done)
    assert stats["item_scraped_count"] == "3"
    assert "christmas/db/inserted" not in stats
    assert "UpsertProductPipeline" not in done.stderr.split("Enabled item pipelines")[1][:200]


def test_batches_are_also_flushed_by_time(storage_engine, migrated_database_url, tmp_path):
    done = run_feed_crawl(
        tmp_path,
        migrated_database_url,
        sample_items(12),
        crawl_id="slow",
        settings={"CHRISTMAS_UPSERT_BATCH_SIZE": 1000, "CHRISTMAS_UPSERT_BATCH_SECONDS": 0.2},
        spider_args={"pause_every": "4", "pause_seconds": "0.6"},
    )
    stats = _stats(done)
    # 12 items in 3 bursts 0.6 s apart, a batch of 1000: only the clock can flush them.
    assert int(stats["christmas/db/batches"]) >= 3
    assert stats["christmas/db/inserted"] == "12"


def test_an_item_the_database_refuses_is_kept_and_the_rest_stored(
    storage_engine, migrated_database_url, tmp_path
):
    items = sample_items(5)
    items[2] = dict(items[2], vendor_id="x" * 80)  # longer than products.vendor_id allows
    done = run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="refused")
    stats = _stats(done)
    assert stats["christmas/dropped/db_rejected"] == "1"
    assert stats["christmas/db/inserted"] == "4"
    dead_letter = tmp_path / "dead-letter" / "ornament_shop-refused.jsonl"
    kept = [json.loads(line)["item"] for line in dead_letter.read_text().splitlines()]
    assert kept == [items[2]]
    assert f"kept in {dead_letter}" in done.stderr


def test_a_database_without_the_schema_stops_the_crawl_with_the_fix(empty_database_url, tmp_path):
    done = run_feed_crawl(tmp_path, empty_database_url, sample_items(3), crawl_id="noschema")
    assert "cannot store products: it has no products table" in done.stderr
    assert "upgrade head" in done.stderr
    assert "'item_scraped_count'" not in done.stderr
