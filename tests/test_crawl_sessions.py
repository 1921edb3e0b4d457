"""Crawl sessions on real Postgres: the delisting share cap, incomplete years, workers
whose heartbeat stopped (closed as abandoned), housekeeping and the session verdict."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from christmas_spiders.crawl.delist import Completeness, delist_unseen
from christmas_spiders.crawl.record import previous_session_items
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


def test_a_row_of_unknown_stock_is_delisted_and_relisted_as_any_other(storage_engine):
    items = sample_items(4)
    unknown = dict(items[0], availability="unknown")
    ProductWriter(storage_engine, "seed").write([unknown, *items[1:]], crawl_id="c1")
    with Session(storage_engine) as session, session.begin():
        started = session.scalar(text("SELECT now() + interval '1 second'"))
        # The three others listed by this session: only the unknown row is unseen.
        session.execute(
            text("UPDATE products SET last_listed_at = :t WHERE availability <> 'unknown'"),
            {"t": started},
        )
        done = delist_unseen(
            session, "ornament_shop", "c2", started, Completeness(True, "test"), (), 0.5
        )
    assert (done.delisted, done.candidates, done.listed_products) == (1, 1, 4)
    changes = text(
        "SELECT old_value, new_value, crawl_id FROM product_audit "
        "WHERE field = 'availability' AND operation = 'UPDATE'"
    )
    with storage_engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(changes)] == [("unknown", "delisted", "c2")]
    # Seen again with wording still unknown: back as unknown, never as in stock.
    ProductWriter(storage_engine, "seed").write([unknown], crawl_id="c3")
    with storage_engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT availability FROM products WHERE link = :l"), {"l": unknown["link"]}
            ).scalar()
            == "unknown"
        )


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


def test_the_last_worker_judges_the_session_on_every_workers_numbers(
    storage_engine, migrated_database_url, tmp_path
):
    items = sample_items(10)
    _stats(run_feed_crawl(tmp_path, migrated_database_url, items, crawl_id="c1"))
    with storage_engine.begin() as conn:
        # A sibling worker of session "pair", alive (fresh heartbeat) while the first ends.
        sibling = _insert_run(conn, "pair", 1)
    first = _stats(run_feed_crawl(tmp_path, migrated_database_url, items[:5], crawl_id="pair"))
    assert first["christmas/verdict"] == "pending"
    with storage_engine.begin() as conn:
        conn.execute(text("DELETE FROM crawl_runs WHERE id = :id"), {"id": sibling})
    # The last worker saw only half the products; the session saw them all.
    last = _stats(run_feed_crawl(tmp_path, migrated_database_url, items[5:], crawl_id="pair"))
    assert last["christmas/verdict"] == "passed", last["christmas/verdict_reason"]
    assert last["christmas/delisted"] == "0"
    with storage_engine.connect() as conn:
        verdict = session_verdict(conn, "pair")
        report = conn.execute(
            text(
                "SELECT monitor_report FROM crawl_runs "
                "WHERE crawl_id = 'pair' AND verdict IS NOT NULL"
            )
        ).scalar_one()
        delisted = conn.execute(
            text("SELECT count(*) FROM products WHERE availability = 'delisted'")
        ).scalar()
    assert (verdict.status, verdict.workers, verdict.delisted) == ("passed", 2, 0)
    assert (report["numbers"]["items"], report["numbers"]["workers"]) == (10, 2)
    assert report["previous_items"] == 10
    assert delisted == 0


def test_a_run_is_compared_with_the_previous_session_of_its_own_kind(storage_engine):
    runs = [
        # crawl id, vendor, kind, finish reason, items, minutes ago
        ("full-1", "ornament_shop", "full", "finished", 100, 50),
        ("refresh-1", "ornament_shop", "refresh", "finished", 7, 40),
        ("refresh-cut", "ornament_shop", "refresh", "shutdown", 1, 30),
        ("full-other", "hookedonhallmark", "full", "finished", 55, 20),
        ("years-1", "ornament_shop", "years", "finished", 3, 10),
    ]
    with Session(storage_engine) as session, session.begin():
        for crawl_id, vendor, kind, reason, items, ago in runs:
            session.execute(
                text(
                    "INSERT INTO crawl_runs (crawl_id, vendor, kind, started_at, finished_at, "
                    "finish_reason, verdict, monitor_report) VALUES (:c, :v, :k, "
                    "now() - make_interval(mins => :ago + 5), now() - make_interval(mins => :ago), "
                    ":r, 'passed', CAST(:report AS jsonb))"
                ),
                {
                    "c": crawl_id,
                    "v": vendor,
                    "k": kind,
                    "r": reason,
                    "ago": ago,
                    "report": json.dumps({"numbers": {"items": items, "finish_reason": reason}}),
                },
            )
        previous = {
            kind: previous_session_items(session, "now", "ornament_shop", kind)
            for kind in ("full", "refresh", "product")
        }
        # A session is not its own previous one.
        assert previous_session_items(session, "refresh-1", "ornament_shop", "refresh") is None
    # The latest finished session of the kind: not a later one of another kind or vendor,
    # nor one that ended early.
    assert previous == {"full": 100, "refresh": 7, "product": None}
