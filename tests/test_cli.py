"""The ``christmas`` command: every sub-command answers --help, and a few run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from christmas_spiders.cli import COMMANDS, main

HELP_PATHS = [
    [],
    ["api"],
    ["api", "serve"],
    ["db"],
    *(
        ["db", name]
        for name in (
            "url",
            "upgrade",
            "sync-audit",
            "replay-dead-letter",
            "create-readonly-role",
            "embedded-status",
            "embedded-stop",
        )
    ),
    ["demo"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["replicas"],
    ["replicas", "serve"],
    ["replicas", "truth"],
    ["scheduler"],
]


@pytest.mark.parametrize("path", HELP_PATHS, ids=lambda path: " ".join(path) or "christmas")
def test_every_command_answers_help(path: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="christmas")
    assert result.exit_code == 0, result.output
    # click writes "Usage:", the argparse commands "usage:"; both name the full path.
    assert re.search(rf"^usage: christmas {' '.join(path)}".rstrip(), result.output, re.I | re.M)


def test_every_registered_group_is_listed_and_loads() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"], prog_name="christmas").output
    commands = listing.split("Commands:")[1]
    assert sorted(re.findall(r"^  (\S+)", commands, re.M)) == sorted(COMMANDS)
    assert {"api", "db", "demo", "keys", "replicas", "scheduler"} <= set(COMMANDS)


@pytest.mark.parametrize("group", ["db", "keys", "alerts", "replicas"])
def test_every_sub_command_is_summarised_in_its_group_help(group: str) -> None:
    listing = CliRunner().invoke(main, [group, "--help"], prog_name="christmas").output
    choices = re.search(r"^  \{(.+)\}$", listing, re.M)
    if choices:  # argparse: "{a,b}" and then one "    name  summary" line per summary
        names = choices.group(1).split(",")
        summarised = set(re.findall(r"^    (\S+) +\S", listing, re.M))
    else:  # click: "Commands:" and one "  name  summary" line per command
        commands = listing.split("Commands:")[1]
        names = re.findall(r"^  (\S+)", commands, re.M)
        summarised = set(re.findall(r"^  (\S+) +\S", commands, re.M))
    assert len(names) >= 2
    assert [name for name in names if name not in summarised] == []


def test_the_console_script_runs_from_any_folder(tmp_path: Path) -> None:
    # make setup installs the project (editable) into the venv, with its console script.
    script = Path(sys.executable).parent / "christmas"
    assert script.is_file(), f"{script} missing: run make setup"
    done = subprocess.run(
        [str(script), "replicas", "truth", "--products", "3", "--vendor", "ornament_shop",
         "--base-url", "http://127.0.0.1:8123", "--drops"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{}"


def _christmas(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "christmas_spiders.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def test_db_url_prints_the_given_or_configured_database(migrated_database_url: str) -> None:
    shown = make_url(migrated_database_url).render_as_string(hide_password=True)
    given = _christmas("db", "--database-url", migrated_database_url, "url")
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == shown
    configured = _christmas("db", "url", env={"DATABASE_URL": migrated_database_url})
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == shown
    secret = make_url(migrated_database_url).set(password="s3cret-pw").render_as_string(False)
    hidden = _christmas("db", "--database-url", secret, "url")
    assert hidden.returncode == 0 and "s3cret-pw" not in hidden.stdout
    assert hidden.stdout.strip() == make_url(secret).render_as_string(hide_password=True)


def test_db_failures_keep_their_exit_codes(migrated_database_url: str, tmp_path: Path) -> None:
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    down = _christmas("db", "--database-url", unreachable, "upgrade")
    assert down.returncode == 1 and down.stderr.startswith("error: database:"), down.stderr
    config = tmp_path / "audit.json"
    config.write_text('{"audit": {"tracked_fields": ["colour"]}}')
    wrong = _christmas(
        "db",
        "--database-url",
        migrated_database_url,
        "sync-audit",
        env={"CONFIG_PATH": str(config)},
    )
    assert wrong.returncode == 2 and "unknown fields ['colour']" in wrong.stderr, wrong.stderr


def test_keys_create_list_revoke_through_christmas(api_db) -> None:
    env = {"DATABASE_URL": api_db.owner_url}
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = _christmas("keys", "create", name, env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", key)
    listed = _christmas("keys", "list", env=env)
    line = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert "active" in line and key not in listed.stdout
    assert _christmas("keys", "revoke", name, env=env).returncode == 0
    listed = _christmas("keys", "list", env=env)
    assert "revoked" in next(line for line in listed.stdout.splitlines() if line.startswith(name))


def test_embedded_postgres_commands_print_no_runtime_folder_warning(tmp_path: Path) -> None:
    # Cron, services and containers run without XDG_RUNTIME_DIR.
    env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    env["CHRISTMAS_PGDATA"] = str(tmp_path / "pgdata")
    done = subprocess.run(
        [sys.executable, "-m", "christmas_spiders.cli", "db", "embedded-status"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Warning" not in done.stderr, done.stderr
    assert done.stdout.strip(), done.stderr
