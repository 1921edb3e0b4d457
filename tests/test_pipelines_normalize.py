from __future__ import annotations

from decimal import Decimal

from scrapy.utils.test import get_crawler

from christmas_spiders.items import ProductItem
from christmas_spiders.pipelines.normalize import NormalizeProductPipeline


def test_normalisation_is_exact_and_idempotent() -> None:
    pipeline = NormalizeProductPipeline.from_crawler(get_crawler(settings_dict={}))
    item = ProductItem(
        vendor="hookedonhallmark",
        vendor_id=" 77 ",
        sku="qx 5257",
        name="  Frosty&#8482;\n Friends ",
        price=Decimal("1299.5"),
        currency="usd",
        brand=" Hallmark ",
        availability="in_stock",
        release_year=1995,
        link="http://127.0.0.1:1/frosty.html?ref=2#top",
    )
    expected = {
        "vendor": "hookedonhallmark",
        "vendor_id": "77",
        "sku": "QX5257",
        "name": "Frosty™ Friends",
        "price": "1299.50",
        "currency": "USD",
        "brand": "Hallmark",
        "availability": "in_stock",
        "release_year": 1995,
        "link": "http://127.0.0.1:1/frosty.html",
    }
    assert dict(pipeline.process_item(item)) == expected
    assert dict(pipeline.process_item(item)) == expected
    assert isinstance(item["price"], str)
