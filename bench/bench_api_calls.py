"""The read API's own cost per request, without an HTTP server: the app called in-process.

    python -m bench api_calls [--requests 400] [--database OWNER_URL --readonly-url URL]
    python -m bench api_calls --dashboard [...]

Builds the database of ``bench_api`` (or uses the one given, as ``--keep`` left it),
creates the app as the served workers do (the SQLite rate-limit store) and calls
it as a WSGI callable for each JSON route of ``bench_api``, one thread, requests in
turn; with ``--dashboard``, for the dashboard's ornament and spreads pages instead (the
pages of ``bench_dashboard``, with the session cookie of one login through the form).
Per request it prints the app's instructions (callgrind on this process, over the
measured calls only), its CPU ms, and the CPU ms of the Postgres backend that answered.
Instruction counts hold up while other work shares the machine (time does not: read the
CPU figures as secondary when the load is high).
"""

from __future__ import annotations

import argparse
import io
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import psycopg
from sqlalchemy.engine import make_url

from bench.bench_api import bench_admin_url, build_database, scenarios
from bench.bench_dashboard import spreads_paths
from christmas_spiders.api import create_app
from christmas_spiders.api.db import dispose
from christmas_spiders.api.ratelimit import SQLITE_SCHEME
from christmas_spiders.dashboard.blueprint import SESSION_COOKIE
from tests.fixtures.api import add_key, drop_role
from tests.fixtures.postgres import drop_database

JSON_ROUTES = (
    "filtered product page",
    "ornaments by spread",
    "collection (100 skus)",
    "history page",
    "ornament comparison",
)
DASHBOARD_ROUTES = ("ornament page", "spreads page")
# Ornament pages measured: skus in a fixed pseudo-random order, the same every run.
DASHBOARD_SKUS = 2000


def wsgi_caller(app: Any, headers: dict[str, str]) -> Callable[[str], int]:
    """A function that sends one GET to ``app`` with ``headers`` (WSGI ``HTTP_*`` names)
    and returns its status (body read)."""

    def call(path: str) -> int:
        parts = urlsplit(path)
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            **headers,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status: list[str] = []

        def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            status.append(line)

        body = app(environ, start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return int(status[0].split()[0])

    return call


def under_valgrind() -> bool:
    with open("/proc/self/maps") as maps:
        return "vgpreload" in maps.read()


# Callgrind counts only inside this C function (``--toggle-collect``) and writes one
# profile as each call returns (``--dump-after``): one profile per route's measured calls.
# No request of the app calls it.
COUNTED = "_operator_call"


def counted_run(loop: Callable[[], float]) -> float:
    return operator.call(loop)


def dashboard_cookie(app: Any, key: str) -> str:
    """One login through the form, in-process; the session cookie's ``name=value``."""
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no CSRF token in the login form")
    answer = client.post("/login", data={"csrf_token": token.group(1), "api_key": key})
    cookie = client.get_cookie(SESSION_COOKIE)
    if answer.status_code != 302 or cookie is None:
        raise SystemExit(f"login failed: {answer.status_code}")
    return f"{SESSION_COOKIE}={cookie.value}"


def dashboard_paths(owner_url: str) -> dict[str, list[str]]:
    """The ornament and spreads pages of ``bench_dashboard``, the skus in a fixed order."""
    libpq = make_url(owner_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        skus = [
            row[0]
            for row in conn.execute(
                "SELECT sku FROM (SELECT DISTINCT sku FROM products) s ORDER BY md5(sku) LIMIT %s",
                (DASHBOARD_SKUS,),
            )
        ]
    return {"ornament page": [f"/ornaments/{sku}" for sku in skus], "spreads page": spreads_paths()}


def instructions_run(argv: list[str], requests: int, routes: tuple[str, ...]) -> dict[str, float]:
    """This benchmark again under callgrind: instructions per request of each route."""
    outdir = Path(tempfile.mkdtemp(prefix="cs-bench-api-callgrind-"))
    try:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--toggle-collect={COUNTED}",
                f"--dump-after={COUNTED}",
                f"--callgrind-out-file={outdir}/cg.out",
                sys.executable,
                "-m",
                "bench.bench_api_calls",
                *argv,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        dumps = sorted(outdir.glob("cg.out.*"), key=lambda path: int(path.suffix[1:]))
        totals = []
        for dump in dumps:
            match = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE)
            totals.append(int(match.group(1)) if match else 0)
        return dict(zip(routes, (total / requests for total in totals), strict=False))
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def backend_pids(owner_url: str, role: str) -> list[int]:
    libpq = make_url(owner_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        return [
            row[0]
            for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", (role,))
        ]


def backend_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(
    call: Callable[[str], int], paths: list[str], count: int, pids: list[int]
) -> tuple[float, float]:
    """(app CPU ms, Postgres CPU ms) per request over ``count`` requests."""
    for path in paths[:50]:
        # Warm: statements compiled and prepared, key cached, counters open.
        if call(path) != 200:
            raise SystemExit(f"{path} did not answer 200")

    def loop() -> float:
        started = time.process_time()
        for index in range(count):
            path = paths[index % len(paths)]
            if call(path) != 200:
                raise SystemExit(f"{path} did not answer 200")
        return time.process_time() - started

    pg_before = backend_seconds(pids)
    cpu = counted_run(loop)
    pg = backend_seconds(pids) - pg_before
    return cpu * 1000 / count, pg * 1000 / count


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per route")
    parser.add_argument(
        "--instructions",
        type=int,
        default=100,
        metavar="N",
        help="requests per route counted under callgrind (0: none)",
    )
    parser.add_argument("--database", help="owner URL of a database bench_api built")
    parser.add_argument("--readonly-url", help="the read-only role's URL on --database")
    parser.add_argument("--keep", action="store_true", help="keep the database built")
    parser.add_argument(
        "--dashboard", action="store_true", help="the dashboard's ornament and spreads pages"
    )
    args = parser.parse_args(argv)
    inner = under_valgrind()
    routes = DASHBOARD_ROUTES if args.dashboard else JSON_ROUTES

    admin_url = bench_admin_url()
    built = args.database is None
    if built:
        owner_url, readonly_url, role = build_database(admin_url)
        if args.keep:
            print(f"--database {owner_url} --readonly-url {readonly_url}")
    else:
        owner_url, readonly_url = args.database, args.readonly_url
        role = make_url(readonly_url).username or ""
    workdir = Path(tempfile.mkdtemp(prefix="cs-bench-api-calls-"))
    try:
        instructions: dict[str, float] = {}
        if args.instructions and not inner:
            instructions = instructions_run(
                [
                    "--requests",
                    str(args.instructions),
                    "--database",
                    owner_url,
                    "--readonly-url",
                    readonly_url,
                    *(["--dashboard"] if args.dashboard else []),
                ],
                args.instructions,
                routes,
            )
        key = add_key(owner_url, f"bench-calls-{uuid.uuid4().hex[:8]}")
        app = create_app(
            {
                "database_url": owner_url,
                "redis_url": None,
                "api": {
                    "database_url_readonly": readonly_url,
                    "rate_limit": "100000000/minute",
                    "rate_limit_storage": f"{SQLITE_SCHEME}://{workdir / 'counters.sqlite3'}",
                },
            }
        )
        if args.dashboard:
            call = wsgi_caller(app, {"HTTP_COOKIE": dashboard_cookie(app, key)})
            paths = dashboard_paths(owner_url)
        else:
            call = wsgi_caller(app, {"HTTP_X_API_KEY": key})
            paths = scenarios(owner_url)
        if not inner:
            print(
                f"in-process WSGI calls, one thread, {args.requests} requests per route "
                f"({args.instructions} under callgrind); load average before: "
                + "/".join(f"{v:.1f}" for v in os.getloadavg())
            )
            print(f"{'route':<26} {'instructions':>12} {'app CPU ms':>10} {'Postgres CPU ms':>15}")
        for name in routes:
            call(paths[name][0])
            pids = [] if inner else backend_pids(owner_url, role)
            cpu_ms, pg_ms = measure(call, paths[name], args.requests, pids)
            if not inner:
                counted = instructions.get(name)
                shown = "n/a" if counted is None else f"{counted / 1e6:.2f} M"
                print(f"{name:<26} {shown:>12} {cpu_ms:>10.2f} {pg_ms:>15.2f}")
        if not inner:
            print("load average after: " + "/".join(f"{v:.1f}" for v in os.getloadavg()))
        dispose(app)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if built and not args.keep:
            drop_database(admin_url, owner_url)
            drop_role(admin_url, role)
    return 0


if __name__ == "__main__":
    sys.exit(main())
