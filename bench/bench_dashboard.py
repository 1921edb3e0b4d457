"""Benchmark of the dashboard's pages as deployed, on the API benchmark's data.

    python -m bench dashboard [--duration 10] [--connections 16] [--repeat 3]

Builds the API benchmark's database (bench_api.build_database: 100,000 products,
1,000,000 audit rows), starts granian as deployed, logs in once through /login (the
session cookie then goes with every request), and drives the pages with wrk at 16
concurrent connections, each request a different sku or kind of change, ``--repeat``
rounds over the pages in turn; prints the median p50, p99 and requests/s per page
against the goal (p99 < 100 ms for the ornament page and the spreads page).
Everything it starts is stopped and the database dropped. Never run in CI.
"""

from __future__ import annotations

import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import psycopg
from sqlalchemy.engine import make_url

from bench.bench_api import (
    bench_server,
    exit_status,
    measure_rounds,
    median_result,
    print_runs,
    wrk_parser,
)
from christmas_spiders.dashboard.blueprint import EXTRA_PAGES, SESSION_COOKIE

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


def spreads_paths() -> list[str]:
    """The spreads page: all skus, by percent, and each release year's."""
    years = [f"/spreads?year={year}" for year in range(1973, 2027)]
    return ["/spreads", "/spreads?sort=percent", *years]


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
        pages["spreads page"] = spreads_paths()
    pages["search"] = [f"/search?q={word}" for word in ("Santa", "Angel", "Star", "12345")]
    pages["changes page"] = ["/changes", "/changes?kind=drop", "/changes?kind=sellout"]
    if spreads:
        pages["years page"] = ["/years"]
    return pages


def main(argv: list[str] | None = None) -> int:
    args = wrk_parser(__doc__.split("\n\n")[0], "page").parse_args(argv)
    with bench_server("cs-bench-dashboard-") as server:
        cookie = session_cookie(server.base, server.key)
        spreads = any(endpoint == "dashboard.spreads" for endpoint, _ in EXTRA_PAGES)
        paths = page_paths(server.owner_url, spreads)
        check_pages(server.base, cookie, paths)
        runs = measure_rounds(
            paths, server.base, cookie, server.workdir, args, server.meter, "page", "Cookie"
        )
        results = [median_result(page_runs) for page_runs in runs.values()]

    print_runs(runs, args, "page")
    header = f"{'page':<16} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{header} {'errors':>7} {'CPU ms/req':>10} {'in flight':>9}  goal")
    for result in results:
        goal = "(none)"
        if result.name in GOAL_PAGES:
            goal = f"p99 < {PAGE_P99_GOAL_MS:.0f} ms: " + (
                "met" if result.p99_ms < PAGE_P99_GOAL_MS else "MISSED"
            )
        if result.starved:
            goal = "NOT JUDGED: some connections waited unanswered"
        print(
            f"{result.name:<16} {result.requests:>9} {result.rps:>8.0f} {result.p50_ms:>8.1f} "
            f"{result.p99_ms:>8.1f} {result.errors:>7} {result.cpu_ms:>10.2f} "
            f"{result.in_flight:>9.1f}  {goal}"
        )
    print(
        "CPU ms/req: granian + the read-only role's Postgres backends + wrk, per request; "
        "in flight: wrk's mean latency x req/s (as bench api)"
    )
    return exit_status(results, "some requests failed: see the errors column")


if __name__ == "__main__":
    sys.exit(main())
