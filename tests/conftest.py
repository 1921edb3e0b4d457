"""Shared test fixtures; each area's fixtures live in tests/fixtures/ and are listed here."""

from __future__ import annotations

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.selenium",
    "tests.fixtures.spiders",
    "tests.fixtures.storage",
    "tests.fixtures.api",
    "tests.fixtures.scrapyd",
    "tests.fixtures.replica",
    "tests.fixtures.dashboard",
]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failing test: every part these tests need is real and present."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"{skipped} test(s) skipped: failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
