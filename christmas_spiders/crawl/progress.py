"""``LogProgress``: a line a person can follow, every CHRISTMAS_PROGRESS_INTERVAL seconds.

    progress: years 12/52 done, pages 840 (product pages 700), items 690, dropped 3,
    failed 0, browser renders 13

and the same line at close. ``CHRISTMAS_PROGRESS_INTERVAL = 0`` switches it off.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

logger = logging.getLogger(__name__)


def _sum_prefixed(stats: dict[str, object], prefix: str) -> int:
    return sum(int(value) for key, value in stats.items() if key.startswith(prefix))  # type: ignore[call-overload]


def progress_line(stats: StatsCollector) -> str:
    values = stats.get_stats()
    return (
        f"years {values.get('christmas/years/done', 0)}/{values.get('christmas/years/total', '?')}"
        f" done, pages {values.get('response_received_count', 0)}"
        f" (product pages {values.get('christmas/product_pages', 0)}),"
        f" items {values.get('item_scraped_count', 0)},"
        f" dropped {_sum_prefixed(values, 'christmas/dropped/')},"
        f" failed {_sum_prefixed(values, 'christmas/failed/')},"
        f" browser renders {values.get('christmas/browser_renders', 0)}"
    )


class LogProgress:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogProgress:
        interval = crawler.settings.getfloat("CHRISTMAS_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured  # switched off on purpose: nothing to warn about
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def log(self, final: bool = False) -> None:
        assert self.crawler.stats is not None
        label = "final" if final else "progress"
        logger.info("%s: %s", label, progress_line(self.crawler.stats))

    def spider_opened(self) -> None:
        self.loop = task.LoopingCall(self.log)
        self.loop.start(self.interval, now=False)

    def spider_closed(self, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.log(final=True)
