"""Upsert counters that mean what they say: inserted, changed, unchanged (real Postgres)."""

from __future__ import annotations

import datetime as dt

from christmas_spiders.db.__main__ import main as db_main
from christmas_spiders.db.store import UpsertCounts, upsert_items
from christmas_spiders.db.writer import (
    ProductWriter,
    append_dead_letters,
    dead_letter_line,
    replay_dead_letter,
)
from tests.fixtures.storage import sample_items


def test_a_recrawl_counts_changed_and_unchanged_rows_apart(storage_engine):
    items = sample_items(20)
    with storage_engine.begin() as conn:
        assert upsert_items(conn, items, "c1") == UpsertCounts(inserted=20)
    recrawl = [dict(item) for item in items]
    for item in recrawl[:3]:
        item["price"] = "19.99"  # a tracked field
    recrawl[3]["name"] = "Renamed ornament"  # an untracked one: a change all the same
    recrawl.append(sample_items(21)[20])
    with storage_engine.begin() as conn:
        assert upsert_items(conn, recrawl, "c2") == UpsertCounts(
            inserted=1, changed=4, unchanged=16
        )
    result = ProductWriter(storage_engine, "c3").write(recrawl)
    assert (result.inserted, result.changed, result.unchanged) == (0, 0, 21)


def test_replaying_a_dead_letter_file_twice_reports_nothing_changed(
    storage_engine, migrated_database_url, tmp_path, capsys
):
    items = sample_items(15)
    ProductWriter(storage_engine, "seed").write(items)
    scraped = dt.datetime.now(dt.UTC)
    changed = [dict(item, price="9.99") for item in items[:5]] + items[5:]
    path = tmp_path / "ornament_shop-c9.jsonl"
    append_dead_letters(path, [dead_letter_line(item, "c9", scraped) for item in changed])

    first = replay_dead_letter(storage_engine, path)
    assert (first.inserted, first.changed, first.unchanged) == (0, 5, 10)
    # The same file again: every row is as the file says (same scrape time, same values).
    assert db_main(["--database-url", migrated_database_url, "replay-dead-letter", str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        f"{path}: 15 items: 0 inserted, 0 changed, 15 unchanged, "
        "0 already newer or repeated, 0 refused"
    )
