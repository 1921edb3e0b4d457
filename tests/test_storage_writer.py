"""ProductWriter and the dead-letter replay, on real Postgres."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from christmas_spiders.db.engine import make_engine
from christmas_spiders.db.writer import (
    ProductWriter,
    append_dead_letters,
    dead_letter_line,
    replay_dead_letter,
)
from tests.fixtures.storage import sample_items


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_two_writers_storing_the_same_items_at_once_end_with_no_duplicate(
    storage_engine, migrated_database_url
):
    items = sample_items(400)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def load(order: list[dict]) -> None:
        engine = make_engine(migrated_database_url)
        writer = ProductWriter(engine, f"crawl-{threading.get_ident()}", retries=3)
        try:
            start.wait()
            for batch in range(0, len(order), 50):
                writer.write(order[batch : batch + 50])
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    # Opposite orders: the writer's sorted batches keep row locks in one order.
    threads = [
        threading.Thread(target=load, args=(items,)),
        threading.Thread(target=load, args=(list(reversed(items)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _count(storage_engine, "SELECT count(*) FROM products") == 400
    assert _count(storage_engine, "SELECT count(DISTINCT (vendor, vendor_id)) FROM products") == 400
    # Each product inserted once: exactly one INSERT audit row per tracked field.
    assert _count(storage_engine, "SELECT count(*) FROM product_audit") == 800


def test_two_processes_storing_the_same_items_at_once(storage_engine, migrated_database_url):
    script = (
        "import sys, json\n"
        "from christmas_spiders.db.engine import make_engine\n"
        "from christmas_spiders.db.writer import ProductWriter\n"
        "from tests.fixtures.storage import sample_items\n"
        "items = sample_items(300)\n"
        "if sys.argv[2] == 'rev': items.reverse()\n"
        "writer = ProductWriter(make_engine(sys.argv[1]), 'crawl-' + sys.argv[2])\n"
        "for i in range(0, 300, 30): writer.write(items[i:i + 30])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, migrated_database_url, order],
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in ("fwd", "rev")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert _count(storage_engine, "SELECT count(*) FROM products") == 300
    assert _count(storage_engine, "SELECT count(*) FROM product_audit") == 600


def test_a_batch_naming_one_product_twice_keeps_the_last(storage_engine):
    item = sample_items(1)[0]
    result = ProductWriter(storage_engine, "c1").write([item, dict(item, price="5.00")])
    assert (result.inserted, result.updated) == (1, 0)
    assert _count(storage_engine, "SELECT count(*) FROM products WHERE price = 5") == 1


def test_one_bad_item_does_not_lose_the_rest_of_its_batch(storage_engine):
    items = sample_items(5)
    items[2] = dict(items[2], availability="sold_out_forever")  # refused by the CHECK
    items[3] = dict(items[3], price="not a price")  # refused before SQL
    result = ProductWriter(storage_engine, "c1").write(items)
    assert result.inserted == 3
    assert len(result.rejected) == 2
    assert _count(storage_engine, "SELECT count(*) FROM products") == 3


def test_replay_of_a_dead_letter_file_is_complete_and_idempotent(storage_engine, tmp_path):
    items = sample_items(30)
    scraped = dt.datetime.now(dt.UTC)
    path = tmp_path / "ornament_shop-c9.jsonl"
    append_dead_letters(path, [dead_letter_line(item, "c9", scraped) for item in items])

    first = replay_dead_letter(storage_engine, path, batch_size=7)
    assert (first.lines, first.inserted, first.updated) == (30, 30, 0)
    with storage_engine.connect() as conn:
        crawl_ids = conn.execute(text("SELECT DISTINCT crawl_id FROM product_audit")).scalars()
        assert list(crawl_ids) == ["c9"]
        synced = conn.execute(text("SELECT DISTINCT last_synced_at FROM products")).scalars()
        assert list(synced) == [scraped]
    audit_rows = _count(storage_engine, "SELECT count(*) FROM product_audit")

    second = replay_dead_letter(storage_engine, path)
    assert second.inserted == 0
    assert _count(storage_engine, "SELECT count(*) FROM products") == 30
    assert _count(storage_engine, "SELECT count(*) FROM product_audit") == audit_rows


def test_replay_never_overwrites_what_a_later_crawl_stored(storage_engine, tmp_path):
    item = sample_items(1)[0]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    path = tmp_path / "old.jsonl"
    append_dead_letters(path, [dead_letter_line(dict(item, price="99.00"), "old", old)])
    ProductWriter(storage_engine, "new").write([item])  # stored now, price 24.95

    result = replay_dead_letter(storage_engine, path)
    assert result.skipped_newer == 1
    assert _count(storage_engine, "SELECT count(*) FROM products WHERE price = 24.95") == 1


def test_replay_command_reports_counts(migrated_database_url, tmp_path):
    path = tmp_path / "x.jsonl"
    now = dt.datetime.now(dt.UTC)
    append_dead_letters(path, [dead_letter_line(i, "c1", now) for i in sample_items(4)])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "christmas_spiders.db",
            "--database-url",
            migrated_database_url,
            "replay-dead-letter",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{path}: 4 items: 4 inserted, 0 changed, 0 unchanged" in done.stdout


def test_replay_refuses_a_file_that_is_not_a_dead_letter_file(storage_engine, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"vendor": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a dead-letter line"):
        replay_dead_letter(storage_engine, path)
