"""The benchmark's second reference: fetch-only, plus the crawl's own item per product page.

    scrapy runspider bench/fetch_items_spider.py -a urls_file=urls.txt -a items_file=crawl.jsonl

Requests the given URLs like ``fetch_only_spider.py``; for each product page it yields
the item the real crawl yielded for that page, read from the crawl's feed, without
parsing anything. Same settings, so the items pass the same pipelines and feed
export. Its throughput is the most any crawl yielding these items can reach with
this Scrapy: the rest of a crawl's cost is parsing, link following and the browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scrapy.http import Response

from bench.fetch_only_spider import FetchOnlySpider
from christmas_spiders.items import ProductItem


class FetchItemsSpider(FetchOnlySpider):
    name = "fetch_items"

    def __init__(self, urls_file: str, items_file: str, **kwargs: Any) -> None:
        super().__init__(urls_file, **kwargs)
        self.items: dict[str, dict[str, Any]] = {}
        for line in Path(items_file).read_text(encoding="utf-8").splitlines():
            if line:
                fields = json.loads(line)
                self.items[fields["link"]] = fields

    def fetched(self, response: Response) -> Iterator[ProductItem]:  # type: ignore[override]
        super().fetched(response)
        fields = self.items.get(response.url)
        if fields is not None:
            yield ProductItem.from_raw(fields)
