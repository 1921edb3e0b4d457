"""The in-process fixed-window store used for rate limits when there is no Redis."""

from __future__ import annotations

import threading

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from christmas_spiders.api import ratelimit
from christmas_spiders.api.ratelimit import FixedWindowMemoryStorage


def test_counts_within_a_window_and_restarts_after_it(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    storage = FixedWindowMemoryStorage()
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3
    assert storage.get_expiry("k") == 1060.0
    assert storage.get("other") == 0
    clock[0] = 1060.0
    # The window has ended: nothing counted, and the next hit opens a new window.
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1
    assert storage.get_expiry("k") == 1120.0


def test_expired_counters_are_swept(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    storage = FixedWindowMemoryStorage()
    for number in range(100):
        storage.incr(f"key-{number}", 1)
    clock[0] += ratelimit.SWEEP_SECONDS + 1
    storage.incr("fresh", 60)
    assert storage._counters.keys() == {"fresh"}


def test_clear_and_reset():
    storage = FixedWindowMemoryStorage()
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.get("b") == 1
    assert storage.reset() == 1
    assert storage.get("b") == 0


def test_limits_strategy_over_the_registered_scheme_starts_no_threads():
    storage = storage_from_string(f"{ratelimit.SCHEME}://")
    assert isinstance(storage, FixedWindowMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    item = parse("5/minute")
    threads_before = threading.active_count()
    assert [limiter.hit(item, "key") for _ in range(7)] == [True] * 5 + [False] * 2
    assert threading.active_count() == threads_before
    stats = limiter.get_window_stats(item, "key")
    assert stats.remaining == 0


def test_concurrent_hits_are_all_counted():
    storage = FixedWindowMemoryStorage()

    def hit() -> None:
        for _ in range(1000):
            storage.incr("shared", 60)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("shared") == 4000
