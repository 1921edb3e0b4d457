"""Scrapy downloader middlewares rendering scrapy-selenium ``SeleniumRequest``s.

Upstream's ``scrapy_selenium.SeleniumMiddleware`` cannot serve this project: it
passes ``executable_path`` to the driver (removed in Selenium 4.10) and renders
every page on the Twisted reactor thread, so the whole crawl stops while a page
loads. :class:`SeleniumMiddleware` keeps upstream's setting names and request
class and hands each page to the browser pool of :mod:`christmas_spiders.browser`,
whose worker threads render it while plain requests keep flowing. The page comes
back as an ``HtmlResponse`` with its real HTTP status, so Scrapy's RetryMiddleware
treats a 5xx page like any other.

When no browser is configured the middleware is off (``NotConfigured``), and
:class:`SeleniumRequiredMiddleware`, placed right after it, fails any
``SeleniumRequest`` that reaches it with a clear message and closes the spider
(reason ``selenium_not_configured``) instead of fetching the raw, script-less HTML.

Settings, ``request.meta`` keys and stats: docs/browser.md.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Self

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy_selenium import SeleniumRequest
from twisted.internet.defer import Deferred

from christmas_spiders.browser.driver import RenderedPage
from christmas_spiders.browser.errors import (
    PoolClosed,
    SeleniumNotConfigured,
    SeleniumRenderError,
    SeleniumWaitTimeout,
)
from christmas_spiders.browser.pool import BrowserPool, RenderJob
from christmas_spiders.browser.request import (
    META_SCREENSHOT,
    META_WAIT_TIMED_OUT,
    RenderOptions,
)
from christmas_spiders.browser.settings import NOT_CONFIGURED_HINT, BrowserSettings

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class SeleniumMiddleware:
    """Downloader middleware rendering SeleniumRequests in a Chromium pool."""

    def __init__(self, crawler: Crawler, settings: BrowserSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        self.pool = BrowserPool(settings, crawl_stopping=self._crawl_stopping)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = BrowserSettings.from_settings(crawler.settings)
        problem = settings.problem()
        if problem:
            logger.warning("Selenium off: %s (%s)", problem, NOT_CONFIGURED_HINT)
            raise NotConfigured(f"Selenium off: {problem}")
        middleware = cls(crawler, settings)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _crawl_stopping(self) -> bool:
        """True once the crawl is shutting down (read from worker threads).

        ``engine.running`` turns False the moment a shutdown starts (Ctrl-C, SIGTERM,
        ``crawler.stop()``), before the engine waits for the requests in progress:
        the pages still queued for a browser are then dropped. A spider closed for a
        reason of its own (``CloseSpider``) finishes its queued pages, as Scrapy's
        downloader finishes the requests it holds.
        """
        engine = self.crawler.engine
        return engine is not None and not engine.running

    async def process_request(self, request: Request) -> HtmlResponse | None:
        if not isinstance(request, SeleniumRequest):
            return None
        from twisted.internet import reactor

        delivered: Deferred[RenderedPage | BaseException] = Deferred()

        def deliver(result: RenderedPage | BaseException) -> None:
            # Called on a worker thread; the Deferred fires on the reactor thread.
            reactor.callFromThread(delivered.callback, result)  # type: ignore[attr-defined]

        job = RenderJob(request, RenderOptions.for_request(request, self.settings), deliver)
        self.pool.submit(job)
        result = await maybe_deferred_to_future(delivered)
        stats = self.crawler.stats
        assert stats is not None
        for key, count in job.counts.items():
            stats.inc_value(key, count)
        if isinstance(result, BaseException):
            if isinstance(result, PoolClosed):
                stats.inc_value("selenium/abandoned")
            elif isinstance(result, (SeleniumRenderError, SeleniumWaitTimeout)):
                stats.inc_value("selenium/failures")
                logger.error("Selenium failed on %s: %s", request.url, result)
            raise result
        stats.inc_value("christmas/browser_renders")
        if result.screenshot is not None:
            request.meta[META_SCREENSHOT] = result.screenshot
        request.meta[META_WAIT_TIMED_OUT] = result.wait_timed_out
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

    def __init__(self, crawler: Crawler, problem: str) -> None:
        self.crawler = crawler
        self.problem = problem
        self._closing: Deferred[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        problem = BrowserSettings.from_settings(crawler.settings).problem() or (
            "SeleniumMiddleware is not enabled in DOWNLOADER_MIDDLEWARES"
        )
        return cls(crawler, problem)

    def process_request(self, request: Request) -> None:
        if not isinstance(request, SeleniumRequest):
            return
        message = (
            f"this page needs a browser (SeleniumRequest) but Selenium is not configured: "
            f"{self.problem}; {NOT_CONFIGURED_HINT}. Page: {request.url}"
        )
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("selenium/not_configured")
        logger.error(message)
        if self._closing is None and self.crawler.engine is not None:
            self._closing = deferred_from_coro(
                self.crawler.engine.close_spider_async(reason="selenium_not_configured")
            )
        raise SeleniumNotConfigured(message)


__all__ = ["SeleniumMiddleware", "SeleniumRequiredMiddleware"]
