"""scrapy-selenium's ``SeleniumRequest``, made to survive copies and queues, and
what one request asks of the browser.

Spiders keep using ``scrapy_selenium.SeleniumRequest`` (``wait_until``,
``wait_time``, ``screenshot``, ``script``); importing this module registers its
fields as request attributes. ``request.meta`` keys override the settings for one
request (see docs/browser.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy_selenium import SeleniumRequest
from selenium.webdriver.common.by import By

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

    from christmas_spiders.browser.settings import BrowserSettings

#: Extra SeleniumRequest fields that must survive ``Request.replace()``/``copy()``
#: (RetryMiddleware) and ``to_dict()``/``request_from_dict()`` (scrapy-redis).
SELENIUM_REQUEST_ATTRIBUTES = ("wait_time", "wait_until", "screenshot", "script")

# request.meta keys read by the layer (overrides, per request)...
META_PAGE_TIMEOUT = "selenium_page_timeout"
META_RETRY_TIMES = "selenium_retry_times"
META_FAIL_ON_WAIT_TIMEOUT = "selenium_fail_on_wait_timeout"
# ...and set by it on the request of every rendered page.
META_WAIT_TIMED_OUT = "selenium_wait_timed_out"
META_SCREENSHOT = "screenshot"  # scrapy-selenium's key for screenshot=True


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
    so requests holding it survive scrapy-redis serialisation. The driver waits
    for it inside the page; called as a function it is one ``find_elements`` check.
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


@dataclass(frozen=True)
class RenderOptions:
    """The limits of one request's render: the settings, with its meta overrides applied."""

    page_timeout: float
    #: The request's ``wait_time``, else ``SELENIUM_WAIT_TIME``.
    wait_time: float
    retry_times: int
    fail_on_wait_timeout: bool
    watchdog_grace: float
    wait_poll: float

    @classmethod
    def for_request(cls, request: SeleniumRequest, settings: BrowserSettings) -> RenderOptions:
        meta = request.meta
        return cls(
            page_timeout=float(meta.get(META_PAGE_TIMEOUT, settings.page_timeout)),
            wait_time=settings.wait_time if request.wait_time is None else float(request.wait_time),
            retry_times=int(meta.get(META_RETRY_TIMES, settings.retry_times)),
            fail_on_wait_timeout=bool(
                meta.get(META_FAIL_ON_WAIT_TIMEOUT, settings.fail_on_wait_timeout)
            ),
            watchdog_grace=settings.watchdog_grace,
            wait_poll=settings.wait_poll,
        )
