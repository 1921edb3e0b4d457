"""The audit trigger on real Postgres: what it records, what it refuses, what it announces."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from christmas_spiders.db.engine import libpq_url
from christmas_spiders.db.ids import product_id
from christmas_spiders.db.store import UpsertCounts, upsert_items
from tests.fixtures.storage import sample_items


def _audit(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT product_id, operation, field, old_value, new_value, crawl_id "
                    "FROM product_audit ORDER BY id"
                )
            )
        ]


def _products(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT id, vendor, vendor_id, sku, name, price, currency, brand, "
                    "availability, release_year, link, created_at FROM products ORDER BY id"
                )
            )
        ]


def test_first_load_audits_each_tracked_field_once_per_product(storage_engine):
    items = sample_items(3)
    with storage_engine.begin() as conn:
        assert upsert_items(conn, items, "crawl-1") == UpsertCounts(inserted=3)
    audit = _audit(storage_engine)
    expected = []
    for item in items:
        pid = product_id(item["vendor"], item["vendor_id"])
        expected.append((pid, "INSERT", "price", None, "24.95", "crawl-1"))
        expected.append((pid, "INSERT", "availability", None, "in_stock", "crawl-1"))
    assert sorted(audit) == sorted(expected)


def test_identical_reload_changes_no_row_and_writes_no_audit(storage_engine):
    items = sample_items(20)
    with storage_engine.begin() as conn:
        upsert_items(conn, items, "crawl-1")
    products_before, audit_before = _products(storage_engine), _audit(storage_engine)
    with storage_engine.connect() as conn:
        synced_before = conn.execute(text("SELECT max(last_synced_at) FROM products")).scalar()

    with storage_engine.begin() as conn:
        assert upsert_items(conn, items, "crawl-2") == UpsertCounts(unchanged=20)

    assert _products(storage_engine) == products_before
    assert _audit(storage_engine) == audit_before
    with storage_engine.connect() as conn:
        # ...but every seen product's last_synced_at moved on.
        assert (
            conn.execute(
                text("SELECT count(*) FROM products WHERE last_synced_at > :t"),
                {"t": synced_before},
            ).scalar()
            == 20
        )


def test_price_and_stock_change_give_exactly_those_audit_rows(storage_engine):
    items = sample_items(4)
    with storage_engine.begin() as conn:
        upsert_items(conn, items, "crawl-1")
    first = len(_audit(storage_engine))
    changed = [dict(item) for item in items]
    changed[1]["price"] = "19.99"
    changed[2]["availability"] = "out_of_stock"
    changed[3]["name"] = "A renamed ornament"  # not tracked by default
    with storage_engine.begin() as conn:
        upsert_items(conn, changed, "crawl-2")
    new_rows = _audit(storage_engine)[first:]
    id1 = product_id(items[1]["vendor"], items[1]["vendor_id"])
    id2 = product_id(items[2]["vendor"], items[2]["vendor_id"])
    assert sorted(new_rows) == sorted(
        [
            (id1, "UPDATE", "price", "24.95", "19.99", "crawl-2"),
            (id2, "UPDATE", "availability", "in_stock", "out_of_stock", "crawl-2"),
        ]
    )


def test_change_by_hand_in_sql_is_audited_with_no_crawl(storage_engine, migrated_database_url):
    with storage_engine.begin() as conn:
        upsert_items(conn, sample_items(1), "crawl-1")
    pid = product_id("ornament_shop", "orn-0")
    # A plain psql-like session: no SET LOCAL, no project code.
    with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as conn:
        conn.execute("UPDATE products SET price = 30 WHERE id = %s", (pid,))
        conn.execute("DELETE FROM products WHERE id = %s", (pid,))
    rows = _audit(storage_engine)[2:]
    assert rows == [
        (pid, "UPDATE", "price", "24.95", "30.00", None),
        (pid, "DELETE", "price", "30.00", None, None),
        (pid, "DELETE", "availability", "in_stock", None, None),
    ]


def test_crawl_id_is_local_to_its_transaction(storage_engine):
    with storage_engine.begin() as conn:
        upsert_items(conn, sample_items(1), "crawl-1")
    with storage_engine.begin() as conn:  # same pooled connection, new transaction
        conn.execute(text("UPDATE products SET price = 1"))
    assert _audit(storage_engine)[-1][5] is None


def test_audit_is_append_only(storage_engine):
    with storage_engine.begin() as conn:
        upsert_items(conn, sample_items(1), "crawl-1")
    for statement in (
        "UPDATE product_audit SET new_value = '0.01'",
        "DELETE FROM product_audit",
        "TRUNCATE product_audit",
    ):
        with pytest.raises(DBAPIError, match="append-only"), storage_engine.begin() as conn:
            conn.execute(text(statement))
    assert len(_audit(storage_engine)) == 2


def test_listener_receives_each_audit_row(storage_engine, migrated_database_url):
    with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as listener:
        listener.execute("LISTEN product_changes")
        items = sample_items(2)
        with storage_engine.begin() as conn:
            upsert_items(conn, items, "crawl-1")
        changed = [dict(items[0], price="9.99"), items[1]]
        with storage_engine.begin() as conn:
            upsert_items(conn, changed, "crawl-2")
        notes = list(listener.notifies(timeout=5, stop_after=5))
    assert {note.channel for note in notes} == {"product_changes"}
    received = [json.loads(note.payload) for note in notes]
    assert len(received) == 5  # 2 products x (price, availability) + 1 price change
    assert [(n["operation"], n["field"]) for n in received].count(("INSERT", "price")) == 2
    last = received[-1]
    assert (last["operation"], last["field"], last["old_value"], last["new_value"]) == (
        "UPDATE",
        "price",
        "24.95",
        "9.99",
    )
    assert last["crawl_id"] == "crawl-2"
    assert last["product_id"] == product_id("ornament_shop", "orn-0")
    assert set(last) >= {"id", "changed_at"}


def test_price_history_view_gives_intervals(storage_engine):
    items = sample_items(1)
    for crawl, price in (("c1", "24.95"), ("c2", "19.99"), ("c3", "19.99"), ("c4", "22.50")):
        with storage_engine.begin() as conn:
            upsert_items(conn, [dict(items[0], price=price)], crawl)
    with storage_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT price, valid_from, valid_to FROM price_history ORDER BY valid_from")
        ).all()
    assert [str(r.price) for r in rows] == ["24.95", "19.99", "22.50"]
    assert rows[0].valid_to == rows[1].valid_from
    assert rows[1].valid_to == rows[2].valid_from
    assert rows[2].valid_to is None


def test_tracking_name_is_a_config_change_and_one_command(
    storage_engine, migrated_database_url, tmp_path
):
    with storage_engine.begin() as conn:
        upsert_items(conn, sample_items(1), "crawl-1")
    config = tmp_path / "audit.json"
    config.write_text(json.dumps({"audit": {"tracked_fields": ["price", "name", "link"]}}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "christmas_spiders.db",
            "--database-url",
            migrated_database_url,
            "sync-audit",
        ],
        env={"CONFIG_PATH": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "price, name, link" in done.stdout
    with storage_engine.begin() as conn:
        upsert_items(
            conn,
            [dict(sample_items(1)[0], name="New name", availability="out_of_stock")],
            "crawl-2",
        )
    assert [(r[2], r[3], r[4]) for r in _audit(storage_engine)[2:]] == [
        ("name", "Keepsake ornament number 0", "New name")
    ]


def test_sync_audit_refuses_an_unknown_field(migrated_database_url, tmp_path):
    config = tmp_path / "audit.json"
    config.write_text(json.dumps({"audit": {"tracked_fields": ["price", "colour"]}}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "christmas_spiders.db",
            "--database-url",
            migrated_database_url,
            "sync-audit",
        ],
        env={"CONFIG_PATH": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown fields ['colour']" in done.stderr


def test_a_long_value_does_not_break_the_write_through_notify(storage_engine):
    from christmas_spiders.db import audit_sql

    with storage_engine.begin() as conn:
        audit_sql.sync(conn, {"tracked_fields": ["name"], "notify_channel": "product_changes"})
        upsert_items(conn, [dict(sample_items(1)[0], name="x" * 9000)], "crawl-1")
    assert len(_audit(storage_engine)[0][4]) == 9000


def test_audit_rows_of_two_crawls_are_ordered_in_time(storage_engine):
    # changed_at is the transaction time of the crawl's batch.
    items = sample_items(1)
    with storage_engine.begin() as conn:
        upsert_items(conn, items, "c1")
    time.sleep(0.01)
    with storage_engine.begin() as conn:
        upsert_items(conn, [dict(items[0], price="1.00")], "c2")
    with storage_engine.connect() as conn:
        times = conn.execute(text("SELECT changed_at FROM product_audit ORDER BY id")).scalars()
        times = list(times)
    assert times[0] < times[-1]


def test_was_price_is_trackable_and_unknown_stock_is_stored(storage_engine):
    from christmas_spiders.db import audit_sql

    item = dict(sample_items(1)[0], availability="unknown", was_price="29.95")
    with storage_engine.begin() as conn:
        audit_sql.sync(conn, {"tracked_fields": ["was_price"], "notify_channel": "product_changes"})
        upsert_items(conn, [item], "c1")
    with storage_engine.begin() as conn:
        # Only was_price changes: the update trigger's condition must see it.
        upsert_items(conn, [dict(item, was_price=None)], "c2")
    pid = product_id(item["vendor"], item["vendor_id"])
    assert _audit(storage_engine) == [
        (pid, "INSERT", "was_price", None, "29.95", "c1"),
        (pid, "UPDATE", "was_price", "29.95", None, "c2"),
    ]
    with storage_engine.connect() as conn:
        stored = conn.execute(text("SELECT availability, was_price FROM products")).one()
    assert tuple(stored) == ("unknown", None)
