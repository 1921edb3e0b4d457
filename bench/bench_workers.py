"""Distributed-crawl benchmark: one vs two workers on one Redis crawl session.

    python -m bench workers            # or: python -m bench.bench_workers --products 10000

Against one replica shop of ``--products`` products (its server in a separate process,
pages pre-rendered) and a Redis server of its own (so other Redis users do not show up
in its command counts), it runs:

1. baseline: one ``scrapy crawl`` with Scrapy's own scheduler (no REDIS_URL);
2. one worker on a Redis session;
3. two workers (two ``scrapy crawl ... -a crawl_id=X`` processes) on one Redis session.

For each: total time, pages/s, pages fetched more than once (must be 0), and the Redis
round trips per page (``INFO commandstats`` before/after; a Lua script call is one
round trip, the commands it runs inside are shown separately), the crawlers' CPU time and
the machine's load average (other work on the machine shows there). The year index is
rendered once by a warm-up crawl, so the measured runs take its links from the year-link
cache and start no browser. Items are not stored (``CHRISTMAS_STORE_ITEMS=False``): this
measures the crawl, not Postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import psutil
import redis

from replicas.catalogue import generate_catalogue
from replicas.crawling import PROJECT_ROOT, crawl_environment
from replicas.server import serve_replicas

CONTROL = ("/__replica__", "/robots.txt", "/ajax/")


@dataclass
class Run:
    label: str
    workers: int
    seconds: float
    pages: int
    refetched: int
    items: int
    redis_calls: int
    redis_commands: int
    cpu_seconds: float
    load_average: float

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def calls_per_page(self) -> float:
        return self.redis_calls / self.pages if self.pages else 0.0

    @property
    def commands_per_page(self) -> float:
        return self.redis_commands / self.pages if self.pages else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench_workers needs redis-server (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)


# Commands only our Lua scripts run. commandstats counts a script's inner commands as
# well, so these are subtracted to get round trips (EVALSHA counts as one).
INSIDE_SCRIPTS = ("zrange", "zrem", "hset", "hget", "zadd")


def redis_calls(url: str) -> tuple[int, int]:
    """(round trips, commands executed) so far on this Redis."""
    stats = redis.Redis.from_url(url).info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}
    commands = sum(calls.values())
    # SADD runs in the push script; outside it only once per worker (joining the session).
    inside = sum(calls.get(name, 0) for name in INSIDE_SCRIPTS) + calls.get("sadd", 0)
    return commands - inside, commands


def page_counts(base_url: str) -> dict[str, int]:
    with urlopen(base_url + "/__replica__/stats", timeout=30) as response:
        stats = json.loads(response.read())
    pages = stats.get("pages", stats)
    return {path: int(n) for path, n in pages.items() if not path.startswith(CONTROL)}


def reset(base_url: str) -> None:
    urlopen(base_url + "/__replica__/reset", timeout=30).close()


def crawl_command(vendor: str, base_url: str, out: Path, name: str, *args: str) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", vendor, "-a", f"base_url={base_url}"]
    for argument in args:
        command += ["-a", argument]
    for setting in (
        "CHRISTMAS_STORE_ITEMS=False",
        f"CHRISTMAS_STATS_FILE={out / (name + '.stats.json')}",
        f"LOG_FILE={out / (name + '.log')}",
        "LOG_LEVEL=INFO",
        f"CHRISTMAS_YEAR_LINKS_FILE={out / 'year-links.json'}",
    ):
        command += ["-s", setting]
    return command


def run_workers(
    label: str,
    vendor: str,
    base_url: str,
    out: Path,
    workers: int,
    redis_url: str | None,
    *args: str,
) -> Run:
    env = crawl_environment("replica")
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    reset(base_url)
    before = redis_calls(redis_url) if redis_url else (0, 0)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            crawl_command(vendor, base_url, out, f"{label}-{n}", *args),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(workers)
    ]
    # CPU seconds per worker, sampled while it runs (a finished process cannot be asked).
    cpu_by_pid: dict[int, float] = {}
    watched = [psutil.Process(p.pid) for p in procs]
    try:
        while any(p.poll() is None for p in procs):
            for proc in watched:
                try:
                    times = proc.cpu_times()
                    cpu_by_pid[proc.pid] = times.user + times.system
                except psutil.Error:
                    pass
            if time.monotonic() - started > 3600:
                raise SystemExit(f"{label}: workers did not finish within an hour")
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    seconds = time.monotonic() - started
    cpu = sum(cpu_by_pid.values())
    after = redis_calls(redis_url) if redis_url else (0, 0)
    failed = [p.returncode for p in procs if p.returncode != 0]
    if failed:
        raise SystemExit(f"{label}: a worker failed ({failed}); see the logs in {out}")
    counts = page_counts(base_url)
    items = 0
    for n in range(workers):
        stats = json.loads((out / f"{label}-{n}.stats.json").read_text())
        items += int(stats.get("item_scraped_count", 0))
    return Run(
        label,
        workers,
        seconds,
        sum(counts.values()),
        sum(1 for n in counts.values() if n > 1),
        items,
        after[0] - before[0],
        after[1] - before[1],
        cpu,
        os.getloadavg()[0],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--vendor", default="ornament_shop")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)

    out = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    redis_proc, redis_url = start_redis(out)
    try:
        catalogue = generate_catalogue(seed=options.seed, products_per_shop=options.products)
        with serve_replicas(catalogue, in_process=False, prerender=True) as base_urls:
            base_url = base_urls[options.vendor]
            print(
                f"{options.vendor}: {options.products} products, replica {base_url}, "
                f"Redis {redis_url}, {os.cpu_count()} CPU cores",
                flush=True,
            )
            # Warm-up: renders the year index once (Chromium) and fills both caches.
            for warm_redis in (None, redis_url):
                run_workers("warmup", options.vendor, base_url, out, 1, warm_redis, "years=1990")
            session = uuid.uuid4().hex[:8]
            runs = [
                run_workers("baseline", options.vendor, base_url, out, 1, None),
                run_workers(
                    "redis-1", options.vendor, base_url, out, 1, redis_url, f"crawl_id=1-{session}"
                ),
                run_workers(
                    "redis-2", options.vendor, base_url, out, 2, redis_url, f"crawl_id=2-{session}"
                ),
            ]
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)

    print(
        f"{'run':<10} {'workers':>7} {'seconds':>8} {'pages':>7} {'pages/s':>8} "
        f"{'items':>7} {'twice':>6} {'round trips/page':>16} {'commands/page':>13} "
        f"{'CPU s':>7} {'load':>5}"
    )
    for run in runs:
        print(
            f"{run.label:<10} {run.workers:>7} {run.seconds:>8.1f} {run.pages:>7} "
            f"{run.pages_per_second:>8.1f} {run.items:>7} {run.refetched:>6} "
            f"{run.calls_per_page:>16.2f} {run.commands_per_page:>13.2f} "
            f"{run.cpu_seconds:>7.1f} {run.load_average:>5.1f}"
        )
    baseline, one, two = runs
    print(
        f"two workers vs one (Redis): {two.pages_per_second / one.pages_per_second:.2f}x pages/s; "
        f"one Redis worker vs baseline (Scrapy's scheduler): "
        f"{one.pages_per_second / baseline.pages_per_second:.2f}x"
    )
    print(f"logs and stats: {out}")
    return 0 if two.refetched == 0 and one.items == two.items == baseline.items else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
