"""BrowserSettings: every SELENIUM_* setting read once from the project settings, and
why a browser cannot start (the message both middlewares print)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from scrapy.utils.project import get_project_settings

from christmas_spiders.browser.settings import BrowserSettings
from tests.fixtures.selenium import browser_settings

#: The Scrapy setting behind each field (the DOWNLOAD_DELAY fallback is tested apart).
SETTING_OF_FIELD = {
    "driver_name": "SELENIUM_DRIVER_NAME",
    "driver_path": "SELENIUM_DRIVER_EXECUTABLE_PATH",
    "browser_path": "SELENIUM_BROWSER_EXECUTABLE_PATH",
    "arguments": "SELENIUM_DRIVER_ARGUMENTS",
    "load_images": "SELENIUM_LOAD_IMAGES",
    "pool_size": "SELENIUM_POOL_SIZE",
    "page_timeout": "SELENIUM_PAGE_TIMEOUT",
    "wait_time": "SELENIUM_WAIT_TIME",
    "wait_poll": "SELENIUM_WAIT_POLL",
    "retry_times": "SELENIUM_RETRY_TIMES",
    "fail_on_wait_timeout": "SELENIUM_FAIL_ON_WAIT_TIMEOUT",
    "watchdog_grace": "SELENIUM_WATCHDOG_GRACE",
    "download_delay": "SELENIUM_DOWNLOAD_DELAY",
}


def test_every_field_has_its_setting_in_the_project_settings() -> None:
    fields = {f.name for f in dataclasses.fields(BrowserSettings)}
    assert fields == set(SETTING_OF_FIELD)
    settings = get_project_settings()
    missing = [name for name in SETTING_OF_FIELD.values() if name not in settings]
    assert missing == [], "define these in christmas_spiders/settings.py"


def test_fields_follow_their_settings() -> None:
    browser = browser_settings(
        SELENIUM_DRIVER_NAME="Chromium",
        SELENIUM_DRIVER_ARGUMENTS=["--headless=new", "--mute-audio"],
        SELENIUM_LOAD_IMAGES=True,
        SELENIUM_POOL_SIZE="3",
        SELENIUM_PAGE_TIMEOUT="7.5",
        SELENIUM_WAIT_TIME=2,
        SELENIUM_WAIT_POLL="0.1",
        SELENIUM_RETRY_TIMES=4,
        SELENIUM_FAIL_ON_WAIT_TIMEOUT="True",
        SELENIUM_WATCHDOG_GRACE=3,
        SELENIUM_DOWNLOAD_DELAY="0.25",
    )
    assert browser.driver_name == "chromium"
    assert browser.arguments == ("--headless=new", "--mute-audio")
    assert browser.load_images is True
    assert (browser.pool_size, browser.retry_times) == (3, 4)
    assert (browser.page_timeout, browser.wait_time, browser.wait_poll) == (7.5, 2.0, 0.1)
    assert browser.fail_on_wait_timeout is True
    assert browser.watchdog_grace == 3.0
    assert browser.download_delay == 0.25


def test_download_delay_follows_scrapys_unless_set() -> None:
    assert browser_settings(DOWNLOAD_DELAY=2.5).download_delay == 2.5
    assert browser_settings(DOWNLOAD_DELAY=2.5, SELENIUM_DOWNLOAD_DELAY=0).download_delay == 0.0


def test_settings_are_frozen() -> None:
    browser = browser_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        browser.pool_size = 5  # type: ignore[misc]


def test_problem_names_the_setting_at_fault(tmp_path: Path) -> None:
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    not_executable.chmod(0o644)
    executable = shutil.which("sh")
    assert executable is not None
    ok = {
        "SELENIUM_DRIVER_EXECUTABLE_PATH": executable,
        "SELENIUM_BROWSER_EXECUTABLE_PATH": executable,
    }
    assert browser_settings(**ok).problem() is None
    assert browser_settings(**ok, SELENIUM_DRIVER_NAME="firefox").problem() == (
        "SELENIUM_DRIVER_NAME='firefox' is not supported (only chrome, chromium)"
    )
    assert browser_settings(**{**ok, "SELENIUM_DRIVER_EXECUTABLE_PATH": ""}).problem() == (
        "SELENIUM_DRIVER_EXECUTABLE_PATH is empty"
    )
    assert browser_settings(
        **{**ok, "SELENIUM_BROWSER_EXECUTABLE_PATH": str(not_executable)}
    ).problem() == (f"SELENIUM_BROWSER_EXECUTABLE_PATH={not_executable} is not an executable file")
    assert browser_settings(**ok, SELENIUM_POOL_SIZE=0).problem() == (
        "SELENIUM_POOL_SIZE=0 (at least 1 browser is needed)"
    )
