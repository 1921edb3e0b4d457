"""The rate limit: one budget per API key across every route, and its counter stores.

``api.rate_limit`` (say ``600/minute``) is an application-wide limit per key: every
route draws on the same fixed-window counter, each request costing its route's
:func:`costs` (1 unless a route says more). Where the counters live
(``api.rate_limit_storage``, else ``REDIS_URL``, else this process's memory):

- ``redis://...``: shared by every worker and host;
- ``christmas-sqlite:///path/counters.sqlite3``: a SQLite file, shared by every worker
  process of one machine (``deploy/gunicorn.conf.py`` uses it unless Redis is set);
- ``christmas-memory://``: this process only (the development server, tests). Under
  gunicorn each worker would count apart: a key would get the limit once per worker.

Our own stores rather than ``limits``' ``memory://``: that one starts a
``threading.Timer`` (a new thread) to expire keys whenever the previous one has
finished, under load one thread per request or so. Fixed windows need no background
expiry: a counter past its window counts from zero again when it is next read, and
expired counters are swept now and then so the store stays bounded by the keys seen
in the last window.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.errors import ConfigurationError
from limits.storage import Storage

SCHEME = "christmas-memory"
SQLITE_SCHEME = "christmas-sqlite"
# How often (seconds) counters whose window has ended are dropped.
SWEEP_SECONDS = 60.0
# A request's cost, set on its view function by @costs.
COST_ATTRIBUTE = "christmas_rate_cost"
# Seconds a SQLite writer waits for another process's write to finish.
SQLITE_BUSY_SECONDS = 5.0
# How long a counter just incremented is answered from memory (the same request's headers).
MEMO_SECONDS = 1.0

View = TypeVar("View", bound=Callable[..., Any])


def costs(amount: int) -> Callable[[View], View]:
    """Decorate a view: each request to it counts ``amount`` against the key's budget."""
    if amount < 1:
        raise ValueError("a route costs at least 1")

    def mark(view: View) -> View:
        setattr(view, COST_ATTRIBUTE, amount)
        return view

    return mark


def request_cost() -> int:
    view = current_app.view_functions.get(request.endpoint or "")
    return int(getattr(view, COST_ATTRIBUTE, 1))


def storage_uri(config: dict[str, Any]) -> str:
    """Where the counters live: ``api.rate_limit_storage``, else Redis, else memory."""
    explicit = config["api"]["rate_limit_storage"]
    return explicit or config["redis_url"] or f"{SCHEME}://"


def init_rate_limit(
    app: Flask, key_id: Callable[[], int | None], exempt: Collection[str]
) -> Limiter:
    """One ``api.rate_limit`` budget per key (``key_id()``; the client address without
    one) over all routes but the ``exempt`` endpoints."""
    config = app.config["CHRISTMAS"]
    uri = storage_uri(config)

    def budget_key() -> str:
        found = key_id()
        return f"key-{found}" if found is not None else f"addr-{get_remote_address()}"

    limiter = Limiter(
        key_func=budget_key,
        application_limits=[config["api"]["rate_limit"]],
        application_limits_cost=request_cost,
        application_limits_exempt_when=lambda: request.endpoint in exempt,
        storage_uri=uri,
        key_prefix=config["api"]["rate_limit_prefix"],
        headers_enabled=True,
        # A shared store down: count in each worker's memory until it is back, rather
        # than fail the request.
        in_memory_fallback_enabled=not uri.startswith(f"{SCHEME}:"),
        # A counter per window: O(1) per request (a moving window keeps every hit).
        strategy="fixed-window",
    )
    limiter.init_app(app)
    return limiter


class FixedWindowMemoryStorage(Storage):
    """``christmas-memory://``: per-process counters for the ``fixed-window`` strategy."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool
    ) -> None:
        # key -> (hits in the window, time the window ends)
        self._counters: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.time() + SWEEP_SECONDS
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            count, ends = self._counters.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + expiry
            count += amount
            self._counters[key] = (count, ends)
            if now >= self._next_sweep:
                self._sweep(now)
        return count

    def _sweep(self, now: float) -> None:
        # Called with the lock held.
        self._counters = {key: entry for key, entry in self._counters.items() if entry[1] > now}
        self._next_sweep = now + SWEEP_SECONDS

    def get(self, key: str) -> int:
        entry = self._counters.get(key)
        if entry is None or entry[1] <= time.time():
            return 0
        return entry[0]

    def get_expiry(self, key: str) -> float:
        now = time.time()
        entry = self._counters.get(key)
        if entry is None or entry[1] <= now:
            return now
        return entry[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            cleared = len(self._counters)
            self._counters = {}
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)


# incr: a counter whose window has ended starts again from this hit.
SQLITE_INCR = """
INSERT INTO counters (key, hits, ends) VALUES (:key, :amount, :ends)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN counters.ends <= :now THEN excluded.hits
                ELSE counters.hits + excluded.hits END,
    ends = CASE WHEN counters.ends <= :now THEN excluded.ends ELSE counters.ends END
RETURNING hits, ends
"""


class SqliteFixedWindowStorage(Storage):
    """``christmas-sqlite:///path``: fixed-window counters in a SQLite file that every
    process of the machine opens (WAL journal; no fsync: counters need no durability)."""

    STORAGE_SCHEME = [SQLITE_SCHEME]

    def __init__(
        self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool
    ) -> None:
        path = uri.split("://", 1)[1]
        if not path:
            raise ConfigurationError(f"{SQLITE_SCHEME}:// needs a file path: {uri!r}")
        self.path = Path(path)
        self._local = threading.local()
        self._next_sweep = time.time() + SWEEP_SECONDS
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS counters"
            " (key TEXT PRIMARY KEY, hits INTEGER NOT NULL, ends REAL NOT NULL) WITHOUT ROWID"
        )

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread, opened again in a forked child (a gunicorn worker).
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
            conn.execute("PRAGMA synchronous = OFF")
            local.conn, local.pid, local.last = conn, os.getpid(), None
        connection: sqlite3.Connection = local.conn
        return connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        conn = self._connection()
        hits, ends = conn.execute(
            SQLITE_INCR, {"key": key, "amount": amount, "ends": now + expiry, "now": now}
        ).fetchone()
        # The limiter reads the same counter straight after (for its headers).
        self._local.last = (key, hits, ends, now)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            conn.execute("DELETE FROM counters WHERE ends <= ?", (now,))
        return int(hits)

    def _entry(self, key: str) -> tuple[int, float] | None:
        last = getattr(self._local, "last", None)
        if last is not None and last[0] == key and time.time() - last[3] < MEMO_SECONDS:
            return last[1], last[2]
        row = (
            self._connection()
            .execute("SELECT hits, ends FROM counters WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else (int(row[0]), float(row[1]))

    def get(self, key: str) -> int:
        entry = self._entry(key)
        if entry is None or entry[1] <= time.time():
            return 0
        return entry[0]

    def get_expiry(self, key: str) -> float:
        now = time.time()
        entry = self._entry(key)
        if entry is None or entry[1] <= now:
            return now
        return entry[1]

    def check(self) -> bool:
        self._connection().execute("SELECT 1")
        return True

    def reset(self) -> int | None:
        self._local.last = None
        return self._connection().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._local.last = None
        self._connection().execute("DELETE FROM counters WHERE key = ?", (key,))
