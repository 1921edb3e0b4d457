"""Render scrapy-selenium ``SeleniumRequest``s in a pool of headless Chromium drivers.

Upstream's ``scrapy_selenium.SeleniumMiddleware`` cannot serve this project: it
passes ``executable_path`` to the driver (removed in Selenium 4.10) and renders
every page on the Twisted reactor thread, so the whole crawl stops while a page
loads. :class:`SeleniumMiddleware` keeps upstream's setting names and request
class but:

* renders on ``SELENIUM_POOL_SIZE`` worker threads, each page in one of at most
  that many Chromium drivers, started lazily (a crawl without a JS page starts
  no browser) and reused from page to page; plain requests never wait for them;
* gives every page a time limit (``SELENIUM_PAGE_TIMEOUT`` for the load, the
  request's ``wait_time`` for ``wait_until``, and a watchdog over the whole
  page); a driver that crashed or hung is killed with its Chromium processes,
  replaced, and the page tried again up to ``SELENIUM_RETRY_TIMES`` times before
  the request fails with :class:`SeleniumRenderError` (an ``IgnoreRequest``, so
  Scrapy's RetryMiddleware does not retry it a second time);
* passes the page's real HTTP status on (from the Navigation Timing entry), so
  a 5xx page is retried by Scrapy's RetryMiddleware like any other response;
  a browser network error page (refused or dropped connection) is raised as
  :class:`BrowserNetworkError`, a ``ConnectionLost``, retried the same way;
* quits every driver and kills its whole process tree when the spider closes
  (also after Ctrl-C, which Scrapy turns into a spider close), with an
  ``atexit`` safety net for a forced shutdown. Chromedriver runs in its own
  session, so a terminal's Ctrl-C reaches only Scrapy, which shuts down cleanly.

A ``wait_until`` made by :func:`element_present` (what the spiders use) is waited
for inside the page, in one WebDriver call that also reads the status, the final URL
and the document: a ``MutationObserver`` answers the moment the element appears,
where polling ``find_elements`` costs a round trip per check and ~25 ms of lag on
average. Any other callable is polled by ``WebDriverWait`` as upstream does.

A ``wait_until`` that times out is not a crash: the page is returned as
rendered (``meta["selenium_wait_timed_out"] = True``, stat
``selenium/wait_timeouts``) so the spider's parser decides and counts why it
yields nothing; with ``meta["selenium_fail_on_wait_timeout"]`` (or the setting
``SELENIUM_FAIL_ON_WAIT_TIMEOUT``) the request fails with
:class:`SeleniumWaitTimeout` instead.

When no browser is configured the middleware is off (``NotConfigured``), and
:class:`SeleniumRequiredMiddleware`, placed right after it, fails any
``SeleniumRequest`` that reaches it with a clear message and closes the spider
(reason ``selenium_not_configured``) instead of fetching the raw, script-less HTML.

Browsers bypass Scrapy's download slots, so the pool keeps its own politeness:
at least ``SELENIUM_DOWNLOAD_DELAY`` (default ``DOWNLOAD_DELAY``) seconds between
two page loads on one host.

Per-request overrides (``request.meta``): ``selenium_page_timeout``,
``selenium_retry_times``, ``selenium_fail_on_wait_timeout``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import psutil
from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy_selenium import SeleniumRequest
from selenium import webdriver
from selenium.common.exceptions import (
    JavascriptException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.timeouts import Timeouts
from selenium.webdriver.support.ui import WebDriverWait
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from selenium.webdriver.remote.webdriver import WebDriver

logger = logging.getLogger(__name__)

#: Every driver's ``--user-data-dir`` starts with this (in the temp directory),
#: so its Chromium processes can be found by command line if they escape the tree.
USER_DATA_DIR_PREFIX = "christmas-selenium-"

#: Extra SeleniumRequest fields that must survive ``Request.replace()``/``copy()``
#: (RetryMiddleware) and ``to_dict()``/``request_from_dict()`` (scrapy-redis).
SELENIUM_REQUEST_ATTRIBUTES = ("wait_time", "wait_until", "screenshot", "script")

SUPPORTED_DRIVER_NAMES = ("chrome", "chromium")
DEFAULT_WAIT_TIME = 10.0
# How often a wait_until condition is checked. WebDriverWait's own 0.5 s default adds
# ~0.25 s to every render on average; a render-bound crawl halves its time at 0.05 s.
DEFAULT_WAIT_POLL = 0.05
DEFAULT_RETRY_TIMES = 2
#: Time the watchdog allows beyond the page's own limits before it kills the driver.
WATCHDOG_GRACE_SECONDS = 10.0
#: How long a closing driver may take to quit politely before its processes are killed.
QUIT_GRACE_SECONDS = 5.0

NOT_CONFIGURED_HINT = (
    "install chromium and chromium-driver or set SELENIUM_DRIVER_EXECUTABLE_PATH "
    "and SELENIUM_BROWSER_EXECUTABLE_PATH (env CHRISTMAS_CHROMEDRIVER, CHRISTMAS_CHROMIUM)"
)

_NET_ERROR = re.compile(r"net::ERR_[A-Z_]+")

# The navigation's final URL (chrome-error://... for a network error page) and HTTP status.
_NAVIGATION_JS = (
    "const nav = performance.getEntriesByType('navigation')[0];"
    "return [window.location.href, nav ? nav.responseStatus : 0];"
)


# Waits in the page for ``css`` (event-driven, with a 50 ms check as a fallback), at
# most ``waitMs``, then answers [found, final URL, HTTP status, document]. The document
# is serialised as chromedriver's page_source does it. An error page (status >= 400 or
# Chromium's own) is answered at once: there is nothing to wait for.
_WAIT_AND_READ_JS = """
const [css, waitMs, done] = arguments;
const nav = performance.getEntriesByType('navigation')[0];
const status = nav ? nav.responseStatus : 0;
const present = () => document.querySelector(css) !== null;
let finished = false, observer = null, poll = null, timer = null;
const finish = () => {
  if (finished) return;
  finished = true;
  if (observer) observer.disconnect();
  clearInterval(poll);
  clearTimeout(timer);
  done([present(), location.href, status, new XMLSerializer().serializeToString(document)]);
};
if (status >= 400 || location.href.startsWith('chrome-error://') || present()) {
  finish();
} else {
  observer = new MutationObserver(() => { if (present()) finish(); });
  observer.observe(
    document, {subtree: true, childList: true, attributes: true, characterData: true});
  poll = setInterval(() => { if (present()) finish(); }, 50);
  timer = setTimeout(finish, waitMs);
}
"""


def _register_selenium_request_attributes() -> None:
    """Make SeleniumRequest's own fields part of ``Request.attributes``.

    scrapy-selenium does not list them, so ``replace()`` (used by retries) and
    ``to_dict()`` (used by scrapy-redis) silently drop ``wait_until`` & co.
    """
    missing = tuple(a for a in SELENIUM_REQUEST_ATTRIBUTES if a not in SeleniumRequest.attributes)
    if missing:
        SeleniumRequest.attributes = (*SeleniumRequest.attributes, *missing)


_register_selenium_request_attributes()


@dataclass(frozen=True)
class ElementPresent:
    """Wait condition: at least one element matches ``css``.

    A plain picklable value (unlike selenium's closures in expected_conditions),
    so requests holding it survive scrapy-redis serialisation.
    """

    css: str

    def __post_init__(self) -> None:
        if not isinstance(self.css, str) or not self.css.strip():
            raise ValueError(f"element_present needs a non-empty CSS selector, got {self.css!r}")

    def __call__(self, driver: WebDriver) -> bool:
        return bool(driver.find_elements(By.CSS_SELECTOR, self.css))


def element_present(css: str) -> ElementPresent:
    """The wait condition spiders pass as ``SeleniumRequest(wait_until=...)``."""
    return ElementPresent(css)


class SeleniumRenderError(IgnoreRequest):
    """The page could not be rendered (browser crashed or hung on every attempt)."""


class SeleniumWaitTimeout(IgnoreRequest):
    """``wait_until`` never held and the request asked to fail in that case."""


class SeleniumNotConfigured(IgnoreRequest):
    """A SeleniumRequest reached the crawl while no browser is configured."""


class BrowserNetworkError(ConnectionLost):
    """Chromium showed a network error page; retried by Scrapy's RetryMiddleware."""


class _DriverHung(Exception):
    """The page hit its load time limit or the watchdog; the driver is replaced."""


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserConfig:
    driver_name: str
    driver_path: str
    browser_path: str
    arguments: tuple[str, ...]
    load_images: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BrowserConfig:
        return cls(
            driver_name=(settings.get("SELENIUM_DRIVER_NAME") or "chrome").lower(),
            driver_path=settings.get("SELENIUM_DRIVER_EXECUTABLE_PATH") or "",
            browser_path=settings.get("SELENIUM_BROWSER_EXECUTABLE_PATH") or "",
            arguments=tuple(settings.getlist("SELENIUM_DRIVER_ARGUMENTS")),
            load_images=settings.getbool("SELENIUM_LOAD_IMAGES"),
        )

    def problem(self) -> str | None:
        """Why no browser can be started with this configuration, or None."""
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
        return None


def browser_config_problem(settings: BaseSettings) -> str | None:
    return BrowserConfig.from_settings(settings).problem()


# --- one Chromium driver and its processes --------------------------------------------

_live_drivers: set[ManagedDriver] = set()
_live_drivers_lock = threading.Lock()


class _StartGate:
    """Counts driver starts in progress; closed for good by the atexit safety net.

    Worker threads are daemons and keep running while the interpreter exits, so
    once the net has swept, no driver may start (it would outlive the crawl).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._starting = 0
        self.closed = False

    def enter(self) -> None:
        with self._condition:
            if self.closed:
                raise BrowserExiting("interpreter exiting, not starting a browser")
            self._starting += 1

    def leave(self) -> None:
        with self._condition:
            self._starting -= 1
            self._condition.notify_all()

    def close_and_wait(self, timeout: float) -> None:
        with self._condition:
            self.closed = True
            self._condition.wait_for(lambda: self._starting == 0, timeout)


_start_gate = _StartGate()


class BrowserExiting(RuntimeError):
    """The interpreter is exiting: no new browser."""


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_processes(processes: list[psutil.Process], timeout: float = 5.0) -> None:
    """SIGKILL them all at once and wait until each is gone or a zombie.

    A killed Chromium's children are re-parented to init and stay zombies until
    it reaps them (in a container, maybe never): they are dead, so not waited for.
    """
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    deadline = time.monotonic() + timeout
    pending = [p for p in processes if _running(p)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [p for p in pending if _running(p)]


def _processes_using_dir(user_data_dir: str) -> list[psutil.Process]:
    """Chromium processes whose command line names this user-data-dir.

    Catches processes re-parented away from chromedriver (e.g. a renderer whose
    browser process was killed first).
    """
    marker = f"--user-data-dir={user_data_dir}"
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker in (process.info["cmdline"] or []):
                found.append(process)
    return found


def _our_user_data_dir(cmdline: list[str]) -> str | None:
    for argument in cmdline:
        if argument.startswith("--user-data-dir="):
            path = argument.split("=", 1)[1]
            if os.path.basename(path).startswith(USER_DATA_DIR_PREFIX):
                return path
    return None


def reap_orphaned_browsers() -> int:
    """Kill the browsers of crawls that died without cleaning up (``kill -9``).

    Such a crawl leaves its chromedriver re-parented to init, or its Chromium
    without chromedriver. Browsers of crawls still running (their chromedriver
    has a live crawl as parent) are left alone. Returns how many browsers were reaped.
    """
    reaped = 0
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            user_data_dir = _our_user_data_dir(cmdline)
            if user_data_dir is None or any(a.startswith("--type=") for a in cmdline):
                continue  # not one of ours, or not the main browser process
            parent = process.parent()
            driver = parent if parent is not None and "chromedriver" in parent.name() else None
            if driver is not None and driver.ppid() != 1:
                continue  # its crawl is alive
            victims = [process, *process.children(recursive=True)]
            if driver is not None:
                victims.append(driver)
        except psutil.Error:
            continue
        _kill_processes([*victims, *_processes_using_dir(user_data_dir)])
        shutil.rmtree(user_data_dir, ignore_errors=True)
        logger.warning("Killed an orphaned browser left by a dead crawl (%s)", user_data_dir)
        reaped += 1
    return reaped


class ManagedDriver:
    """A Chromium WebDriver with its own user-data-dir and a killable process tree."""

    def __init__(self, config: BrowserConfig) -> None:
        self.user_data_dir = tempfile.mkdtemp(prefix=USER_DATA_DIR_PREFIX)
        self.watchdog_fired = False
        self._timeouts: tuple[float, float] | None = None
        options = ChromeOptions()
        options.binary_location = config.browser_path
        for argument in config.arguments:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={self.user_data_dir}")
        if not config.load_images:
            # Pages are parsed, never looked at: spare the shops the image downloads.
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.images": 2}
            )
        # Own session: a terminal Ctrl-C reaches Scrapy (which closes us cleanly),
        # not chromedriver and Chromium in the middle of a page.
        self.service = ChromeService(
            executable_path=config.driver_path,
            log_output=subprocess.DEVNULL,
            popen_kw={"start_new_session": True},
        )
        _start_gate.enter()
        with _live_drivers_lock:
            _live_drivers.add(self)
        try:
            self.webdriver: WebDriver = webdriver.Chrome(service=self.service, options=options)
            if _start_gate.closed:  # the safety net swept while we started
                raise BrowserExiting("interpreter exiting, not keeping a new browser")
        except BaseException:
            self.kill()
            raise
        finally:
            _start_gate.leave()

    def set_timeouts(self, page_load: float, script: float) -> None:
        """Set the WebDriver time limits, in one call and only when they change."""
        wanted = (page_load, script)
        if wanted != self._timeouts:
            self.webdriver.timeouts = Timeouts(page_load=page_load, script=script)
            self._timeouts = wanted

    @property
    def driver_pid(self) -> int | None:
        process = getattr(self.service, "process", None)
        return process.pid if process is not None else None

    def process_tree(self) -> list[psutil.Process]:
        """chromedriver, its descendants, and any process still using our user-data-dir."""
        tree: dict[int, psutil.Process] = {}
        pid = self.driver_pid
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                tree[root.pid] = root
                for child in root.children(recursive=True):
                    tree[child.pid] = child
        for process in _processes_using_dir(self.user_data_dir):
            tree.setdefault(process.pid, process)
        return list(tree.values())

    def kill(self) -> None:
        """Kill every process of this driver at once and remove its profile."""
        _kill_processes(self.process_tree())
        # Reap chromedriver so it leaves no zombie behind.
        process = getattr(self.service, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
        shutil.rmtree(self.user_data_dir, ignore_errors=True)
        with _live_drivers_lock:
            _live_drivers.discard(self)

    def kill_for_watchdog(self) -> None:
        self.watchdog_fired = True
        logger.warning("Selenium watchdog: a page overran its time limit, killing its browser")
        _kill_processes(self.process_tree())

    def quit(self, grace: float = QUIT_GRACE_SECONDS) -> None:
        """Quit politely (bounded by ``grace`` seconds), then kill whatever is left."""
        quitter = threading.Thread(target=self._quit_webdriver, daemon=True)
        quitter.start()
        quitter.join(grace)
        self.kill()

    def _quit_webdriver(self) -> None:
        with contextlib.suppress(Exception):
            self.webdriver.quit()


@atexit.register
def _kill_live_drivers() -> None:
    """Safety net for an interpreter exit that skipped spider_closed (forced shutdown)."""
    # Starts in progress finish first (and then kill themselves): a chromedriver
    # spawned after the sweep would outlive us.
    _start_gate.close_and_wait(timeout=30)
    with _live_drivers_lock:
        drivers = list(_live_drivers)
    for driver in drivers:
        driver.kill()


# --- the pool -----------------------------------------------------------------------


@dataclass
class RenderOptions:
    page_timeout: float
    wait_time: float
    retry_times: int
    fail_on_wait_timeout: bool
    watchdog_grace: float = WATCHDOG_GRACE_SECONDS
    wait_poll: float = DEFAULT_WAIT_POLL


@dataclass
class RenderedPage:
    url: str
    status: int
    body: bytes
    screenshot: bytes | None
    wait_timed_out: bool


@dataclass
class RenderJob:
    request: SeleniumRequest
    options: RenderOptions
    deliver: Callable[[RenderedPage | BaseException], None]
    # Stat increments, applied on the reactor thread when the job is delivered.
    counts: Counter[str] = field(default_factory=Counter)


class PoolClosed(SeleniumRenderError):
    """The pool was shut down (spider closing) before the page was rendered."""


class BrowserPool:
    """``size`` worker threads sharing at most ``size`` lazily started drivers."""

    def __init__(
        self,
        config: BrowserConfig,
        size: int,
        crawl_stopping: Callable[[], bool] = lambda: False,
        download_delay: float = 0.0,
    ) -> None:
        self.config = config
        self.size = size
        # Minimum seconds between two page loads on one host: the browsers bypass
        # Scrapy's download slots, so they keep their own politeness.
        self.download_delay = download_delay
        self._next_load: dict[str, float] = {}
        # Checked before each page: once the crawl stops (Ctrl-C, CloseSpider...),
        # pages still waiting for a browser are dropped instead of rendered.
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
        return self.closed or _start_gate.closed or self._crawl_stopping()

    def _checkout(self, job: RenderJob) -> ManagedDriver:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            reap, self._reaped = not self._reaped, True
        if reap:  # once, before this crawl's first browser
            reaped = reap_orphaned_browsers()
            if reaped:
                job.counts["selenium/orphans_reaped"] += reaped
        try:
            driver = ManagedDriver(self.config)
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
                page = self._render(driver, job)
            except (PoolClosed, BrowserNetworkError, SeleniumWaitTimeout):
                # Not the browser's fault: the driver is fine, the request decides.
                if driver is not None:
                    self._checkin(driver)
                raise
            except JavascriptException as exc:
                # The request's own script failed: another attempt would fail the same way.
                if driver is not None:
                    self._checkin(driver)
                raise SeleniumRenderError(f"script failed on {url}: {_short(exc)}") from exc
            except Exception as exc:
                if self._stopping():
                    if driver is not None:
                        self._discard(driver)
                    raise PoolClosed(f"crawl stopping, {url} not rendered") from exc
                hung = isinstance(exc, _DriverHung) or bool(driver and driver.watchdog_fired)
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
                        _short(exc),
                    )
                    continue
                raise SeleniumRenderError(
                    f"browser {what} on {url} on all {attempts} attempts: {_short(exc)}"
                ) from exc
            self._checkin(driver)
            return page
        raise AssertionError("unreachable")  # pragma: no cover

    def _render(self, driver: ManagedDriver, job: RenderJob) -> RenderedPage:
        request, options = job.request, job.options
        browser = driver.webdriver
        wait_time = options.wait_time if request.wait_time is None else float(request.wait_time)
        deadline = options.page_timeout + wait_time + options.watchdog_grace
        if request.script:
            deadline += options.page_timeout
        watchdog = threading.Timer(deadline, driver.kill_for_watchdog)
        watchdog.daemon = True
        watchdog.start()
        try:
            # The script limit covers the in-page wait and the request's own script.
            driver.set_timeouts(options.page_timeout, options.page_timeout + wait_time)
            try:
                browser.get(request.url)
            except TimeoutException as exc:
                raise _DriverHung(f"page did not load within {options.page_timeout:g}s") from exc
            except WebDriverException as exc:
                # chromedriver reports some network errors as a failed navigation...
                network_error = _NET_ERROR.search(exc.msg or "")
                if network_error:
                    raise BrowserNetworkError(
                        f"browser could not load {request.url}: {network_error.group(0)}"
                    ) from exc
                raise
            if isinstance(request.wait_until, ElementPresent):
                found, location, status, source = self._wait_in_page(
                    driver, request.wait_until.css, wait_time
                )
            else:
                location, status = browser.execute_script(_NAVIGATION_JS)
                found, source = None, None
            if str(location).startswith("chrome-error://"):
                # ...and others by showing Chromium's error page.
                raise BrowserNetworkError(f"browser could not load {request.url}")
            status = int(status or 200)
            wait_timed_out = False
            if request.wait_until is not None and status < 400:
                if found is None:
                    found = self._poll(driver, request.wait_until, wait_time, options.wait_poll)
                if not found:
                    wait_timed_out = True
                    job.counts["selenium/wait_timeouts"] += 1
                    if options.fail_on_wait_timeout:
                        raise SeleniumWaitTimeout(
                            f"{request.wait_until!r} did not hold on {request.url} "
                            f"within {wait_time:g}s"
                        )
                    logger.warning(
                        "%r did not hold on %s within %gs; returning the page as rendered",
                        request.wait_until,
                        request.url,
                        wait_time,
                    )
            if request.script:
                browser.execute_script(request.script)
                source = None  # the script may have changed the page
            screenshot = browser.get_screenshot_as_png() if request.screenshot else None
            if source is None:
                source, location = browser.page_source, browser.current_url
        finally:
            watchdog.cancel()
        if driver.watchdog_fired:
            raise _DriverHung("watchdog fired")
        body = source.encode("utf-8")
        return RenderedPage(str(location), status, body, screenshot, wait_timed_out)

    @staticmethod
    def _wait_in_page(driver: ManagedDriver, css: str, wait_time: float) -> list[Any]:
        """[found, final URL, status, document] after waiting in the page for ``css``."""
        try:
            return driver.webdriver.execute_async_script(
                _WAIT_AND_READ_JS, css, int(wait_time * 1000)
            )
        except TimeoutException as exc:
            # The page's own timer did not fire in time: its main thread is stuck.
            raise _DriverHung(f"page stopped answering within {wait_time:g}s") from exc

    @staticmethod
    def _poll(
        driver: ManagedDriver, condition: Callable[[WebDriver], Any], wait_time: float, poll: float
    ) -> bool:
        """Whether a ``wait_until`` callable held within ``wait_time`` (polled)."""
        try:
            WebDriverWait(driver.webdriver, wait_time, poll_frequency=poll).until(condition)
        except TimeoutException:
            # A condition failing on a dead driver raises, it does not time out.
            if driver.watchdog_fired:
                raise
            return False
        return True


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# --- the Scrapy components ---------------------------------------------------------


class SeleniumMiddleware:
    """Downloader middleware rendering SeleniumRequests in a Chromium pool."""

    def __init__(
        self,
        crawler: Crawler,
        config: BrowserConfig,
        pool_size: int,
        page_timeout: float,
        wait_time: float,
        retry_times: int,
        fail_on_wait_timeout: bool,
        watchdog_grace: float = WATCHDOG_GRACE_SECONDS,
        download_delay: float = 0.0,
        wait_poll: float = DEFAULT_WAIT_POLL,
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.pool = BrowserPool(
            config,
            pool_size,
            crawl_stopping=self._crawl_stopping,
            download_delay=download_delay,
        )
        self.page_timeout = page_timeout
        self.wait_time = wait_time
        self.retry_times = retry_times
        self.fail_on_wait_timeout = fail_on_wait_timeout
        self.watchdog_grace = watchdog_grace
        self.wait_poll = wait_poll

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        config = BrowserConfig.from_settings(settings)
        problem = config.problem()
        if problem:
            logger.warning("Selenium off: %s (%s)", problem, NOT_CONFIGURED_HINT)
            raise NotConfigured(f"Selenium off: {problem}")
        pool_size = settings.getint("SELENIUM_POOL_SIZE", 2)
        if pool_size < 1:
            raise NotConfigured(f"Selenium off: SELENIUM_POOL_SIZE={pool_size}")
        middleware = cls(
            crawler,
            config,
            pool_size=pool_size,
            page_timeout=settings.getfloat("SELENIUM_PAGE_TIMEOUT", 30.0),
            wait_time=settings.getfloat("SELENIUM_WAIT_TIME", DEFAULT_WAIT_TIME),
            retry_times=settings.getint("SELENIUM_RETRY_TIMES", DEFAULT_RETRY_TIMES),
            fail_on_wait_timeout=settings.getbool("SELENIUM_FAIL_ON_WAIT_TIMEOUT"),
            watchdog_grace=settings.getfloat("SELENIUM_WATCHDOG_GRACE", WATCHDOG_GRACE_SECONDS),
            download_delay=settings.getfloat(
                "SELENIUM_DOWNLOAD_DELAY", settings.getfloat("DOWNLOAD_DELAY")
            ),
            wait_poll=settings.getfloat("SELENIUM_WAIT_POLL", DEFAULT_WAIT_POLL),
        )
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _crawl_stopping(self) -> bool:
        """True once the engine stops or closes the spider (read from worker threads)."""
        engine = self.crawler.engine
        if engine is None:
            return False
        slot = getattr(engine, "_slot", None)
        return not engine.running or getattr(slot, "closing", None) is not None

    def _options(self, request: Request) -> RenderOptions:
        meta = request.meta
        return RenderOptions(
            page_timeout=float(meta.get("selenium_page_timeout", self.page_timeout)),
            wait_time=self.wait_time,
            retry_times=int(meta.get("selenium_retry_times", self.retry_times)),
            fail_on_wait_timeout=bool(
                meta.get("selenium_fail_on_wait_timeout", self.fail_on_wait_timeout)
            ),
            watchdog_grace=self.watchdog_grace,
            wait_poll=self.wait_poll,
        )

    async def process_request(self, request: Request) -> HtmlResponse | None:
        if not isinstance(request, SeleniumRequest):
            return None
        from twisted.internet import reactor

        delivered: Deferred[RenderedPage | BaseException] = Deferred()

        def deliver(result: RenderedPage | BaseException) -> None:
            # Called on a worker thread; the Deferred fires on the reactor thread.
            reactor.callFromThread(delivered.callback, result)  # type: ignore[attr-defined]

        job = RenderJob(request, self._options(request), deliver)
        self.pool.submit(job)
        result = await maybe_deferred_to_future(delivered)
        for key, count in job.counts.items():
            self.stats.inc_value(key, count)
        if isinstance(result, BaseException):
            if isinstance(result, PoolClosed):
                self.stats.inc_value("selenium/abandoned")
            elif isinstance(result, (SeleniumRenderError, SeleniumWaitTimeout)):
                self.stats.inc_value("selenium/failures")
                logger.error("Selenium failed on %s: %s", request.url, result)
            raise result
        self.stats.inc_value("christmas/browser_renders")
        if result.screenshot is not None:
            request.meta["screenshot"] = result.screenshot
        request.meta["selenium_wait_timed_out"] = result.wait_timed_out
        return HtmlResponse(
            url=result.url,
            status=result.status,
            body=result.body,
            encoding="utf-8",
            request=request,
        )

    async def spider_closed(self) -> None:
        from twisted.internet import threads

        started = time.monotonic()
        await maybe_deferred_to_future(threads.deferToThread(self.pool.close))
        logger.debug("Selenium pool closed in %.1fs", time.monotonic() - started)


class SeleniumRequiredMiddleware:
    """Fails SeleniumRequests loudly when SeleniumMiddleware is off.

    Placed right after SeleniumMiddleware: when that one runs it answers every
    SeleniumRequest itself, so only requests it could not serve get here.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._closing: Deferred[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if not isinstance(request, SeleniumRequest):
            return
        problem = browser_config_problem(self.crawler.settings) or (
            "SeleniumMiddleware is not enabled in DOWNLOADER_MIDDLEWARES"
        )
        message = (
            f"this page needs a browser (SeleniumRequest) but Selenium is not configured: "
            f"{problem}; {NOT_CONFIGURED_HINT}. Page: {request.url}"
        )
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("selenium/not_configured")
        logger.error(message)
        if self._closing is None and self.crawler.engine is not None:
            self._closing = deferred_from_coro(
                self.crawler.engine.close_spider_async(reason="selenium_not_configured")
            )
        raise SeleniumNotConfigured(message)


__all__ = [
    "USER_DATA_DIR_PREFIX",
    "BrowserConfig",
    "BrowserNetworkError",
    "ElementPresent",
    "SeleniumMiddleware",
    "SeleniumNotConfigured",
    "SeleniumRenderError",
    "SeleniumRequiredMiddleware",
    "SeleniumWaitTimeout",
    "browser_config_problem",
    "element_present",
]
