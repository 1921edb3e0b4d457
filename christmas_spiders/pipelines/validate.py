"""``ValidateProductPipeline``: no item with a missing or unusable required field goes on.

Defensive: the spiders already drop broken product pages (``christmas/dropped/...``).
This pipeline guards the store against items from anywhere else (a new spider, a
hand-fed item) and counts each problem as ``christmas/invalid/<field>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from christmas_spiders.items import AVAILABILITIES, VENDORS
from christmas_spiders.parsing import ParseError, clean_link, clean_text, normalise_sku, parse_price
from christmas_spiders.parsing.years import FIRST_YEAR, LAST_YEAR

logger = logging.getLogger(__name__)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(clean_text(value))


def _price(value: Any) -> bool:
    # A float would lose cents: only exact text or Decimal prices are accepted.
    if isinstance(value, float):
        return False
    try:
        parse_price(value)
    except ParseError:
        return False
    return True


def _link(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        clean_link(value)
    except ParseError:
        return False
    return True


def _release_year(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and FIRST_YEAR <= value <= LAST_YEAR
    )


#: Field -> check; every item field is required.
CHECKS: dict[str, Callable[[Any], bool]] = {
    "vendor": lambda value: value in VENDORS,
    "vendor_id": _text,
    "sku": lambda value: isinstance(value, str) and bool(normalise_sku(value)),
    "name": _text,
    "price": _price,
    "currency": lambda value: value == "USD",
    "brand": _text,
    "availability": lambda value: value in AVAILABILITIES,
    "release_year": _release_year,
    "link": _link,
}


class ValidateProductPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidateProductPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        invalid = [field for field, check in CHECKS.items() if not check(adapter.get(field))]
        if not invalid:
            return item
        stats = self.crawler.stats
        assert stats is not None
        for field in invalid:
            stats.inc_value(f"christmas/invalid/{field}")
        link = adapter.get("link")
        logger.warning("invalid item from %s: bad %s", link, ", ".join(invalid))
        raise DropItem(f"invalid item from {link}: bad {', '.join(invalid)}")
