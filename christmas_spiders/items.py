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

# What the products table may hold: a crawl's answers, and delisted (not seen in the
# vendor's last complete crawl).
STORED_AVAILABILITIES: tuple[str, ...] = (*AVAILABILITIES, "delisted")


def field_json_schemas() -> dict[str, dict[str, object]]:
    """The JSON schema of each item field as the API returns it, in ITEM_FIELDS order."""
    text = {"type": "string"}
    schemas: dict[str, dict[str, object]] = {
        "vendor": {**text, "description": "The shop (its spider's name)."},
        "vendor_id": {**text, "description": "The shop's own id of the product."},
        "sku": {**text, "description": "Hallmark sku, upper case without spaces (QX5257)."},
        "name": {**text, "description": "The product's name as the shop writes it."},
        "price": {
            **text,
            "pattern": r"^-?[0-9]+\.[0-9]{2}$",
            "description": 'A decimal string such as "24.95" (exact; never a binary float).',
            "examples": ["24.95"],
        },
        "currency": {**text, "description": "ISO 4217 code (USD)."},
        "brand": {**text, "description": "The brand the shop names (Hallmark)."},
        "availability": {
            **text,
            "enum": list(STORED_AVAILABILITIES),
            "description": "in_stock, out_of_stock, or delisted (gone from the shop).",
        },
        "release_year": {"type": "integer", "description": "The Keepsake year it belongs to."},
        "link": {**text, "description": "The product page, without query or fragment."},
    }
    return {name: schemas[name] for name in ITEM_FIELDS}
