"""The benchmark's fetch-only spider: requests the given URLs and does nothing with them.

    scrapy runspider bench/fetch_only_spider.py -a urls_file=urls.txt

It runs with the project settings (same concurrency, middlewares and pipelines) so the
only difference to a real crawl is the parsing and item work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response


class FetchOnlySpider(scrapy.Spider):
    name = "fetch_only"

    def __init__(self, urls_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = [line for line in Path(urls_file).read_text().splitlines() if line]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.fetched, dont_filter=True)

    def fetched(self, response: Response) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bench/fetched")
