"""The one item type every spider yields (fields fixed by shared/vendor-sites.md)."""

from __future__ import annotations

import scrapy

VENDORS: tuple[str, ...] = ("hookedonhallmark", "ornament_shop", "hallmark_ornaments")
AVAILABILITIES: tuple[str, ...] = ("in_stock", "out_of_stock")


class ProductItem(scrapy.Item):
    """One product page of one shop.

    ``price`` is a decimal string with two places (never a float); ``release_year``
    is the year of the year page the product was found under.
    """

    vendor = scrapy.Field()
    vendor_id = scrapy.Field()
    sku = scrapy.Field()
    name = scrapy.Field()
    price = scrapy.Field()
    currency = scrapy.Field()
    brand = scrapy.Field()
    availability = scrapy.Field()
    release_year = scrapy.Field()
    link = scrapy.Field()


ITEM_FIELDS: tuple[str, ...] = tuple(ProductItem.fields)
