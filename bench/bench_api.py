"""Benchmark of the read API as deployed: granian (``christmas api serve``) + wrk.

    python -m bench.bench_api [--duration 10] [--connections 16] [--repeat 3]
                              [--server granian,gunicorn]

Builds a database of its own (100,000 products, 1,000,000 audit rows, generated in
SQL with generate_series), the read-only role and a key; starts each ``--server``
(granian as ``christmas api serve`` runs it, gunicorn per deploy/gunicorn.conf.py: the
same workers and threads for the same WSGI app) on a free loopback port; drives six
routes with wrk at 16 concurrent connections (each request a different product, sku or
filter, from a Lua list),
``--repeat`` rounds over the routes in turn, and prints the median p50, p99 and
requests/s per route against the goals (p99 < 50 ms for JSON routes, >= 400 req/s
for a filtered product page). The baseline printed
beside them: the same deep page by OFFSET versus by keyset, straight in SQL.
Everything it starts is stopped and the database dropped. Never run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from christmas_spiders.api.wsgi import ServeSettings, granian_command
from christmas_spiders.db.audit_sql import rebuild_ornament_summary
from christmas_spiders.db.engine import upgrade
from christmas_spiders.db.roles import create_readonly_role
from tests.fixtures.api import add_key, drop_role, serving
from tests.fixtures.postgres import DEFAULT_ADMIN_URL, create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 100_000
AUDIT_ROWS = 1_000_000
VENDORS = ("hallmark_ornaments", "hookedonhallmark", "ornament_shop")
JSON_P99_GOAL_MS = 50.0
FILTERED_RPS_GOAL = 400.0
# A run whose requests in flight fall below this share of its connections is not judged.
STARVED_SHARE = 0.9

PER_VENDOR = -(-PRODUCTS // len(VENDORS))
# Static SQL (no outside input). Rows are laid out as crawls write them: shop by shop,
# year page by year page; every sku is sold by all three shops.
PRODUCTS_SQL = f"""
INSERT INTO products (id, vendor, vendor_id, sku, name, price, currency, brand,
                      availability, release_year, link, last_synced_at, created_at)
SELECT substr(md5('p' || g), 1, 24),
       (ARRAY['hallmark_ornaments', 'hookedonhallmark', 'ornament_shop'])[1 + g / {PER_VENDOR}],
       'v' || g,
       'QX' || lpad((g % {PER_VENDOR})::text, 5, '0'),
       'Ornament ' || g || ' '
           || (ARRAY['Santa', 'Snowman', 'Reindeer', 'Angel', 'Star'])[1 + g % 5],
       round((5 + (hashtext('price' || g) & 65535) / 65535.0 * 95)::numeric, 2),
       'USD', 'Hallmark',
       (ARRAY['in_stock', 'in_stock', 'out_of_stock', 'delisted'])[1 + (g / 7) % 4],
       1973 + (g % {PER_VENDOR}) * 54 / {PER_VENDOR},
       'https://shop.example/p/' || g,
       now() - (g % 1000) * interval '1 minute',
       now() - interval '60 days'
FROM generate_series(0, {PRODUCTS - 1}) AS g
"""
# Ten changes per product: prices (four in five) and availability, over 30 days.
AUDIT_SQL = f"""
INSERT INTO product_audit (product_id, operation, field, old_value, new_value, changed_at, crawl_id)
SELECT substr(md5('p' || (a % {PRODUCTS})), 1, 24),
       'UPDATE',
       CASE WHEN a % 5 = 0 THEN 'availability' ELSE 'price' END,
       CASE WHEN a % 5 = 0 THEN 'in_stock'
            ELSE round((5 + (hashtext('o' || a) & 65535) / 65535.0 * 95)::numeric, 2)::text END,
       CASE WHEN a % 5 = 0 THEN 'out_of_stock'
            ELSE round((5 + (hashtext('n' || a) & 65535) / 65535.0 * 95)::numeric, 2)::text END,
       now() - interval '30 days' + (a / {PRODUCTS}) * interval '3 days'
             + (a % {PRODUCTS}) * interval '1 second',
       'crawl-' || (a / {PRODUCTS})
FROM generate_series(0, {AUDIT_ROWS - 1}) AS a
"""


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU seconds per request spent by the server, the API's Postgres backends and wrk.
    cpu_ms: float = 0.0
    # Requests in flight on average (wrk's mean latency x req/s, Little's law) of the
    # ``connections`` wrk kept open: fewer means some connections waited unanswered, and
    # the percentiles describe only the others.
    in_flight: float = 0.0
    connections: int = 0

    @property
    def starved(self) -> bool:
        return self.connections > 0 and self.in_flight < STARVED_SHARE * self.connections


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU used by the server side (the server's processes, the API role's Postgres backends)
    and by wrk: what the machine spends per request, whoever else is running."""

    def __init__(self, server_pid: int, owner_url: str, role: str) -> None:
        self.server = psutil.Process(server_pid)
        self.libpq = make_url(owner_url).set(drivername="postgresql").render_as_string(False)
        self.role = role

    def processes(self) -> list[psutil.Process]:
        with psycopg.connect(self.libpq) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE usename = %s", (self.role,)
                )
            ]
        found = [self.server, *self.server.children(recursive=True)]
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
        return found

    def server_seconds(self) -> float:
        return _cpu_seconds(self.processes())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_database(admin_url: str) -> tuple[str, str, str]:
    """A database at Alembic head (as deployed), bulk-loaded with the audit trigger off."""
    owner_url = create_database(admin_url, prefix="cs_bench_api")
    upgrade(owner_url)
    engine = create_engine(owner_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        # The audit rows are generated below; the trigger would add 200,000 more.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(PRODUCTS_SQL))
        conn.execute(text(AUDIT_SQL))
        # The generated audit rows predate the summary's trigger: its history from them.
        rebuild_ornament_summary(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        counts = conn.execute(
            text("SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM product_audit)")
        ).one()
    role = f"cs_bench_reader_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    create_readonly_role(engine, role, password)
    engine.dispose()
    print(
        f"database: {counts[0]:,} products, {counts[1]:,} audit rows "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    readonly_url = make_url(owner_url).set(username=role, password=password).render_as_string(False)
    return owner_url, readonly_url, role


SERVERS = ("granian", "gunicorn")


def server_command(server: str, port: int) -> list[str]:
    """The command line of ``server`` for the API as deployed, on ``port``.

    Both take their shape from ServeSettings (``CHRISTMAS_API_WORKERS`` /
    ``CHRISTMAS_API_THREADS``, as deployed): as many worker processes, as many threads
    each running the app, so the two differ by the server only.
    """
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    settings = ServeSettings.from_environ(os.environ)
    return granian_command(dataclasses.replace(settings, host="127.0.0.1", port=port))


def start_server(
    owner_url: str, readonly_url: str, workdir: Path, server: str = "granian"
) -> tuple[subprocess.Popen, str]:
    config_path = workdir / "bench-config.json"
    config_path.write_text(
        json.dumps(
            {
                "database_url": owner_url,
                "redis_url": None,
                # The limiter stays on (as deployed) with a budget the load cannot exhaust.
                "api": {"database_url_readonly": readonly_url, "rate_limit": "100000000/minute"},
            }
        )
    )
    port = _free_port()
    env = {
        **os.environ,
        "CONFIG_PATH": str(config_path),
        "CHRISTMAS_API_BIND": f"127.0.0.1:{port}",
        "CHRISTMAS_API_RATE_LIMIT_FILE": str(workdir / "rate-limit.sqlite3"),
    }
    for variable in ("DATABASE_URL", "DATABASE_URL_READONLY", "REDIS_URL", "ENV"):
        env.pop(variable, None)
    log_path = workdir / f"{server}.log"
    process = subprocess.Popen(
        server_command(server, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    if serving(base, process):
        return process, base
    stop(process)
    log = log_path.read_text()[-3000:]
    raise SystemExit(f"{server} did not start:\n{log}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _lua(paths: list[str], key: str, header: str = "X-API-Key") -> str:
    listed = ",\n".join(json.dumps(path) for path in paths)
    return f"""
wrk.headers[{json.dumps(header)}] = {json.dumps(key)}
local paths = {{
{listed}
}}
local counter = math.random(#paths)
request = function()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end
"""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    name: str,
    base: str,
    paths: list[str],
    key: str,
    workdir: Path,
    duration: int,
    connections: int,
    meter: CpuMeter,
    header: str = "X-API-Key",
) -> Result:
    """wrk over ``paths`` in turn, each request sending ``header: key``."""
    script = workdir / f"{name.replace(' ', '_')}.lua"
    script.write_text(_lua(paths, key, header))
    server_before = meter.server_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_seconds = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    cpu_seconds = meter.server_seconds() - server_before + wrk_seconds
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    mean_ms = _ms(re.search(r"^\s+Latency\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return Result(
        name,
        requests,
        rps,
        _ms(percentiles["50"]),
        _ms(percentiles["99"]),
        errors,
        cpu_seconds * 1000 / max(requests, 1),
        in_flight=mean_ms * rps / 1000,
        connections=connections,
    )


def scenarios(owner_url: str) -> dict[str, list[str]]:
    rng = random.Random(1)
    with psycopg.connect(
        make_url(owner_url).set(drivername="postgresql").render_as_string(False)
    ) as conn:
        ids = [
            row[0] for row in conn.execute("SELECT id FROM products ORDER BY random() LIMIT 2000")
        ]
        skus = [row[0] for row in conn.execute("SELECT DISTINCT sku FROM products LIMIT 2000")]
    filtered = []
    for _ in range(500):
        vendor = rng.choice(VENDORS)
        year = rng.randrange(1973, 2020)
        low = rng.randrange(5, 50)
        filtered.append(
            f"/api/v1/products?vendor={vendor}&year_min={year}&year_max={year + 5}"
            f"&availability=in_stock&price_min={low}&sort=-price&limit=100"
        )
    csv_paths = [
        f"/api/v1/products?format=csv&vendor={rng.choice(VENDORS)}"
        f"&release_year={rng.randrange(1973, 2027)}"
        for _ in range(200)
    ]
    # The biggest cross-shop spreads, over every sku or one year, range or shop's.
    spreads = []
    for _ in range(300):
        narrowing = rng.choice(
            [
                "",
                f"&release_year={rng.randrange(1973, 2027)}",
                f"&year_min={(year := rng.randrange(1973, 2020))}&year_max={year + 5}",
                f"&vendor={rng.choice(VENDORS)}",
                f"&min_spread_percent={rng.randrange(10, 200)}",
            ]
        )
        spreads.append(f"/api/v1/ornaments?sort=-spread&limit=100{narrowing}")
    collections = ["/api/v1/collection?skus=" + ",".join(rng.sample(skus, 100)) for _ in range(200)]
    return {
        "filtered product page": filtered,
        "ornaments by spread": spreads,
        "collection (100 skus)": collections,
        "history page": [f"/api/v1/products/{pid}/history?limit=100" for pid in ids],
        "ornament comparison": [f"/api/v1/ornaments/{sku}" for sku in skus],
        "CSV export (~620 rows)": csv_paths,
    }


def full_export(base: str, key: str) -> tuple[float, int, int]:
    request = urllib.request.Request(
        f"{base}/api/v1/products?format=csv", headers={"X-API-Key": key}
    )
    started = time.perf_counter()
    size = 0
    lines = 0
    with urllib.request.urlopen(request, timeout=120) as response:
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, lines - 1, size


def offset_baseline(owner_url: str) -> tuple[float, float]:
    """The page at depth 90,000 in id order: OFFSET (the usual way) versus keyset."""
    libpq = make_url(owner_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as conn:
        (last_id,) = conn.execute(
            "SELECT id FROM products ORDER BY id OFFSET 89999 LIMIT 1"
        ).fetchone()

        def timed(query: str, params: tuple = ()) -> float:
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                conn.execute(query, params).fetchall()
                best = min(best, time.perf_counter() - started)
            return best * 1000

        offset_ms = timed("SELECT * FROM products ORDER BY id OFFSET 90000 LIMIT 100")
        keyset_ms = timed("SELECT * FROM products WHERE id > %s ORDER BY id LIMIT 100", (last_id,))
    return offset_ms, keyset_ms


def median_result(runs: list[Result]) -> Result:
    """The runs of one route as one row: the median of each figure (requests and errors
    summed). This machine's speed drifts by tens of percent from one 10 s run to the
    next; a verdict on one run would be a coin toss near a goal."""
    return Result(
        runs[0].name,
        sum(r.requests for r in runs),
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
        statistics.median(r.cpu_ms for r in runs),
        in_flight=min(r.in_flight for r in runs),
        connections=runs[0].connections,
    )


def wrk_parser(description: str, unit: str) -> argparse.ArgumentParser:
    """The options every wrk benchmark takes (``unit``: what one scenario is, e.g. route)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=int, default=10, help=f"seconds per {unit}")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=3, help=f"runs per {unit}, taken in turn (medians shown)"
    )
    return parser


def bench_admin_url() -> str:
    """The Postgres to build in (``TEST_PG_ADMIN_URL``, else the tests' default); wrk present."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make system-deps` (apt-get install wrk)")
    admin_url = os.environ.get("TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL)
    return make_url(admin_url).set(drivername="postgresql+psycopg").render_as_string(False)


def measure_rounds(
    paths: dict[str, list[str]],
    base: str,
    key: str,
    workdir: Path,
    args: argparse.Namespace,
    meter: CpuMeter,
    unit: str,
    header: str = "X-API-Key",
    server: str = "granian (christmas api serve)",
) -> dict[str, list[Result]]:
    """A warm-up of each scenario, then ``args.repeat`` rounds of them all in turn."""
    print(
        f"{server} at {base}; wrk, {args.connections} connections, "
        f"{args.duration} s per {unit}, {os.cpu_count()} cores shared with wrk and Postgres; "
        "load average before: " + "/".join(f"{value:.1f}" for value in os.getloadavg())
    )
    for name, scenario in paths.items():
        run_wrk(name, base, scenario, key, workdir, 2, args.connections, meter, header)
    # Scenarios in turn, round after round: a slow spell of the machine hits them alike.
    runs: dict[str, list[Result]] = {name: [] for name in paths}
    for _ in range(args.repeat):
        for name, scenario in paths.items():
            result = run_wrk(
                name, base, scenario, key, workdir, args.duration, args.connections, meter, header
            )
            runs[name].append(result)
    return runs


def print_runs(runs: dict[str, list[Result]], args: argparse.Namespace, unit: str) -> None:
    print()
    print(f"each {unit}: {args.repeat} runs of {args.duration} s, medians below; p99 per run:")
    for name, scenario_runs in runs.items():
        print(f"  {name:<26} p99 " + " / ".join(f"{r.p99_ms:.1f}" for r in scenario_runs) + " ms")


@dataclass
class BenchServer:
    """The benchmark's database and a server on it, with a key."""

    owner_url: str
    base: str
    key: str
    workdir: Path
    meter: CpuMeter


@dataclass
class BenchDatabase:
    owner_url: str
    readonly_url: str
    role: str
    key: str
    workdir: Path


@contextlib.contextmanager
def bench_database(prefix: str) -> Iterator[BenchDatabase]:
    """Build the database with a key; drop it after."""
    admin_url = bench_admin_url()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    owner_url, readonly_url, role = build_database(admin_url)
    try:
        key = add_key(owner_url, "bench")
        yield BenchDatabase(owner_url, readonly_url, role, key, workdir)
    finally:
        drop_database(admin_url, owner_url)
        drop_role(admin_url, role)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def running_server(database: BenchDatabase, server: str) -> Iterator[BenchServer]:
    """``server`` (one of ``SERVERS``) started on ``database``; stopped after."""
    workdir = database.workdir / server
    workdir.mkdir()
    process, base = start_server(database.owner_url, database.readonly_url, workdir, server)
    try:
        meter = CpuMeter(process.pid, database.owner_url, database.role)
        yield BenchServer(database.owner_url, base, database.key, workdir, meter)
    finally:
        stop(process)


@contextlib.contextmanager
def bench_server(prefix: str, server: str = "granian") -> Iterator[BenchServer]:
    """Build the database, start ``server`` on it; stop it all and drop the database after."""
    with bench_database(prefix) as database, running_server(database, server) as running:
        yield running


def server_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"servers are {', '.join(SERVERS)} (comma-separated)")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    parser = wrk_parser(__doc__.split("\n\n")[0], "route")
    parser.add_argument(
        "--server",
        type=server_list,
        default=list(SERVERS),
        help="the HTTP servers to measure, comma-separated, each in turn within every round "
        "(default: granian,gunicorn)",
    )
    args = parser.parse_args(argv)
    servers: list[str] = args.server
    with bench_database("cs-bench-api-") as database, contextlib.ExitStack() as stack:
        running = {name: stack.enter_context(running_server(database, name)) for name in servers}
        paths = scenarios(database.owner_url)
        print(
            f"{', '.join(servers)}; wrk, {args.connections} connections, {args.duration} s per "
            f"route, {os.cpu_count()} cores shared with wrk and Postgres; load average "
            "before: " + "/".join(f"{value:.1f}" for value in os.getloadavg())
        )
        for server in running.values():
            for name, scenario in paths.items():
                run_wrk(
                    name,
                    server.base,
                    scenario,
                    server.key,
                    server.workdir,
                    2,
                    args.connections,
                    server.meter,
                )
        # Servers and routes in turn, round after round: a slow spell of the machine hits
        # them alike.
        runs: dict[str, dict[str, list[Result]]] = {
            name: {route: [] for route in paths} for name in servers
        }
        for _ in range(args.repeat):
            for name, server in running.items():
                for route, scenario in paths.items():
                    runs[name][route].append(
                        run_wrk(
                            route,
                            server.base,
                            scenario,
                            server.key,
                            server.workdir,
                            args.duration,
                            args.connections,
                            server.meter,
                        )
                    )
        first = running[servers[0]]
        seconds, rows, size = full_export(first.base, first.key)
        offset_ms, keyset_ms = offset_baseline(database.owner_url)

    results: list[Result] = []
    for name in servers:
        print(f"\n== {name}")
        print_runs(runs[name], args, "route")
        server_results = [median_result(route_runs) for route_runs in runs[name].values()]
        print_results(server_results)
        results.extend(server_results)
    print(
        f"full CSV export ({servers[0]}): {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.2f} s "
        f"({rows / seconds:,.0f} rows/s, streamed)"
    )
    print(
        f"baseline, page at depth 90,000 (id order): OFFSET {offset_ms:.1f} ms, "
        f"keyset {keyset_ms:.1f} ms (x{offset_ms / keyset_ms:.0f})"
    )
    return exit_status(results, "some requests failed: see the errors column")


def print_results(results: list[Result]) -> None:
    cores = os.cpu_count() or 1
    header = f"{'route':<26} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(
        f"{header} {'errors':>7} {'CPU ms/req':>10} {'req/s on idle cores':>19} "
        f"{'in flight':>9}  goal"
    )
    for result in results:
        if result.name.startswith("CSV"):
            goal = "(none)"
        else:
            goal = f"p99 < {JSON_P99_GOAL_MS:.0f} ms: " + (
                "met" if result.p99_ms < JSON_P99_GOAL_MS else "MISSED"
            )
        if result.name == "filtered product page":
            goal += f"; >= {FILTERED_RPS_GOAL:.0f} req/s: " + (
                "met" if result.rps >= FILTERED_RPS_GOAL else "MISSED"
            )
        if result.starved:
            goal = "NOT JUDGED: some connections waited unanswered"
        capacity = cores * 1000 / result.cpu_ms if result.cpu_ms else float("nan")
        print(
            f"{result.name:<26} {result.requests:>9} {result.rps:>8.0f} {result.p50_ms:>8.1f} "
            f"{result.p99_ms:>8.1f} {result.errors:>7} {result.cpu_ms:>10.2f} {capacity:>19.0f} "
            f"{result.in_flight:>9.1f}  {goal}"
        )
    print(
        "CPU ms/req: the server + the API's Postgres backends + wrk, per request; "
        f"req/s on idle cores: {cores} x 1000 / that (what this machine gives when nothing "
        "else runs); in flight: wrk's mean latency x req/s (the lowest of the runs), which "
        "falls short of the connections when some wait unanswered"
    )


def exit_status(results: list[Result], failure: str) -> int:
    """The load average after the runs; 1 (saying ``failure``) if any request failed."""
    print("load average after: " + "/".join(f"{value:.1f}" for value in os.getloadavg()))
    if any(result.errors for result in results):
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
