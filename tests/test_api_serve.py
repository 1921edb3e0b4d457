"""``christmas api serve``: granian in the deployed shape, on the real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from christmas_spiders.api.wsgi import ServeSettings, granian_command
from christmas_spiders.config import ConfigError
from tests.fixtures.api import ApiDatabase, add_key, serving
from tests.fixtures.scrapyd import free_port

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 20


def _get(url: str, key: str) -> int:
    # urllib sends Connection: close: each request is a new connection, which any
    # worker may accept.
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


@pytest.fixture(scope="module")
def served(api_db: ApiDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``christmas api serve`` with two workers, no Redis, a budget of 20 a minute."""
    workdir = tmp_path_factory.mktemp("serve")
    config = workdir / "config.json"
    config.write_text(
        json.dumps(
            {
                "database_url": api_db.owner_url,
                "redis_url": None,
                "api": {
                    "database_url_readonly": api_db.readonly_url,
                    "rate_limit": f"{BUDGET}/minute",
                },
            }
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "CONFIG_PATH": str(config),
        "CHRISTMAS_API_BIND": f"127.0.0.1:{port}",
        "CHRISTMAS_API_WORKERS": "2",
        "CHRISTMAS_API_RATE_LIMIT_FILE": str(workdir / "counters.sqlite3"),
    }
    for variable in ("DATABASE_URL", "DATABASE_URL_READONLY", "REDIS_URL", "ENV"):
        env.pop(variable, None)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "christmas_spiders.cli", "api", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    if not serving(base, process):
        os.killpg(process.pid, 9)
        started = (workdir / "server.log").read_text()
        pytest.fail(f"christmas api serve did not start:\n{started}")
    try:
        yield base
    finally:
        os.killpg(process.pid, 15)
        process.wait(20)
        log.close()


def test_every_worker_draws_on_one_budget_per_key(served: str, api_db: ApiDatabase) -> None:
    key = add_key(api_db.owner_url, "serve-budget")
    statuses = [_get(f"{served}/api/v1/vendors", key) for _ in range(3 * BUDGET)]
    # Counted apart, two workers would let up to twice the budget through.
    assert statuses.count(200) == BUDGET
    assert statuses.count(429) == 2 * BUDGET


def test_the_largest_collection_fits_the_request_line(served: str, api_db: ApiDatabase) -> None:
    key = add_key(api_db.owner_url, "serve-collection")
    skus = "&".join(f"skus=QX{n:04d}" for n in range(500))
    assert len(f"GET /api/v1/collection?{skus} HTTP/1.1") > 6000
    assert _get(f"{served}/api/v1/collection?{skus}", key) == 200


def test_serve_settings_come_from_the_environment_with_defaults() -> None:
    cores = os.cpu_count() or 1
    assert ServeSettings.from_environ({}) == ServeSettings(
        "127.0.0.1", 8000, cores, 2, "var/api-rate-limit.sqlite3"
    )
    settings = ServeSettings.from_environ(
        {
            "CHRISTMAS_API_BIND": "0.0.0.0:9001",
            "CHRISTMAS_API_WORKERS": "3",
            "CHRISTMAS_API_THREADS": "2",
        }
    )
    assert (settings.bind, settings.workers, settings.threads) == ("0.0.0.0:9001", 3, 2)
    command = granian_command(settings, ["--access-log"])
    assert command[-2:] == ["--access-log", "christmas_spiders.api.wsgi:served_app"]
    for option, value in (("--host", "0.0.0.0"), ("--port", "9001"), ("--workers", "3")):
        assert command[command.index(option) + 1] == value
    assert command[command.index("--blocking-threads") + 1] == "2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHRISTMAS_API_BIND", "9000"),
        ("CHRISTMAS_API_BIND", "localhost:http"),
        ("CHRISTMAS_API_BIND", "localhost:70000"),
        ("CHRISTMAS_API_WORKERS", "0"),
        ("CHRISTMAS_API_THREADS", "two"),
    ],
)
def test_a_malformed_serve_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        ServeSettings.from_environ({variable: value})


def test_serve_with_a_malformed_variable_says_so_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "christmas_spiders.cli", "api", "serve"],
        cwd=ROOT,
        env={**os.environ, "CHRISTMAS_API_WORKERS": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "CHRISTMAS_API_WORKERS" in done.stderr
    assert "Traceback" not in done.stderr
