"""ornament-shop.com, a BigCommerce Cornerstone store."""

from __future__ import annotations

from christmas_spiders.platforms.bigcommerce import BigCommerceSpider


class OrnamentShopSpider(BigCommerceSpider):
    name = "ornament_shop"
    real_origin = "https://www.ornament-shop.com"
    year_index_path = "/hallmark-ornaments-by-year.html"
    # The mega-menu script builds the year list after load.
    year_index_wait_css = "li.navList-item a[href]"
