"""A crawl's verdict as scrapyd and the cron scheduler show it: real scrapyd jobs of the
deployed project on replica shops (one with failing product pages), a Postgres database
of the test's own, and the scheduler running as a daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from christmas_spiders.db.engine import make_engine
from christmas_spiders.db.verdicts import session_verdict
from tests.fixtures.scrapyd import (
    PROJECT_ROOT,
    Scrapyd,
    deploy_project,
    free_port,
    start_scrapyd,
    stop_process_group,
    wait_until_up,
)

VENDOR = "ornament_shop"


def _state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or mid-replace
        return {}


def _wait_for(what: str, condition, timeout: float, daemon: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert daemon.poll() is None, f"the scheduler exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} in {timeout}s"
        time.sleep(0.5)


def test_scrapyd_jobs_and_the_scheduler_log_show_the_crawl_verdict(
    replica_sites, migrated_database_url: str, tmp_path: Path
) -> None:
    # As many products as the failing shop: both crawl one vendor into one database, and
    # whichever is judged second compares its items with the other's (27 of 30 there).
    passing_shop = replica_sites(seed=3, products_per_shop=30).urls[VENDOR]
    # 3 of 30 product pages fail on every retry: 10%, above the 1% a crawl may meet.
    failing_shop = replica_sites(seed=5, products_per_shop=30, faults="permanent_error=3")
    failing_shop = failing_shop.urls[VENDOR]

    password = uuid.uuid4().hex
    scrapyd_dir = tmp_path / "scrapyd"
    # Jobs get their database from scrapyd's environment, as deployed.
    job_env = {"DATABASE_URL": migrated_database_url, "ENV": "replica"}
    port = free_port()
    proc = start_scrapyd(scrapyd_dir, port, password, env=job_env)
    server = Scrapyd(f"http://127.0.0.1:{port}", "christmas", password, scrapyd_dir)
    state_file = tmp_path / "state.json"
    daemon = None
    try:
        wait_until_up(server.url, server.auth, proc, scrapyd_dir)
        deploy_project(server, tmp_path)

        # Daily at the minute that just began: due now, and not again before tomorrow.
        slot = datetime.now(UTC).replace(second=0, microsecond=0)
        cron = f"{slot.minute} {slot.hour} * * *"
        entries = {
            "passing": {"base_url": passing_shop},
            "failing": {"base_url": failing_shop},
            # A typo'd argument: refused before the crawl starts, so no crawl run is recorded.
            "refused": {"base_url": passing_shop, "year": "1995"},
        }
        state_file.write_text(
            json.dumps(
                {name: {"last_slot": (slot - timedelta(minutes=1)).isoformat()} for name in entries}
            )
        )
        settings = {
            "scrapyd": {"url": server.url, "username": "christmas", "password": password},
            "schedules": [
                {"name": name, "spider": VENDOR, "cron": cron, "args": args}
                for name, args in entries.items()
            ],
            "scheduler": {"state_file": str(state_file), "timezone": "UTC", "poll_seconds": 0.5},
        }
        config = tmp_path / "config.json"
        config.write_text(json.dumps({**settings, "database_url": migrated_database_url}))
        daemon = subprocess.Popen(
            [sys.executable, "-m", "christmas_spiders.scheduler"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "CONFIG_PATH": str(config)},
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(
            "scheduled jobs",
            lambda: all(_state(state_file).get(n, {}).get("last_job") for n in entries),
            60,
            daemon,
        )
        state = _state(state_file)
        logs = {
            name: server.wait_for_job("christmas_spiders", state[name]["last_job"], timeout=240)
            for name in entries
        }
        # The scheduler, still running, logs each verdict once its job has ended.
        _wait_for(
            "verdicts in the scheduler's state",
            lambda: all(_state(state_file).get(n, {}).get("last_verdict") for n in entries),
            30,
            daemon,
        )
        time.sleep(1.5)  # a few more ticks: a verdict is logged once, not at every tick
        daemon.send_signal(signal.SIGTERM)
        _, scheduler_log = daemon.communicate(timeout=15)

        # A scheduler with no database reads the same verdicts from the jobs' logs.
        state = _state(state_file)
        for record in state.values():
            for key in ("verdict_of", "last_verdict", "last_verdict_reason"):
                record.pop(key)
        no_database = tmp_path / "no-database"
        no_database.mkdir()
        (no_database / "state.json").write_text(json.dumps(state))
        settings["scheduler"]["state_file"] = str(no_database / "state.json")
        (no_database / "config.json").write_text(json.dumps(settings))
        from_logs = subprocess.run(
            [sys.executable, "-m", "christmas_spiders.scheduler", "--once"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "CONFIG_PATH": str(no_database / "config.json")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        stop_process_group(proc)
    assert daemon.returncode == 0, scheduler_log
    scrapyd_log = (scrapyd_dir / "scrapyd.out").read_text()
    state = _state(state_file)

    engine = make_engine(migrated_database_url)
    try:
        with engine.connect() as conn:
            verdicts = {name: session_verdict(conn, state[name]["crawl_id"]) for name in entries}
    finally:
        engine.dispose()
    assert verdicts["passing"].status == "passed", verdicts["passing"]
    assert verdicts["failing"].status == "failed", verdicts["failing"]
    assert "3 of 30 product pages failed (10.0%, more than 1.0%)" in verdicts["failing"].reason

    for name, expected in (("passing", "passed"), ("failing", "failed")):
        job, crawl_id = state[name]["last_job"], state[name]["crawl_id"]
        reason = verdicts[name].reason
        # The job's log ends with the verdict, as `scrapy crawl` gives it.
        last_line = logs[name].rstrip().splitlines()[-1]
        assert f"crawl verdict {expected}: {reason}" in last_line, logs[name][-3000:]
        # scrapyd's own log has the job's exit status.
        ended = re.search(
            rf"Process (finished|died: exitstatus=\d+)[^\n]*job='{re.escape(job)}'", scrapyd_log
        )
        assert ended is not None, scrapyd_log[-3000:]
        assert ended.group(1) == ("finished" if expected == "passed" else "died: exitstatus=1")
        # The scheduler's log: the same verdict, once.
        line = f"{name}: crawl {crawl_id} verdict {expected}: {reason}"
        assert scheduler_log.count(line) == 1, scheduler_log
        assert (state[name]["last_verdict"], state[name]["last_verdict_reason"]) == (
            expected,
            reason,
        )
    assert "(exit status 1)" in logs["failing"] and "(exit status" not in logs["passing"]
    for name, expected in (("passing", "passed"), ("failing", "failed")):
        line = f"{name}: crawl {state[name]['crawl_id']} verdict {expected}: (job log) crawl "
        line += f"verdict {expected}: {verdicts[name].reason}"
        assert line in from_logs.stderr, from_logs.stderr

    # The refused job: exit status 2, no crawl run, no verdict line; the scheduler says so.
    job, crawl_id = state["refused"]["last_job"], state["refused"]["crawl_id"]
    assert re.search(rf"Process died: exitstatus=2 [^\n]*job='{re.escape(job)}'", scrapyd_log)
    assert "crawl verdict" not in logs["refused"]
    for log in (scheduler_log, from_logs.stderr):
        refused = re.findall(rf"refused: crawl {crawl_id} verdict unknown: [^\n]*", log)
        assert len(refused) == 1, log
        assert f"no verdict in the log of job {job}" in refused[0]
    assert "no crawl run recorded" in scheduler_log
