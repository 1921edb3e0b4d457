"""The project's Selenium middleware, with real Chromium, real crawls and a real JS site."""

from __future__ import annotations

from tests.fixtures.selenium import CrawlRunner, JsSite


def test_renders_js_pages_and_only_those(js_site: JsSite, run_crawl: CrawlRunner) -> None:
    page = js_site.url("/js/a?delay=300")
    result = run_crawl(
        [
            {"id": "rendered", "url": page, "selenium": True, "wait_css": "p.built"},
            {"id": "raw", "url": page},
            {"id": "plain", "url": js_site.url("/plain/p")},
        ]
    )
    assert result.returncode == 0, result.log
    assert result.item("rendered")["built"] is True
    assert result.item("raw")["built"] is False
    assert result.item("plain")["text"] == "plain p"
    assert result.stats["christmas/browser_renders"] == 1
    assert result.stats["selenium/driver_starts"] == 1
    assert result.survivors() == []
