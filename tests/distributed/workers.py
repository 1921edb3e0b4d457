"""Crawl workers (tests/distributed/worker.py) as subprocesses, and what they left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.distributed.tiny_shop import TinyShop
from tests.fixtures.scrapyd import PROJECT_ROOT


class Workers:
    """Starts worker processes sharing one output folder and one Redis key prefix."""

    def __init__(self, base_url: str, out: Path, redis_url: str | None, prefix: str) -> None:
        self.base_url = base_url
        self.out = out
        self.concurrency = 4
        self.env = {
            **os.environ,
            "ENV": "replica",
            "CHRISTMAS_REDIS_PREFIX": prefix,
            "CHRISTMAS_WORKER_TIMEOUT": "2",
            "CHRISTMAS_WORKER_HEARTBEAT": "0.5",
            "CHRISTMAS_IDLE_POLL": "0.3",
            "TEST_CONCURRENCY": str(self.concurrency),
        }
        self.env.pop("REDIS_URL", None)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.distributed.worker", self.base_url, str(self.out), *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def run(self, *args: str, count: int = 1, **env: str) -> list[dict[str, Any]]:
        procs = [self.start(*args, **env) for _ in range(count)]
        try:
            for proc in procs:
                assert proc.wait(120) == 0, f"worker {proc.pid} failed; see {self.out}"
        finally:
            self.kill_all()
        return [self.stats(proc) for proc in procs]

    def stats(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        return json.loads((self.out / f"stats-{proc.pid}.json").read_text())

    def items(self) -> list[dict[str, Any]]:
        """Every item stored by any worker, one per link (a re-fetched page stores it again)."""
        unique: dict[str, dict[str, Any]] = {}
        for path in self.out.glob("items-*.jsonl"):
            for line in path.read_text().splitlines():
                item = json.loads(line)
                unique[item["link"]] = item
        return sorted(unique.values(), key=lambda item: item["link"])

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def product_fetches(shop: TinyShop) -> int:
    with shop.lock:
        return sum(n for path, n in shop.counts.items() if path.startswith("/product/"))


def wait_for_fetches(shop: TinyShop, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while product_fetches(shop) < count:
        assert time.monotonic() < deadline, f"only {product_fetches(shop)} product pages fetched"
        time.sleep(0.05)
