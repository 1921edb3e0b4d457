"""``LOG_FORMATTER`` that skips Scrapy's per-page DEBUG lines unless they can be shown.

Scrapy logs every response ("Crawled (200) ...") and every item ("Scraped from ...")
at DEBUG. Its root handler drops them at ``LOG_LEVEL = "INFO"``, but only after the
message and its ``LogRecord`` were built: about 3% of a crawl's CPU
(bench/bench_crawl.py). :class:`DebugOnlyLogFormatter` returns ``None`` for those two
messages (Scrapy then logs nothing) when ``LOG_LEVEL`` is above DEBUG; at DEBUG the
log is unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from scrapy.logformatter import LogFormatter, LogFormatterResult

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure


class DebugOnlyLogFormatter(LogFormatter):
    """Scrapy's formatter; the per-response and per-item DEBUG lines only at DEBUG."""

    def __init__(self, log_level: int = logging.DEBUG) -> None:
        super().__init__()
        self.debug_shown = log_level <= logging.DEBUG

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # Scrapy's own default (DEBUG) stands where the project sets none.
        level = crawler.settings.get("LOG_LEVEL")
        if isinstance(level, str):
            level = logging.getLevelNamesMapping().get(level.upper(), logging.DEBUG)
        return cls(int(level))

    def crawled(
        self, request: Request, response: Response, spider: Spider
    ) -> LogFormatterResult | None:
        return super().crawled(request, response, spider) if self.debug_shown else None

    def scraped(
        self, item: Any, response: Response | Failure | None, spider: Spider
    ) -> LogFormatterResult | None:
        return super().scraped(item, response, spider) if self.debug_shown else None
