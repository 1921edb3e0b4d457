"""BigCommerce "Cornerstone" theme stores: mega-menu year index, product cards, productView.

A product page's ``var BCData = {...}`` holds the price and stock as data: stock comes
from ``product_attributes.instock`` where it is there (the ``Availability:`` row is the
merchant's free text, and may be missing), and its price cross-checks the visible one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from lxml import etree
from scrapy.http import Response

from christmas_spiders.parsing import (
    ScriptDataError,
    availability_from_flag,
    clean_text,
    script_object,
    year_from_first_path_segment,
)
from christmas_spiders.platforms.base import VendorSpider
from christmas_spiders.platforms.select import (
    attribute_of,
    first,
    next_sibling,
    root_of,
    select,
    text_of,
)


class BigCommerceSpider(VendorSpider):
    year_link_css: ClassVar[str] = "li.navList-item a[href]"
    product_tile_css: ClassVar[str] = "li.product article.card"
    product_link_css: ClassVar[str] = ".card-figure a[href]"
    # The retail "was" price stands beside it in its own span.price--rrp.
    tile_price_css: ClassVar[str | None] = ".card-body span.price--withoutTax"
    # Cornerstone cards show no stock: a stock change is found by a stale read.
    tile_stock_css: ClassVar[str | None] = None
    next_page_css: ClassVar[str] = "li.pagination-item--next a::attr(href)"
    title_css: ClassVar[str] = "h1.productView-title"
    info_name_css: ClassVar[str] = "dl.productView-info dt.productView-info-name"
    price_css: ClassVar[str] = ".productView-price span.price--withoutTax"
    #: The retail ("MSRP") price beside the price: the item's ``was_price``.
    rrp_css: ClassVar[str] = ".productView-price span.price--rrp"
    vendor_id_css: ClassVar[str] = "input[name=product_id]"
    #: Cornerstone marks the sku's ``dd`` with a bare ``data-product-sku`` (text is the sku).
    sku_css: ClassVar[str] = "dl.productView-info dd[data-product-sku]"
    brand_css: ClassVar[str] = "a span"

    def year_index_entries(self, response: Response) -> Iterable[tuple[int | None, str]]:
        for link in response.css(self.year_link_css):
            href = link.attrib["href"]
            yield year_from_first_path_segment(href), href

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        return response.css(self.next_page_css).getall()[:1]

    def product_info(self, root: etree._Element) -> dict[str, etree._Element]:
        """``dt`` label (``"sku"``, ``"brand"``...) -> its ``dd`` in the productView-info list."""
        info: dict[str, etree._Element] = {}
        for term in select(root, self.info_name_css):
            label = clean_text(text_of(term)).rstrip(":").strip().lower()
            value = next_sibling(term, "dd")
            if label and value is not None:
                info.setdefault(label, value)
        return info

    def bc_data(self, root: etree._Element, url: str) -> dict[str, Any]:
        """``BCData.product_attributes`` ({} where the page has none or it does not parse:
        the visible rows are then all there is)."""
        try:
            data = script_object((script.text or "" for script in select(root, "script")), "BCData")
        except ScriptDataError as exc:
            self.crawler.stats.inc_value("christmas/bcdata/unreadable")
            self.logger.warning("unreadable BCData on %s: %s", url, exc)
            return {}
        attributes = (data or {}).get("product_attributes")
        return attributes if isinstance(attributes, dict) else {}

    def extract_product(self, response: Response) -> dict[str, Any]:
        root = root_of(response)
        info = self.product_info(root)
        brand = info.get("brand")
        sku = first(root, self.sku_css)
        data = self.bc_data(root, response.url)
        instock = data.get("instock")
        return {
            "vendor_id": attribute_of(first(root, self.vendor_id_css), "value"),
            "name": text_of(first(root, self.title_css)),
            "sku": text_of(sku if sku is not None else info.get("sku")),
            "price": text_of(first(root, self.price_css)),
            "was_price": text_of(first(root, self.rrp_css)),
            "price_check": _data_price(data),
            "brand": text_of(first(brand, self.brand_css)) if brand is not None else None,
            # A true/false flag from BCData, else the row's text.
            "availability": instock
            if isinstance(instock, bool)
            else text_of(info.get("availability")),
        }

    def parse_availability(self, raw: object) -> str:
        if isinstance(raw, bool):
            return availability_from_flag(raw)
        return super().parse_availability(raw)


def _data_price(attributes: dict[str, Any]) -> tuple[str, object] | None:
    """``("BCData", price)`` of ``price.without_tax.value``, where BCData has it."""
    price = attributes.get("price")
    without_tax = price.get("without_tax") if isinstance(price, dict) else None
    value = without_tax.get("value") if isinstance(without_tax, dict) else None
    return None if value is None else ("BCData", value)
