"""``ValidateProductPipeline``: only items in the one product definition go on.

The spiders yield :class:`~christmas_spiders.items.ProductItem`, normalised and checked
when it was built (broken product pages are dropped there, ``christmas/dropped/...``):
those pass untouched. An item from anywhere else (a dict from a new spider or a hand-fed
feed, another item type) is built through the definition here: it goes on as the
equal ``ProductItem``, or is dropped with each bad field counted as
``christmas/invalid/<field>``.
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from christmas_spiders.items import InvalidProduct, ProductItem

logger = logging.getLogger(__name__)


class ValidateProductPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidateProductPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> ProductItem:
        if isinstance(item, ProductItem):
            return item
        adapter = ItemAdapter(item)
        try:
            return ProductItem.from_raw(adapter.asdict())
        except InvalidProduct as invalid:
            stats = self.crawler.stats
            assert stats is not None
            for field in invalid.problems:
                stats.inc_value(f"christmas/invalid/{field}")
            link = adapter.get("link")
            logger.warning("invalid item from %s: %s", link, invalid)
            raise DropItem(f"invalid item from {link}: {invalid}") from invalid
