"""Tells the session scheduler what became of the pages it handed out.

Scrapy signals say when a request was scheduled and when an item went through the
pipelines, but not when a page's callback output is spent. This spider middleware,
last before the engine (``SPIDER_MIDDLEWARES`` order 1), counts what a handed-out
page's callback yields (its requests and items) and reports the end of the output;
the scheduler settles the counts from ``request_scheduled`` and the item signals, so
a page is acknowledged only once its new requests are queued and its items are through
the pipelines. Without it the scheduler acknowledges pages only when the spider goes
idle or closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

# Request.meta keys: the in-flight field of a handed-out request (copied onto retries and
# redirects by Scrapy), and the field of the page whose callback made a request.
FIELD_META = "christmas_session_field"
PARENT_META = "christmas_session_parent"


class PageOutputMiddleware:
    """Counts each handed-out page's callback output for :class:`SessionScheduler`."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageOutputMiddleware:
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured("no Redis session scheduler without REDIS_URL")
        return cls(crawler)

    def _tracker(self, response: Response) -> tuple[Any, str] | None:
        field = response.meta.get(FIELD_META)
        scheduler = self.crawler.engine.scheduler
        if field is None or not hasattr(scheduler, "page_output_started"):
            return None
        scheduler.page_output_started(field)
        return scheduler, field

    @staticmethod
    def _count(scheduler: Any, field: str, output: Any) -> None:
        if isinstance(output, Request):
            output.meta[PARENT_META] = field
        if output is not None:
            scheduler.page_output_yielded(field)

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterable[Any]:
        tracked = self._tracker(response)
        if tracked is None:
            yield from result
            return
        scheduler, field = tracked
        try:
            for output in result:
                self._count(scheduler, field, output)
                yield output
        finally:
            scheduler.page_output_ended(field)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        tracked = self._tracker(response)
        if tracked is None:
            async for output in result:
                yield output
            return
        scheduler, field = tracked
        try:
            async for output in result:
                self._count(scheduler, field, output)
                yield output
        finally:
            scheduler.page_output_ended(field)
