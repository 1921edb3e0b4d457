"""Benchmark of the dashboard's pages as deployed, on the API benchmark's data.

    python -m bench dashboard [--duration 10] [--connections 16] [--repeat 3]

Builds the API benchmark's database (bench_api.build_database: 100,000 products,
1,000,000 audit rows), starts gunicorn as deployed, logs in once through /login (the
session cookie then goes with every request), and drives the pages with wrk at 16
concurrent connections, each request a different sku or kind of change, ``--repeat``
rounds over the pages in turn; prints the median p50, p99 and requests/s per page
against the goal (p99 < 100 ms for the ornament page and the spreads page).
Everything it starts is stopped and the database dropped. Never run in CI.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.bench_api import (
    CpuMeter,
    Result,
    build_database,
    median_result,
    run_wrk,
    start_gunicorn,
    stop,
)
from christmas_spiders.dashboard.blueprint import EXTRA_PAGES, SESSION_COOKIE
from tests.fixtures.api import add_key, drop_role
from tests.fixtures.postgres import DEFAULT_ADMIN_URL, drop_database

PAGE_P99_GOAL_MS = 100.0
# The pages the goal is set for; the others are measured for the record.
GOAL_PAGES = ("ornament page", "spreads page")


def session_cookie(base: str, key: str) -> str:
    """Log in through the form, as a browser does; the session cookie's ``name=value``."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as response:
        form = response.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no CSRF token in the login form")
    body = urllib.parse.urlencode({"csrf_token": token.group(1), "api_key": key, "next": "/"})
    with opener.open(f"{base}/login", data=body.encode(), timeout=10) as response:
        if urllib.parse.urlsplit(response.url).path != "/":
            raise SystemExit(f"login failed: landed on {response.url}")
    for cookie in jar:
        if cookie.name == SESSION_COOKIE:
            return f"{cookie.name}={cookie.value}"
    raise SystemExit("the login set no session cookie")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def check_pages(base: str, cookie: str, paths: dict[str, list[str]]) -> None:
    """Each page answers 200 with the cookie (wrk would count a redirect to /login as done)."""
    opener = urllib.request.build_opener(_NoRedirect)
    for name, page in paths.items():
        request = urllib.request.Request(base + page[0], headers={"Cookie": cookie})
        try:
            with opener.open(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status != 200:
            raise SystemExit(f"{name}: {page[0]} answered {status}, not 200")


def page_paths(owner_url: str, spreads: bool) -> dict[str, list[str]]:
    libpq = make_url(owner_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        skus = [
            row[0]
            for row in conn.execute(
                "SELECT sku FROM (SELECT DISTINCT sku FROM products) s ORDER BY random() LIMIT 2000"
            )
        ]
    pages = {"ornament page": [f"/ornaments/{sku}" for sku in skus]}
    if spreads:
        pages["spreads page"] = ["/spreads", "/spreads?sort=percent", "/spreads?min_offers=3"]
    pages["search"] = [f"/search?q={word}" for word in ("Santa", "Angel", "Star", "12345")]
    pages["changes page"] = ["/changes", "/changes?kind=drop", "/changes?kind=sellout"]
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per page")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per page, taken in turn (medians shown)"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make system-deps` (apt-get install wrk)")
    admin_url = os.environ.get("TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL)
    admin_url = make_url(admin_url).set(drivername="postgresql+psycopg").render_as_string(False)
    workdir = Path(tempfile.mkdtemp(prefix="cs-bench-dashboard-"))
    owner_url, readonly_url, role = build_database(admin_url)
    process = None
    try:
        key = add_key(owner_url, "bench")
        process, base = start_gunicorn(owner_url, readonly_url, workdir)
        cookie = session_cookie(base, key)
        spreads = any(endpoint == "dashboard.spreads" for endpoint, _ in EXTRA_PAGES)
        paths = page_paths(owner_url, spreads)
        check_pages(base, cookie, paths)
        print(
            f"gunicorn (deploy/gunicorn.conf.py) at {base}; wrk, {args.connections} connections, "
            f"{args.duration} s per page, {os.cpu_count()} cores shared with wrk and Postgres; "
            "load average before: " + "/".join(f"{value:.1f}" for value in os.getloadavg())
        )
        meter = CpuMeter(process.pid, owner_url, role)
        for name, page in paths.items():  # warm-up
            run_wrk(name, base, page, cookie, workdir, 2, args.connections, meter, "Cookie")
        runs: dict[str, list[Result]] = {name: [] for name in paths}
        for _ in range(args.repeat):
            for name, page in paths.items():
                runs[name].append(
                    run_wrk(
                        name,
                        base,
                        page,
                        cookie,
                        workdir,
                        args.duration,
                        args.connections,
                        meter,
                        "Cookie",
                    )
                )
        results = [median_result(page_runs) for page_runs in runs.values()]
    finally:
        if process is not None:
            stop(process)
        drop_database(admin_url, owner_url)
        drop_role(admin_url, role)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"each page: {args.repeat} runs of {args.duration} s, medians below; p99 per run:")
    for name, page_runs in runs.items():
        print(f"  {name:<16} p99 " + " / ".join(f"{r.p99_ms:.1f}" for r in page_runs) + " ms")
    header = f"{'page':<16} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{header} {'errors':>7} {'CPU ms/req':>10}  goal")
    for result in results:
        goal = "(none)"
        if result.name in GOAL_PAGES:
            goal = f"p99 < {PAGE_P99_GOAL_MS:.0f} ms: " + (
                "met" if result.p99_ms < PAGE_P99_GOAL_MS else "MISSED"
            )
        print(
            f"{result.name:<16} {result.requests:>9} {result.rps:>8.0f} {result.p50_ms:>8.1f} "
            f"{result.p99_ms:>8.1f} {result.errors:>7} {result.cpu_ms:>10.2f}  {goal}"
        )
    print("CPU ms/req: gunicorn + the read-only role's Postgres backends + wrk, per request")
    print("load average after: " + "/".join(f"{value:.1f}" for value in os.getloadavg()))
    if any(result.errors for result in results):
        print("some requests failed (a redirect to /login counts as one)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
