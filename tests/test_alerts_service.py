"""The alert service on real Postgres and real Apprise: verdicts, digests, retries,
restarts, and rows committed out of id order."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import psycopg
from sqlalchemy import text

from christmas_spiders.alerts.rules import add_rule
from christmas_spiders.alerts.service import AlertService
from christmas_spiders.config import PROJECT_ROOT
from christmas_spiders.db.engine import libpq_url
from christmas_spiders.db.store import upsert_items
from tests.fixtures.alerts import (
    alert_settings,
    finish_crawl,
    item,
    receiver,
    start_crawl,
    write_crawl,
)

__all__ = ["receiver"]

SKUS = ("QX1001", "QX1002", "QX1003", "QX1004", "QX1005")


def _prices(price: str, skus=SKUS, vendor: str = "ornament_shop") -> list[dict]:
    return [item(sku, vendor, price) for sku in skus]


def _drop_rules(engine, receiver, skus=SKUS, path: str = "alerts", extra: str | None = None):
    with engine.begin() as conn:
        for sku in skus:
            notify = [receiver.url(path)] + ([receiver.url(extra)] if extra else [])
            add_rule(conn, f"drop-{sku}", sku, "drop_percent", notify, threshold=5)


def _watching_all(engine, receiver, operator: bool = True) -> AlertService:
    """Every sku stored at $30 with a drop rule to /alerts; the service caught up."""
    write_crawl(engine, "base", _prices("30.00"))
    _drop_rules(engine, receiver)
    settings = alert_settings(operator_notify=[receiver.url("operator")] if operator else [])
    service = AlertService(engine, settings)
    service.drain()
    return service


def _deliveries(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text("SELECT kind, crawl_id, status, attempts FROM alert_deliveries ORDER BY id")
            )
        ]


def test_a_failed_crawl_sends_nothing_but_the_operator_message(storage_engine, receiver):
    service = _watching_all(storage_engine, receiver)

    write_crawl(storage_engine, "broken", _prices("20.00"), passed=None)
    with storage_engine.begin() as conn:
        finish_crawl(
            conn,
            "broken",
            passed=False,
            report={
                "passed": False,
                "checks": [{"monitor": "ItemCountMonitor", "status": "FAIL", "error": "3 < 100"}],
            },
        )
    service.drain()

    assert receiver.at("alerts") == []
    [operator] = receiver.at("operator")
    assert "broken" in operator.title
    assert "ItemCountMonitor: 3 < 100" in operator.body
    assert "5 audited change(s)" in operator.body

    # The next passed crawl alerts its own changes only (20 -> 18 is -10%).
    write_crawl(storage_engine, "good", _prices("18.00", SKUS[:1]))
    service.drain()
    [digest] = receiver.at("alerts")
    assert "$20.00 -> $18.00" in digest.body
    assert "crawl good" in digest.body
    assert len(receiver.at("operator")) == 1


def test_a_crawl_that_did_not_finish_is_a_failed_crawl(storage_engine, receiver):
    service = _watching_all(storage_engine, receiver)
    # Two workers: one finished well, the other was shut down.
    with storage_engine.begin() as conn:
        start_crawl(conn, "split", "ornament_shop")
        start_crawl(conn, "split", "ornament_shop")
        upsert_items(conn, _prices("20.00"), "split")
    with storage_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE crawl_runs SET finished_at = now(), monitors_passed = true, "
                "finish_reason = CASE WHEN id = (SELECT min(id) FROM crawl_runs "
                "WHERE crawl_id = 'split') THEN 'finished' ELSE 'shutdown' END "
                "WHERE crawl_id = 'split'"
            )
        )
        # The last worker to close judges the session: one worker's shutdown fails it.
        conn.execute(
            text(
                "UPDATE crawl_runs SET verdict = 'failed', "
                "verdict_reason = 'a worker finished with reason ''shutdown''' "
                "WHERE id = (SELECT max(id) FROM crawl_runs WHERE crawl_id = 'split')"
            )
        )
    service.drain()
    assert receiver.at("alerts") == []
    [operator] = receiver.at("operator")
    assert "'shutdown'" in operator.body


def test_a_pending_crawl_holds_back_only_its_own_changes(
    storage_engine, migrated_database_url, receiver
):
    service = _watching_all(storage_engine, receiver, operator=False)

    write_crawl(storage_engine, "slow", _prices("20.00", SKUS[:1]), passed=None)
    with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as conn:
        conn.execute("UPDATE products SET price = 21 WHERE sku = %s", (SKUS[1],))
    write_crawl(storage_engine, "quick", _prices("22.00", SKUS[2:3]))
    service.drain()
    bodies = [m.body for m in receiver.at("alerts")]
    assert len(bodies) == 2
    assert any("changes made by hand" in b and SKUS[1] in b for b in bodies)
    assert any("crawl quick" in b and SKUS[2] in b for b in bodies)
    assert not any(SKUS[0] in b for b in bodies)

    with storage_engine.begin() as conn:
        finish_crawl(conn, "slow")
    service.drain()
    assert len(receiver.at("alerts")) == 3
    last = receiver.at("alerts")[-1].body
    assert "crawl slow" in last and SKUS[0] in last


def test_one_crawl_sends_one_digest_per_destination(storage_engine, receiver):
    write_crawl(storage_engine, "base", _prices("30.00"))
    _drop_rules(storage_engine, receiver, SKUS[:3], extra="team")
    _drop_rules(storage_engine, receiver, SKUS[3:])
    service = AlertService(storage_engine, alert_settings())
    service.drain()

    write_crawl(storage_engine, "sale", _prices("24.00"))
    service.drain()

    [everything] = receiver.at("alerts")
    [team] = receiver.at("team")
    assert everything.title == "5 ornament alerts from crawl sale"
    assert all(sku in everything.body for sku in SKUS)
    assert team.title == "3 ornament alerts from crawl sale"
    assert all(sku in team.body for sku in SKUS[:3])
    assert not any(sku in team.body for sku in SKUS[3:])
    assert [d[:3] for d in _deliveries(storage_engine)] == [
        ("alert", "sale", "sent"),
        ("alert", "sale", "sent"),
    ]


def test_a_failed_delivery_is_retried_with_backoff_and_holds_up_no_other_rule(
    storage_engine, receiver, caplog
):
    write_crawl(storage_engine, "base", _prices("30.00", SKUS[:2]))
    with storage_engine.begin() as conn:
        add_rule(conn, "flaky", SKUS[0], "drop_percent", [receiver.url("flaky")], threshold=5)
        add_rule(conn, "steady", SKUS[1], "drop_percent", [receiver.url("steady")], threshold=5)
        add_rule(conn, "dead", SKUS[1], "back_in_stock", ["json://127.0.0.1:9/x"])
    receiver.fail("flaky", 2)
    settings = alert_settings(retry_base_seconds=0.3, retry_attempts=3)
    service = AlertService(storage_engine, settings)
    service.drain()

    caplog.set_level(logging.WARNING, logger="christmas_spiders.alerts.delivery")
    write_crawl(storage_engine, "sale", _prices("20.00", SKUS[:2]))
    with storage_engine.begin() as conn:
        # A stock flip for the rule whose destination never answers.
        upsert_items(conn, [item(SKUS[1], "ornament_shop", "20.00", "out_of_stock")], None)
    with storage_engine.begin() as conn:
        upsert_items(conn, [item(SKUS[1], "ornament_shop", "20.00")], None)
    started = time.monotonic()
    service.drain()
    # The steady destination is served in the first round, while flaky waits its turn.
    assert len(receiver.at("steady")) == 1
    assert receiver.at("flaky") == []

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not receiver.at("flaky"):
        service.drain()
        time.sleep(0.05)
    assert len(receiver.at("flaky")) == 1
    tries = receiver.attempts["/flaky"]
    assert len(tries) == 3
    assert tries[1] - tries[0] >= 0.3 * 0.9
    assert tries[2] - tries[1] >= 0.6 * 0.9
    assert time.monotonic() - started >= 0.9 * 0.9
    assert any("retrying in 0.3 s" in r.getMessage() for r in caplog.records)

    while time.monotonic() < deadline and any(
        d[2] == "pending" for d in _deliveries(storage_engine)
    ):
        service.drain()
        time.sleep(0.05)
    by_status = sorted((d[2], d[3]) for d in _deliveries(storage_engine))
    assert by_status == [("failed", 3), ("sent", 1), ("sent", 3)]
    assert any("failed for good after 3 attempt(s)" in r.getMessage() for r in caplog.records)


def test_a_row_committed_after_a_later_one_is_not_lost(
    storage_engine, migrated_database_url, receiver
):
    write_crawl(storage_engine, "base", _prices("30.00", SKUS[:2]))
    _drop_rules(storage_engine, receiver, SKUS[:2])
    service = AlertService(storage_engine, alert_settings())
    service.drain()

    early = psycopg.connect(libpq_url(migrated_database_url))
    try:
        # This transaction takes the lower audit id but commits last.
        early.execute("UPDATE products SET price = 20 WHERE sku = %s", (SKUS[0],))
        with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as late:
            late.execute("UPDATE products SET price = 20 WHERE sku = %s", (SKUS[1],))
        for _ in range(3):
            service.step()
        early.commit()
    finally:
        early.close()
    service.drain()
    bodies = " ".join(m.body for m in receiver.at("alerts"))
    assert SKUS[0] in bodies and SKUS[1] in bodies


def test_a_row_of_the_newest_open_transaction_is_not_lost(
    storage_engine, migrated_database_url, receiver
):
    # The newest transaction of the server, still open: no snapshot lists it among the
    # open ones (it is above every snapshot's xmax until something newer ends).
    write_crawl(storage_engine, "base", _prices("30.00", SKUS[:1]))
    _drop_rules(storage_engine, receiver, SKUS[:1])
    service = AlertService(storage_engine, alert_settings())
    service.drain()

    newest = psycopg.connect(libpq_url(migrated_database_url))
    try:
        newest.execute("UPDATE products SET price = 20 WHERE sku = %s", (SKUS[0],))
        for _ in range(3):
            service.step()
        newest.commit()
    finally:
        newest.close()
    service.drain()
    assert [SKUS[0] in m.body for m in receiver.at("alerts")] == [True]


def test_a_transaction_open_in_another_database_holds_nothing_back(
    storage_engine, migrated_database_url, pg_admin_url, receiver
):
    write_crawl(storage_engine, "base", _prices("30.00", SKUS[:1]))
    _drop_rules(storage_engine, receiver, SKUS[:1])
    service = AlertService(storage_engine, alert_settings())
    service.drain()

    # Another database on the same server: a write transaction (it has an xid) stays open.
    with psycopg.connect(libpq_url(pg_admin_url)) as elsewhere:
        elsewhere.execute("SELECT pg_current_xact_id()")
        with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as hand:
            hand.execute("UPDATE products SET price = 20 WHERE sku = %s", (SKUS[0],))
        service.drain(timeout=5)
        assert [SKUS[0] in m.body for m in receiver.at("alerts")] == [True]
        elsewhere.rollback()


def _start_service(database_url: str, tmp_path) -> subprocess.Popen[str]:
    config = tmp_path / "alerts.json"
    config.write_text(
        json.dumps({"alerts": {"verdict_poll_seconds": 0.1, "poll_seconds": 1}}), encoding="utf-8"
    )
    env = {**os.environ, "CONFIG_PATH": str(config), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "christmas_spiders.alerts", "--database-url", database_url, "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_all_sent(engine, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _deliveries(engine)
        if len(rows) >= count and all(row[2] == "sent" for row in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"deliveries not all sent: {_deliveries(engine)}")


def test_a_restart_mid_stream_loses_and_repeats_nothing(
    storage_engine, migrated_database_url, receiver, tmp_path
):
    write_crawl(storage_engine, "base", _prices("30.00"))
    _drop_rules(storage_engine, receiver)
    with psycopg.connect(libpq_url(migrated_database_url), autocommit=True) as hand:
        first = _start_service(migrated_database_url, tmp_path)
        try:
            write_crawl(storage_engine, "c1", _prices("27.00", SKUS[:1]))
            receiver.wait_for(1, "alerts")
            _wait_all_sent(storage_engine, 1)
            # c2 is still running when the service dies; a change by hand meanwhile flows.
            write_crawl(storage_engine, "c2", _prices("25.00", SKUS[1:2]), passed=None)
            hand.execute("UPDATE products SET price = 25 WHERE sku = %s", (SKUS[2],))
            receiver.wait_for(2, "alerts")
            _wait_all_sent(storage_engine, 2)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)

        # While the service is down: c2 passes, c3 and a change by hand are written.
        with storage_engine.begin() as conn:
            finish_crawl(conn, "c2")
        write_crawl(storage_engine, "c3", _prices("25.00", SKUS[3:4]))
        hand.execute("UPDATE products SET price = 25 WHERE sku = %s", (SKUS[4],))

    second = _start_service(migrated_database_url, tmp_path)
    try:
        receiver.wait_for(5, "alerts")
        _wait_all_sent(storage_engine, 5)
        time.sleep(1.0)  # anything repeated would arrive by now
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=20)
    assert second.returncode == 0, output

    bodies = [m.body for m in receiver.at("alerts")]
    assert len(bodies) == 5, bodies
    for sku in SKUS:
        assert sum(sku in body for body in bodies) == 1, (sku, bodies)
    assert sum("crawl c2" in body for body in bodies) == 1
    assert sum("changes made by hand" in body for body in bodies) == 2
