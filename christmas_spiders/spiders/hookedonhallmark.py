"""hookedonhallmark.com: year index and product lists; year pages may only offer view-all."""

from __future__ import annotations

from christmas_spiders.platforms.hookedonhallmark import HookedOnHallmarkStoreSpider


class HookedOnHallmarkSpider(HookedOnHallmarkStoreSpider):
    name = "hookedonhallmark"
    real_origin = "https://www.hookedonhallmark.com"
    year_index_path = "/keepsake-hallmark-ornaments-by-year.html"
    # Built by JavaScript after load: rendered in the browser until a year link shows.
    year_index_wait_css = "ul.columns-5 > li a[href]"
    year_entry_css = "ul.columns-5 > li"
    product_tile_css = "div.product-item"
    product_link_css = ".name a"
    # A sale tile holds "<s>$29.95</s> $24.95", as the product page does.
    tile_price_css = ".price"
    # Tiles say "Sold Out" / "Out of Stock" there, and nothing when in stock.
    tile_stock_css = ".stock"
    sub_category_link_css = ".sub-categories a[href]"
    paging_link_css = ".paging a[href]"
    product_form_css = "#add"
    sku_css = "#product_id"
    price_css = "#price"
    availability_css = "#availability"
