"""How fast the replica server answers, on its own (no crawler).

    python -m bench.bench_replica_server [--products 3000] [--seconds 5] [--concurrency 64]
    python -m bench replica_server

Prints, for the same pages (every product and year page of hookedonhallmark):

* catalogue generation time (the given size and 20,000 products per shop);
* requests/s of the replica server (asyncio, keep-alive, in its own process, pages
  pre-rendered) under a concurrent keep-alive client, and the server's CPU seconds per
  request, so its capacity on one core (requests per server-CPU-second) can be compared
  with what a crawl asks of it;
* the same for a cold server (each page rendered on first request, as in a first crawl);
* the baseline: the same app behind ``http.server.ThreadingHTTPServer`` (HTTP/1.1
  keep-alive), the other candidate front end.

The client is wrk (C, one thread) where installed, else a Python asyncio client. On a
2-core machine client and server share the CPU: the server-CPU figure is the one that
says whether the server can be a crawl's bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from replicas.catalogue import Catalogue, generate_catalogue
from replicas.server import PROJECT_ROOT, ReplicaApp, serve_replicas

VENDOR = "hookedonhallmark"


def bench_paths(catalogue: Catalogue) -> list[str]:
    shop = catalogue.shops[VENDOR]
    paths = [listing.path for listing in shop.listings.values() if listing.year is not None]
    for year_page in shop.years:
        paths.append(year_page.path)
        paths += [f"{year_page.path}?page={n}" for n in range(2, len(year_page.listing.pages) + 1)]
    return paths


# -- clients --------------------------------------------------------------------------


async def _python_client(base: str, paths: list[str], seconds: float, concurrency: int) -> int:
    parts = urlsplit(base)
    deadline = time.perf_counter() + seconds
    done = 0
    cursor = 0

    async def worker() -> None:
        nonlocal done, cursor
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < deadline:
                path = paths[cursor % len(paths)]
                cursor += 1
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def run_client(base: str, paths: list[str], seconds: float, concurrency: int) -> tuple[str, int]:
    """(client name, requests answered) in ``seconds``."""
    wrk = shutil.which("wrk")
    if wrk is None:
        count = asyncio.run(_python_client(base, paths, seconds, concurrency))
        return "python-asyncio", count
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("local paths = {\n")
        script.write(",\n".join(json.dumps(path) for path in paths))
        script.write(
            "\n}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n"
            '  return wrk.format("GET", paths[i])\nend\n'
        )
    try:
        output = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    total = next(line for line in output.splitlines() if "requests in" in line)
    errors = [line.strip() for line in output.splitlines() if "Non-2xx" in line or "errors" in line]
    if errors:
        print(f"    wrk reported: {'; '.join(errors)}")
    return "wrk", int(total.split()[0])


def measure(
    label: str, base: str, server: psutil.Process, paths: list[str], seconds: float, conc: int
) -> None:
    before = server.cpu_times()
    started = time.perf_counter()
    client, count = run_client(base, paths, seconds, conc)
    wall = time.perf_counter() - started
    after = server.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    print(
        f"  {label:<44} {count / wall:>8,.0f} req/s   server CPU {cpu:5.2f} s"
        f" = {cpu / max(count, 1) * 1e6:6.0f} us/request"
        f" -> capacity {count / max(cpu, 1e-9):>8,.0f} req/s per core   ({client}, {conc} conns)"
    )


# -- the threading front end (baseline) ----------------------------------------------


def serve_threading(catalogue_file: str) -> None:
    catalogue = pickle.loads(Path(catalogue_file).read_bytes())
    app = ReplicaApp(catalogue, VENDOR)
    app.prerender()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without it the header and body writes meet delayed ACKs (40 ms stalls).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            with app.lock:
                reply = app.handle(self.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the load client resets its connections when it stops

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    print(json.dumps({VENDOR: f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    server.serve_forever()


@contextmanager
def threading_server(catalogue: Catalogue) -> Iterator[tuple[str, psutil.Process]]:
    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "catalogue.pickle"
        pickled.write_bytes(pickle.dumps(catalogue))
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_replica_server", "--serve-threading", str(pickled)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            base = json.loads(process.stdout.readline())[VENDOR]
            yield base, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=15)


def replica_child() -> psutil.Process:
    for child in psutil.Process().children(recursive=True):
        if "-m replicas serve" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("replica server process not found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3000, help="products per shop")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve-threading", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_threading:
        serve_threading(args.serve_threading)
        return 0

    print(f"Replica server benchmark ({os.cpu_count()} CPUs)")
    for size in sorted({args.products, 20_000}):
        started = time.perf_counter()
        catalogue = generate_catalogue(seed=1, products_per_shop=size)
        elapsed = time.perf_counter() - started
        print(f"  generate_catalogue(products_per_shop={size:,}): {elapsed:.2f} s")
    catalogue = generate_catalogue(seed=1, products_per_shop=args.products)
    paths = bench_paths(catalogue)
    print(f"  pages: {len(paths):,} {VENDOR} product and year pages, cycled")
    app = ReplicaApp(catalogue, VENDOR)
    started = time.perf_counter()
    rendered = app.prerender()
    elapsed = time.perf_counter() - started
    print(
        f"  rendering, a cold page's extra cost: {rendered:,} pages in {elapsed:.2f} s"
        f" = {elapsed / rendered * 1e6:.0f} us/page"
    )
    with serve_replicas(catalogue, in_process=False, prerender=True) as urls:
        server = replica_child()
        for conc in sorted({args.concurrency, 8}):
            label = "asyncio server (ours), pre-rendered"
            measure(label, urls[VENDOR], server, paths, args.seconds, conc)
    with threading_server(catalogue) as (base, server):
        label = "baseline: ThreadingHTTPServer, pre-rendered"
        measure(label, base, server, paths, args.seconds, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
