"""The judge on a run's numbers: Spidermon's monitors and the item-count drop, thresholds
from the project settings."""

from __future__ import annotations

import dataclasses

import pytest
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from christmas_spiders.crawl.delist import completeness_of_run
from christmas_spiders.crawl.judge import judge
from christmas_spiders.crawl.numbers import RunNumbers
from christmas_spiders.items import ITEM_FIELDS


@pytest.fixture
def crawler() -> Crawler:
    project = Settings()
    project.setmodule("christmas_spiders.settings")
    # The thresholds as the project defines them (not its reactor or components).
    thresholds = {
        name: value
        for name, value in project.copy_to_dict().items()
        if name.startswith(("SPIDERMON_", "CHRISTMAS_"))
    }
    crawler = get_crawler(Spider, thresholds)
    crawler.spider = Spider.from_crawler(crawler, name="judged")
    return crawler


def _numbers(**changes: object) -> RunNumbers:
    good = RunNumbers(
        finish_reason="finished",
        full_crawl=True,
        pages=12,
        items=10,
        filled=dict.fromkeys(ITEM_FIELDS, 10),
        previous_items=11,
    )
    return dataclasses.replace(good, **changes)  # type: ignore[arg-type]


def _failed(numbers: RunNumbers, crawler: Crawler) -> dict[str, str | None]:
    verdict = judge(numbers, crawler)
    assert verdict.passed is False
    return {check.monitor.split("/")[0]: check.error for check in verdict.failures}


def test_a_good_complete_run_passes_every_monitor(crawler: Crawler) -> None:
    verdict = judge(_numbers(), crawler)
    assert verdict.passed is True
    assert [(c.monitor.split("/")[0], c.status) for c in verdict.checks] == [
        ("Finish Reason Monitor", "OK"),
        ("Error Count Monitor", "OK"),
        ("Item count", "OK"),
        ("Field Coverage Monitor", "OK"),
    ]
    assert verdict.report()["previous_items"] == 11
    assert completeness_of_run(_numbers(), verdict).proven is True


def test_each_monitor_fails_on_its_own_number(crawler: Crawler) -> None:
    shutdown = _failed(_numbers(finish_reason="shutdown"), crawler)
    assert list(shutdown) == ["Finish Reason Monitor"]
    assert "shutdown" in str(shutdown["Finish Reason Monitor"])
    assert list(_failed(_numbers(errors=2), crawler)) == ["Error Count Monitor"]
    dropped = _failed(_numbers(items=8, filled=dict.fromkeys(ITEM_FIELDS, 8)), crawler)
    assert list(dropped) == ["Item count"]
    assert "8 items, down more than 20% from the previous complete run's 11" in str(
        dropped["Item count"]
    )
    no_sku = _failed(_numbers(filled=dict(dict.fromkeys(ITEM_FIELDS, 10), sku=9)), crawler)
    assert list(no_sku) == ["Field Coverage Monitor"]
    assert "ProductItem/sku (expected 1.0, got 0.9" in str(no_sku["Field Coverage Monitor"])


def test_a_refresh_without_items_passes_and_proves_nothing(crawler: Crawler) -> None:
    numbers = _numbers(full_crawl=False, items=0, filled={}, previous_items=None)
    verdict = judge(numbers, crawler)
    assert verdict.passed is True
    assert completeness_of_run(numbers, verdict).proven is False
    # A complete crawl without items fails.
    empty = _failed(_numbers(items=0, filled={}), crawler)
    assert list(empty) == ["Item count"]
    assert "a complete crawl yielded no items" in str(empty["Item count"])
