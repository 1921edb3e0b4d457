from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from christmas_spiders.items import ProductItem
from christmas_spiders.pipelines.validate import ValidateProductPipeline
from tests.fixtures.items import changed

# An item as a dict: what a spider outside the definition (or a hand feed) yields.
GOOD = {
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


def good_fields(**changes: Any) -> dict[str, Any]:
    return changed(GOOD, **changes)


def make_pipeline() -> ValidateProductPipeline:
    return ValidateProductPipeline.from_crawler(get_crawler(settings_dict={}))


def test_a_product_item_passes_untouched() -> None:
    pipeline = make_pipeline()
    item = ProductItem(**good_fields(price=Decimal("24.95")))
    assert pipeline.process_item(item) is item
    assert not pipeline.crawler.stats.get_stats()


def test_a_valid_dict_goes_on_as_the_normalised_product_item() -> None:
    pipeline = make_pipeline()
    out = pipeline.process_item(good_fields(sku="qx 5257", price=Decimal("24.9")))
    assert isinstance(out, ProductItem)
    # Fields the input left out (the nullable was_price, stock_text) come out as their
    # defaults.
    assert dict(out) == {**good_fields(price="24.90"), "was_price": None, "stock_text": None}


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
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_items_are_dropped_counted_and_logged(
    changes: dict[str, Any], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline()
    with caplog.at_level(logging.WARNING), pytest.raises(DropItem, match=field):
        pipeline.process_item(good_fields(**changes))
    stats = pipeline.crawler.stats.get_stats()
    assert {k: v for k, v in stats.items() if k.startswith("christmas/invalid/")} == {
        f"christmas/invalid/{field}": 1
    }
    assert "http://127.0.0.1:1/frosty/" in caplog.text or field == "link"


def test_every_bad_field_of_an_item_is_counted() -> None:
    pipeline = make_pipeline()
    with pytest.raises(DropItem, match=r"bad name.*bad price"):
        pipeline.process_item(good_fields(name=None, price="free"))
    stats = pipeline.crawler.stats.get_stats()
    assert stats["christmas/invalid/name"] == stats["christmas/invalid/price"] == 1
