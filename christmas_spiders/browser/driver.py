"""One Chromium driver: started as configured, rendering one page at a time.

:meth:`ManagedDriver.render` is a page's whole routine: navigate, wait for the
request's ``wait_until``, run its script, read the HTTP status, the final URL and
the document. A ``wait_until`` made by ``element_present`` is waited for inside the
page, in one WebDriver call that also reads the status, URL and document: a
``MutationObserver`` answers the moment the element appears, where polling
``find_elements`` costs a round trip per check and ~25 ms of lag on average. Any
other callable is polled by ``WebDriverWait`` as upstream scrapy-selenium does.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.timeouts import Timeouts
from selenium.webdriver.support.ui import WebDriverWait

from christmas_spiders.browser import reaping
from christmas_spiders.browser.errors import (
    BrowserExiting,
    BrowserNetworkError,
    DriverHung,
    SeleniumWaitTimeout,
)
from christmas_spiders.browser.request import ElementPresent

if TYPE_CHECKING:
    from scrapy_selenium import SeleniumRequest
    from selenium.webdriver.remote.webdriver import WebDriver

    from christmas_spiders.browser.request import RenderOptions
    from christmas_spiders.browser.settings import BrowserSettings

logger = logging.getLogger(__name__)

#: How long a closing driver may take to quit politely before its processes are killed.
QUIT_GRACE_SECONDS = 5.0

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


@dataclass
class RenderedPage:
    url: str
    status: int
    body: bytes
    screenshot: bytes | None
    wait_timed_out: bool


class ManagedDriver:
    """A Chromium WebDriver with its own user-data-dir and a killable process tree."""

    def __init__(self, settings: BrowserSettings) -> None:
        self.user_data_dir = tempfile.mkdtemp(prefix=reaping.USER_DATA_DIR_PREFIX)
        self.watchdog_fired = False
        self._timeouts: tuple[float, float] | None = None
        options = ChromeOptions()
        options.binary_location = settings.browser_path
        for argument in settings.arguments:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={self.user_data_dir}")
        if not settings.load_images:
            # Pages are parsed, never looked at: spare the shops the image downloads.
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.images": 2}
            )
        # Own session: a terminal Ctrl-C reaches Scrapy (which closes us cleanly),
        # not chromedriver and Chromium in the middle of a page.
        self.service = ChromeService(
            executable_path=settings.driver_path,
            log_output=subprocess.DEVNULL,
            popen_kw={"start_new_session": True},
        )
        reaping.start_gate.enter()
        reaping.track(self)
        try:
            self.webdriver: WebDriver = webdriver.Chrome(service=self.service, options=options)
            if reaping.start_gate.closed:  # the safety net swept while we started
                raise BrowserExiting("interpreter exiting, not keeping a new browser")
        except BaseException:
            self.kill()
            raise
        finally:
            reaping.start_gate.leave()

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
        for process in reaping.processes_using_dir(self.user_data_dir):
            tree.setdefault(process.pid, process)
        return list(tree.values())

    def kill(self) -> None:
        """Kill every process of this driver at once and remove its profile."""
        reaping.kill_processes(self.process_tree())
        # Reap chromedriver so it leaves no zombie behind.
        process = getattr(self.service, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
        shutil.rmtree(self.user_data_dir, ignore_errors=True)
        reaping.untrack(self)

    def kill_for_watchdog(self) -> None:
        self.watchdog_fired = True
        logger.warning("Selenium watchdog: a page overran its time limit, killing its browser")
        reaping.kill_processes(self.process_tree())

    def quit(self, grace: float = QUIT_GRACE_SECONDS) -> None:
        """Quit politely (bounded by ``grace`` seconds), then kill whatever is left."""
        quitter = threading.Thread(target=self._quit_webdriver, daemon=True)
        quitter.start()
        quitter.join(grace)
        self.kill()

    def _quit_webdriver(self) -> None:
        with contextlib.suppress(Exception):
            self.webdriver.quit()

    # one page ----------------------------------------------------------------------

    def render(self, request: SeleniumRequest, options: RenderOptions) -> RenderedPage:
        """Load ``request`` and return the page as rendered (no watchdog: the caller's)."""
        browser = self.webdriver
        wait_time = options.wait_time
        # The script limit covers the in-page wait and the request's own script.
        self.set_timeouts(options.page_timeout, options.page_timeout + wait_time)
        try:
            browser.get(request.url)
        except TimeoutException as exc:
            raise DriverHung(f"page did not load within {options.page_timeout:g}s") from exc
        except WebDriverException as exc:
            # chromedriver reports some network errors as a failed navigation...
            network_error = _NET_ERROR.search(exc.msg or "")
            if network_error:
                raise BrowserNetworkError(
                    f"browser could not load {request.url}: {network_error.group(0)}"
                ) from exc
            raise
        if isinstance(request.wait_until, ElementPresent):
            found, location, status, source = self._wait_in_page(request.wait_until.css, wait_time)
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
                found = self._poll(request.wait_until, wait_time, options.wait_poll)
            if not found:
                wait_timed_out = True
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
        return RenderedPage(
            str(location), status, source.encode("utf-8"), screenshot, wait_timed_out
        )

    def _wait_in_page(self, css: str, wait_time: float) -> list[Any]:
        """[found, final URL, status, document] after waiting in the page for ``css``."""
        try:
            return self.webdriver.execute_async_script(
                _WAIT_AND_READ_JS, css, int(wait_time * 1000)
            )
        except TimeoutException as exc:
            # The page's own timer did not fire in time: its main thread is stuck.
            raise DriverHung(f"page stopped answering within {wait_time:g}s") from exc

    def _poll(self, condition: Callable[[WebDriver], Any], wait_time: float, poll: float) -> bool:
        """Whether a ``wait_until`` callable held within ``wait_time`` (polled)."""
        try:
            WebDriverWait(self.webdriver, wait_time, poll_frequency=poll).until(condition)
        except TimeoutException:
            # A condition failing on a dead driver raises, it does not time out.
            if self.watchdog_fired:
                raise
            return False
        return True
