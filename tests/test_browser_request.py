"""The SeleniumRequest API: ``element_present`` and the request's own fields survive
copies (RetryMiddleware), request dicts and pickling (scrapy-redis), and a real
scrapy-redis queue; per-request options come from the settings and ``request.meta``."""

from __future__ import annotations

import pickle
import uuid

import pytest
import redis
import scrapy
from scrapy.settings import Settings
from scrapy.utils.request import request_from_dict
from scrapy_selenium import SeleniumRequest

from christmas_spiders.browser.request import ElementPresent, RenderOptions, element_present
from christmas_spiders.browser.settings import BrowserSettings
from tests.fixtures.selenium import browser_settings


class _Spider(scrapy.Spider):
    name = "selenium_round_trip"

    def parse_year(self, response: scrapy.http.Response) -> None:
        return None


def _selenium_request(spider: _Spider) -> SeleniumRequest:
    return SeleniumRequest(
        url="http://127.0.0.1:1/years",
        callback=spider.parse_year,
        wait_time=7,
        wait_until=element_present("a.year-link"),
        screenshot=True,
        script="window.scrollTo(0, 1);",
        meta={"selenium_page_timeout": 5},
    )


def _assert_same(request: scrapy.Request, spider: _Spider) -> None:
    assert type(request) is SeleniumRequest
    assert request.url == "http://127.0.0.1:1/years"
    assert request.callback == spider.parse_year
    assert request.wait_time == 7
    assert request.wait_until == element_present("a.year-link")
    assert request.screenshot is True
    assert request.script == "window.scrollTo(0, 1);"
    assert request.meta["selenium_page_timeout"] == 5


def test_element_present_round_trips_through_request_dicts() -> None:
    spider = _Spider()
    request = _selenium_request(spider)
    _assert_same(request_from_dict(request.to_dict(spider=spider), spider=spider), spider)
    # scrapy-redis's default serializer pickles that dict.
    pickled = pickle.dumps(request.to_dict(spider=spider), protocol=-1)
    _assert_same(request_from_dict(pickle.loads(pickled), spider=spider), spider)
    # RetryMiddleware retries with request.copy().
    _assert_same(request.copy(), spider)


@pytest.mark.redis
def test_element_present_round_trips_through_a_scrapy_redis_queue(redis_url: str) -> None:
    from scrapy_redis.queue import PriorityQueue

    spider = _Spider()
    server = redis.Redis.from_url(redis_url)
    key = f"test-selenium-{uuid.uuid4().hex}:requests"
    queue = PriorityQueue(server, spider, key)
    try:
        queue.push(_selenium_request(spider))
        popped = queue.pop()
        assert popped is not None
        _assert_same(popped, spider)
    finally:
        server.delete(key)
        server.close()


def test_element_present_is_a_plain_value() -> None:
    condition = element_present("div.tile")
    assert isinstance(condition, ElementPresent)
    assert condition == ElementPresent("div.tile")
    assert condition != element_present("div.other")
    assert repr(condition) == "ElementPresent(css='div.tile')"
    assert pickle.loads(pickle.dumps(condition)) == condition
    with pytest.raises(ValueError, match="non-empty CSS selector"):
        element_present("  ")


# --- per-request options -------------------------------------------------------------


def test_render_options_come_from_the_settings() -> None:
    browser = browser_settings(
        SELENIUM_PAGE_TIMEOUT=12,
        SELENIUM_WAIT_TIME=4,
        SELENIUM_RETRY_TIMES=3,
        SELENIUM_FAIL_ON_WAIT_TIMEOUT=True,
        SELENIUM_WATCHDOG_GRACE=2,
        SELENIUM_WAIT_POLL=0.2,
    )
    options = RenderOptions.for_request(SeleniumRequest(url="http://127.0.0.1:1/"), browser)
    assert (options.page_timeout, options.wait_time, options.retry_times) == (12.0, 4.0, 3)
    assert options.fail_on_wait_timeout is True
    assert (options.watchdog_grace, options.wait_poll) == (2.0, 0.2)


def test_render_options_take_the_requests_wait_time_and_meta_overrides() -> None:
    browser = browser_settings(SELENIUM_PAGE_TIMEOUT=12, SELENIUM_WAIT_TIME=4)
    request = SeleniumRequest(
        url="http://127.0.0.1:1/",
        wait_time=7,
        meta={
            "selenium_page_timeout": 5,
            "selenium_retry_times": 0,
            "selenium_fail_on_wait_timeout": True,
        },
    )
    options = RenderOptions.for_request(request, browser)
    assert (options.page_timeout, options.wait_time) == (5.0, 7.0)
    assert options.retry_times == 0
    assert options.fail_on_wait_timeout is True
    # The settings object is shared by every request: overrides never leak into it.
    assert (browser.page_timeout, browser.wait_time) == (12.0, 4.0)
    assert browser.fail_on_wait_timeout is False


def test_render_options_need_every_setting() -> None:
    # Scrapy's defaults know no SELENIUM_* name: each is defined by the project settings.
    bare = BrowserSettings.from_settings(Settings())
    assert bare.problem() == "SELENIUM_DRIVER_NAME='' is not supported (only chrome, chromium)"
