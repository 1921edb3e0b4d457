"""An in-process fixed-window counter store for the rate limit when there is no Redis.

``limits``' own ``memory://`` storage starts a ``threading.Timer`` (a new thread) to
expire keys whenever the previous one has finished: under load that is one thread
started per request or so, costing CPU and a context switch on the hot path. Fixed
windows need no background expiry: a counter past its window counts from zero again
when it is next read, and expired counters are swept now and then so memory stays
bounded by the keys seen in the last window.
"""

from __future__ import annotations

import threading
import time

from limits.storage import Storage

SCHEME = "christmas-memory"
# How often (seconds) counters whose window has ended are dropped.
SWEEP_SECONDS = 60.0


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
