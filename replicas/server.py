"""HTTP servers for the three replica shops.

``serve_replicas(catalogue, day=1, faults=None)`` starts one server per shop on a free
loopback port and yields ``{vendor: base_url}``. The server is a small HTTP/1.1 server
on asyncio (keep-alive, GET/HEAD): measured by bench/bench_replica_server.py, it answers
several times more requests per second than ``http.server.ThreadingHTTPServer`` on the
same pages, and rendered pages are cached per (page, day), so it is not what limits a
crawl. ``in_process=False`` runs the servers in a child process (``python -m replicas
serve``), so their CPU time is not the measured crawler's.

Control endpoints on every shop (never faulted, not counted in the stats):

* ``GET /__replica__/day`` -> ``{"day": N}``; ``?set=N`` moves this shop to day N.
* ``GET /__replica__/stats`` -> JSON: ``total``, ``paths`` (requests per path, without
  query), ``pages`` (per page, e.g. ``/1995-...html?page=2``), ``kinds`` (index, year,
  browser_year, product, ajax, ...), ``requests`` (per group: ``listing``, ``product``,
  ``index``, ``robots``, ``other``; they add up to ``total``), ``not_found``, ``faults``
  (injected, per kind), ``tile_links_withheld`` (tile links the quickview-links endpoint
  left out, fault ``tile_links``), ``day``, ``vendor``.
* ``GET /__replica__/reset`` -> clears the stats and the fault counters (a page with
  ``error_times=1`` fails again once); the day stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from replicas.catalogue import VENDORS, Catalogue
from replicas.faults import (
    FaultConfig,
    fault_for,
    parse_faults,
    permanent_error_paths,
    withheld_tile_links,
)
from replicas.pages import (
    AJAX,
    BROWSER_YEAR,
    INDEX,
    JSON,
    PRODUCT,
    ROBOTS_TXT,
    TEXT,
    YEAR,
    ShopSite,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTROL_PREFIX = "/__replica__/"
# The request groups of ``stats()["requests"]``: listing pages (year pages, their
# sub-categories and view-all pages, every page number), product pages, the year index,
# robots.txt, and everything else (home, non-year pages, the scripts' JSON, assets,
# unknown paths).
REQUEST_GROUPS: tuple[str, ...] = ("listing", "product", "index", "robots", "other")
_GROUP_OF_KIND = {
    YEAR: "listing",
    BROWSER_YEAR: "listing",
    PRODUCT: "product",
    INDEX: "index",
    ROBOTS_TXT: "robots",
}
# Rendered pages kept per shop; beyond it the cache starts afresh (a 20,000-product
# shop over two days fits).
CACHE_LIMIT = 120_000

_REASONS = {
    200: "OK",
    404: "Not Found",
    410: "Gone",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
    400: "Bad Request",
}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = TEXT
    delay: float = 0.0
    drop: bool = False


def _head(status: int, content_type: str, length: int, keep_alive: bool) -> bytes:
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
        f"Cache-Control: no-store\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode()


class ReplicaApp:
    """One shop behind any HTTP front end: routing, page cache, day, faults, stats."""

    def __init__(
        self, catalogue: Catalogue, vendor: str, day: int = 1, faults: FaultConfig | None = None
    ) -> None:
        self.site = ShopSite(catalogue, vendor)
        self.vendor = vendor
        self.seed = catalogue.seed
        self.day = day
        self.faults = faults or FaultConfig()
        self.permanent = permanent_error_paths(catalogue, vendor, self.faults)
        self.withheld = withheld_tile_links(catalogue, vendor, self.faults)
        self.cache: dict[tuple[str, int], Reply] = {}
        self.lock = threading.Lock()  # only the threaded front end (bench) needs it
        self.reset()

    def reset(self) -> None:
        self.paths: Counter[str] = Counter()
        self.pages: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.fault_seen: Counter[str] = Counter()
        self.total = 0
        self.not_found = 0

    def prerender(self) -> int:
        """Render every product and listing page of the current day into the cache."""
        count = 0
        site = self.site
        targets = [(listing.path, "") for listing in site.shop.listings.values()]
        for year_page in site.shop.years:
            targets.append((year_page.path, "viewall=1"))
            for n in range(1, len(year_page.listing.pages) + 1):
                targets.append((year_page.path, f"page={n}"))
            for sub in year_page.sub_categories:
                targets += [
                    (sub.listing.path, f"page={n}") for n in range(1, len(sub.listing.pages) + 1)
                ]
            if year_page.view_all is not None:
                targets.append((year_page.view_all.path, ""))
        for path, query in targets:
            route = site.resolve(path, query)
            if route is not None and (route.key, self.day) not in self.cache:
                self.cache[(route.key, self.day)] = Reply(
                    200, route.render(self.day), route.content_type
                )
                count += 1
        return count

    def control(self, path: str, query: str) -> Reply:
        params = parse_qs(query)
        if path == CONTROL_PREFIX + "day":
            if "set" in params:
                try:
                    day = int(params["set"][0])
                    if day < 1:
                        raise ValueError
                except ValueError:
                    return Reply(400, b'{"error": "day must be an integer >= 1"}', JSON)
                self.day = day
            return Reply(200, json.dumps({"day": self.day}).encode(), JSON)
        if path == CONTROL_PREFIX + "stats":
            return Reply(200, json.dumps(self.stats()).encode(), JSON)
        if path == CONTROL_PREFIX + "reset":
            self.reset()
            return Reply(200, b'{"reset": true}', JSON)
        return Reply(404, b'{"error": "unknown control endpoint"}', JSON)

    def stats(self) -> dict[str, object]:
        return {
            "vendor": self.vendor,
            "day": self.day,
            "total": self.total,
            "not_found": self.not_found,
            "kinds": dict(self.kinds),
            "requests": self.requests(),
            "faults": {
                kind: self.injected.get(kind, 0)
                for kind in ("slow", "error", "drop", "permanent_error")
            },
            "tile_links_withheld": self.injected.get("tile_links", 0),
            "fault_config": self.faults.as_dict(),
            # CPU time of the whole serving process: the servers' own with in_process=False.
            "process_cpu_seconds": round(time.process_time(), 3),
            "paths": dict(self.paths),
            "pages": dict(self.pages),
        }

    def requests(self) -> dict[str, int]:
        """Requests so far per group (REQUEST_GROUPS, every group present); they add up
        to ``total``."""
        groups = dict.fromkeys(REQUEST_GROUPS, 0)
        for kind, count in self.kinds.items():
            groups[_GROUP_OF_KIND.get(kind, "other")] += count
        groups["other"] += self.not_found
        return groups

    def handle(self, target: str) -> Reply:
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        if path.startswith(("http://", "https://")):
            parts = urlsplit(target)
            path, query = parts.path or "/", parts.query
        if path.startswith(CONTROL_PREFIX):
            return self.control(path, query)
        route = self.site.resolve(path, query)
        self.total += 1
        self.paths[path] += 1
        if route is None:
            self.not_found += 1
            return Reply(
                404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html; charset=utf-8"
            )
        self.kinds[route.kind] += 1
        self.pages[route.key] += 1
        fault = None
        faultable = route.kind in (YEAR, PRODUCT) or (
            route.kind == BROWSER_YEAR and self.faults.browser_pages
        )
        if faultable and self.faults.active:
            if route.kind == PRODUCT and path in self.permanent:
                self.injected["permanent_error"] += 1
                status = self.faults.permanent_status
                heading = f"{status} {_REASONS[status]}".encode()
                return Reply(
                    status, b"<html><body><h1>" + heading + b"</h1></body></html>", "text/html"
                )
            fault = fault_for(self.faults, self.seed, self.vendor, route.key)
            if fault in ("error", "drop"):
                seen = self.fault_seen[route.key]
                self.fault_seen[route.key] = seen + 1
                limit = self.faults.error_times if fault == "error" else self.faults.drop_times
                if seen < limit:
                    self.injected[fault] += 1
                    if fault == "drop":
                        return Reply(drop=True)
                    return Reply(
                        503,
                        b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                        "text/html",
                    )
        cache_key = (route.key, self.day)
        reply = self.cache.get(cache_key)
        if reply is None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            reply = Reply(200, route.render(self.day), route.content_type)
            self.cache[cache_key] = reply
        if route.kind == AJAX and self.withheld:
            reply = self._withhold_tile_links(reply, query)
        if fault == "slow":
            self.injected["slow"] += 1
            return Reply(
                reply.status, reply.body, reply.content_type, delay=self.faults.slow_seconds
            )
        return reply

    def _withhold_tile_links(self, reply: Reply, query: str) -> Reply:
        """The quickview links of a category less the ones fault ``tile_links`` withholds."""
        try:
            category_id = int(parse_qs(query).get("cat", [""])[0])
        except ValueError:
            return reply
        missing = self.withheld.get(category_id)
        if not missing:
            return reply
        links = json.loads(reply.body)
        kept = {vendor_id: href for vendor_id, href in links.items() if vendor_id not in missing}
        self.injected["tile_links"] += len(links) - len(kept)
        return Reply(reply.status, json.dumps(kept).encode(), reply.content_type)


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests on one connection are answered in order."""

    def __init__(self, app: ReplicaApp, connections: set[_HttpProtocol]) -> None:
        self.app = app
        self.connections = connections
        self.buffer = bytearray()
        self.waiting = False  # a delayed answer is pending: later requests wait for it
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.waiting:
            self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.waiting:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.transport.close()
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._send(Reply(400, b"bad request"), False, False)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                self._send(Reply(400, b"bad Content-Length"), False, False)
                return
            if len(self.buffer) < end + 4 + length:
                return  # the request body has not all arrived
            del self.buffer[: end + 4 + length]
            connection = headers.get("connection", "")
            keep_alive = (
                connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            )
            if method not in ("GET", "HEAD"):
                self._send(Reply(405, b"only GET and HEAD"), keep_alive, False)
                continue
            reply = self.app.handle(target)
            if reply.drop:
                self.transport.abort()
                return
            if reply.delay:
                self.waiting = True
                loop = asyncio.get_running_loop()
                loop.call_later(reply.delay, self._send_later, reply, keep_alive, method == "HEAD")
                return
            self._send(reply, keep_alive, method == "HEAD")

    def _send_later(self, reply: Reply, keep_alive: bool, head_only: bool) -> None:
        self.waiting = False
        if self.transport is None:
            return
        self._send(reply, keep_alive, head_only)
        if self.buffer:
            self._process()

    def _send(self, reply: Reply, keep_alive: bool, head_only: bool) -> None:
        if self.transport is None:
            return
        head = _head(reply.status, reply.content_type, len(reply.body), keep_alive)
        self.transport.write(head if head_only else head + reply.body)
        if not keep_alive:
            self.transport.close()


class ReplicaServers:
    """The three shops on one asyncio loop in a background thread."""

    def __init__(
        self,
        catalogue: Catalogue,
        day: int = 1,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.apps = {vendor: ReplicaApp(catalogue, vendor, day, faults) for vendor in VENDORS}
        self.host = host
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="replica-servers", daemon=True)
        self.servers: list[asyncio.AbstractServer] = []
        self.connections: set[_HttpProtocol] = set()
        self.base_urls: dict[str, str] = {}

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start(self) -> None:
        for vendor, app in self.apps.items():
            server = await self.loop.create_server(
                lambda app=app: _HttpProtocol(app, self.connections),
                self.host,
                0,
                backlog=1024,
                reuse_address=True,
            )
            port = server.sockets[0].getsockname()[1]
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.base_urls[vendor] = f"http://{host}:{port}"
            self.servers.append(server)

    async def _stop(self) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        for server in self.servers:
            await server.wait_closed()

    def start(self) -> dict[str, str]:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)
        return dict(self.base_urls)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def faults_to_spec(faults: FaultConfig) -> str:
    return ",".join(
        f"{key}={int(value) if isinstance(value, bool) else value}"
        for key, value in faults.as_dict().items()
        if value is not None
    )


@contextlib.contextmanager
def serve_replicas(
    catalogue: Catalogue,
    day: int = 1,
    faults: FaultConfig | dict[str, object] | str | None = None,
    host: str = "127.0.0.1",
    in_process: bool = True,
    prerender: bool = False,
) -> Iterator[dict[str, str]]:
    """Serve the three shops; yields ``{vendor: base_url}``; stops them on exit.

    ``prerender=True`` renders every page of ``day`` before yielding (benchmarks: the
    first crawl then measures the crawler, not page rendering).
    """
    if day < 1:
        raise ValueError(f"day must be >= 1, got {day}")
    config = parse_faults(faults)
    if in_process:
        servers = ReplicaServers(catalogue, day, config, host)
        if prerender:
            for app in servers.apps.values():
                app.prerender()
        urls = servers.start()
        try:
            yield urls
        finally:
            servers.stop()
        return
    with tempfile.TemporaryDirectory(prefix="replica-") as tmp:
        pickled = Path(tmp) / "catalogue.pickle"
        pickled.write_bytes(pickle.dumps(catalogue, protocol=pickle.HIGHEST_PROTOCOL))
        command = [
            sys.executable, "-m", "replicas", "serve", "--catalogue-pickle", str(pickled),
            "--day", str(day), "--host", host, "--json", "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        if config.active or config.seed is not None:
            command += ["--faults", faults_to_spec(config)]
        if prerender:
            command.append("--prerender")
        env = dict(
            os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
        )
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"replica server process exited with {process.wait()} before serving"
                )
            urls = json.loads(line)
            yield urls
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def control(base_url: str, endpoint: str, timeout: float = 10.0) -> dict[str, object]:
    """GET a control endpoint (``day?set=2``, ``stats``, ``reset``) of one shop."""
    with urllib.request.urlopen(f"{base_url}{CONTROL_PREFIX}{endpoint}", timeout=timeout) as answer:
        return json.loads(answer.read())


def set_day(base_urls: dict[str, str], day: int) -> None:
    """Move every shop to ``day``."""
    for base_url in base_urls.values():
        control(base_url, f"day?set={day}")


def wait_forever() -> None:
    while True:
        time.sleep(3600)
