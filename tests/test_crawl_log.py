"""A crawl with nothing wrong logs nothing at WARNING or above.

Warnings are for the operator: each one must mean something went wrong. Scrapy's
redirect middlewares warn when the Referer middleware is off (it is, on purpose), and
a ``NotConfigured`` raised with a message is logged at WARNING: the project's redirect
middlewares and its off switches must keep a clean crawl's log clean.
"""

from __future__ import annotations

import re

from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from christmas_spiders.middlewares.redirect import (
    MetaRefreshWithoutRefererMiddleware,
    RedirectWithoutRefererMiddleware,
)
from christmas_spiders.spiders.hallmark_ornaments import HallmarkOrnamentsSpider
from replicas.catalogue import generate_catalogue
from replicas.crawling import run_crawl
from replicas.server import serve_replicas
from replicas.truth import ground_truth

# Scrapy's log format: "2026-01-01 10:00:00 [logger] LEVEL: message".
LOUD = re.compile(r"^\S+ \S+ \[[^\]]+\] (WARNING|ERROR|CRITICAL): .*$", re.M)


def test_a_clean_replica_crawl_logs_no_warning_or_error(migrated_database_url, tmp_path):
    # Without the live variants: their price conflicts and unknown wording are warned of.
    vendor = "hallmark_ornaments"
    catalogue = generate_catalogue(seed=7, products_per_shop=20, live_variants=False)
    settings = [
        f"CHRISTMAS_DATABASE_URL={migrated_database_url}",
        # No stats file asked for (a user's plain `scrapy crawl`): nothing to warn about.
        "CHRISTMAS_STATS_FILE=",
    ]
    with serve_replicas(catalogue) as urls:
        result = run_crawl(vendor, urls[vendor], tmp_path, ["crawl_id=quiet"], settings, store=True)
        truth = ground_truth(catalogue, vendor, urls[vendor])
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.items) == len(truth) > 0
    assert "Spider closed (finished)" in result.log
    assert LOUD.findall(result.log) == [], "\n".join(
        match.group(0) for match in LOUD.finditer(result.log)
    )
    assert "log_count/WARNING" not in result.log and "log_count/ERROR" not in result.log


def test_a_crawl_without_storage_or_progress_logs_no_warning(tmp_path):
    vendor = "hallmark_ornaments"
    catalogue = generate_catalogue(seed=8, products_per_shop=5, live_variants=False)
    with serve_replicas(catalogue) as urls:
        result = run_crawl(
            vendor, urls[vendor], tmp_path, settings=["CHRISTMAS_PROGRESS_INTERVAL=0"]
        )
    assert result.returncode == 0, result.log[-3000:]
    assert result.items
    assert LOUD.findall(result.log) == []
    # The deliberate off switches still say what they switched off, at INFO.
    assert "INFO: CHRISTMAS_STORE_ITEMS is off: items are not stored" in result.log


def test_redirects_carry_no_referer(caplog):
    crawler = get_crawler(HallmarkOrnamentsSpider)
    redirect = RedirectWithoutRefererMiddleware.from_crawler(crawler)
    meta_refresh = MetaRefreshWithoutRefererMiddleware.from_crawler(crawler)

    request = Request("https://shop.test/a", headers={"Referer": "https://shop.test/"})
    moved = HtmlResponse(
        "https://shop.test/a", status=301, headers={"Location": "/b"}, request=request
    )
    followed = redirect.process_response(request, moved)
    assert isinstance(followed, Request) and followed.url == "https://shop.test/b"
    assert "Referer" not in followed.headers

    refresh = HtmlResponse(
        "https://shop.test/a",
        body=b'<html><head><meta http-equiv="refresh" content="0;url=/c"></head></html>',
        request=request,
    )
    refreshed = meta_refresh.process_response(request, refresh)
    assert isinstance(refreshed, Request) and refreshed.url == "https://shop.test/c"
    assert "Referer" not in refreshed.headers
    assert [r for r in caplog.records if r.levelname in {"WARNING", "ERROR"}] == []
