"""The ``alerts`` command group: add, list, remove, test (real Postgres, real Apprise)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from christmas_spiders.alerts.cli import alerts
from christmas_spiders.alerts.rules import load_rules
from christmas_spiders.config import PROJECT_ROOT
from tests.fixtures.alerts import item, receiver, write_crawl

__all__ = ["receiver"]


def _run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(alerts, ["--database-url", database_url, *args])


def test_add_list_remove(storage_engine, migrated_database_url, receiver):
    write_crawl(storage_engine, "c1", [item("QX7571", "ornament_shop", "17.50")])
    added = _run(
        migrated_database_url,
        "add", "frosty", "--sku", "QX7571", "--vendor", "ornament_shop", "--at-or-below", "$15",
        "--notify", "json://user:s3cret@127.0.0.1:9/hook", "--notify", receiver.url("b"),
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "cheapest in stock at ornament_shop at or below $15.00" in added.output
    assert "cheapest in stock now: $17.50" in added.output

    listed = _run(migrated_database_url, "list")
    assert listed.exit_code == 0, listed.output
    assert "frosty" in listed.output and "QX7571" in listed.output
    assert "s3cret" not in listed.output  # secrets are masked

    with storage_engine.connect() as conn:
        [rule] = load_rules(conn)
    assert (rule.kind, str(rule.threshold), rule.vendor, rule.armed) == (
        "at_or_below",
        "15.00",
        "ornament_shop",
        True,
    )
    assert rule.notify == ("json://user:s3cret@127.0.0.1:9/hook", receiver.url("b"))

    again = _run(migrated_database_url, "add", "frosty", "--sku", "QX1", "--new-offer",
                 "--notify", receiver.url("b"))  # fmt: skip
    assert again.exit_code != 0 and "exists already" in again.output

    assert _run(migrated_database_url, "remove", "frosty").exit_code == 0
    assert "no alert rules" in _run(migrated_database_url, "list").output
    gone = _run(migrated_database_url, "remove", "frosty")
    assert gone.exit_code != 0 and "no rule named" in gone.output


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (["--drop-percent", "0"], "above 0"),
        (["--drop-percent", "101"], "at most 100"),
        (["--at-or-below", "cheap"], "not a number"),
        (["--back-in-stock", "--new-offer"], "exactly one of"),
        ([], "exactly one of"),
    ],
)
def test_add_refuses_what_means_nothing(migrated_database_url, receiver, wrong, says):
    result = _run(migrated_database_url, "add", "x", "--sku", "QX1", *wrong,
                  "--notify", receiver.url("x"))  # fmt: skip
    assert result.exit_code != 0
    assert says in result.output


def test_add_refuses_a_url_apprise_cannot_send_to(migrated_database_url):
    result = _run(migrated_database_url, "add", "x", "--sku", "QX1", "--new-offer",
                  "--notify", "nosuchservice://nowhere")  # fmt: skip
    assert result.exit_code != 0
    assert "nosuchservice://nowhere" in result.output


def test_test_sends_to_each_destination_and_says_which_failed(migrated_database_url, receiver):
    assert (
        _run(migrated_database_url, "add", "x", "--sku", "QX1", "--new-offer",
             "--notify", receiver.url("t"), "--notify", "json://127.0.0.1:9/closed").exit_code
        == 0
    )  # fmt: skip
    result = _run(migrated_database_url, "test", "x")
    assert result.exit_code != 0
    assert "1 of 2 destination(s) failed" in result.output
    [message] = receiver.at("t")
    assert message.title == "Test: alert rule x (QX1)"
    assert "QX1" in message.body


def test_the_group_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "christmas_spiders.alerts", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("add", "list", "remove", "test", "run"):
        assert command in done.stdout
