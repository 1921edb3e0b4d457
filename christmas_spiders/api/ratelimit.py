"""The rate limit: one budget per API key across every route, and its counter stores.

``api.rate_limit`` (say ``600/minute``, the ``limits`` notation) is an application-wide
limit per key: every route draws on the same fixed-window counter, each request costing
its route's :func:`costs` (1 unless a route says more). Where the counters live
(``api.rate_limit_storage``, else ``REDIS_URL``, else this process's memory):

- ``redis://...``: shared by every worker and host;
- ``christmas-sqlite:///path/counters.sqlite3``: a SQLite file, shared by every worker
  process of one machine (``deploy/`` uses it unless Redis is set);
- ``christmas-memory://``: this process only (the development server, tests). Under
  several workers each would count apart: a key would get the limit once per worker.

The check is one counter increment per request (:class:`RateLimit`), on a ``limits``
storage: a full rate-limit extension resolves decorators, scopes and meta limits on
every request, and cost a seventh of a page request's CPU for this one budget.

Our own stores rather than ``limits``' ``memory://``: that one starts a
``threading.Timer`` (a new thread) to expire keys whenever the previous one has
finished, under load one thread per request or so. Fixed windows need no background
expiry: a counter past its window counts from zero again when it is next read, and
expired counters are swept now and then so the store stays bounded by the keys seen
in the last window.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse
from limits.errors import ConfigurationError, StorageError
from limits.storage import Storage, storage_from_string

from christmas_spiders.api.envelope import ApiError

logger = logging.getLogger(__name__)

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
# A shared store that failed is tried again after this many seconds; meanwhile the
# worker counts in its own memory (a request is never refused for a store being down).
RETRY_STORE_SECONDS = 5.0
EXTENSION = "christmas_rate_limit"

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


@dataclass(frozen=True)
class Budget:
    """A request's draw on its key's budget: the counter after it, and when it resets."""

    limit: RateLimitItem
    count: int
    resets_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit.amount - self.count)


class RateLimit:
    """``limit`` per budget key (``key_id()``; the client address without one), over all
    endpoints but ``exempt``, counted in ``storage`` (a fixed window per key).

    ``before()`` counts the request or refuses it (a 429 ``rate_limited``); ``after()``
    writes the ``X-RateLimit-*`` headers, and ``Retry-After`` on a refusal.
    """

    def __init__(
        self,
        limit: RateLimitItem,
        storage: Storage,
        key_id: Callable[[], int | None],
        exempt: Collection[str],
        prefix: str,
        fallback: bool,
    ) -> None:
        self.limit = limit
        self.storage = storage
        self.key_id = key_id
        self.exempt = frozenset(exempt)
        self.prefix = prefix
        self.expiry = limit.get_expiry()
        # Counts while the shared store is unreachable (None: the store is memory).
        self.fallback = FixedWindowMemoryStorage() if fallback else None
        self._store_down_until = 0.0

    def key(self) -> str:
        found = self.key_id()
        who = f"key-{found}" if found is not None else f"addr-{request.remote_addr}"
        return self.limit.key_for(self.prefix, who)

    def _count(self, key: str, cost: int) -> tuple[int, float]:
        store = self.storage
        if self.fallback is not None and time.monotonic() < self._store_down_until:
            store = self.fallback
        try:
            count = store.incr(key, self.expiry, amount=cost)
            return count, store.get_expiry(key)
        except StorageError as exc:
            if store is not self.storage or self.fallback is None:
                raise
            logger.warning("rate-limit store unreachable, counting in memory: %s", exc)
            self._store_down_until = time.monotonic() + RETRY_STORE_SECONDS
            count = self.fallback.incr(key, self.expiry, amount=cost)
            return count, self.fallback.get_expiry(key)

    def before(self) -> None:
        if request.endpoint in self.exempt:
            return
        count, resets_at = self._count(self.key(), request_cost())
        budget = Budget(self.limit, count, resets_at)
        g.christmas_budget = budget
        if count > self.limit.amount:
            raise ApiError(429, "rate_limited", f"rate limit exceeded ({self.limit}); retry later")

    @staticmethod
    def after(response: Response) -> Response:
        budget: Budget | None = g.get("christmas_budget")
        if budget is not None:
            headers = response.headers
            headers["X-RateLimit-Limit"] = str(budget.limit.amount)
            headers["X-RateLimit-Remaining"] = str(budget.remaining)
            headers["X-RateLimit-Reset"] = str(int(budget.resets_at + 1))
            if response.status_code == 429:
                headers["Retry-After"] = str(max(1, math.ceil(budget.resets_at - time.time())))
        return response


def init_rate_limit(
    app: Flask, key_id: Callable[[], int | None], exempt: Collection[str]
) -> RateLimit:
    """One ``api.rate_limit`` budget per key (``key_id()``; the client address without
    one) over all routes but the ``exempt`` endpoints. Registers its before_request hook
    (after the ones registered so far) and its after_request hook."""
    config = app.config["CHRISTMAS"]
    uri = storage_uri(config)
    limiter = RateLimit(
        parse(config["api"]["rate_limit"]),
        storage_from_string(uri, wrap_exceptions=True),
        key_id,
        exempt,
        config["api"]["rate_limit_prefix"],
        # A shared store down: count in each worker's memory until it is back, rather
        # than fail the request.
        fallback=not uri.startswith(f"{SCHEME}:"),
    )
    app.extensions[EXTENSION] = limiter
    app.before_request(limiter.before)
    app.after_request(limiter.after)
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
        # One connection per thread, opened again in a forked child (a server's worker).
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
