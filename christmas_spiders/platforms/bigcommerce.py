"""BigCommerce "Cornerstone" theme stores: mega-menu year index, product cards, productView."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from lxml import etree
from scrapy.http import Response

from christmas_spiders.parsing import clean_text, year_from_first_path_segment
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

    def extract_product(self, response: Response) -> dict[str, Any]:
        root = root_of(response)
        info = self.product_info(root)
        brand = info.get("brand")
        sku = first(root, self.sku_css)
        return {
            "vendor_id": attribute_of(first(root, self.vendor_id_css), "value"),
            "name": text_of(first(root, self.title_css)),
            "sku": text_of(sku if sku is not None else info.get("sku")),
            "price": text_of(first(root, self.price_css)),
            "brand": text_of(first(brand, self.brand_css)) if brand is not None else None,
            "availability": text_of(info.get("availability")),
        }
