from __future__ import annotations

import logging

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from christmas_spiders.crawl.progress import LogProgress


def test_progress_line_names_years_pages_items_drops_and_renders(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crawler = get_crawler(settings_dict={"CHRISTMAS_PROGRESS_INTERVAL": 5})
    extension = LogProgress.from_crawler(crawler)
    stats = crawler.stats
    stats.set_value("christmas/years/total", 52)
    stats.set_value("christmas/years/done", 12)
    stats.set_value("response_received_count", 840)
    stats.set_value("christmas/product_pages", 700)
    stats.set_value("item_scraped_count", 690)
    stats.set_value("christmas/dropped/missing_price", 2)
    stats.set_value("christmas/dropped/bad_price", 1)
    stats.set_value("christmas/browser_renders", 13)
    with caplog.at_level(logging.INFO):
        extension.log(final=True)
    assert (
        "final: years 12/52 done, pages 840 (product pages 700), items 690, dropped 3, "
        "failed 0, browser renders 13"
    ) in caplog.text


def test_zero_interval_switches_it_off() -> None:
    with pytest.raises(NotConfigured):
        LogProgress.from_crawler(get_crawler(settings_dict={"CHRISTMAS_PROGRESS_INTERVAL": 0}))
