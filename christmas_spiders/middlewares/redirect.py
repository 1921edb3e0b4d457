"""Scrapy's redirect middlewares for crawls that send no Referer header.

The project switches Scrapy's ``RefererMiddleware`` (a spider middleware) off: the
User-Agent names us, and its per-request work costs CPU. Scrapy's ``RedirectMiddleware``
and ``MetaRefreshMiddleware`` then warn at every crawl start that they found no
``RefererMiddleware`` to set the Referer header of redirected requests. These
subclasses say what the crawl does instead, through Scrapy's documented hook
``handle_referer()``: a redirected request carries no Referer header either. Their
``from_crawler`` skips only the start-up look-up for ``RefererMiddleware`` (its only
use is that warning); everything else is Scrapy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.redirect import (
    BaseRedirectMiddleware,
    MetaRefreshMiddleware,
    RedirectMiddleware,
)

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class _WithoutReferer(BaseRedirectMiddleware):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        return middleware

    def handle_referer(self, request: Request, response: Response) -> None:
        request.headers.pop("Referer", None)


class RedirectWithoutRefererMiddleware(_WithoutReferer, RedirectMiddleware):
    """``RedirectMiddleware`` (3xx ``Location``); redirected requests get no Referer."""


class MetaRefreshWithoutRefererMiddleware(_WithoutReferer, MetaRefreshMiddleware):
    """``MetaRefreshMiddleware`` (``<meta http-equiv=refresh>``); likewise no Referer."""


__all__ = ["MetaRefreshWithoutRefererMiddleware", "RedirectWithoutRefererMiddleware"]
