"""Polite to real shops by default (robots.txt, AutoThrottle, low per-domain concurrency,
a User-Agent with a contact); ENV=replica lifts these limits for the local replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOW_SETTINGS = (
    "import json; from scrapy.utils.project import get_project_settings as g; s = g(); "
    "print(json.dumps({k: s[k] for k in ('ROBOTSTXT_OBEY', 'AUTOTHROTTLE_ENABLED', "
    "'CONCURRENT_REQUESTS_PER_DOMAIN', 'DOWNLOAD_DELAY', 'USER_AGENT')}))"
)


def _environment(env: str | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("ENV", "CONFIG_PATH")}
    if env:
        environ["ENV"] = env
    return environ


def _settings(env: str | None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=ROOT,
        env=_environment(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_defaults_are_polite_and_replica_lifts_them() -> None:
    polite = _settings(None)
    assert polite["ROBOTSTXT_OBEY"] is True
    assert polite["AUTOTHROTTLE_ENABLED"] is True
    assert polite["CONCURRENT_REQUESTS_PER_DOMAIN"] <= 2
    assert polite["DOWNLOAD_DELAY"] >= 1
    assert "christmas_spiders" in polite["USER_AGENT"] and "mailto:" in polite["USER_AGENT"]
    replica = _settings("replica")
    assert replica["ROBOTSTXT_OBEY"] is False
    assert replica["AUTOTHROTTLE_ENABLED"] is False
    assert replica["CONCURRENT_REQUESTS_PER_DOMAIN"] > 2
    assert replica["DOWNLOAD_DELAY"] == 0


class _Shop(BaseHTTPRequestHandler):
    paths: list[str] = []
    agents: list[str] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        type(self).agents.append(self.headers.get("User-Agent", ""))
        body = b"User-agent: *\nDisallow: /\n" if self.path == "/robots.txt" else b"<html></html>"
        self.send_response(200)
        self.send_header(
            "Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def disallowing_shop() -> Iterator[str]:
    _Shop.paths, _Shop.agents = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("env", [None, "replica"])
def test_robots_txt_is_obeyed_by_default(disallowing_shop: str, env: str | None) -> None:
    crawl = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "hallmark_ornaments",
            "-a",
            f"base_url={disallowing_shop}",
        ],
        cwd=ROOT,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Nothing was read (robots.txt forbids all, or the page is empty): the crawl did not do
    # its job, and says so in its verdict and its exit status.
    assert crawl.returncode == 1, crawl.stderr[-3000:]
    assert "'christmas/verdict': 'failed'" in crawl.stderr
    index = "/Hallmark-Ornaments-By-Year_c_200.html"
    if env is None:
        assert _Shop.paths == ["/robots.txt"]
        assert "'robotstxt/forbidden': 1" in crawl.stderr
        assert all(agent.startswith("christmas_spiders/") for agent in _Shop.agents)
    else:
        assert _Shop.paths == [index]
