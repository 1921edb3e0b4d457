"""hookedonhallmark.com's own store: JS-built year index, view-all links, ``#add`` form.

A year page is read through its ``view-all`` link where it offers one (a sub-category
of a year page without products, or a link beside the first products of a paginated
year): one page instead of the pagination, with the same products. Links in the site's
navigation (``nav``, ``header``, ``footer``) are not the year's: a mega menu may offer
every year's view-all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from scrapy.http import Response

from christmas_spiders.parsing import clean_text, struck_text, unstruck_text, year_from_text_start
from christmas_spiders.platforms.base import VendorSpider
from christmas_spiders.platforms.select import attribute_of, first, markup_of, root_of, text_of

# Any link whose href contains "view-all" (any case), outside the site's navigation.
_VIEW_ALL_LINKS = (
    "//a[contains(translate(@href, 'VIEWAL', 'viewal'), 'view-all')]"
    "[not(ancestor::nav or ancestor::header or ancestor::footer)]/@href"
)


class HookedOnHallmarkStoreSpider(VendorSpider):
    year_entry_css: ClassVar[str]
    sub_category_link_css: ClassVar[str]
    paging_link_css: ClassVar[str]
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

    def view_all_hrefs(self, response: Response) -> list[str]:
        """The page's view-all links not yet requested, pagination links left out (the
        pages of a paginated view-all link to each other: that is its pagination)."""
        paging = set(response.css(self.paging_link_css).xpath("@href").getall())
        hrefs = [href for href in response.xpath(_VIEW_ALL_LINKS).getall() if href not in paging]
        return [href for href in dict.fromkeys(hrefs) if not self.listing_seen(href, response)]

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        view_all = self.view_all_hrefs(response)
        if view_all:
            # Every product of the year: instead of the pagination and the sub-categories.
            self.crawler.stats.inc_value("christmas/listings/view_all")
            yield from view_all
            return
        if not has_products:
            # No view-all link: every sub-category (duplicates are dropped later).
            yield from response.css(self.sub_category_link_css).css("::attr(href)").getall()
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
            # On sale: <s>$29.95</s> $24.95, the struck amount is the "was" price.
            "was_price": struck_text(price) if price is not None else None,
            "availability": text_of(first(root, self.availability_css)),
        }
