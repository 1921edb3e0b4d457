"""hallmarkornaments.com, a Shift4Shop (3dcart) store."""

from __future__ import annotations

from christmas_spiders.platforms.shift4shop import Shift4ShopSpider


class HallmarkOrnamentsSpider(Shift4ShopSpider):
    name = "hallmark_ornaments"
    real_origin = "https://www.hallmarkornaments.com"
    year_index_path = "/Hallmark-Ornaments-By-Year_c_200.html"
