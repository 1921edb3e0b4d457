"""Worker threads rendering pages on a few reused Chromium drivers.

``pool_size`` worker threads share at most ``pool_size`` drivers, started lazily
(a crawl without a JS page starts no browser) and reused from page to page. Each
page gets a watchdog over its whole render; a driver that crashed or hung is
killed with its processes, replaced, and the page tried again up to
``retry_times`` times. Browsers bypass Scrapy's download slots, so the pool keeps
its own politeness: at least ``download_delay`` seconds between two page loads on
one host.

Workers never touch Scrapy: a job's result goes to its ``deliver`` callback and
its stat increments to ``job.counts``, both applied by the caller on its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scrapy_selenium import SeleniumRequest
from selenium.common.exceptions import JavascriptException

from christmas_spiders.browser import reaping
from christmas_spiders.browser.driver import QUIT_GRACE_SECONDS, ManagedDriver, RenderedPage
from christmas_spiders.browser.errors import (
    BrowserNetworkError,
    DriverHung,
    PoolClosed,
    SeleniumRenderError,
    SeleniumWaitTimeout,
    describe,
)
from christmas_spiders.browser.request import RenderOptions
from christmas_spiders.browser.settings import BrowserSettings

logger = logging.getLogger(__name__)


@dataclass
class RenderJob:
    request: SeleniumRequest
    options: RenderOptions
    deliver: Callable[[RenderedPage | BaseException], None]
    # Stat increments, applied by the caller when the job is delivered.
    counts: Counter[str] = field(default_factory=Counter)


class BrowserPool:
    """``settings.pool_size`` worker threads sharing at most that many drivers."""

    def __init__(
        self,
        settings: BrowserSettings,
        crawl_stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.size = settings.pool_size
        # Minimum seconds between two page loads on one host.
        self.download_delay = settings.download_delay
        self._next_load: dict[str, float] = {}
        # Checked before each page: once the crawl stops (Ctrl-C, SIGTERM), pages
        # still waiting for a browser are dropped instead of rendered.
        self._crawl_stopping = crawl_stopping
        self._jobs: queue.Queue[RenderJob | None] = queue.Queue()
        self._idle: list[ManagedDriver] = []
        self._drivers: set[ManagedDriver] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._reaped = False

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def submit(self, job: RenderJob) -> None:
        if self.closed:
            raise PoolClosed(f"browser pool closed, not rendering {job.request.url}")
        with self._lock:
            if len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"selenium-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)

    def close(self) -> None:
        """Stop the workers, quit every driver and kill its processes."""
        self._closed.set()
        for _ in self._threads:
            self._jobs.put(None)
        with self._lock:
            drivers = list(self._drivers)
            self._drivers.clear()
            self._idle.clear()
        quitters = [threading.Thread(target=d.quit, daemon=True) for d in drivers]
        for quitter in quitters:
            quitter.start()
        for quitter in quitters:
            quitter.join(QUIT_GRACE_SECONDS + 10)
        # Jobs still queued never get a worker now: fail them.
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.deliver(PoolClosed(f"spider closed before {job.request.url} was rendered"))

    def render(self, driver: ManagedDriver, job: RenderJob) -> RenderedPage:
        """One attempt at ``job`` on ``driver``, under the watchdog."""
        request, options = job.request, job.options
        deadline = options.page_timeout + options.wait_time + options.watchdog_grace
        if request.script:
            deadline += options.page_timeout
        watchdog = threading.Timer(deadline, driver.kill_for_watchdog)
        watchdog.daemon = True
        watchdog.start()
        try:
            page = driver.render(request, options)
        except SeleniumWaitTimeout:
            job.counts["selenium/wait_timeouts"] += 1
            raise
        finally:
            watchdog.cancel()
        if driver.watchdog_fired:
            raise DriverHung("watchdog fired")
        if page.wait_timed_out:
            job.counts["selenium/wait_timeouts"] += 1
        return page

    # worker side --------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self.closed:
                if job is not None:
                    job.deliver(PoolClosed(f"spider closed before {job.request.url} was rendered"))
                return
            if self._stopping():
                job.deliver(PoolClosed(f"crawl stopping, {job.request.url} not rendered"))
                continue
            try:
                result: RenderedPage | BaseException = self._render_with_retries(job)
            except BaseException as exc:  # never lose a job: the crawl awaits its answer
                result = exc
            job.deliver(result)

    def _stopping(self) -> bool:
        return self.closed or reaping.start_gate.closed or self._crawl_stopping()

    def _checkout(self, job: RenderJob) -> ManagedDriver:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            reap, self._reaped = not self._reaped, True
        if reap:  # once, before this crawl's first browser
            reaped = reaping.reap_orphaned_browsers()
            if reaped:
                job.counts["selenium/orphans_reaped"] += reaped
        try:
            driver = ManagedDriver(self.settings)
        except Exception:
            job.counts["selenium/driver_start_failures"] += 1
            raise
        job.counts["selenium/driver_starts"] += 1
        with self._lock:
            self._drivers.add(driver)
        if self.closed:  # close() ran while it started: it did not see this driver
            self._discard(driver)
            raise PoolClosed(f"spider closed before {job.request.url} was rendered")
        logger.debug("Started Chromium driver (chromedriver pid %s)", driver.driver_pid)
        return driver

    def _checkin(self, driver: ManagedDriver) -> None:
        with self._lock:
            if not self.closed and driver in self._drivers:
                self._idle.append(driver)
                return
        driver.kill()

    def _discard(self, driver: ManagedDriver) -> None:
        with self._lock:
            self._drivers.discard(driver)
        driver.kill()

    def _wait_turn(self, url: str) -> None:
        """Sleep (this worker only) until ``url``'s host may get another page load."""
        if self.download_delay <= 0:
            return
        host = urlsplit(url).netloc
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_load.get(host, now))
            self._next_load[host] = start + self.download_delay
        if start > now:
            self._closed.wait(start - now)

    def _render_with_retries(self, job: RenderJob) -> RenderedPage:
        url = job.request.url
        attempts = job.options.retry_times + 1
        for attempt in range(1, attempts + 1):
            if self._stopping():
                raise PoolClosed(f"crawl stopping, {url} not rendered")
            driver: ManagedDriver | None = None
            try:
                driver = self._checkout(job)
                # The delay spaces the navigations themselves, so it is taken with a ready
                # browser in hand: a browser's start-up time varies by seconds.
                self._wait_turn(url)
                if self._stopping():
                    raise PoolClosed(f"crawl stopping, {url} not rendered")
                page = self.render(driver, job)
            except (PoolClosed, BrowserNetworkError, SeleniumWaitTimeout):
                # Not the browser's fault: the driver is fine, the request decides.
                if driver is not None:
                    self._checkin(driver)
                raise
            except JavascriptException as exc:
                # The request's own script failed: another attempt would fail the same way.
                if driver is not None:
                    self._checkin(driver)
                raise SeleniumRenderError(f"script failed on {url}: {describe(exc)}") from exc
            except Exception as exc:
                if self._stopping():
                    if driver is not None:
                        self._discard(driver)
                    raise PoolClosed(f"crawl stopping, {url} not rendered") from exc
                hung = isinstance(exc, DriverHung) or bool(driver and driver.watchdog_fired)
                what = "hung" if hung else "crashed"
                if driver is not None:
                    self._discard(driver)
                    job.counts["selenium/driver_restarts"] += 1
                if hung:
                    job.counts["selenium/page_timeouts"] += 1
                if attempt < attempts:
                    job.counts["selenium/retries"] += 1
                    logger.warning(
                        "Browser %s on %s (attempt %d of %d): %s; retrying with a new driver",
                        what,
                        url,
                        attempt,
                        attempts,
                        describe(exc),
                    )
                    continue
                raise SeleniumRenderError(
                    f"browser {what} on {url} on all {attempts} attempts: {describe(exc)}"
                ) from exc
            self._checkin(driver)
            return page
        raise AssertionError("unreachable")  # pragma: no cover
