"""Shared test fixtures; each area's fixtures live in tests/fixtures/ and are listed here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.selenium",
    "tests.fixtures.spiders",
    "tests.fixtures.storage",
    "tests.fixtures.api",
    "tests.fixtures.scrapyd",
    "tests.fixtures.replica",
]
