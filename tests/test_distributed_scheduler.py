"""The cron scheduler against a real scrapyd: firing, overlap, missed slots, scrapyd down."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.scrapyd import PROJECT_ROOT, Scrapyd, free_port, scrapyd_deploy

SLEEPER = Path(__file__).parent / "distributed" / "sleeper_project"


@pytest.fixture(scope="module")
def sleeper_deployed(scrapyd_server: Scrapyd, tmp_path_factory: pytest.TempPathFactory) -> Scrapyd:
    """The one-spider 'sleeper' project, put on the scrapyd with scrapyd-deploy."""
    project = tmp_path_factory.mktemp("sleeper") / "project"
    shutil.copytree(SLEEPER, project)
    env = {
        **os.environ,
        "SLEEPER_SCRAPYD_URL": scrapyd_server.url + "/",
        "SCRAPYD_PASSWORD": scrapyd_server.password,
    }
    done = scrapyd_deploy("test", "sleeper", project, env, 120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert '"status": "ok"' in done.stdout, done.stdout
    return scrapyd_server


def write_config(tmp_path: Path, url: str, password: str, schedules: list[dict[str, Any]]) -> Path:
    config = {
        "scrapyd": {
            "url": url,
            "project": "sleeper",
            "username": "christmas",
            "password": password,
        },
        "schedules": schedules,
        "scheduler": {
            "state_file": str(tmp_path / "state.json"),
            "retry_initial_seconds": 0.3,
            "retry_max_seconds": 1,
            "poll_seconds": 0.5,
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def write_state(tmp_path: Path, **last_slots: datetime) -> None:
    state = {name: {"last_slot": when.isoformat()} for name, when in last_slots.items()}
    (tmp_path / "state.json").write_text(json.dumps(state))


def read_state(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "state.json").read_text())


def run_once(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "christmas_spiders.scheduler", "--once", *extra],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CONFIG_PATH": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def jobs_of(server: Scrapyd, entry: str) -> list[dict[str, Any]]:
    jobs = server.get("listjobs.json", project="sleeper")
    every = jobs["pending"] + jobs["running"] + jobs["finished"]
    return [job for job in every if job["id"].startswith(f"{entry}.")]


def cancel(server: Scrapyd, job_id: str) -> None:
    requests.post(
        f"{server.url}/cancel.json",
        data={"project": "sleeper", "job": job_id},
        auth=server.auth,
        timeout=10,
    )


def test_a_due_entry_is_scheduled_once_and_its_job_runs(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    # Daily at the minute that just began: due now, and not again before tomorrow.
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    entry = {
        "name": "fires-now",
        "spider": "sleeper",
        "cron": f"{slot.minute} {slot.hour} * * *",
        "args": {"seconds": "0", "years": "{previous_year}-{year}"},
    }
    config = write_config(tmp_path, server.url, server.password, [entry])
    write_state(tmp_path, **{"fires-now": slot - timedelta(minutes=1)})

    first = run_once(config)
    assert first.returncode == 0, first.stderr
    assert "fires-now: slot" in first.stderr and "-> scheduled fires-now." in first.stderr
    state = read_state(tmp_path)["fires-now"]
    assert state["last_status"] == "scheduled"
    log = server.wait_for_job("sleeper", state["last_job"])
    year = datetime.now(UTC).year
    assert f"'years': '{year - 1}-{year}'" in log
    assert f"'crawl_id': '{state['crawl_id']}'" in log

    # The same slot is not run again.
    second = run_once(config)
    assert second.returncode == 0, second.stderr
    assert "scheduled" not in second.stderr
    assert len(jobs_of(server, "fires-now")) == 1


def test_a_spider_still_running_with_the_same_arguments_is_not_started_again(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    entry = {"name": "overlap", "spider": "sleeper", "cron": "* * * * *", "args": {"seconds": "60"}}
    config = write_config(tmp_path, server.url, server.password, [entry])
    write_state(tmp_path, overlap=datetime.now(UTC) - timedelta(minutes=5))
    first = run_once(config)
    assert first.returncode == 0, first.stderr
    job_id = read_state(tmp_path)["overlap"]["last_job"]
    try:
        # A later slot comes while the first job is pending or running.
        write_state(tmp_path, overlap=datetime.now(UTC) - timedelta(minutes=2))
        second = run_once(config)
        assert second.returncode == 0, second.stderr
        assert "skipped" in second.stderr and job_id in second.stderr, second.stderr
        assert read_state(tmp_path)["overlap"]["last_status"] == "skipped"
        assert [job["id"] for job in jobs_of(server, "overlap")] == [job_id]
    finally:
        cancel(server, job_id)


def test_after_downtime_a_missed_entry_runs_once_not_once_per_slot(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    entry = {"name": "missed", "spider": "sleeper", "cron": "*/5 * * * *", "args": {"seconds": "0"}}
    config = write_config(tmp_path, server.url, server.password, [entry])
    write_state(tmp_path, missed=datetime.now(UTC) - timedelta(hours=3))
    done = run_once(config)
    assert done.returncode == 0, done.stderr
    assert "slots missed since" in done.stderr and "running once" in done.stderr
    assert len(jobs_of(server, "missed")) == 1
    server.wait_for_job("sleeper", read_state(tmp_path)["missed"]["last_job"])


def test_scrapyd_down_is_retried_with_backoff_and_the_slot_stays_due(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    entry = {
        "name": "down",
        "spider": "sleeper",
        "cron": "* * * * *",
        "args": {"seconds": "0", "tag": "down"},
    }
    dead_url = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, dead_url, server.password, [entry])
    missed_since = datetime.now(UTC) - timedelta(minutes=10)
    write_state(tmp_path, down=missed_since)

    daemon = subprocess.Popen(
        [sys.executable, "-m", "christmas_spiders.scheduler"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CONFIG_PATH": str(config)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        assert daemon.poll() is None, "the scheduler died while scrapyd was down"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, log = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, log
    assert f"scrapyd at {dead_url} unreachable" in log
    assert "retry 1 in" in log and "retry 3 in" in log, log
    assert "scheduler stopped" in log
    assert datetime.fromisoformat(read_state(tmp_path)["down"]["last_slot"]) == missed_since

    # scrapyd is back (the live one): the slot that stayed due runs, once.
    config = write_config(tmp_path, server.url, server.password, [entry])
    done = run_once(config)
    assert done.returncode == 0, done.stderr
    assert len(jobs_of(server, "down")) == 1


def test_once_gives_up_with_a_clear_error_when_scrapyd_stays_down(tmp_path: Path) -> None:
    entry = {"name": "gone", "spider": "sleeper", "cron": "* * * * *"}
    dead_url = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, dead_url, "x", [entry])
    write_state(tmp_path, gone=datetime.now(UTC) - timedelta(minutes=3))
    done = run_once(config, "--max-attempts", "2")
    assert done.returncode == 1
    assert f"scrapyd at {dead_url} unreachable" in done.stderr
    assert "giving up after 2 attempts" in done.stderr


def test_wrong_credentials_are_reported_not_retried(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    entry = {"name": "badauth", "spider": "sleeper", "cron": "* * * * *"}
    config = write_config(tmp_path, server.url, "wrong-password", [entry])
    write_state(tmp_path, badauth=datetime.now(UTC) - timedelta(minutes=3))
    done = run_once(config)
    assert done.returncode == 1
    assert "refused the credentials (HTTP 401)" in done.stderr
    assert jobs_of(server, "badauth") == []


def test_a_malformed_entry_stops_the_scheduler_with_a_clear_message(tmp_path: Path) -> None:
    entry = {"name": "bad", "spider": "sleeper", "cron": "61 * * * *"}
    config = write_config(tmp_path, "http://127.0.0.1:1", "x", [entry])
    done = run_once(config)
    assert done.returncode == 2
    assert "schedule 'bad': invalid cron '61 * * * *'" in done.stderr


def test_an_entry_with_two_workers_starts_two_jobs_on_one_crawl_session(
    sleeper_deployed: Scrapyd, tmp_path: Path
) -> None:
    server = sleeper_deployed
    entry = {
        "name": "pair",
        "spider": "sleeper",
        "cron": "0 * * * *",
        # Arguments of its own: a job of another test with equal ones would be an overlap.
        "args": {"seconds": "0", "tag": "pair"},
        "workers": 2,
    }
    config = write_config(tmp_path, server.url, server.password, [entry])
    write_state(tmp_path, pair=datetime.now(UTC) - timedelta(hours=1, minutes=1))
    done = run_once(config)
    assert done.returncode == 0, done.stderr
    jobs = jobs_of(server, "pair")
    assert len(jobs) == 2
    crawl_id = read_state(tmp_path)["pair"]["crawl_id"]
    for job in jobs:
        log = server.wait_for_job("sleeper", job["id"])
        assert f"'crawl_id': '{crawl_id}'" in log
