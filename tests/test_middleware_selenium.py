"""The project's Selenium middleware: real Chromium, real Scrapy crawls, a real JS site.

Every crawl runs in a subprocess (tests.fixtures.selenium_crawl) against the
``js_site`` fixture, whose pages build their content with a script after load.
Every crawl also checks that no Chromium or chromedriver process outlives it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import Any

import pytest

from tests.fixtures.selenium import (
    CrawlResult,
    CrawlRunner,
    JsSite,
    crawl_browser_processes,
)

pytestmark = pytest.mark.browser


def _assert_clean(result: CrawlResult) -> None:
    """No browser process and no browser profile of this crawl is left behind."""
    assert result.survivors() == [], result.log
    profiles = [p.name for p in result.tmpdir.glob("christmas-selenium-*")]
    assert profiles == [], f"user-data-dirs left behind: {profiles}"


ADD_PARAGRAPH = (
    "document.getElementById('app').insertAdjacentHTML('beforeend', '<p class=\"scripted\">s</p>')"
)


def _js(page_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": page_id, "url": url, "selenium": True, "wait_css": "p.built", **extra}


def test_renders_js_pages_and_only_those(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    page = js_site.url("/js/a?delay=300")
    result = run_crawl(
        [
            _js("rendered", page),
            _js("scripted", page, script=ADD_PARAGRAPH, screenshot=True),
            {"id": "raw", "url": page},
            {"id": "plain", "url": js_site.url("/plain/p")},
            {"id": "plain2", "url": js_site.url("/plain/q")},
        ],
        settings={"SELENIUM_POOL_SIZE": 1},
    )
    assert result.returncode == 0, result.log
    rendered = result.item("rendered")
    assert rendered["built"] is True
    assert rendered["text"] == "built a"
    assert rendered["wait_timed_out"] is False
    assert rendered["rendered"] is True
    # The same page fetched plainly: the element exists only after the script ran.
    assert result.item("raw")["built"] is False
    assert "loading" in result.item("raw")["text"]
    assert result.item("plain")["text"] == "plain p"
    # The request's script ran after the wait; the screenshot landed in meta.
    assert result.item("scripted")["scripted"] is True
    assert result.item("scripted")["screenshot_png"] is True
    assert result.item("rendered")["scripted"] is False
    assert result.item("rendered")["screenshot_png"] is False
    # Chromium fetched no image (SELENIUM_LOAD_IMAGES is off by default).
    assert js_site.state.count("img") == 0
    assert result.stats["christmas/browser_renders"] == 2
    assert result.stats["selenium/driver_starts"] == 1  # one browser, reused
    assert result.stats["finish_reason"] == "finished"
    _assert_clean(result)


def test_crawl_without_js_pages_starts_no_browser(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    result = run_crawl([{"id": "plain", "url": js_site.url("/plain/p")}])
    assert result.returncode == 0, result.log
    assert result.item("plain")["text"] == "plain p"
    assert result.browser_pids == {}
    assert "selenium/driver_starts" not in result.stats
    assert "christmas/browser_renders" not in result.stats


def test_pool_of_two_renders_pages_concurrently(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    # Each page is ready 8 s after it loaded: one browser would need over 16 s for both.
    # The pool starts its second Chromium only when the second page comes, and a start
    # has taken 4 s on a busy machine: the margin has to cover it.
    result = run_crawl(
        [_js("a", js_site.url("/js/a?delay=8000")), _js("b", js_site.url("/js/b?delay=8000"))],
        settings={"SELENIUM_POOL_SIZE": 2, "SELENIUM_WAIT_TIME": 30},
    )
    assert result.returncode == 0, result.log
    assert result.item("a")["built"] and result.item("b")["built"]
    state = js_site.state
    loads = [state.times("js", "a")[0], state.times("js", "b")[0]]
    readies = [state.times("ready", "a")[0], state.times("ready", "b")[0]]
    # Seen by the server: the second page loaded before the first was ready...
    assert max(loads) < min(readies), (loads, readies)
    # ...and both were done before one browser could have done them in turn (8 s + 8 s).
    assert max(readies) - min(loads) < 16.0, (loads, readies)
    assert result.stats["selenium/driver_starts"] == 2
    assert result.stats["christmas/browser_renders"] == 2
    _assert_clean(result)


def test_plain_requests_flow_while_a_page_renders(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    result = run_crawl(
        [
            _js("slow", js_site.url("/js/slow?delay=3000")),
            # Answered 300 ms after the browser loaded /js/slow, 2.7 s before it is ready.
            {"id": "plain", "url": js_site.url("/plain/p?after=slow&sleep=300")},
        ],
        settings={"SELENIUM_POOL_SIZE": 1, "SELENIUM_WAIT_TIME": 15},
    )
    assert result.returncode == 0, result.log
    assert result.item("slow")["built"] is True
    slow_loaded = js_site.state.times("js", "slow")[0]
    slow_ready = js_site.state.times("ready", "slow")[0]
    plain_parsed = result.item("plain")["received"]  # CLOCK_MONOTONIC: same clock
    # The plain page was downloaded AND parsed while the browser still waited.
    assert slow_loaded < plain_parsed < slow_ready, (slow_loaded, plain_parsed, slow_ready)
    _assert_clean(result)


def test_pages_on_one_host_keep_the_download_delay(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    pages = ["a", "b", "c"]
    result = run_crawl(
        [_js(page, js_site.url(f"/js/{page}?delay=50")) for page in pages],
        settings={"SELENIUM_POOL_SIZE": 1, "SELENIUM_DOWNLOAD_DELAY": 1.5},
    )
    assert result.returncode == 0, result.log
    assert all(result.item(page)["built"] for page in pages)
    loads = sorted(t for page in pages for t in js_site.state.times("js", page))
    assert len(loads) == 3, loads
    # Back to back, these pages load ~0.2 s apart. The server sees arrivals, and a fresh
    # Chromium's first request reaches it up to a second late, so the gap that tells is
    # between the second and third loads (a warm browser).
    assert loads[2] - loads[1] >= 1.3, loads
    _assert_clean(result)


@pytest.mark.parametrize("target", ["chromium", "chromedriver"])
def test_killed_driver_is_replaced_and_page_retried(
    js_site: JsSite, run_crawl: CrawlRunner, target: str
) -> None:
    # The server kills the crawl's browser (or its chromedriver) while it asks for /kill/k.
    result = run_crawl(
        [
            _js("k", js_site.url(f"/kill/k?target={target}")),
            _js("a", js_site.url("/js/a")),
            _js("b", js_site.url("/js/b")),
        ],
        settings={"SELENIUM_POOL_SIZE": 1},
    )
    assert result.returncode == 0, result.log
    assert js_site.state.acted_on, "the server found no browser process to kill"
    assert all(a["target"] == target for a in js_site.state.acted_on)
    for page_id in ("k", "a", "b"):
        assert result.item(page_id)["built"] is True
    assert js_site.state.count("kill", "k") == 2  # the page was asked for again
    stats = result.stats
    assert stats["selenium/driver_restarts"] == 1
    assert stats["selenium/retries"] == 1
    assert stats["selenium/driver_starts"] == 2
    assert "selenium/failures" not in stats
    assert stats["christmas/browser_renders"] == 3
    assert result.errors == []
    _assert_clean(result)


def test_hung_page_hits_the_time_limit_and_fails_counted(
    js_site: JsSite, run_crawl: CrawlRunner
) -> None:
    result = run_crawl(
        [
            _js("hang", js_site.url("/hang/h")),
            _js("a", js_site.url("/js/a")),
            {"id": "plain", "url": js_site.url("/plain/p")},
        ],
        settings={"SELENIUM_POOL_SIZE": 1, "SELENIUM_PAGE_TIMEOUT": 2, "SELENIUM_RETRY_TIMES": 1},
        timeout=90,
    )
    assert result.returncode == 0, result.log
    assert result.stats["finish_reason"] == "finished"
    assert js_site.state.count("hang", "h") == 2  # first try and one retry
    assert [e["id"] for e in result.errors] == ["hang"]
    assert result.errors[0]["error"] == "SeleniumRenderError"
    assert "did not load within 2s" in result.errors[0]["message"]
    assert result.item("a")["built"] is True
    assert result.item("plain")["text"] == "plain p"
    stats = result.stats
    assert stats["selenium/page_timeouts"] == 2
    assert stats["selenium/retries"] == 1
    assert stats["selenium/failures"] == 1
    assert "retry/count" not in stats  # RetryMiddleware did not retry it again
    assert stats["christmas/browser_renders"] == 1
    assert f"Selenium failed on {js_site.url('/hang/h')}" in result.log
    _assert_clean(result)


def test_frozen_driver_is_killed_by_the_watchdog(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    # SIGSTOP on chromedriver: every WebDriver call would block (for 120 s by default).
    result = run_crawl(
        [_js("f", js_site.url("/freeze/f?target=chromedriver"))],
        settings={
            "SELENIUM_POOL_SIZE": 1,
            "SELENIUM_PAGE_TIMEOUT": 2,
            "SELENIUM_WAIT_TIME": 2,
            "SELENIUM_WATCHDOG_GRACE": 1,
        },
        timeout=90,
    )
    assert result.returncode == 0, result.log
    assert js_site.state.acted_on, "the server found no chromedriver to freeze"
    assert result.item("f")["built"] is True
    assert "Selenium watchdog" in result.log
    # At least one: on a loaded machine the replacement browser may also miss the short
    # page limit once and be replaced again; the page must still come through.
    assert result.stats["selenium/driver_restarts"] >= 1
    assert result.stats["selenium/retries"] >= 1
    assert result.elapsed < 60
    _assert_clean(result)


def test_wait_timeout_returns_the_page_or_fails_on_request(
    js_site: JsSite, run_crawl: CrawlRunner
) -> None:
    late = js_site.url("/js/late?delay=6000")
    result = run_crawl(
        [
            _js("late", late, wait_time=1),
            _js("strict", late, wait_time=1, meta={"selenium_fail_on_wait_timeout": True}),
        ],
        settings={"SELENIUM_POOL_SIZE": 1},
    )
    assert result.returncode == 0, result.log
    late_item = result.item("late")
    assert late_item["built"] is False
    assert late_item["wait_timed_out"] is True
    assert [(e["id"], e["error"]) for e in result.errors] == [("strict", "SeleniumWaitTimeout")]
    assert result.stats["selenium/wait_timeouts"] == 2
    assert result.stats["selenium/failures"] == 1
    # Not a crash: the one driver served both pages.
    assert result.stats["selenium/driver_starts"] == 1
    assert "selenium/driver_restarts" not in result.stats
    _assert_clean(result)


def test_element_wait_sees_the_element_the_moment_it_appears(
    js_site: JsSite, run_crawl: CrawlRunner
) -> None:
    # The element exists for 5 ms only. Polling for it (every 50 ms) misses it and times
    # out; the wait inside the page, woken by the DOM change, returns the page as it was.
    # It appears 2 s after load: the wait has begun by then even on a loaded machine.
    flash = js_site.url("/js/flash?delay=2000&flash=5")
    result = run_crawl([_js("flash", flash, wait_time=6)], settings={"SELENIUM_POOL_SIZE": 1})
    assert result.returncode == 0, result.log
    item = result.item("flash")
    assert item["built"] is True
    assert item["wait_timed_out"] is False
    assert "selenium/wait_timeouts" not in result.stats
    _assert_clean(result)


def test_other_wait_conditions_are_polled(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    result = run_crawl(
        [
            _js("polled", js_site.url("/js/polled?delay=300"), wait_polled=True),
            _js("late", js_site.url("/js/late?delay=6000"), wait_time=1, wait_polled=True),
        ],
        settings={"SELENIUM_POOL_SIZE": 1},
    )
    assert result.returncode == 0, result.log
    assert result.item("polled")["built"] is True
    assert result.item("polled")["wait_timed_out"] is False
    assert result.item("late")["built"] is False
    assert result.item("late")["wait_timed_out"] is True
    assert result.stats["selenium/wait_timeouts"] == 1
    _assert_clean(result)


def test_site_faults_go_to_scrapys_retry(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = run_crawl(
        [
            _js("error", js_site.url("/status/e?code=503")),
            _js("refused", f"http://127.0.0.1:{closed_port}/x"),
        ],
        settings={"SELENIUM_POOL_SIZE": 1, "RETRY_TIMES": 1},
    )
    assert result.returncode == 0, result.log
    # The real status reached RetryMiddleware: the 503 was asked for twice.
    assert js_site.state.count("status", "e") == 2
    stats = result.stats
    assert stats["downloader/response_status_count/503"] == 2
    assert stats["retry/count"] == 2, result.log  # one retry each
    assert stats["retry/max_reached"] == 2
    errors = {e["id"]: e["error"] for e in result.errors}
    assert errors == {"error": "HttpError", "refused": "BrowserNetworkError"}
    # Neither fault was the browser's: no driver was replaced.
    assert stats["selenium/driver_starts"] == 1
    assert "selenium/driver_restarts" not in stats
    _assert_clean(result)


MIDDLEWARE = "christmas_spiders.middlewares.selenium.SeleniumMiddleware"
GUARD = "christmas_spiders.middlewares.selenium.SeleniumRequiredMiddleware"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            {"SELENIUM_DRIVER_EXECUTABLE_PATH": "/nonexistent/chromedriver"},
            "SELENIUM_DRIVER_EXECUTABLE_PATH=/nonexistent/chromedriver is not an executable file",
        ),
        ({"SELENIUM_BROWSER_EXECUTABLE_PATH": ""}, "SELENIUM_BROWSER_EXECUTABLE_PATH is empty"),
        (
            {"DOWNLOADER_MIDDLEWARES": {MIDDLEWARE: None, GUARD: 801}},
            "SeleniumMiddleware is not enabled in DOWNLOADER_MIDDLEWARES",
        ),
    ],
    ids=["missing-driver", "no-browser-path", "middleware-disabled"],
)
def test_not_configured_stops_the_spider_with_a_clear_error(
    js_site: JsSite, run_crawl: CrawlRunner, settings: dict[str, Any], reason: str
) -> None:
    result = run_crawl(
        [
            {"id": "plain", "url": js_site.url("/plain/p")},
            _js("js", js_site.url("/js/a")),
        ],
        settings=settings,
    )
    assert result.returncode == 0, result.log
    if "DOWNLOADER_MIDDLEWARES" not in settings:
        assert f"Selenium off: {reason}" in result.log
    assert (
        "this page needs a browser (SeleniumRequest) but Selenium is not configured: "
        f"{reason}; install chromium and chromium-driver"
    ) in result.log
    assert result.stats["finish_reason"] == "selenium_not_configured"
    assert result.stats["selenium/not_configured"] >= 1
    # The JS page was never fetched as raw HTML.
    assert js_site.state.count("js") == 0
    assert [i["id"] for i in result.items if i["id"] == "js"] == []
    assert result.browser_pids == {}


@pytest.mark.parametrize("interrupts", [1, 2])
def test_sigint_mid_crawl_leaves_no_browser(
    js_site: JsSite, run_crawl: CrawlRunner, interrupts: int
) -> None:
    interrupted_at: list[float] = []

    def interrupt(proc: subprocess.Popen[str], site: JsSite) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if site.state.count("js") >= 2 and crawl_browser_processes(proc.pid):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the crawl never started rendering")
        interrupted_at.append(time.monotonic())
        for _ in range(interrupts):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)

    pages = [_js(f"p{n}", js_site.url(f"/js/p{n}?delay=3000")) for n in range(6)]
    result = run_crawl(
        pages, settings={"SELENIUM_POOL_SIZE": 2, "SELENIUM_WAIT_TIME": 15}, during=interrupt
    )
    assert result.browser_pids, "no browser process was seen"
    # Pages are ready 3 s after loading: stopping never waits for the queued ones.
    assert time.monotonic() - interrupted_at[0] < 20, result.log
    if interrupts == 1:
        # Graceful: the pages in the browsers finish, those still queued are dropped.
        assert result.stats["finish_reason"] == "shutdown", result.log
        abandoned = result.stats.get("selenium/abandoned", 0)
        assert abandoned >= 1, result.log
        assert len(result.items) + abandoned == len(pages)
        assert all(item["built"] for item in result.items)
    _assert_clean(result)


def test_browsers_of_a_killed_crawl_are_reaped_by_the_next(
    js_site: JsSite, run_crawl: CrawlRunner
) -> None:
    def kill_outright(proc: subprocess.Popen[str], site: JsSite) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not site.state.count("js", "a"):
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)  # no spider_closed, no atexit

    killed = run_crawl(
        [_js("a", js_site.url("/js/a?delay=5000"), wait_time=15)],
        settings={"SELENIUM_POOL_SIZE": 1},
        during=kill_outright,
    )
    assert killed.returncode == -signal.SIGKILL
    assert killed.survivors(), "kill -9 left no browser behind: nothing to reap"
    result = run_crawl([_js("b", js_site.url("/js/b"))], settings={"SELENIUM_POOL_SIZE": 1})
    assert result.returncode == 0, result.log
    assert result.item("b")["built"] is True
    # Reaped by this crawl (stat selenium/orphans_reaped), unless another crawl
    # running on this machine got to them first: every crawl reaps at its first browser.
    assert killed.survivors() == []
    _assert_clean(result)
