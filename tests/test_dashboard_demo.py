"""``christmas demo --serve``: the dashboard and the API on the demo's database, with a key."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import create_engine, text

from replicas.catalogue import generate_catalogue
from replicas.demo import biggest_spreads, import_market_files
from replicas.demo import main as demo_main
from tests.fixtures.api import (
    VENDORS,
    add_key,
    drop_role,
    make_api_database,
    remove_api_database,
)

pytestmark = pytest.mark.postgres

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _lines(stream: object, out: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        out.put(line)


def read_until(lines: queue.Queue[str], marker: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    seen = ""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} within {seconds}s; printed:\n{seen}")
        try:
            seen += lines.get(timeout=remaining)
        except queue.Empty:
            continue
    return seen


def test_serve_creates_the_role_and_a_key_and_serves_both(
    pg_admin_url: str, tmp_path: Path
) -> None:
    database = make_api_database(pg_admin_url, products_per_vendor=5)
    role = f"cs_test_demo_{uuid.uuid4().hex[:10]}"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api": {"readonly_role": role, "readonly_password": uuid.uuid4().hex},
                "dashboard": {"secret_key_file": str(tmp_path / "secret")},
            }
        )
    )
    command = [
        sys.executable, "-m", "christmas_spiders.cli", "demo", "--serve", "--no-crawl",
        "--database-url", database.owner_url, "--port", "0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, "CONFIG_PATH": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        printed = read_until(lines, "Ctrl-C", 60)
        base = re.search(r"^dashboard: (http://\S+)/ ", printed, re.M)
        key = re.search(r"^key: +(cs_\S+)$", printed, re.M)
        assert base and key, printed
        base_url, api_key = base.group(1), key.group(1)
        # The API answers through the read-only role made in that database.
        answer = requests.get(
            f"{base_url}/api/v1/vendors",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert [row["vendor"] for row in answer.json()["data"]] == list(VENDORS)
        # The dashboard takes the printed key.
        with requests.Session() as browser:
            form = browser.get(f"{base_url}/login", timeout=10).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token
            logged_in = browser.post(
                f"{base_url}/login",
                data={"csrf_token": token.group(1), "api_key": api_key, "next": "/shops"},
                timeout=10,
            )
            assert logged_in.status_code == 200
            assert logged_in.url == f"{base_url}/shops"
            assert all(vendor in logged_in.text for vendor in VENDORS)
        # Stopped by a plain kill (SIGTERM) as by Ctrl-C: cleanly, status 0.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(10)
        assert process.stdout is not None
        process.stdout.close()
        remove_api_database(pg_admin_url, database)
        drop_role(pg_admin_url, role)


def test_no_crawl_goes_with_serve_and_days_start_at_one(capsys: pytest.CaptureFixture) -> None:
    for argv in (["--no-crawl"], ["--day", "0"]):
        with pytest.raises(SystemExit) as exited:
            demo_main(argv, prog="christmas demo")
        assert exited.value.code == 2
    errors = capsys.readouterr().err
    assert "--no-crawl goes with --serve" in errors
    assert "the day is 1 or later" in errors


def test_a_named_database_without_the_schema_stops_the_demo_before_any_crawl(
    empty_database_url: str, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    argv = ["--products", "5", "--out", str(tmp_path), "--database-url", empty_database_url]
    with pytest.raises(SystemExit) as exited:
        demo_main(argv, prog="christmas demo")
    assert exited.value.code == 2
    said = capsys.readouterr()
    assert "cannot take the demo: it has no products table" in said.err
    assert "christmas db --database-url" in said.err and "upgrade" in said.err
    assert "crawling" not in said.out
    assert list(tmp_path.iterdir()) == []


def test_the_demo_imports_its_price_files_and_lists_the_biggest_spreads(
    pg_admin_url: str, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    database = make_api_database(pg_admin_url)
    try:
        catalogue = generate_catalogue(seed=3, products_per_shop=20)
        said = import_market_files(database.owner_url, catalogue, 3, tmp_path)
        retail = len(catalogue.retail_prices())
        closes = len((tmp_path / "index.csv").read_text().splitlines()) - 1
        assert said == f"retail prices: {retail} imported; index: {closes} closes imported"
        engine = create_engine(database.owner_url)
        try:
            with engine.connect() as conn:
                counts = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM retail_prices),"
                        " (SELECT count(*) FROM index_closes)"
                    )
                ).one()
        finally:
            engine.dispose()
        assert tuple(counts) == (retail, closes)

        # The five biggest spreads, as the API ranks them.
        client = make_app(database).test_client()
        key = add_key(database.owner_url, f"demo-test-{uuid.uuid4().hex[:6]}")
        ranked = client.get(
            "/api/v1/ornaments?sort=-spread&min_offers=2&limit=5",
            headers={"Authorization": f"Bearer {key}"},
        ).get_json()["data"]
        table = biggest_spreads(database.owner_url).splitlines()
        assert table[0] == f"the {len(ranked)} biggest cross-shop spreads:"
        rows = table[3:]
        assert [line.split()[0] for line in rows] == [row["sku"] for row in ranked]
        first = ranked[0]
        assert f"{first['cheapest']['price']} {first['cheapest']['vendor']}" in rows[0]
        assert f"{first['spread']['amount']} ({first['spread']['percent']}%)" in rows[0]
    finally:
        remove_api_database(pg_admin_url, database)
