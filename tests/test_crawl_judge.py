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
        product_pages=10,
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
        ("Request failures", "OK"),
        ("Request failures", "OK"),
        ("Dropped pages", "OK"),
        ("Dropped pages", "OK"),
        ("Dropped pages", "OK"),
        ("Dropped pages", "OK"),
    ]
    assert verdict.report()["previous_items"] == 11
    # The verdict is stored with the numbers it judged.
    assert verdict.report()["numbers"]["items"] == 10
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


def _checks(numbers: RunNumbers, crawler: Crawler) -> dict[str, str | None]:
    """Failed checks by their full name (monitor/check)."""
    return {check.monitor: check.error for check in judge(numbers, crawler).failures}


def test_failed_requests_are_judged_as_a_share_not_one_by_one(crawler: Crawler) -> None:
    # 1 failed product page of 200 asked for: 0.5%, its ERROR line explained: a pass.
    one_404 = _numbers(product_pages=199, errors=1, failed={"product_page": 1})
    assert judge(one_404, crawler).passed is True
    assert one_404.product_requests == 200
    # 3 of 200: 1.5% > 1%.
    three = _failed(_numbers(product_pages=197, errors=3, failed={"product_page": 3}), crawler)
    assert list(three) == ["Request failures"]
    assert "3 of 200 product pages failed (1.5%, more than 1.0%)" in str(three["Request failures"])
    # Any failed year index fails the crawl.
    index = _checks(_numbers(errors=1, failed={"year_index": 1}), crawler)
    assert list(index) == ["Request failures/the year index was read"]
    # Scrapy's "Gave up retrying" ERROR of a failed request is explained as well.
    retried = _numbers(product_pages=199, errors=2, failed={"product_page": 1}, retries_exhausted=1)
    assert judge(retried, crawler).passed is True
    # An ERROR no counted failure explains (a traceback) still fails, whatever the shares.
    traceback = _failed(_numbers(product_pages=199, errors=2, failed={"product_page": 1}), crawler)
    assert list(traceback) == ["Error Count Monitor"]


def test_drop_shares_and_layout_drift_fail_the_verdict(crawler: Crawler) -> None:
    # 100 product pages; 90 items.
    base = {"product_pages": 100, "items": 90, "filled": dict.fromkeys(ITEM_FIELDS, 90)}
    # 4 pages of one reason, 4 of another: each within 5%, 8% in all within 10%.
    assert judge(
        _numbers(**base, dropped={"missing_sku": 4, "bad_price": 4}, previous_items=None), crawler
    ).passed
    one_reason = _checks(_numbers(**base, dropped={"missing_sku": 6}, previous_items=None), crawler)
    assert list(one_reason) == ["Dropped pages/no one drop reason above its share"]
    assert "missing_sku: 6 of 100 (6.0%)" in str(one_reason[next(iter(one_reason))])
    total = _checks(
        _numbers(
            **base,
            dropped={"missing_sku": 4, "bad_price": 4, "missing_name": 3},
            previous_items=None,
        ),
        crawler,
    )
    assert list(total) == ["Dropped pages/dropped product pages within their share"]
    conflicts = _checks(
        _numbers(**base, dropped={"price_conflict": 2}, previous_items=None), crawler
    )
    assert list(conflicts) == ["Dropped pages/price conflicts within their share"]
    assert "2 of 100 (2.0%, more than 1.0%)" in str(next(iter(conflicts.values())))
    # Unknown availability over items: 5 of 90 is within 5.6%? no: 5.6% > 5%.
    assert judge(_numbers(**base, unknown_availability=4, previous_items=None), crawler).passed
    unknown = _checks(_numbers(**base, unknown_availability=5, previous_items=None), crawler)
    assert list(unknown) == ["Dropped pages/unknown availability within its share"]


def test_thresholds_come_from_the_settings(crawler: Crawler) -> None:
    numbers = _numbers(product_pages=7, errors=3, failed={"product_page": 3}, dropped={"x": 1})
    assert set(_failed(numbers, crawler)) == {"Request failures", "Dropped pages"}
    crawler.settings.frozen = False
    for name in (
        "CHRISTMAS_MAX_FAILED_PRODUCT_PAGE_RATIO",
        "CHRISTMAS_MAX_DROP_REASON_RATIO",
        "CHRISTMAS_MAX_DROPPED_RATIO",
    ):
        crawler.settings.set(name, 0.5)
    assert judge(numbers, crawler).passed


@pytest.mark.parametrize(
    ("setting", "over", "within", "monitor"),
    [
        # 3 of 100 product pages (3%) against 1%; 1 of 100 within it.
        (
            "CHRISTMAS_MAX_PRICE_CONFLICT_RATIO",
            {"dropped": {"price_conflict": 3}},
            {"dropped": {"price_conflict": 1}},
            "Dropped pages/price conflicts within their share",
        ),
        # 10 of 90 items (11%) against 5%; 4 of 90 within it.
        (
            "CHRISTMAS_MAX_UNKNOWN_AVAILABILITY_RATIO",
            {"unknown_availability": 10},
            {"unknown_availability": 4},
            "Dropped pages/unknown availability within its share",
        ),
    ],
)
def test_layout_drift_thresholds_come_from_the_settings(
    crawler: Crawler,
    setting: str,
    over: dict[str, object],
    within: dict[str, object],
    monitor: str,
) -> None:
    base = {"product_pages": 100, "items": 90, "filled": dict.fromkeys(ITEM_FIELDS, 90)}
    too_many = _numbers(**base, **over, previous_items=None)
    few = _numbers(**base, **within, previous_items=None)
    assert list(_checks(too_many, crawler)) == [monitor]
    assert judge(few, crawler).passed
    crawler.settings.frozen = False
    # A looser threshold lets the drift pass; a stricter one fails what the default passes.
    crawler.settings.set(setting, 0.2)
    assert judge(too_many, crawler).passed
    crawler.settings.set(setting, 0.0)
    assert list(_checks(few, crawler)) == [monitor]


def test_a_refresh_is_compared_with_the_previous_refresh(crawler: Crawler) -> None:
    refresh = _numbers(full_crawl=False, kind="refresh", previous_items=20)
    failed = _failed(refresh, crawler)
    assert "10 items, down more than 20% from the previous complete run's 20" in str(
        failed["Item count"]
    )
    # A refresh that found nothing stale is not an empty full crawl.
    assert judge(
        _numbers(full_crawl=False, kind="refresh", items=0, filled={}, previous_items=None), crawler
    ).passed
    # A crawl of some years is compared with nothing.
    assert judge(_numbers(full_crawl=False, previous_items=100), crawler).passed
