"""BigCommerce "Cornerstone" theme stores: mega-menu year index, product cards, productView."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from parsel import Selector
from scrapy.http import Response

from christmas_spiders.parsing import clean_text, year_from_first_path_segment
from christmas_spiders.platforms.base import VendorSpider


class BigCommerceSpider(VendorSpider):
    year_link_css: ClassVar[str] = "li.navList-item a[href]"
    product_link_css: ClassVar[str] = "li.product article.card .card-figure a::attr(href)"
    next_page_css: ClassVar[str] = "li.pagination-item--next a::attr(href)"
    title_css: ClassVar[str] = "h1.productView-title"
    info_name_css: ClassVar[str] = "dl.productView-info dt.productView-info-name"
    price_css: ClassVar[str] = ".productView-price span.price--withoutTax"
    vendor_id_css: ClassVar[str] = "input[name=product_id]::attr(value)"
    #: Cornerstone marks the sku's ``dd`` with a bare ``data-product-sku`` (text is the sku).
    sku_css: ClassVar[str] = "dl.productView-info dd[data-product-sku]"

    def year_index_entries(self, response: Response) -> Iterable[tuple[int | None, str]]:
        for link in response.css(self.year_link_css):
            href = link.attrib["href"]
            yield year_from_first_path_segment(href), href

    def product_hrefs(self, response: Response) -> Iterable[str]:
        return response.css(self.product_link_css).getall()

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        return response.css(self.next_page_css).getall()[:1]

    def product_info(self, response: Response) -> dict[str, Selector]:
        """``dt`` label (``"sku"``, ``"brand"``...) -> its ``dd`` in the productView-info list."""
        info: dict[str, Selector] = {}
        for term in response.css(self.info_name_css):
            label = clean_text(" ".join(term.css("::text").getall())).rstrip(":").strip().lower()
            value = term.xpath("following-sibling::dd[1]")
            if label and value:
                info.setdefault(label, value[0])
        return info

    def extract_product(self, response: Response) -> dict[str, Any]:
        info = self.product_info(response)
        brand = info.get("brand")
        sku_element = response.css(self.sku_css)
        sku = sku_element[0] if sku_element else info.get("sku")
        availability = info.get("availability")
        return {
            "vendor_id": response.css(self.vendor_id_css).get(),
            "name": " ".join(response.css(f"{self.title_css} ::text").getall()),
            "sku": " ".join(sku.css("::text").getall()) if sku is not None else None,
            "price": " ".join(response.css(f"{self.price_css} ::text").getall()) or None,
            "brand": " ".join(brand.css("a span ::text").getall()) if brand is not None else None,
            "availability": (
                " ".join(availability.css("::text").getall()) if availability is not None else None
            ),
        }
