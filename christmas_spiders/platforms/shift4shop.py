"""Shift4Shop (3dcart) stores: ``_c_`` categories, ``?viewall=1`` grids, ``_3d_item`` data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from scrapy import Request
from scrapy.http import Response
from w3lib.url import add_or_replace_parameter

from christmas_spiders.parsing import (
    ScriptDataError,
    availability_from_flag,
    clean_text,
    script_object,
    year_from_path_number,
)
from christmas_spiders.platforms.base import (
    BAD_PRODUCT_DATA,
    PRODUCT_COUNT_MISMATCH,
    DropProduct,
    VendorSpider,
    YearLink,
)
from christmas_spiders.platforms.select import first, root_of, select, text_of

_PRODUCT_COUNT = re.compile(r"\bof\s+([\d,]+)", re.IGNORECASE)


def read_3d_item(script_texts: Iterable[str]) -> dict[str, Any]:
    """The ``var _3d_item = {...};`` object of a product page (numbers as Decimal), from
    whichever script sets it (the live shop has several ``<head>`` scripts before it).

    Raises :class:`DropProduct` (``bad_product_data``) when no script sets it or its
    JSON does not parse.
    """
    try:
        value = script_object(script_texts, "_3d_item")
    except ScriptDataError as exc:
        raise DropProduct(BAD_PRODUCT_DATA, str(exc)) from exc
    if value is None:
        raise DropProduct(BAD_PRODUCT_DATA, "no _3d_item script")
    return value


class Shift4ShopSpider(VendorSpider):
    year_link_css: ClassVar[str] = "a.subcat[href]"
    #: A year's category lists every product on one page with this parameter.
    view_all_parameter: ClassVar[tuple[str, str]] = ("viewall", "1")
    product_tile_css: ClassVar[str] = "#productCategoryBlock div.product-item"
    #: Product tiles get their links from JavaScript: the grid is a browser page.
    product_link_css: ClassVar[str] = "a.quickview[href]"
    #: Tile prices are in the raw HTML; a sold-out tile says so.
    tile_price_css: ClassVar[str | None] = ".price"
    tile_stock_css: ClassVar[str | None] = ".stock"
    product_count_css: ClassVar[str] = ".product-count"
    #: Product data sits in a ``<head>`` script; the visible price cross-checks its price.
    item_script_css: ClassVar[str] = "head script"
    visible_price_css: ClassVar[str] = "span.price"
    price_source: ClassVar[str] = "_3d_item's price"
    #: The browser waits until a tile's link is filled in, or sees the grid has no tiles
    #: (an empty year would otherwise wait for its full time limit).
    year_page_wait_css: ClassVar[str] = (
        "#productCategoryBlock div.product-item a.quickview[href], "
        "#productCategoryBlock:not(:has(div.product-item))"
    )

    def year_index_entries(self, response: Response) -> Iterable[tuple[int | None, str]]:
        for link in response.css(self.year_link_css):
            href = link.attrib["href"]
            yield year_from_path_number(href), href

    def year_page_request(self, link: YearLink) -> Request | None:
        url = add_or_replace_parameter(link.url, *self.view_all_parameter)
        return self.listing_request(url, link.year, wait_css=self.year_page_wait_css)

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        return ()

    def check_listing(self, response: Response, year: int, product_hrefs: list[str]) -> None:
        """The grid's ``.product-count`` must match the products seen (else: warning + stat)."""
        count_text = clean_text(" ".join(response.css(f"{self.product_count_css} ::text").getall()))
        match = _PRODUCT_COUNT.search(count_text)
        # Tiles whose link JavaScript filled in (a product may sit in two tiles).
        seen = len(product_hrefs)
        if not match:
            self.crawler.stats.inc_value("christmas/product_count_missing")
            self.logger.warning("no product count on year page %s", response.url)
            return
        expected = int(match.group(1).replace(",", ""))
        if expected != seen:
            self.crawler.stats.inc_value("christmas/product_count_mismatch")
            self.mark_year_incomplete(year, PRODUCT_COUNT_MISMATCH, response.url)
            self.logger.warning(
                "year %d page %s says %d products, saw %d (tiles: %d)",
                year,
                response.url,
                expected,
                seen,
                len(response.css(self.product_tile_css)),
            )

    def extract_product(self, response: Response) -> dict[str, Any]:
        root = root_of(response)
        data = read_3d_item(script.text or "" for script in select(root, self.item_script_css))
        visible = text_of(first(root, self.visible_price_css))
        return {
            "vendor_id": data.get("catalogid"),
            "sku": data.get("id"),
            "name": data.get("name"),
            "price": data.get("price"),
            "price_check": None if visible is None else ("the visible price", visible),
            "availability": data.get("availability"),
        }

    def parse_availability(self, raw: object) -> str:
        return availability_from_flag(raw)

    def stock_text(self, raw: object) -> str | None:
        # _3d_item's availability is a flag ("1" / "0"), even where it is text: no wording.
        return None
