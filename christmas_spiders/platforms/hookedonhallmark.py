"""hookedonhallmark.com's own store: JS-built year index, view-all sub-category, ``#add`` form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from scrapy.http import Response

from christmas_spiders.parsing import clean_text, unstruck_text, year_from_text_start
from christmas_spiders.platforms.base import VendorSpider
from christmas_spiders.platforms.select import attribute_of, first, markup_of, root_of, text_of


class HookedOnHallmarkStoreSpider(VendorSpider):
    year_entry_css: ClassVar[str]
    sub_category_link_css: ClassVar[str]
    paging_link_css: ClassVar[str]
    #: Sub-category whose href contains this (any case) lists every product of the year.
    view_all_marker: ClassVar[str] = "view-all"
    next_page_marker: ClassVar[str] = "next"
    product_form_css: ClassVar[str]
    sku_css: ClassVar[str]
    price_css: ClassVar[str]
    availability_css: ClassVar[str]

    def year_index_entries(self, response: Response) -> Iterable[tuple[int | None, str]]:
        for entry in response.css(self.year_entry_css):
            href = entry.css("a::attr(href)").get() or ""
            label = clean_text(" ".join(entry.css("span ::text").getall()))
            year = year_from_text_start(label)
            if year is None and not label:
                # An image entry: the year starts the image's alt text.
                year = year_from_text_start(clean_text(entry.css("img::attr(alt)").get()))
            yield year, href

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        if not has_products:
            sub_categories = response.css(self.sub_category_link_css)
            view_all = [
                link.attrib["href"]
                for link in sub_categories
                if self.view_all_marker in link.attrib.get("href", "").lower()
            ]
            # No view-all link: every sub-category (duplicates are dropped later).
            yield from view_all or [href for href in sub_categories.css("::attr(href)").getall()]
        for link in response.css(self.paging_link_css):
            text = clean_text(" ".join(link.css("::text").getall())).lower()
            if self.next_page_marker in text and link.attrib.get("href"):
                yield link.attrib["href"]

    def extract_product(self, response: Response) -> dict[str, Any]:
        root = root_of(response)
        form = first(root, self.product_form_css)
        price = markup_of(first(root, self.price_css))
        return {
            "vendor_id": attribute_of(first(form, "input"), "value"),
            "name": text_of(first(form, "h1")),
            "sku": text_of(first(root, self.sku_css)),
            "price": unstruck_text(price) if price is not None else None,
            "availability": text_of(first(root, self.availability_css)),
        }
