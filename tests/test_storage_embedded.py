"""The embedded Postgres (a server of these tests' own in /tmp), and a database that
goes down in the middle of a crawl: clear failure, dead-letter file, replay, nothing lost."""

from __future__ import annotations

import copy
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from christmas_spiders.config import DEFAULTS
from christmas_spiders.db import embedded
from christmas_spiders.db.engine import alembic_config, database_url, libpq_url, make_engine
from tests.fixtures.storage import run_feed_crawl, sample_items


def _pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture(scope="module")
def own_embedded() -> Iterator[dict[str, Any]]:
    """A config whose embedded Postgres lives in a fresh /tmp folder; stopped and removed after."""
    base = Path(tempfile.mkdtemp(prefix="cs-storage-pg-", dir="/tmp"))
    base.chmod(0o755)  # mkdtemp makes it private; see test_root_refuses_a_private_parent
    config = copy.deepcopy(DEFAULTS)
    config["embedded_postgres"]["data_dir"] = str(base / "pgdata")
    try:
        yield config
    finally:
        embedded.stop_server(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


def test_embedded_default_is_started_migrated_and_reused(own_embedded):
    data_dir = Path(own_embedded["embedded_postgres"]["data_dir"])
    url = database_url(own_embedded)
    assert url.startswith("postgresql+psycopg://postgres@/christmas?host=")
    with psycopg.connect(libpq_url(url)) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == (ScriptDirectory.from_config(alembic_config(url)).get_current_head(),)
    pid = _pid(data_dir)

    # Another process (say the API while a crawl runs) finds the same server and database.
    other = subprocess.run(
        [sys.executable, "-m", "christmas_spiders.db", "url"],
        env={**os.environ, "CHRISTMAS_PGDATA": str(data_dir), "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == url
    assert _pid(data_dir) == pid
    # ...and leaving did not stop it.
    assert embedded.running_server_uri(data_dir) is not None


def test_database_url_wins_and_starts_nothing(tmp_path):
    config = copy.deepcopy(DEFAULTS)
    config["database_url"] = "postgresql://someone@db.example.invalid/prices"
    config["embedded_postgres"]["data_dir"] = str(tmp_path / "never")
    assert database_url(config) == "postgresql+psycopg://someone@db.example.invalid/prices"
    assert not (tmp_path / "never").exists()


def test_default_data_folder_never_lies_in_a_private_home():
    default = embedded.default_data_dir()
    if embedded.running_as_root():
        assert default == Path("/var/lib/christmas_spiders/pgdata")
    else:
        assert default == Path.home() / ".local/share/christmas_spiders/pgdata"


def test_root_refuses_a_private_parent_and_changes_nothing(tmp_path):
    private = Path(tempfile.mkdtemp(prefix="cs-storage-private-", dir="/tmp"))
    try:
        private.chmod(0o700)
        config = copy.deepcopy(DEFAULTS)
        config["embedded_postgres"]["data_dir"] = str(private / "pgdata")
        if embedded.running_as_root():
            with pytest.raises(embedded.EmbeddedPostgresError) as refused:
                database_url(config)
            message = str(refused.value)
            assert f"{private} (mode 700)" in message
            assert "CHRISTMAS_PGDATA=/var/lib/christmas_spiders/pgdata" in message
            assert stat.S_IMODE(private.stat().st_mode) == 0o700
            assert not (private / "pgdata").exists()
        else:
            # Not root: the server runs as this user, no folder is opened, nothing to refuse.
            embedded.check_root_permissions(private / "pgdata")
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_database_stopped_mid_crawl_fails_clearly_and_replay_loses_nothing(own_embedded, tmp_path):
    data_dir = Path(own_embedded["embedded_postgres"]["data_dir"])
    url = database_url(own_embedded)
    items = sample_items(400)
    done = run_feed_crawl(
        tmp_path,
        url,
        items,
        crawl_id="downcrawl",
        settings={"CHRISTMAS_DB_RETRIES": 2, "CHRISTMAS_DB_RETRY_BASE_SECONDS": 0.1},
        spider_args={"stop_db_after": "150", "pgdata": str(data_dir), "pause_every": "25"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert embedded.running_server_uri(data_dir) is None
    dead_letter = tmp_path / "dead-letter" / "ornament_shop-downcrawl.jsonl"
    log = done.stderr
    assert "Closing spider (database_unavailable)" in log
    errors = [line for line in log.splitlines() if "ERROR" in line and str(dead_letter) in line]
    assert errors, log[-3000:]
    assert "database unavailable after 3 attempts" in errors[0]
    assert f"christmas db replay-dead-letter {dead_letter}" in errors[0]
    scraped = int(
        next(line for line in log.splitlines() if "'item_scraped_count'" in line)
        .split(":")[1]
        .strip(" ,")
    )
    assert 150 <= scraped <= 400

    # The database comes back; the documented command loads the file.
    url = database_url(own_embedded)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored_before = conn.execute(text("SELECT count(*) FROM products")).scalar()
        assert 0 < stored_before < scraped
        replay = subprocess.run(
            [
                sys.executable,
                "-m",
                "christmas_spiders.db",
                "--database-url",
                url,
                "replay-dead-letter",
                str(dead_letter),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT vendor_id, price::text FROM products")).all()
            crawl_ids = (
                conn.execute(text("SELECT DISTINCT crawl_id FROM product_audit")).scalars().all()
            )
        assert len(stored) == scraped
        assert {row.vendor_id for row in stored} == {i["vendor_id"] for i in items[:scraped]}
        assert crawl_ids == ["downcrawl"]
    finally:
        engine.dispose()


def test_a_test_session_never_stores_into_the_users_database():
    # What a test crawl that names no database gets (see tests/fixtures/storage.py).
    socket_dir = make_url(database_url()).query["host"]
    assert str(socket_dir).startswith("/tmp/cs-test-session-pg-")
    assert "DATABASE_URL" not in os.environ
