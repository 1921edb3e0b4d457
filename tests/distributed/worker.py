"""One crawl worker on the tiny shop: ``python -m tests.distributed.worker BASE_URL OUT_DIR``.

Runs with the project's settings (so REDIS_URL switches the session scheduler on) and
stores items through :class:`AppendItemsPipeline`, a storing pipeline that batches
like the Postgres one and reports ``items_persisted``: what it wrote survives SIGKILL.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Response
from scrapy.utils.project import get_project_settings

from christmas_spiders.signals import items_persisted
from christmas_spiders.year_links import YearLinksCache


class AppendItemsPipeline:
    """Appends items as JSON lines in batches of ``batch_size`` (or on close)."""

    sends_items_persisted = True

    def __init__(self, crawler: Crawler, path: Path, batch_size: int = 4) -> None:
        self.crawler = crawler
        self.path = path
        self.batch_size = batch_size
        self.batch: list[dict[str, Any]] = []
        self.fd = -1

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AppendItemsPipeline:
        return cls(crawler, Path(crawler.settings["TEST_ITEMS_FILE"]))

    def open_spider(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.batch.append(dict(item))
        if len(self.batch) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        if not self.batch:
            return
        os.write(self.fd, "".join(json.dumps(i) + "\n" for i in self.batch).encode())
        count, self.batch = len(self.batch), []
        self.crawler.signals.send_catch_log(items_persisted, count=count)

    def close_spider(self) -> None:
        self.flush()
        os.close(self.fd)


class TinyShopSpider(Spider):
    name = "tinyshop"

    def __init__(self, base_url: str, crawl_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url
        self.crawl_id = crawl_id or uuid.uuid4().hex

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> TinyShopSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.year_links_cache = YearLinksCache.from_crawler(crawler)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        links = self.year_links_cache.get(self)
        if links is None:
            yield Request(f"{self.base_url}/index", callback=self.parse_index)
            return
        for year, url in links:
            yield Request(url, callback=self.parse_year, cb_kwargs={"year": year})

    def parse_index(self, response: Response) -> Any:
        links = [
            [int(a.css("::text").get("")[:4]), response.urljoin(a.attrib["href"])]
            for a in response.css("ul.years a")
        ]
        self.year_links_cache.put(self, links)
        for year, url in links:
            yield Request(url, callback=self.parse_year, cb_kwargs={"year": year})

    def parse_year(self, response: Response, year: int) -> Any:
        for href in response.css("a.product::attr(href)").getall():
            yield response.follow(href, callback=self.parse_product, cb_kwargs={"year": year})
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page, callback=self.parse_year, cb_kwargs={"year": year})

    def parse_product(self, response: Response, year: int) -> Any:
        yield {
            "vendor_id": response.url.rsplit("/", 1)[1],
            "name": response.css("h1.name::text").get(),
            "price": response.css("span.price::text").get(),
            "release_year": year,
            "link": response.url,
        }


def main(argv: list[str]) -> None:
    base_url, out_dir = argv[0], Path(argv[1])
    extra = dict(arg.split("=", 1) for arg in argv[2:])
    settings = get_project_settings()
    settings.set("ITEM_PIPELINES", {AppendItemsPipeline: 900})
    # No Postgres here: the project's storing pipeline and crawl-run extension stay off.
    settings.set("CHRISTMAS_STORE_ITEMS", False)
    settings.set("TEST_ITEMS_FILE", str(out_dir / f"items-{os.getpid()}.jsonl"))
    settings.set("CHRISTMAS_YEAR_LINKS_FILE", str(out_dir / "year-links.json"))
    settings.set("LOG_FILE", str(out_dir / f"worker-{os.getpid()}.log"))
    settings.set("CONCURRENT_REQUESTS", int(os.environ.get("TEST_CONCURRENCY", "4")))
    for name in (
        "CHRISTMAS_WORKER_TIMEOUT",
        "CHRISTMAS_WORKER_HEARTBEAT",
        "CHRISTMAS_IDLE_POLL",
        "CHRISTMAS_REDIS_OUTAGE_LIMIT",
    ):
        if os.environ.get(name):
            settings.set(name, float(os.environ[name]))
    if os.environ.get("CHRISTMAS_YEAR_LINKS_TTL"):
        settings.set("CHRISTMAS_YEAR_LINKS_TTL", int(os.environ["CHRISTMAS_YEAR_LINKS_TTL"]))
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(TinyShopSpider)
    stats_file = out_dir / f"stats-{os.getpid()}.json"

    def dump_stats(spider: Spider, reason: str) -> None:
        stats = {
            k: (v if isinstance(v, (int, float, str)) else str(v))
            for k, v in crawler.stats.get_stats().items()
        }
        stats["finish_reason"] = reason
        stats_file.write_text(json.dumps(stats))

    crawler.signals.connect(dump_stats, signal=signals.spider_closed)
    process.crawl(crawler, base_url=base_url, **extra)
    started = time.monotonic()
    process.start()
    print(f"worker {os.getpid()} done in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
