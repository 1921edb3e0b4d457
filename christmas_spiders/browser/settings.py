"""The browser layer's settings, read once from Scrapy's settings.

Every ``SELENIUM_*`` name here is defined in ``christmas_spiders/settings.py``
(mostly mapped from the ``selenium`` section of the configuration), so this
module reads them without defaults of its own. Setting names follow
scrapy-selenium where it has one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

SUPPORTED_DRIVER_NAMES = ("chrome", "chromium")

NOT_CONFIGURED_HINT = (
    "install chromium and chromium-driver or set SELENIUM_DRIVER_EXECUTABLE_PATH "
    "and SELENIUM_BROWSER_EXECUTABLE_PATH (env CHRISTMAS_CHROMEDRIVER, CHRISTMAS_CHROMIUM)"
)


@dataclass(frozen=True)
class BrowserSettings:
    """What the pool, its drivers and the middleware need to know, as typed values."""

    #: ``SELENIUM_DRIVER_NAME``: ``chrome`` or ``chromium`` (both start Chromium).
    driver_name: str
    #: ``SELENIUM_DRIVER_EXECUTABLE_PATH``: the chromedriver binary.
    driver_path: str
    #: ``SELENIUM_BROWSER_EXECUTABLE_PATH``: the Chromium binary.
    browser_path: str
    #: ``SELENIUM_DRIVER_ARGUMENTS``: Chromium's command-line flags.
    arguments: tuple[str, ...]
    #: ``SELENIUM_LOAD_IMAGES``: whether Chromium downloads images.
    load_images: bool
    #: ``SELENIUM_POOL_SIZE``: browsers (and worker threads) rendering at once.
    pool_size: int
    #: ``SELENIUM_PAGE_TIMEOUT``: seconds a page may take to load.
    page_timeout: float
    #: ``SELENIUM_WAIT_TIME``: seconds to wait for ``wait_until`` when the request sets none.
    wait_time: float
    #: ``SELENIUM_WAIT_POLL``: seconds between two checks of a polled ``wait_until``.
    wait_poll: float
    #: ``SELENIUM_RETRY_TIMES``: new attempts, each on a fresh driver, after a crash or hang.
    retry_times: int
    #: ``SELENIUM_FAIL_ON_WAIT_TIMEOUT``: fail the request when ``wait_until`` never held.
    fail_on_wait_timeout: bool
    #: ``SELENIUM_WATCHDOG_GRACE``: seconds beyond a page's own limits before its
    #: browser is killed.
    watchdog_grace: float
    #: ``SELENIUM_DOWNLOAD_DELAY`` (``None``: ``DOWNLOAD_DELAY``): seconds between two
    #: page loads on one host.
    download_delay: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BrowserSettings:
        download_delay = settings.get("SELENIUM_DOWNLOAD_DELAY")
        return cls(
            # None (unset) and "" both make problem() say what is missing.
            driver_name=(settings.get("SELENIUM_DRIVER_NAME") or "").lower(),
            driver_path=settings.get("SELENIUM_DRIVER_EXECUTABLE_PATH") or "",
            browser_path=settings.get("SELENIUM_BROWSER_EXECUTABLE_PATH") or "",
            arguments=tuple(settings.getlist("SELENIUM_DRIVER_ARGUMENTS")),
            load_images=settings.getbool("SELENIUM_LOAD_IMAGES"),
            pool_size=settings.getint("SELENIUM_POOL_SIZE"),
            page_timeout=settings.getfloat("SELENIUM_PAGE_TIMEOUT"),
            wait_time=settings.getfloat("SELENIUM_WAIT_TIME"),
            wait_poll=settings.getfloat("SELENIUM_WAIT_POLL"),
            retry_times=settings.getint("SELENIUM_RETRY_TIMES"),
            fail_on_wait_timeout=settings.getbool("SELENIUM_FAIL_ON_WAIT_TIMEOUT"),
            watchdog_grace=settings.getfloat("SELENIUM_WATCHDOG_GRACE"),
            # The browsers' politeness follows Scrapy's unless set apart.
            download_delay=(
                settings.getfloat("DOWNLOAD_DELAY")
                if download_delay is None
                else float(download_delay)
            ),
        )

    def problem(self) -> str | None:
        """Why no browser can be started with these settings, or None."""
        if self.driver_name not in SUPPORTED_DRIVER_NAMES:
            return (
                f"SELENIUM_DRIVER_NAME={self.driver_name!r} is not supported "
                f"(only {', '.join(SUPPORTED_DRIVER_NAMES)})"
            )
        for setting, path in (
            ("SELENIUM_DRIVER_EXECUTABLE_PATH", self.driver_path),
            ("SELENIUM_BROWSER_EXECUTABLE_PATH", self.browser_path),
        ):
            if not path:
                return f"{setting} is empty"
            if not os.path.isfile(path) or not os.access(path, os.X_OK):
                return f"{setting}={path} is not an executable file"
        if self.pool_size < 1:
            return f"SELENIUM_POOL_SIZE={self.pool_size} (at least 1 browser is needed)"
        return None
