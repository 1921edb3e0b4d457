"""What the browser layer raises.

The request-level failures are ``IgnoreRequest`` subclasses: the pool already
retried the page, so Scrapy's RetryMiddleware must not retry it a second time.
A browser network error page is a ``ConnectionLost`` instead, which
RetryMiddleware retries like a dropped connection on a plain page.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from twisted.internet.error import ConnectionLost


class SeleniumRenderError(IgnoreRequest):
    """The page could not be rendered (browser crashed or hung on every attempt)."""


class PoolClosed(SeleniumRenderError):
    """The pool was shut down (crawl stopping) before the page was rendered."""


class SeleniumWaitTimeout(IgnoreRequest):
    """``wait_until`` never held and the request asked to fail in that case."""


class SeleniumNotConfigured(IgnoreRequest):
    """A SeleniumRequest reached the crawl while no browser is configured."""


class BrowserNetworkError(ConnectionLost):
    """Chromium showed a network error page; retried by Scrapy's RetryMiddleware."""


class DriverHung(Exception):
    """The page hit its load time limit or the watchdog; the driver is replaced."""


class BrowserExiting(RuntimeError):
    """The interpreter is exiting: no new browser."""


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, short enough for one log line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
