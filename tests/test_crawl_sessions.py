"""Crawl sessions on real Postgres: the delisting share cap, incomplete years, workers
whose heartbeat stopped (closed as abandoned), housekeeping and the session verdict."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from christmas_spiders.crawl.delist import Completeness, delist_unseen
from christmas_spiders.db.__main__ import main as db_main
from christmas_spiders.db.verdicts import close_abandoned_runs, session_verdict
from christmas_spiders.db.writer import ProductWriter
from tests.fixtures.storage import run_feed_crawl, sample_items


def _stats(done) -> dict[str, str]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_crawl_delisting_more_than_its_share_delists_nothing_and_fails(
    storage_engine, migrated_database_url, tmp_path
):
    items = sample_items(10)
    _stats(run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="c1"))
    # 2 of 10 not seen: 20% > 10% (the item count, 8 of 10, is within its 20%).
    stats = _stats(run_feed_crawl(tmp_path, migrated_database_url, items[2:], crawl_id="c2"))
    assert stats["christmas/verdict"] == "failed"
    assert "2 of 10 products not listed (20.0%), more than 10%" in stats["christmas/verdict_reason"]
    with storage_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM products WHERE availability = 'delisted'")
            ).scalar()
            == 0
        )
        verdict = session_verdict(conn, "c2")
    assert (verdict.status, verdict.delisted) == ("failed", 0)
    # With a higher cap the same crawl delists the two.
    stats = _stats(
        run_feed_crawl(
            tmp_path,
            migrated_database_url,
            items[2:],
            crawl_id="c3",
            settings={"CHRISTMAS_MAX_DELIST_RATIO": 0.25},
        )
    )
    assert (stats["christmas/verdict"], stats["christmas/delisted"]) == ("passed", "2")


def test_an_incomplete_year_delists_nothing_of_that_year(storage_engine):
    items = sample_items(10)  # release years 2020..2024, two products each
    ProductWriter(storage_engine, "seed").write(items)
    with Session(storage_engine) as session, session.begin():
        started = session.scalar(text("SELECT now() + interval '1 second'"))
        done = delist_unseen(
            session,
            "ornament_shop",
            "c1",
            started,
            Completeness(True, "test"),
            incomplete_years=[2020, 2021, 2022, 2023],
            max_ratio=1.0,
        )
    # Nothing was listed or synced since ``started``: only the complete year's two go.
    assert (done.delisted, done.candidates, done.listed_products) == (2, 2, 10)
    with storage_engine.connect() as conn:
        years = conn.execute(
            text("SELECT release_year FROM products WHERE availability = 'delisted'")
        ).scalars()
        assert sorted(years) == [2024, 2024]


def _insert_run(conn, crawl_id: str, heartbeat_seconds_ago: float | None, **values) -> int:
    return conn.execute(
        text(
            "INSERT INTO crawl_runs (crawl_id, vendor, started_at, heartbeat_at, finished_at, "
            "finish_reason, verdict, verdict_reason) VALUES (:c, 'ornament_shop', "
            "now() - interval '1 hour', now() - make_interval(secs => :ago), :finished, "
            ":reason, :verdict, :why) RETURNING id"
        ),
        {
            "c": crawl_id,
            "ago": heartbeat_seconds_ago,
            "finished": values.get("finished"),
            "reason": values.get("reason"),
            "verdict": values.get("verdict"),
            "why": values.get("why"),
        },
    ).scalar_one()


def test_a_worker_whose_heartbeat_stopped_is_abandoned_not_running(
    storage_engine, migrated_database_url, capsys
):
    with storage_engine.begin() as conn:
        alive = _insert_run(conn, "s-alive", 1)
        gone = _insert_run(conn, "s-gone", 120)
        judged = _insert_run(
            conn, "s-judged", 300, finished=None, reason=None, verdict=None, why=None
        )
        _insert_run(conn, "s-judged", 300)
    with storage_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE crawl_runs SET finished_at = now(), finish_reason = 'finished', "
                "verdict = 'passed', verdict_reason = 'every monitor passed' WHERE id = :id"
            ),
            {"id": judged},
        )
    with storage_engine.connect() as conn:
        assert session_verdict(conn, "s-alive", 20).status == "running"
        # Read only: a silent worker shows as abandoned, its row stays open.
        gone_verdict = session_verdict(conn, "s-gone", 20)
        assert (gone_verdict.status, gone_verdict.abandoned) == ("abandoned", 1)
        # The judging worker's verdict holds; the silent sibling no longer blocks it.
        assert session_verdict(conn, "s-judged", 20).status == "passed"
        assert session_verdict(conn, "nothing", 20).status == "unknown"

    # Housekeeping closes the rows of processes that are gone (end time, abandoned).
    arguments = ["--database-url", migrated_database_url, "housekeeping", "--worker-timeout", "20"]
    assert db_main(arguments) == 0
    assert "closed 2 crawl run(s) left running by processes that are gone" in (
        capsys.readouterr().out
    )
    with storage_engine.begin() as conn:
        rows = dict(
            conn.execute(
                text("SELECT id, finish_reason FROM crawl_runs WHERE finished_at IS NOT NULL")
            ).all()
        )
        assert rows[gone] == "abandoned"
        assert alive not in rows
        assert close_abandoned_runs(conn, 20) == []
