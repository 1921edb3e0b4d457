"""The replica shops' day 1 -> day 2 change, stored: exactly the expected audit rows.

First from the ground truth (no crawl: the store alone), then through a real
``scrapy crawl`` of a replica with the whole pipeline (validate, normalize, upsert).
"""

from __future__ import annotations

import urllib.request
from decimal import Decimal

from sqlalchemy import text

from christmas_spiders.db.ids import product_id
from christmas_spiders.db.writer import ProductWriter
from replicas.catalogue import generate_catalogue
from replicas.crawling import run_crawl
from replicas.server import serve_replicas
from replicas.truth import ground_truth

VENDORS = ("hookedonhallmark", "ornament_shop", "hallmark_ornaments")


def expected_changes(day1: list[dict], day2: list[dict], crawl_id: str) -> list[tuple]:
    """(product_id, field, old, new, crawl_id) for each tracked field that moved."""
    before = {(i["vendor"], i["vendor_id"]): i for i in day1}
    changes = []
    for item in day2:
        old = before[(item["vendor"], item["vendor_id"])]
        pid = product_id(item["vendor"], item["vendor_id"])
        for field in ("price", "availability"):
            if old[field] != item[field]:
                changes.append((pid, field, old[field], item[field], crawl_id))
    return sorted(changes)


def audit_updates(engine, crawl_id: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT product_id, field, old_value, new_value, crawl_id FROM product_audit "
                "WHERE operation = 'UPDATE' AND crawl_id = :c"
            ),
            {"c": crawl_id},
        ).all()
    return sorted(tuple(row) for row in rows)


def test_day_two_of_every_shop_gives_exactly_the_expected_audit_rows(storage_engine):
    catalogue = generate_catalogue(seed=4, products_per_shop=60)
    writer = ProductWriter(storage_engine, None)
    day1, day2 = [], []
    for vendor in VENDORS:
        base = f"http://127.0.0.1:1/{vendor}"
        day1 += ground_truth(catalogue, vendor, base, day=1)
        day2 += ground_truth(catalogue, vendor, base, day=2)
    writer.write(day1, crawl_id="day1")
    writer.write(day2, crawl_id="day2")
    expected = expected_changes(day1, day2, "day2")
    assert expected, "the replica's day 2 changes nothing: the test would prove nothing"
    assert audit_updates(storage_engine, "day2") == expected
    with storage_engine.connect() as conn:
        prices = dict(conn.execute(text("SELECT id, price FROM products")).all())
    assert prices == {product_id(i["vendor"], i["vendor_id"]): Decimal(i["price"]) for i in day2}


def test_a_real_crawl_stores_the_ground_truth_and_day_two_is_audited(
    storage_engine, migrated_database_url, tmp_path
):
    vendor = "hallmark_ornaments"  # plain HTTP pages: no browser needed for this test
    catalogue = generate_catalogue(seed=5, products_per_shop=40)
    settings = [f"CHRISTMAS_DATABASE_URL={migrated_database_url}", "CHRISTMAS_UPSERT_BATCH_SIZE=15"]
    with serve_replicas(catalogue) as urls:
        base = urls[vendor]
        first = run_crawl(
            vendor, base, tmp_path / "day1", ["crawl_id=day1"], settings, store=True, timeout=180
        )
        assert first.returncode == 0, first.log[-3000:]
        truth1 = ground_truth(catalogue, vendor, base, day=1)
        with storage_engine.connect() as conn:
            stored = (
                conn.execute(
                    text(
                        "SELECT vendor, vendor_id, sku, name, price::text AS price, currency, "
                        "brand, availability, release_year, link, was_price::text AS was_price, "
                        "stock_text FROM products ORDER BY link"
                    )
                )
                .mappings()
                .all()
            )
            run = conn.execute(text("SELECT * FROM crawl_runs WHERE crawl_id = 'day1'")).one()
        assert [dict(row) for row in stored] == truth1
        assert (run.finish_reason, run.items, run.monitors_passed) == (
            "finished",
            len(truth1),
            True,
        )
        assert run.pages == first.stat("response_received_count") > len(truth1)
        assert run.args == {"base_url": base, "crawl_id": "day1", "mode": "full"}

        with urllib.request.urlopen(f"{base}/__replica__/day?set=2", timeout=10) as reply:
            assert reply.status == 200
        second = run_crawl(
            vendor, base, tmp_path / "day2", ["crawl_id=day2"], settings, store=True, timeout=180
        )
        assert second.returncode == 0, second.log[-3000:]
        truth2 = ground_truth(catalogue, vendor, base, day=2)
    expected = expected_changes(truth1, truth2, "day2")
    assert expected
    assert audit_updates(storage_engine, "day2") == expected
    with storage_engine.connect() as conn:
        # Day 2 lists every day-1 product: nothing delisted.
        assert (
            conn.execute(text("SELECT delisted FROM crawl_runs WHERE crawl_id = 'day2'")).scalar()
            == 0
        )


def test_refresh_crawls_read_only_the_stored_products_they_select(
    storage_engine, migrated_database_url, tmp_path
):
    vendor = "hallmark_ornaments"
    catalogue = generate_catalogue(seed=6, products_per_shop=20)
    settings = [f"CHRISTMAS_DATABASE_URL={migrated_database_url}"]
    with serve_replicas(catalogue) as urls:
        base = urls[vendor]
        full = run_crawl(vendor, base, tmp_path / "full", [], settings, store=True, timeout=180)
        assert full.returncode == 0, full.log[-3000:]
        truth = ground_truth(catalogue, vendor, base)
        stale_links = [item["link"] for item in truth[:3]]
        with storage_engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE products SET last_synced_at = now() - interval '30 hours' "
                    "WHERE link = ANY(:links)"
                ),
                {"links": stale_links},
            )

        stale = run_crawl(
            vendor, base, tmp_path / "stale", ["stale_hours=24"], settings, store=True
        )
        assert stale.returncode == 0, stale.log[-3000:]
        # Exactly the three stale product pages: no year index, no listing page.
        assert stale.stat("response_received_count") == 3
        assert sorted(item["link"] for item in stale.items) == sorted(stale_links)
        with storage_engine.connect() as conn:
            assert (
                conn.execute(
                    text(
                        "SELECT count(*) FROM products "
                        "WHERE last_synced_at < now() - interval '24 hours'"
                    )
                ).scalar()
                == 0
            )
            runs = dict(conn.execute(text("SELECT crawl_id, full_crawl FROM crawl_runs")).all())
        assert sorted(runs.values()) == [False, True]

        one = run_crawl(
            vendor,
            base,
            tmp_path / "one",
            [f"product_url={truth[5]['link']}"],
            settings,
            store=True,
        )
        assert one.returncode == 0, one.log[-3000:]
        assert one.stat("response_received_count") == 1
        assert one.items == [truth[5]]  # its release year came from the database
