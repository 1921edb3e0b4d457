from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from christmas_spiders.items import ProductItem
from christmas_spiders.pipelines.validate import ValidateProductPipeline


def good_item(**changes: Any) -> ProductItem:
    fields: dict[str, Any] = {
        "vendor": "ornament_shop",
        "vendor_id": "512",
        "sku": "QX5257",
        "name": "Frosty Friends",
        "price": "24.95",
        "currency": "USD",
        "brand": "Hallmark",
        "availability": "in_stock",
        "release_year": 1995,
        "link": "http://127.0.0.1:1/frosty/",
    }
    fields.update(changes)
    return ProductItem(**{k: v for k, v in fields.items() if v is not ...})


def make_pipeline() -> ValidateProductPipeline:
    return ValidateProductPipeline.from_crawler(get_crawler(settings_dict={}))


def test_a_valid_item_passes_unchanged() -> None:
    pipeline = make_pipeline()
    item = good_item(price=Decimal("24.95"))
    assert pipeline.process_item(item) is item


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": ...}, "price"),
        ({"price": 24.95}, "price"),
        ({"price": "Call for price"}, "price"),
        ({"sku": "  "}, "sku"),
        ({"name": ""}, "name"),
        ({"vendor_id": None}, "vendor_id"),
        ({"vendor": "ebay"}, "vendor"),
        ({"availability": "maybe"}, "availability"),
        ({"release_year": "1995"}, "release_year"),
        ({"link": "/frosty/"}, "link"),
        ({"currency": "EUR"}, "currency"),
    ],
)
def test_invalid_items_are_dropped_counted_and_logged(
    changes: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING), pytest.raises(DropItem, match=field):
        pipeline.process_item(good_item(**changes))
    stats = pipeline.crawler.stats.get_stats()
    assert {k: v for k, v in stats.items() if k.startswith("christmas/invalid/")} == {
        f"christmas/invalid/{field}": 1
    }
    assert "http://127.0.0.1:1/frosty/" in caplog.text or field == "link"
