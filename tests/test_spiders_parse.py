"""Every page type of every shop, each quirk of docs/shops.md, fed to the callbacks.

The HTML here is written to docs/shops.md (rendered state for JS pages); the
replica's own pages are crawled end to end in test_spiders_crawl.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy_selenium import SeleniumRequest
from twisted.python.failure import Failure

from christmas_spiders.items import ProductItem
from christmas_spiders.parsing import ParseError
from christmas_spiders.platforms.base import SpiderArgumentError, VendorSpider, YearLink
from christmas_spiders.spiders.hallmark_ornaments import HallmarkOrnamentsSpider
from christmas_spiders.spiders.hookedonhallmark import HookedOnHallmarkSpider
from christmas_spiders.spiders.ornament_shop import OrnamentShopSpider
from tests.fixtures.spiders import REPLICA_ORIGIN, html_response, make_spider, response_for

ORIGIN = REPLICA_ORIGIN


def stats(spider: VendorSpider) -> dict[str, Any]:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_stats()


def requests_of(results: Any) -> list[Request]:
    return [result for result in results if isinstance(result, Request)]


def items_of(results: Any) -> list[ProductItem]:
    return [result for result in results if isinstance(result, ProductItem)]


def product_item(spider: VendorSpider, url: str, body: str, year: int = 1995) -> ProductItem:
    request = spider.product_request(url, year)
    assert request is not None
    items = items_of(spider.parse_product(response_for(request, body), **request.cb_kwargs))
    assert len(items) == 1, stats(spider)
    return items[0]


def dropped(spider: VendorSpider, url: str, body: str) -> dict[str, Any]:
    request = spider.product_request(url, 1995)
    assert request is not None
    assert items_of(spider.parse_product(response_for(request, body), **request.cb_kwargs)) == []
    return {k: v for k, v in stats(spider).items() if k.startswith("christmas/dropped/")}


# ---------------------------------------------------------------- hookedonhallmark

HOH_INDEX = """<html><body><ul class="columns-5">
<li><a href="/1995-hallmark-ornaments.html"><span>1995 Hallmark Ornaments</span></a></li>
<li><a href="/1996-hallmark-ornaments.html"><span><img alt="1996 Hallmark Ornaments"
  src="/i/1996.png"></span></a></li>
<li><a href="https://www.hookedonhallmark.com/2001-keepsake.html"><span>2001 Keepsake</span>
</a></li>
<li><a href="/vintage.html"><span>Vintage</span></a></li>
<li><a href="/pre-1973.html"><span>Pre-1973</span></a></li>
</ul></body></html>"""


def hoh_year_page(names: list[str], next_href: str | None = None) -> str:
    tiles = "".join(
        f'<div class="product-item"><div class="name"><a href="/{n}.html?cat=9#top">{n}</a>'
        "</div></div>"
        for n in names
    )
    paging = '<div class="paging"><a href="?page=1">1</a>'
    if next_href:
        paging += f'<a href="{next_href}">Next &raquo;</a>'
    return f"<html><body>{tiles}{paging}</div></body></html>"


def hoh_product(
    price: str = "$24.95",
    availability: str = "In Stock",
    name: str = "Frosty&#8482; Friends",
    sku: str = "qx 5257",
    vendor_id: str = "HOH-1001",
) -> str:
    price_html = f'<span id="price">{price}</span>' if price is not None else ""
    return f"""<html><body><form id="add" action="/cart">
<input type="hidden" name="item" value="{vendor_id}"><input type="text" name="qty" value="1">
<h1>  {name}
</h1></form><span id="product_id"> {sku} </span>{price_html}
<span id="availability">{availability}</span></body></html>"""


def test_hookedonhallmark_year_index_is_a_browser_page_waiting_for_year_links() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    request = spider.year_links_request()
    assert isinstance(request, SeleniumRequest)
    assert request.url == f"{ORIGIN}/keepsake-hallmark-ornaments-by-year.html"
    assert request.wait_until.css == "ul.columns-5 > li a[href]"


def test_hookedonhallmark_year_index_reads_text_and_image_entries_skips_non_years() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    response = html_response(f"{ORIGIN}/keepsake-hallmark-ornaments-by-year.html", HOH_INDEX)
    assert spider.extract_year_links(response) == [
        YearLink(1995, f"{ORIGIN}/1995-hallmark-ornaments.html"),
        YearLink(1996, f"{ORIGIN}/1996-hallmark-ornaments.html"),
        # An absolute link to the real shop is moved to the crawled origin.
        YearLink(2001, f"{ORIGIN}/2001-keepsake.html"),
    ]
    assert stats(spider)["christmas/years/skipped_entries"] == 2


def test_years_argument_filters_year_pages_and_sets_the_total() -> None:
    spider = make_spider(HookedOnHallmarkSpider, years="1996,2000-2005")
    response = html_response(f"{ORIGIN}/keepsake-hallmark-ornaments-by-year.html", HOH_INDEX)
    requests = requests_of(spider.parse_year_index(response))
    assert [r.url for r in requests] == [
        f"{ORIGIN}/1996-hallmark-ornaments.html",
        f"{ORIGIN}/2001-keepsake.html",
    ]
    assert all(r.cb_kwargs == {"year": y} for r, y in zip(requests, (1996, 2001), strict=True))
    assert stats(spider)["christmas/years/total"] == 2
    assert spider.full_crawl is False


def test_year_links_are_cached_so_the_next_crawl_skips_the_index(tmp_path: Path) -> None:
    cache = tmp_path / "year-links.json"
    first = make_spider(HookedOnHallmarkSpider, year_links_file=cache)
    (index_request,) = first.initial_requests()
    assert isinstance(index_request, SeleniumRequest)
    list(first.parse_year_index(response_for(index_request, HOH_INDEX)))
    assert stats(first)["christmas/year_links/cache_miss"] == 1
    second = make_spider(HookedOnHallmarkSpider, year_links_file=cache, years="1996")
    requests = list(second.initial_requests())
    assert [(r.url, r.cb_kwargs) for r in requests] == [
        (f"{ORIGIN}/1996-hallmark-ornaments.html", {"year": 1996})
    ]
    assert stats(second)["christmas/year_links/cache_hit"] == 1
    assert stats(second)["christmas/years/total"] == 1
    forced = make_spider(HookedOnHallmarkSpider, year_links_file=cache, refresh_year_links="1")
    assert isinstance(next(iter(forced.initial_requests())), SeleniumRequest)


def test_hookedonhallmark_year_page_products_and_next_page_then_year_done() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    (first,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995.html")]))
    out = requests_of(
        spider.parse_listing(response_for(first, hoh_year_page(["a", "b"], "?page=2")), 1995)
    )
    products = [r for r in out if r.callback == spider.parse_product]
    listings = [r for r in out if r.callback == spider.parse_listing]
    assert [r.url for r in products] == [f"{ORIGIN}/a.html", f"{ORIGIN}/b.html"]
    assert [r.url for r in listings] == [f"{ORIGIN}/1995.html?page=2"]
    assert stats(spider).get("christmas/years/done") == 0  # page 2 still outstanding
    # The last page has no "next" link; product "b" again is not requested twice.
    last = requests_of(
        spider.parse_listing(response_for(listings[0], hoh_year_page(["b", "c"])), 1995)
    )
    assert [r.url for r in last] == [f"{ORIGIN}/c.html"]
    assert stats(spider)["christmas/years/done"] == 1
    assert stats(spider)["christmas/duplicate_product_links"] == 1


def test_hookedonhallmark_year_page_without_products_follows_view_all_only() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    body = """<div class="sub-categories"><a href="/1995-angels.html">Angels</a>
    <a href="/1995-hallmark-ornaments-View-All.html">See them all</a>
    <a href="/1995-santas.html">Santas</a></div>"""
    (first,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995.html")]))
    out = requests_of(spider.parse_listing(response_for(first, body), 1995))
    assert [r.url for r in out] == [f"{ORIGIN}/1995-hallmark-ornaments-View-All.html"]
    assert stats(spider).get("christmas/years/done") == 0


def test_hookedonhallmark_product_page() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    item = product_item(spider, f"{ORIGIN}/frosty.html?x=1", hoh_product())
    assert dict(item) == {
        "vendor": "hookedonhallmark",
        "vendor_id": "HOH-1001",
        "sku": "QX5257",
        "name": "Frosty™ Friends",
        "price": "24.95",
        "currency": "USD",
        "brand": "Hallmark",
        "availability": "in_stock",
        "release_year": 1995,
        "link": f"{ORIGIN}/frosty.html",
        "was_price": None,
        "stock_text": "In Stock",
    }


@pytest.mark.parametrize(
    ("price", "availability", "expected_price", "expected_availability"),
    [
        ("<s>$29.95</s> $24.95", "Only 2 left", "24.95", "in_stock"),
        ("$1,299.00", "Out of Stock", "1299.00", "out_of_stock"),
        ("$5", "Sold Out", "5.00", "out_of_stock"),
    ],
)
def test_hookedonhallmark_product_quirks(
    price: str, availability: str, expected_price: str, expected_availability: str
) -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    item = product_item(
        spider, f"{ORIGIN}/p.html", hoh_product(price=price, availability=availability)
    )
    assert (item["price"], item["availability"]) == (expected_price, expected_availability)


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (hoh_product(price=None), "missing_price"),
        (hoh_product(price=""), "missing_price"),
        (hoh_product(price="Call for price"), "bad_price"),
        (hoh_product(sku=" "), "missing_sku"),
        (hoh_product(name=""), "missing_name"),
        (hoh_product(vendor_id=""), "missing_vendor_id"),
    ],
)
def test_hookedonhallmark_broken_product_pages_are_counted_and_logged(
    page: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    with caplog.at_level(logging.WARNING):
        assert dropped(spider, f"{ORIGIN}/broken.html", page) == {f"christmas/dropped/{reason}": 1}
    assert f"{ORIGIN}/broken.html" in caplog.text
    assert stats(spider)["christmas/product_pages"] == 1


def test_a_product_reached_by_two_links_gives_one_item() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    product_item(spider, f"{ORIGIN}/a.html", hoh_product())
    request = spider.product_request(f"{ORIGIN}/a-view-all.html", 1995)
    assert request is not None
    assert items_of(spider.parse_product(response_for(request, hoh_product()), 1995)) == []
    assert stats(spider)["christmas/duplicate_products"] == 1


# ---------------------------------------------------------------- ornament_shop

OS_INDEX = """<nav><ul class="navList">
<li class="navList-item"><a href="/1995-hallmark-ornaments/">1995</a></li>
<li class="navList-item"><a href="/2024-hallmark-keepsake-ornaments/">2024</a></li>
<li class="navList-item"><a href="/ornament-accessories/">Accessories</a></li>
<li class="navList-item"><a href="/vintage-ornaments/">Vintage</a></li></ul></nav>"""


def os_year_page(slugs: list[str], next_href: str | None = None) -> str:
    cards = "".join(
        f'<li class="product"><article class="card"><figure class="card-figure">'
        f'<a href="https://www.ornament-shop.com/{s}/"><img alt=""></a></figure>'
        f'<h4 class="card-title"><a href="/{s}/">{s}</a></h4></article></li>'
        for s in slugs
    )
    nav = '<ul class="pagination-list">'
    if next_href:
        nav += (
            f'<li class="pagination-item pagination-item--next"><a href="{next_href}">Next</a></li>'
        )
    return f'<ul class="productGrid">{cards}</ul>{nav}</ul>'


def os_product(
    price: str = '<span class="price price--withoutTax">$1,299.00</span>',
    brand: str | None = '<dt class="productView-info-name">Brand:</dt>'
    '<dd class="productView-info-value"><a href="/b/"><span>Hallmark Keepsake</span></a></dd>',
    sku: str = "qxi 4321",
    availability: str = "In Stock",
    vendor_id: str = "512",
) -> str:
    return f"""<html><head><script>var BCData = {{"product_attributes":{{"price":1}}}};</script>
</head><body><h1 class="productView-title">Caf&eacute;   Santa</h1>
<div class="productView-price"><span class="price price--rrp">$1,499.00</span>{price}</div>
<dl class="productView-info">{brand or ""}
<dt class="productView-info-name">SKU:</dt><dd class="productView-info-value" data-product-sku>
{sku}</dd>
<dt class="productView-info-name">Availability:</dt>
<dd class="productView-info-value">{availability}</dd></dl>
<form action="/cart.php" data-cart-item-add><input type="hidden" name="action" value="add">
<input type="hidden" name="product_id" value="{vendor_id}"></form></body></html>"""


def test_ornament_shop_year_index_reads_first_path_segment() -> None:
    spider = make_spider(OrnamentShopSpider)
    request = spider.year_links_request()
    assert isinstance(request, SeleniumRequest)
    assert request.wait_until.css == "li.navList-item a[href]"
    response = html_response(request.url, OS_INDEX)
    assert spider.extract_year_links(response) == [
        YearLink(1995, f"{ORIGIN}/1995-hallmark-ornaments/"),
        YearLink(2024, f"{ORIGIN}/2024-hallmark-keepsake-ornaments/"),
    ]
    assert stats(spider)["christmas/years/skipped_entries"] == 2


def test_ornament_shop_year_page_cards_and_pagination() -> None:
    spider = make_spider(OrnamentShopSpider)
    (first,) = requests_of(spider.follow_year_links([YearLink(2024, f"{ORIGIN}/2024-x/")]))
    assert not isinstance(first, SeleniumRequest)  # year pages are plain HTTP
    out = requests_of(
        spider.parse_listing(response_for(first, os_year_page(["a", "b"], "/2024-x/?page=2")), 2024)
    )
    assert [r.url for r in out] == [f"{ORIGIN}/a/", f"{ORIGIN}/b/", f"{ORIGIN}/2024-x/?page=2"]
    last = requests_of(spider.parse_listing(response_for(out[-1], os_year_page(["c"])), 2024))
    assert [r.url for r in last] == [f"{ORIGIN}/c/"]
    assert stats(spider)["christmas/years/done"] == 1


def test_ornament_shop_product_page_takes_the_price_not_the_rrp() -> None:
    spider = make_spider(OrnamentShopSpider)
    item = product_item(spider, f"{ORIGIN}/cafe-santa/", os_product(), year=2024)
    assert dict(item) == {
        "vendor": "ornament_shop",
        "vendor_id": "512",
        "sku": "QXI4321",
        "name": "Café Santa",
        "price": "1299.00",
        "currency": "USD",
        "brand": "Hallmark Keepsake",
        "availability": "in_stock",
        "release_year": 2024,
        "link": f"{ORIGIN}/cafe-santa/",
        "was_price": "1499.00",
        # No BCData stock flag on this page: the Availability row's text.
        "stock_text": "In Stock",
    }


def test_ornament_shop_product_without_brand_and_sold_out() -> None:
    spider = make_spider(OrnamentShopSpider)
    item = product_item(spider, f"{ORIGIN}/p/", os_product(brand=None, availability="Sold Out"))
    assert (item["brand"], item["availability"]) == ("Hallmark", "out_of_stock")


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (os_product(price=""), "missing_price"),
        (
            os_product(price='<span class="price price--withoutTax">Call for price</span>'),
            "bad_price",
        ),
        (os_product(sku=""), "missing_sku"),
        (os_product(vendor_id=""), "missing_vendor_id"),
    ],
)
def test_ornament_shop_broken_product_pages(page: str, reason: str) -> None:
    spider = make_spider(OrnamentShopSpider)
    assert dropped(spider, f"{ORIGIN}/p/", page) == {f"christmas/dropped/{reason}": 1}


# ---------------------------------------------------------------- hallmark_ornaments

HO_INDEX = """<div class="subcategories">
<a class="subcat" href="/1995-Hallmark-Ornaments_c_245.html">1995</a>
<a class="subcat" href="/2003-Hallmark-Ornaments_c_1999.html">2003</a>
<a class="subcat" href="/Ornament-Accessories_c_2011.html">Accessories</a></div>"""


def ho_year_page(hrefs: list[str | None], count: int) -> str:
    tiles = "".join(
        '<div class="product-item"><a class="quickview"'
        + (f' href="{h}"' if h else "")
        + ">Quick view</a></div>"
        for h in hrefs
    )
    return (
        f'<div class="product-count">1 - {count} of {count} Products</div>'
        f'<div id="productCategoryBlock">{tiles}</div>'
    )


def ho_product(item_json: str, visible_price: str | None = None, head: str = "") -> str:
    """A 3dcart product page: ``head`` scripts before the ``_3d_item`` one; the visible
    ``span.price`` only where ``visible_price`` is given."""
    price = "" if visible_price is None else f'<span class="price">{visible_price}</span>'
    return f"""<html><head>{head}<script type="text/javascript">
var _3d_item = {item_json};
</script></head><body><h1 class="product-title">x</h1>{price}</body></html>"""


def test_hallmark_ornaments_year_index_is_plain_http_and_skips_category_ids() -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    request = spider.year_links_request()
    assert not isinstance(request, SeleniumRequest)
    assert request.url == f"{ORIGIN}/Hallmark-Ornaments-By-Year_c_200.html"
    links = spider.extract_year_links(html_response(request.url, HO_INDEX))
    assert links == [
        YearLink(1995, f"{ORIGIN}/1995-Hallmark-Ornaments_c_245.html"),
        YearLink(2003, f"{ORIGIN}/2003-Hallmark-Ornaments_c_1999.html"),
    ]


def test_hallmark_ornaments_year_pages_are_view_all_browser_pages() -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    (request,) = requests_of(
        spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995-H_c_245.html")])
    )
    assert isinstance(request, SeleniumRequest)
    assert request.url == f"{ORIGIN}/1995-H_c_245.html?viewall=1"
    assert "a.quickview[href]" in request.wait_until.css


def test_hallmark_ornaments_year_page_products_and_count_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    (request,) = requests_of(
        spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995_c_245.html")])
    )
    out = requests_of(
        spider.parse_listing(
            response_for(request, ho_year_page(["/a_p_1.html", "/b_p_2.html"], 2)), 1995
        )
    )
    assert [r.url for r in out] == [f"{ORIGIN}/a_p_1.html", f"{ORIGIN}/b_p_2.html"]
    assert "christmas/product_count_mismatch" not in stats(spider)
    assert stats(spider)["christmas/years/done"] == 1
    # A tile whose link JavaScript did not fill: the count no longer matches.
    (request,) = requests_of(
        spider.follow_year_links([YearLink(1996, f"{ORIGIN}/1996_c_246.html")])
    )
    with caplog.at_level(logging.WARNING):
        out = requests_of(
            spider.parse_listing(
                response_for(request, ho_year_page(["/c_p_3.html", None], 2)), 1996
            )
        )
    assert [r.url for r in out] == [f"{ORIGIN}/c_p_3.html"]
    assert stats(spider)["christmas/product_count_mismatch"] == 1
    assert "says 2 products, saw 1" in caplog.text


@pytest.mark.parametrize(
    ("item_json", "visible", "price", "availability", "name"),
    [
        (
            '{"catalogid": "3001", "id": "qxm 1234", "name": "Tiny &amp; Bright&#8482;", '
            '"price": 14.99, "availability": 1, "currency": "USD"}',
            "$14.99",
            "14.99",
            "in_stock",
            "Tiny & Bright™",
        ),
        (
            '{"catalogid": 3002, "id": "QX1", "name": "Elf", "price": "1,299.5", '
            '"availability": "0", "currency": "USD"}',
            "$1,299.50",
            "1299.50",
            "out_of_stock",
            "Elf",
        ),
    ],
)
def test_hallmark_ornaments_product_page_reads_3d_item(
    item_json: str, visible: str, price: str, availability: str, name: str
) -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    item = product_item(spider, f"{ORIGIN}/x_p_1.html", ho_product(item_json, visible))
    assert (item["price"], item["availability"], item["name"]) == (price, availability, name)
    assert item["vendor_id"] in ("3001", "3002") and item["brand"] == "Hallmark"
    assert item["was_price"] is None
    assert item["stock_text"] is None  # _3d_item's flag: no wording


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (ho_product('{"catalogid": "1", "id": "QX1", "name": "A", "price": '), "bad_product_data"),
        (
            "<html><head></head><body><h1 class='product-title'>A</h1></body></html>",
            "bad_product_data",
        ),
        (
            ho_product('{"catalogid": "1", "id": "QX1", "name": "A", "availability": 1}'),
            "missing_price",
        ),
        (
            ho_product(
                '{"catalogid": "1", "id": "QX1", "name": "A", "price": "Call for price", '
                '"availability": 1}'
            ),
            "bad_price",
        ),
        (
            ho_product('{"catalogid": "1", "id": "", "name": "A", "price": 1, "availability": 1}'),
            "missing_sku",
        ),
        (
            ho_product(
                '{"catalogid": "", "id": "QX1", "name": "A", "price": 1, "availability": 1}'
            ),
            "missing_vendor_id",
        ),
    ],
)
def test_hallmark_ornaments_broken_product_pages(page: str, reason: str) -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    assert dropped(spider, f"{ORIGIN}/x_p_1.html", page) == {f"christmas/dropped/{reason}": 1}


# ---------------------------------------------------------------- arguments and failures


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"base_url": "ftp://127.0.0.1:1"}, "not an http\\(s\\) origin"),
        ({"base_url": "http://127.0.0.1:1/shop"}, "origin only"),
        ({"years": "1995,abc"}, "'abc' is not a four-digit year"),
        ({"years": ""}, "give years like"),
        ({"product_url": f"{ORIGIN}/p.html", "release_year": "99"}, "needs release_year"),
        ({"product_url": "not a url", "release_year": "1995"}, "product_url="),
        ({"release_year": "1995"}, "only goes with product_url"),
        ({"stale_hours": "soon"}, "not a positive number"),
        ({"stale_hours": "-3"}, "not a positive number"),
    ],
)
def test_bad_arguments_stop_the_spider_with_a_clear_message(
    arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(SpiderArgumentError, match=message):
        make_spider(OrnamentShopSpider, **arguments)


def test_attributes_of_a_full_crawl() -> None:
    spider = make_spider(OrnamentShopSpider, crawl_id="abc123")
    assert (spider.crawl_id, spider.base_url, spider.years, spider.full_crawl) == (
        "abc123",
        ORIGIN,
        None,
        True,
    )
    other = make_spider(OrnamentShopSpider, base_url=None)
    assert other.base_url == "https://www.ornament-shop.com"
    assert len(other.crawl_id) == 32 and other.crawl_id != make_spider(OrnamentShopSpider).crawl_id


def test_product_url_refreshes_one_page_without_the_index() -> None:
    spider = make_spider(
        HookedOnHallmarkSpider,
        product_url="https://www.hookedonhallmark.com/frosty.html?ref=1",
        release_year="1995",
    )
    requests = list(spider.initial_requests())
    assert [(r.url, r.cb_kwargs) for r in requests] == [
        (f"{ORIGIN}/frosty.html", {"release_year": 1995})
    ]
    assert spider.full_crawl is False


def test_a_failed_listing_page_is_counted_and_its_year_not_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spider = make_spider(OrnamentShopSpider)
    (request,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995-x/")]))
    failure = Failure(ConnectionError("connection dropped"))
    failure.request = request  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        spider.request_failed(failure)
    assert stats(spider)["christmas/failed/year_page"] == 1
    assert stats(spider)["christmas/years/failed"] == 1
    assert stats(spider)["christmas/years/done"] == 0
    assert f"{ORIGIN}/1995-x/" in caplog.text


# ---------------------------------------------------------------- the live shops' variants


@pytest.mark.parametrize(
    ("wording", "expected"),
    [
        ("In Stock - Ships Next Business Day", "in_stock"),
        ("IN STOCK - SHIPS NEXT BUSINESS DAY", "in_stock"),
        ("in stock", "in_stock"),
        ("Only 2 left!", "in_stock"),
        ("only 1 left in stock", "in_stock"),
        ("SOLD OUT", "out_of_stock"),
        ("Out of Stock - Check Back Soon", "out_of_stock"),
    ],
)
def test_hookedonhallmark_reads_stock_on_its_leading_phrase(wording: str, expected: str) -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    item = product_item(spider, f"{ORIGIN}/p.html", hoh_product(availability=wording))
    assert item["availability"] == expected
    assert "christmas/availability/unknown" not in stats(spider)


def test_unknown_stock_wording_keeps_the_item_counted_and_logged_once_per_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    pages = [("Backordered", "A"), ("backordered ", "B"), ("Pre-order", "C")]
    with caplog.at_level(logging.WARNING):
        items = [
            product_item(
                spider, f"{ORIGIN}/{vid}.html", hoh_product(availability=text, vendor_id=vid)
            )
            for text, vid in pages
        ]
    assert [(i["availability"], i["price"]) for i in items] == [("unknown", "24.95")] * 3
    # The wording is kept as read (trimmed), so that a refresh can read it again.
    assert [i["stock_text"] for i in items] == ["Backordered", "backordered", "Pre-order"]
    assert stats(spider)["christmas/availability/unknown"] == 3
    warnings = [r.getMessage() for r in caplog.records if "stock wording" in r.getMessage()]
    assert len(warnings) == 2  # "Backordered" once (in any case), "Pre-order" once
    assert "'Backordered'" in warnings[0] and f"{ORIGIN}/A.html" in warnings[0]
    assert "stock_wording.hookedonhallmark" in warnings[0]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "stock wording" in r.msg)
    assert not any(k.startswith("christmas/dropped/") for k in stats(spider))


def test_more_stock_phrases_come_from_the_configuration() -> None:
    wording = {"hookedonhallmark": {"in_stock": ["Backordered"], "out_of_stock": ["Retired"]}}
    spider = make_spider(HookedOnHallmarkSpider, settings={"CHRISTMAS_STOCK_WORDING": wording})
    pages = {"Backordered - Ships in 2-3 Weeks": "in_stock", "RETIRED": "out_of_stock"}
    for n, (text, expected) in enumerate(pages.items()):
        item = product_item(
            spider, f"{ORIGIN}/{n}.html", hoh_product(availability=text, vendor_id=str(n))
        )
        assert item["availability"] == expected
    # Another shop's phrases are that shop's only; -s gives the setting as JSON.
    other = make_spider(
        OrnamentShopSpider, settings={"CHRISTMAS_STOCK_WORDING": json.dumps(wording)}
    )
    assert other.parse_availability("Backordered") == "unknown"
    assert spider.parse_availability("In Stock") == "in_stock"


@pytest.mark.parametrize(
    "wording",
    [
        {"hookedonhallmark": {"in_stock": "Backordered"}},
        {"hookedonhallmark": {"in_stock": [""]}},
        {"hookedonhallmark": {"maybe": ["Backordered"]}},
        {"hookedonhallmark": {"out_of_stock": ["In Stock"]}},
    ],
)
def test_unusable_stock_wording_configuration_stops_the_spider(wording: dict[str, Any]) -> None:
    with pytest.raises(ParseError, match=r"CHRISTMAS_STOCK_WORDING\['hookedonhallmark'\]"):
        make_spider(HookedOnHallmarkSpider, settings={"CHRISTMAS_STOCK_WORDING": wording})


def test_hookedonhallmark_sale_keeps_the_struck_price_as_was_price() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    item = product_item(spider, f"{ORIGIN}/p.html", hoh_product(price="<s>$1,029.95</s> $999.00"))
    assert (item["price"], item["was_price"]) == ("999.00", "1029.95")
    unreadable = product_item(
        spider, f"{ORIGIN}/q.html", hoh_product(price="<s>was</s> $5", vendor_id="Q")
    )
    assert (unreadable["price"], unreadable["was_price"]) == ("5.00", None)
    assert stats(spider)["christmas/was_price/unreadable"] == 1


def hoh_paginated_year_page(
    names: list[str], view_all: str | None, next_href: str | None, nav: bool = True
) -> str:
    """A year page with products, a view-all link above the grid, and the site's menu
    with another year's view-all (``nav``)."""
    menu = '<nav><a href="/2001-hallmark-ornaments-view-all.html">2001: view all</a></nav>'
    above = (
        f'<div class="view-all-link"><a href="{view_all}">View All</a></div>' if view_all else ""
    )
    page = hoh_year_page(names, next_href)
    return page.replace("<body>", "<body>" + (menu if nav else "") + above, 1)


def test_hookedonhallmark_year_page_is_read_through_its_view_all_link() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    (first,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995.html")]))
    page = hoh_paginated_year_page(["a", "b"], "/1995-View-All.html", "?page=2")
    out = requests_of(spider.parse_listing(response_for(first, page), 1995))
    products = [r.url for r in out if r.callback == spider.parse_product]
    listings = [r for r in out if r.callback == spider.parse_listing]
    # The view-all page instead of page 2; the menu's other year is not followed.
    assert products == [f"{ORIGIN}/a.html", f"{ORIGIN}/b.html"]
    assert [r.url for r in listings] == [f"{ORIGIN}/1995-View-All.html"]
    assert stats(spider)["christmas/listings/view_all"] == 1
    # The view-all page links to itself and pages on: its own pagination is followed.
    view_all = hoh_paginated_year_page(["a", "b", "c"], "/1995-View-All.html", "?page=2")
    out = requests_of(spider.parse_listing(response_for(listings[0], view_all), 1995))
    assert [r.url for r in out] == [f"{ORIGIN}/c.html", f"{ORIGIN}/1995-View-All.html?page=2"]
    (last,) = [r for r in out if r.callback == spider.parse_listing]
    end = hoh_paginated_year_page(["d"], "/1995-View-All.html", None)
    assert [r.url for r in requests_of(spider.parse_listing(response_for(last, end), 1995))] == [
        f"{ORIGIN}/d.html"
    ]
    assert stats(spider)["christmas/years/done"] == 1


def test_view_all_or_pagination_reach_the_same_products() -> None:
    def products_of(spider: VendorSpider, pages: dict[str, str]) -> tuple[set[str], int]:
        (request,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995.html")]))
        queue, found, fetched = [request], set(), 0
        while queue:
            request = queue.pop(0)
            fetched += 1
            path = request.url.removeprefix(ORIGIN)
            for out in requests_of(spider.parse_listing(response_for(request, pages[path]), 1995)):
                (found.add(out.url) if out.callback == spider.parse_product else queue.append(out))
        return found, fetched

    paginated = {
        "/1995.html": hoh_year_page(["a", "b"], "/1995.html?page=2"),
        "/1995.html?page=2": hoh_year_page(["c", "d"], "/1995.html?page=3"),
        "/1995.html?page=3": hoh_year_page(["e"]),
    }
    # The same year, its first page also offering view-all (pages 2 and 3 unread).
    with_view_all = dict(paginated)
    with_view_all["/1995.html"] = hoh_paginated_year_page(
        ["a", "b"], "/1995-view-all.html", "/1995.html?page=2"
    )
    with_view_all["/1995-view-all.html"] = hoh_year_page(["a", "b", "c", "d", "e"])
    by_pages, page_requests = products_of(make_spider(HookedOnHallmarkSpider), paginated)
    by_view_all, view_all_requests = products_of(make_spider(HookedOnHallmarkSpider), with_view_all)
    assert by_pages == by_view_all == {f"{ORIGIN}/{n}.html" for n in "abcde"}
    assert (page_requests, view_all_requests) == (3, 2)


def os_live_product(
    rows: list[str],
    bc_data: str | None,
    price: str = "$24.95",
    rrp: str = "",
) -> str:
    """A Cornerstone product page as the live store has it: more info rows in any order,
    maybe no Availability row, BCData in a script (``None``: none), an empty or filled
    rrp span."""
    named = {
        "brand": '<dt class="productView-info-name">Brand:</dt>'
        '<dd class="productView-info-value"><a href="/b/"><span>Hallmark</span></a></dd>',
        "sku": '<dt class="productView-info-name">SKU:</dt>'
        '<dd class="productView-info-value" data-product-sku>QX 100</dd>',
        "condition": '<dt class="productView-info-name">Condition:</dt>'
        '<dd class="productView-info-value">New</dd>',
        "weight": '<dt class="productView-info-name">Weight:</dt>'
        '<dd class="productView-info-value">0.25 LBS</dd>',
    }
    info = "".join(
        named.get(
            row,
            '<dt class="productView-info-name">Availability:</dt>'
            f'<dd class="productView-info-value">{row.removeprefix("availability=")}</dd>',
        )
        for row in rows
    )
    script = "" if bc_data is None else f"<script>var BCData = {bc_data};</script>"
    return f"""<html><head>{script}</head><body><h1 class="productView-title">Santa</h1>
<div class="productView-price"><span class="price price--rrp">{rrp}</span>
<span class="price price--withoutTax">{price}</span></div>
<dl class="productView-info">{info}</dl>
<form action="/cart.php"><input type="hidden" name="product_id" value="77"></form></body></html>"""


def bc_data(instock: object = None, value: object = None) -> str:
    attributes: dict[str, Any] = {"sku": "QX100", "purchasable": True}
    if instock is not None:
        attributes["instock"] = instock
    if value is not None:
        attributes["price"] = {"without_tax": {"formatted": f"${value}", "value": value}}
    return json.dumps({"csrf_token": "x", "product_attributes": attributes})


@pytest.mark.parametrize(
    ("rows", "data", "availability", "stock_text"),
    [
        # BCData's flag wins over the merchant's free text, wherever the row stands; the
        # stock came from the flag, so no wording is kept.
        (
            ["condition", "availability=Usually ships in 1-2 days", "sku", "weight"],
            bc_data(True),
            "in_stock",
            None,
        ),
        (
            ["weight", "sku", "availability=In Stock", "condition"],
            bc_data(False),
            "out_of_stock",
            None,
        ),
        # No Availability row: BCData alone.
        (["sku", "condition", "weight"], bc_data(True, 24.95), "in_stock", None),
        # No BCData flag: the row's text, after the other rows.
        (
            ["condition", "weight", "sku", "availability=SOLD OUT"],
            bc_data(None, 24.95),
            "out_of_stock",
            "SOLD OUT",
        ),
        (
            ["sku", "availability=in stock - ships today"],
            None,
            "in_stock",
            "in stock - ships today",
        ),
        # Neither: the price is still good, the stock unknown.
        (["sku", "condition"], None, "unknown", None),
        (
            ["sku", "availability=Temporarily unavailable"],
            bc_data(None),
            "unknown",
            "Temporarily unavailable",
        ),
    ],
)
def test_ornament_shop_takes_stock_from_bcdata_first(
    rows: list[str], data: str | None, availability: str, stock_text: str | None
) -> None:
    spider = make_spider(OrnamentShopSpider)
    item = product_item(spider, f"{ORIGIN}/santa/", os_live_product(rows, data))
    assert (item["sku"], item["price"], item["availability"]) == ("QX100", "24.95", availability)
    assert item["stock_text"] == stock_text
    assert stats(spider).get("christmas/availability/unknown", 0) == (availability == "unknown")


def test_ornament_shop_retail_price_is_was_price_and_none_when_empty() -> None:
    spider = make_spider(OrnamentShopSpider)
    sale = product_item(
        spider, f"{ORIGIN}/a/", os_live_product(["sku"], bc_data(True, 24.95), rrp="$29.95")
    )
    assert (sale["price"], sale["was_price"]) == ("24.95", "29.95")
    plain = make_spider(OrnamentShopSpider)
    item = product_item(plain, f"{ORIGIN}/b/", os_live_product(["sku"], bc_data(True, 24.95)))
    assert item["was_price"] is None


@pytest.mark.parametrize(
    ("spider_class", "url", "page", "values"),
    [
        (
            OrnamentShopSpider,
            f"{ORIGIN}/santa/",
            os_live_product(["sku"], bc_data(True, 28.69), price="$24.95"),
            ("24.95", "28.69"),
        ),
        (
            HallmarkOrnamentsSpider,
            f"{ORIGIN}/x_p_1.html",
            ho_product(
                '{"catalogid": "1", "id": "QX1", "name": "A", "price": 28.69, "availability": 1}',
                "$24.95",
            ),
            ("28.69", "24.95"),
        ),
    ],
)
def test_a_page_whose_price_sources_disagree_is_a_price_conflict(
    spider_class: type[VendorSpider],
    url: str,
    page: str,
    values: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spider = make_spider(spider_class)
    with caplog.at_level(logging.WARNING):
        assert dropped(spider, url, page) == {"christmas/dropped/price_conflict": 1}
    (line,) = [r.getMessage() for r in caplog.records if "dropped product page" in r.getMessage()]
    assert url in line and values[0] in line and values[1] in line


def test_agreeing_price_sources_give_the_item() -> None:
    spider = make_spider(OrnamentShopSpider)
    # BCData's number (1299.0) and the visible text ($1,299.00) are the same price.
    page = os_live_product(["sku"], bc_data(True, 1299.0), price="$1,299.00")
    assert product_item(spider, f"{ORIGIN}/a/", page)["price"] == "1299.00"
    # A source without a readable amount is no check: the visible price is judged alone.
    unreadable = os_live_product(["sku"], bc_data(True, None), price="$5.00")
    assert (
        product_item(make_spider(OrnamentShopSpider), f"{ORIGIN}/b/", unreadable)["price"] == "5.00"
    )


def test_ornament_shop_unreadable_bcdata_falls_back_to_the_visible_rows() -> None:
    spider = make_spider(OrnamentShopSpider)
    page = os_live_product(["sku", "availability=Sold Out"], "{not json")
    item = product_item(spider, f"{ORIGIN}/a/", page)
    assert (item["price"], item["availability"]) == ("24.95", "out_of_stock")
    assert stats(spider)["christmas/bcdata/unreadable"] == 1


HEAD_SCRIPTS = (
    '<script>var _3d_cart = {"subtotal": 0};</script>'
    "<script>window.dataLayer = window.dataLayer || [];</script>"
    '<script>var storeSettings = {"currency": "USD"};</script>'
)


def test_hallmark_ornaments_finds_3d_item_after_other_head_scripts() -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    page = ho_product(
        '{"catalogid": "9", "id": "QX9", "name": "A", "price": "24.95", "availability": 1}',
        "$24.95",
        head=HEAD_SCRIPTS,
    )
    item = product_item(spider, f"{ORIGIN}/x_p_9.html", page)
    assert (item["vendor_id"], item["price"], item["was_price"]) == ("9", "24.95", None)


@pytest.mark.parametrize(
    ("flag", "expected"), [(1, "in_stock"), ("0", "out_of_stock"), (2, "unknown")]
)
def test_hallmark_ornaments_stock_flag(flag: object, expected: str) -> None:
    spider = make_spider(HallmarkOrnamentsSpider)
    data = {"catalogid": "9", "id": "QX9", "name": "A", "price": 5, "availability": flag}
    page = ho_product(json.dumps(data))
    item = product_item(spider, f"{ORIGIN}/x_p_9.html", page)
    # A flag is no wording, even as text ("0").
    assert (item["availability"], item["stock_text"]) == (expected, None)


def test_a_paginated_view_all_page_is_read_through_its_pagination() -> None:
    spider = make_spider(HookedOnHallmarkSpider)
    body = """<div class="sub-categories"><a href="/1995-keepsake.html">Keepsake</a>
    <a href="/1995-View-All.html">View All</a></div>"""
    (first,) = requests_of(spider.follow_year_links([YearLink(1995, f"{ORIGIN}/1995.html")]))
    (view_all,) = requests_of(spider.parse_listing(response_for(first, body), 1995))
    # Its "next" link holds "View-All" too: it is pagination, not another view-all.
    page = hoh_year_page(["a"], "/1995-View-All.html?page=2")
    out = requests_of(spider.parse_listing(response_for(view_all, page), 1995))
    assert [r.url for r in out] == [f"{ORIGIN}/a.html", f"{ORIGIN}/1995-View-All.html?page=2"]
    assert stats(spider)["christmas/listings/view_all"] == 1
