"""``NormalizeProductPipeline``: every item in the one normal form (idempotent).

The spiders already build items this way; applying it again changes nothing, so
items from any source reach the store alike: sku upper-cased without white space,
texts cleaned, price a 2-place decimal string, link without query or fragment.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from christmas_spiders.parsing import clean_link, clean_text, format_price, normalise_sku


class NormalizeProductPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NormalizeProductPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        adapter["vendor_id"] = clean_text(adapter["vendor_id"])
        adapter["sku"] = normalise_sku(adapter["sku"])
        adapter["name"] = clean_text(adapter["name"])
        adapter["brand"] = clean_text(adapter["brand"])
        adapter["price"] = format_price(adapter["price"])
        adapter["currency"] = clean_text(adapter["currency"]).upper()
        adapter["link"] = clean_link(adapter["link"])
        adapter["release_year"] = int(adapter["release_year"])
        return item
