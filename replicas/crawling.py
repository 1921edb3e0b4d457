"""Run ``scrapy crawl <vendor>`` against a replica in a subprocess and collect what it did.

Shared by the end-to-end tests, ``make demo`` and the benchmark: the crawl runs exactly
as a user runs it (``scrapy crawl``, ``ENV=replica``, feed export), its items are read
from the JSON-lines feed and its stats from ``CHRISTMAS_STATS_FILE``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CrawlTimeout(RuntimeError):
    """The crawl did not finish in time (it was killed, with every process it started)."""


@dataclass
class CrawlResult:
    vendor: str
    returncode: int
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str
    seconds: float
    peak_rss_bytes: int = 0
    arguments: list[str] = field(default_factory=list)
    #: CPU seconds of the Scrapy process itself (not Chromium), sampled until it exits.
    cpu_seconds: float = 0.0

    def stat(self, key: str, default: int = 0) -> Any:
        return self.stats.get(key, default)

    def prefixed(self, prefix: str) -> dict[str, int]:
        """Stats under ``prefix`` (``"christmas/dropped/"``), keyed by the rest of the name."""
        return {k[len(prefix) :]: v for k, v in self.stats.items() if k.startswith(prefix)}


def crawl_environment(env: str | None = "replica") -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("ENV", "CONFIG_PATH")}
    if env:
        environ["ENV"] = env
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return environ


def run_crawl(
    vendor: str,
    base_url: str | None,
    out_dir: Path,
    arguments: Sequence[str] = (),
    settings: Sequence[str] = (),
    env: str | None = "replica",
    timeout: float = 600.0,
    spider: str | None = None,
    spider_file: Path | None = None,
    store: bool = False,
    config_path: Path | None = None,
) -> CrawlResult:
    """``scrapy crawl`` ``spider`` (default: ``vendor``) with ``-a base_url=`` plus
    ``arguments`` (``"years=1995"``) and ``settings`` (``"LOG_LEVEL=INFO"``);
    ``scrapy runspider spider_file`` instead when that is given.

    Each crawl gets its own year-link cache file in ``out_dir`` (no links from an
    earlier replica on a reused port); ``store=False`` leaves the database out.
    ``config_path``: the crawl reads that configuration file (``CONFIG_PATH``) instead
    of ``config/$ENV.json``, as an operator's deployment does.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # Files are named after ``vendor`` (a label), the command after ``spider``.
    feed = out_dir / f"{vendor}.jsonl"
    stats_file = out_dir / f"{vendor}.stats.json"
    log_file = out_dir / f"{vendor}.log"
    for stale in (feed, stats_file, log_file):
        stale.unlink(missing_ok=True)
    run = ["runspider", str(spider_file)] if spider_file else ["crawl", spider or vendor]
    command = [sys.executable, "-m", "scrapy", *run, "-O", f"{feed}:jsonlines"]
    spider_arguments = ([f"base_url={base_url}"] if base_url else []) + list(arguments)
    for argument in spider_arguments:
        command += ["-a", argument]
    own_settings = [
        f"CHRISTMAS_STATS_FILE={stats_file}",
        f"LOG_FILE={log_file}",
        f"CHRISTMAS_YEAR_LINKS_FILE={out_dir / 'year-links-cache.json'}",
        f"CHRISTMAS_STORE_ITEMS={store}",
    ]
    for setting in (*own_settings, *settings):
        command += ["-s", setting]
    environ = crawl_environment(env)
    if config_path is not None:
        environ["CONFIG_PATH"] = str(config_path)
    started = time.monotonic()
    with open(out_dir / f"{vendor}.stderr", "w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own group: a timeout kills Chromium too
        )
        peak_rss, cpu_seconds = _wait(process, timeout)
        stderr.seek(0)
        early_errors = stderr.read()
    seconds = time.monotonic() - started
    log = (log_file.read_text(encoding="utf-8") if log_file.exists() else "") + early_errors
    items = (
        [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines() if line]
        if feed.exists()
        else []
    )
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return CrawlResult(
        vendor,
        process.returncode,
        items,
        stats,
        log,
        seconds,
        peak_rss,
        spider_arguments,
        cpu_seconds,
    )


def _wait(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for the crawl, sampling its peak RSS and CPU time (the Scrapy process itself);
    kill the whole process group when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    peak = 0
    cpu = 0.0
    try:
        watched = psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        watched = None
    while process.poll() is None:
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise CrawlTimeout(f"crawl {process.args} did not finish within {timeout:g}s")
        if watched is not None:
            try:
                with watched.oneshot():
                    peak = max(peak, watched.memory_info().rss)
                    times = watched.cpu_times()
                    cpu = times.user + times.system
            except psutil.Error:
                watched = None
        time.sleep(0.05)
    return peak, cpu
