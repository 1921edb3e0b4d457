"""Refresh crawls select stored products in the database: no year pages are walked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scrapy import signals
from scrapy.crawler import Crawler
from sqlalchemy import text

from christmas_spiders.db.writer import ProductWriter
from christmas_spiders.platforms.base import SpiderArgumentError, VendorSpider
from christmas_spiders.spiders.ornament_shop import OrnamentShopSpider
from tests.fixtures.crawler import project_crawler
from tests.fixtures.storage import sample_items

REPLICA = "http://127.0.0.1:8765"


_crawlers: list[Crawler] = []


@pytest.fixture(autouse=True)
def _stop_crawlers() -> Iterator[None]:
    """End each test's crawlers as a crawl ends: the crawl's database is disposed."""
    yield
    while _crawlers:
        _crawlers.pop().signals.send_catch_log(signals.engine_stopped)


def _spider(database_url: str, **arguments: str) -> VendorSpider:
    crawler = project_crawler(
        OrnamentShopSpider,
        {"CHRISTMAS_PROGRESS_INTERVAL": 0, "CHRISTMAS_DATABASE_URL": database_url},
    )
    spider = OrnamentShopSpider.from_crawler(crawler, base_url=REPLICA, **arguments)
    crawler.spider = spider
    _crawlers.append(crawler)
    return spider


def _store(engine, items, hours_ago: float) -> None:
    ProductWriter(engine, "seed").write(items)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET last_synced_at = now() - make_interval(secs => :h * 3600) "
                "WHERE link = ANY(:links)"
            ),
            {"h": hours_ago, "links": [i["link"] for i in items]},
        )


def test_stale_hours_requests_exactly_the_stale_products(storage_engine, migrated_database_url):
    items = [
        dict(i, link=f"http://127.0.0.1:9999/p/{n}.html") for n, i in enumerate(sample_items(6))
    ]
    _store(storage_engine, items[:2], hours_ago=48)  # stale
    _store(storage_engine, items[2:4], hours_ago=1)  # fresh
    _store(storage_engine, items[4:5], hours_ago=72)
    with storage_engine.begin() as conn:  # stale but delisted: its page is gone
        conn.execute(
            text("UPDATE products SET availability = 'delisted' WHERE link = :l"),
            {"l": items[4]["link"]},
        )
    ProductWriter(storage_engine, "seed").write(
        [dict(items[5], vendor="hookedonhallmark")]  # another vendor's product
    )
    with storage_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET last_synced_at = now() - interval '99 hours' "
                "WHERE vendor = 'hookedonhallmark'"
            )
        )

    spider = _spider(migrated_database_url, stale_hours="24")
    requests = list(spider.initial_requests())
    assert spider.full_crawl is False
    # The stored links, moved to the crawled origin, each with its stored year.
    assert sorted((r.url, r.cb_kwargs["release_year"]) for r in requests) == sorted(
        (f"{REPLICA}/p/{n}.html", items[n]["release_year"]) for n in (0, 1)
    )
    assert all(r.callback == spider.parse_product for r in requests)


def test_product_url_alone_takes_the_stored_release_year(storage_engine, migrated_database_url):
    item = dict(sample_items(1)[0], link="http://127.0.0.1:9999/frosty.html", release_year=1995)
    ProductWriter(storage_engine, "seed").write([item])
    spider = _spider(migrated_database_url, product_url="http://127.0.0.1:8765/frosty.html")
    (request,) = list(spider.initial_requests())
    assert (request.url, request.cb_kwargs) == (f"{REPLICA}/frosty.html", {"release_year": 1995})


def test_product_url_of_an_unknown_product_needs_its_year(migrated_database_url):
    spider = _spider(migrated_database_url, product_url=f"{REPLICA}/never-stored.html")
    with pytest.raises(SpiderArgumentError, match="not a stored product; add release_year"):
        list(spider.initial_requests())


def test_stale_selection_uses_the_database_clock(storage_engine, migrated_database_url):
    _store(storage_engine, sample_items(1), hours_ago=0.5)
    assert list(_spider(migrated_database_url, stale_hours="1").initial_requests()) == []
    assert len(list(_spider(migrated_database_url, stale_hours="0.25").initial_requests())) == 1
