"""Tests of the replica shops themselves (replicas): catalogue, pages, server, truth.

The strongest check is ``test_contract_crawl_yields_exactly_the_ground_truth``: a small
crawler written from docs/shops.md alone (not the project's spiders) walks each
replica, through real Chromium for the JavaScript-built pages, and must find exactly the
ground truth and the expected drops.
"""

from __future__ import annotations

import csv
import html
import http.client
import io
import itertools
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urljoin, urlsplit, urlunsplit

import pytest
from parsel import Selector
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from replicas.catalogue import (
    DROP_REASONS_BY_VENDOR,
    LIVE_VARIANTS_DEFAULT,
    VENDORS,
    Catalogue,
    generate_catalogue,
)
from replicas.faults import (
    FaultConfig,
    fault_for,
    parse_faults,
    permanent_error_paths,
    withheld_tile_links,
)
from replicas.market import index_series
from replicas.pages import ShopSite
from replicas.server import REQUEST_GROUPS, control, serve_replicas, set_day
from replicas.truth import (
    TileView,
    changed_tiles,
    expected_drops,
    ground_truth,
    listing_tiles,
)
from tests.fixtures.replica import RunningReplica

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Raw-HTML patterns of the links the JavaScript builds.
YEAR_LINK_PATTERNS = {
    "hookedonhallmark": re.compile(rb"href=\"/\d{4}-hallmark-ornaments|/\d{4}-[a-z-]+\.html"),
    "ornament_shop": re.compile(rb"/\d{4}-hallmark-ornaments/|class=\"navList-item"),
}
PRODUCT_LINK_PATTERN = re.compile(rb"_p_\d+\.html|quickview\"? href|quickview\" href")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    # The pages exactly as docs/shops.md's lists say (the live variants: ``live`` below).
    return generate_catalogue(
        seed=1, products_per_shop=200, malformed_ratio=0.05, live_variants=False
    )


@pytest.fixture(scope="module")
def replicas(catalogue: Catalogue) -> Iterator[dict[str, str]]:
    with serve_replicas(catalogue) as urls:
        yield urls


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            pytest.fail(f"{path} is missing: install Debian chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def fetch(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def render(driver: WebDriver, url: str, css: str) -> Selector:
    driver.get(url)
    WebDriverWait(driver, 15, poll_frequency=0.02).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )
    return Selector(text=driver.page_source)


# -- the catalogue -------------------------------------------------------------------


def test_same_seed_gives_the_same_catalogue_and_pages() -> None:
    first = generate_catalogue(seed=7, products_per_shop=120, malformed_ratio=0.1)
    second = generate_catalogue(seed=7, products_per_shop=120, malformed_ratio=0.1)
    assert first.shops == second.shops
    for vendor in VENDORS:
        assert ground_truth(first, vendor, "http://h:1") == ground_truth(
            second, vendor, "http://h:1"
        )
        site_a, site_b = ShopSite(first, vendor), ShopSite(second, vendor)
        shop = first.shops[vendor]
        paths = [shop.index_path, shop.years[-1].path, *list(shop.by_path)[:20]]
        for path in paths:
            route_a, route_b = site_a.resolve(path, ""), site_b.resolve(path, "")
            assert route_a is not None and route_b is not None, path
            assert route_a.render(2) == route_b.render(2)


def test_different_seeds_give_different_catalogues() -> None:
    first = generate_catalogue(seed=1, products_per_shop=100)
    second = generate_catalogue(seed=2, products_per_shop=100)
    for vendor in VENDORS:
        skus_a = {item["sku"] for item in ground_truth(first, vendor, "http://h:1")}
        skus_b = {item["sku"] for item in ground_truth(second, vendor, "http://h:1")}
        assert skus_a != skus_b
        assert len(skus_a & skus_b) < len(skus_a) / 2


def test_same_sku_is_sold_by_several_shops_at_different_prices(catalogue: Catalogue) -> None:
    prices: dict[str, dict[str, str]] = {}
    for vendor in VENDORS:
        for item in ground_truth(catalogue, vendor, "http://h:1"):
            prices.setdefault(str(item["sku"]), {})[vendor] = str(item["price"])
    shared = {sku: by_vendor for sku, by_vendor in prices.items() if len(by_vendor) >= 2}
    at_all_three = [sku for sku, by_vendor in shared.items() if len(by_vendor) == 3]
    assert len(shared) > 50
    assert len(at_all_three) > 10
    differing = [sku for sku, by_vendor in shared.items() if len(set(by_vendor.values())) > 1]
    assert len(differing) > len(shared) / 2


def test_every_shop_carries_unique_skus_and_years_1973_to_2026(catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        items = ground_truth(catalogue, vendor, "http://h:1")
        skus = [item["sku"] for item in items]
        assert len(skus) == len(set(skus))
        assert all(re.fullmatch(r"Q[A-Z]{1,2}\d{4}", str(sku)) for sku in skus)
        years = {item["release_year"] for item in items}
        assert min(years) == 1973 and max(years) == 2026
        assert len(years) == 54  # 200 products: every year has one at least


def test_generator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="products_per_shop"):
        generate_catalogue(products_per_shop=0)
    with pytest.raises(ValueError, match="malformed_ratio"):
        generate_catalogue(malformed_ratio=1.5)
    with pytest.raises(ValueError, match="unknown fault switch"):
        parse_faults("slowness=0.5")
    with pytest.raises(ValueError, match="key=value"):
        parse_faults("slow")
    with pytest.raises(ValueError, match="origin"):
        ground_truth(generate_catalogue(products_per_shop=5), "ornament_shop", "ftp://x")


def test_twenty_thousand_products_per_shop_generate_in_reasonable_time() -> None:
    started = time.perf_counter()
    big = generate_catalogue(seed=3, products_per_shop=20_000)
    elapsed = time.perf_counter() - started
    # Generous: the machine is shared; bench/bench_replica_server.py prints the figure.
    assert elapsed < 60, f"generating 3 x 20,000 products took {elapsed:.1f} s"
    for shop in big.shops.values():
        assert len(shop.reachable_vendor_ids()) == 20_000
        assert len({listing.sku for listing in shop.listings.values()}) == len(shop.listings)


# -- ground truth and drops ------------------------------------------------------------


def test_ground_truth_excludes_malformed_pages_and_counts_them(catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        shop = catalogue.shops[vendor]
        items = ground_truth(catalogue, vendor, "http://127.0.0.1:9")
        drops = expected_drops(catalogue, vendor)
        assert set(drops) == set(DROP_REASONS_BY_VENDOR[vendor]), "every reason appears"
        assert sum(drops.values()) == 10  # 5 % of 200
        assert len(items) + sum(drops.values()) == 200
        links = {item["link"] for item in items}
        site = ShopSite(catalogue, vendor)
        for listing in shop.listings.values():
            if listing.malformed is None:
                continue
            assert f"http://127.0.0.1:9{listing.path}" not in links
            page = site.resolve(listing.path, "").render(1).decode()  # type: ignore[union-attr]
            assert_malformed(vendor, listing.malformed, page)


def assert_malformed(vendor: str, reason: str, page: str) -> None:
    """The page really lacks what its drop reason says."""
    selector = Selector(text=page)
    if vendor == "hallmark_ornaments":
        raw = re.search(r"var _3d_item = (.*);\n", page)
        assert raw is not None
        if reason == "bad_product_data":
            with pytest.raises(json.JSONDecodeError):
                json.loads(raw.group(1))
            return
        data = json.loads(raw.group(1))
        expected = {
            "missing_name": lambda: data["name"] == "",
            "missing_sku": lambda: data["id"] == "",
            "missing_price": lambda: "price" not in data,
            "bad_price": lambda: data["price"] == "Call for price",
            "missing_vendor_id": lambda: data["catalogid"] == "",
        }
        assert expected[reason](), (reason, data)
        return
    if vendor == "hookedonhallmark":
        checks = {
            "missing_name": lambda: not "".join(selector.css("#add h1 ::text").getall()).strip(),
            "missing_sku": lambda: not selector.css("#product_id::text").get(default="").strip(),
            "missing_price": lambda: not selector.css("#price"),
            "bad_price": lambda: selector.css("#price::text").get() == "Call for price",
            "missing_vendor_id": lambda: not selector.css("#add input::attr(value)").get().strip(),
        }
    else:
        checks = {
            "missing_name": lambda: (
                not selector.css("h1.productView-title ::text").get(default="").strip()
            ),
            "missing_sku": lambda: (
                not selector.css("dd[data-product-sku]::text").get(default="").strip()
            ),
            "missing_price": lambda: not selector.css("span.price--withoutTax"),
            "bad_price": lambda: (
                selector.css("span.price--withoutTax::text").get() == "Call for price"
            ),
            "missing_vendor_id": lambda: (
                not selector.css("input[name=product_id]::attr(value)").get()
            ),
        }
    assert checks[reason](), reason


def test_ground_truth_fields_follow_the_item_contract(catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        items = ground_truth(catalogue, vendor, "http://127.0.0.1:8000/some/path?x=1")
        assert [item["link"] for item in items] == sorted(item["link"] for item in items)
        for item in items:
            assert set(item) == {
                "vendor", "vendor_id", "sku", "name", "price", "currency", "brand",
                "availability", "release_year", "link", "was_price", "stock_text",
            }  # fmt: skip
            # The page's wording where the stock is read from text (hookedonhallmark).
            assert (item["stock_text"] is not None) == (vendor == "hookedonhallmark")
            assert item["vendor"] == vendor and item["currency"] == "USD"
            assert re.fullmatch(r"\d+\.\d\d", str(item["price"]))
            assert item["availability"] in ("in_stock", "out_of_stock")
            link = urlsplit(str(item["link"]))
            assert (link.scheme, link.netloc) == ("http", "127.0.0.1:8000")
            assert not link.query and not link.fragment
            assert str(item["name"]) == " ".join(str(item["name"]).split())
            assert "&" not in str(item["name"]).replace(" & ", "")


def test_day_two_moves_a_few_prices_and_stock(catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        day1 = ground_truth(catalogue, vendor, "http://h:1", day=1)
        day2 = ground_truth(catalogue, vendor, "http://h:1", day=2)
        assert [i["link"] for i in day1] == [i["link"] for i in day2]
        moved = [a for a, b in zip(day1, day2, strict=True) if a != b]
        price_moves = [a for a, b in zip(day1, day2, strict=True) if a["price"] != b["price"]]
        stock_moves = [
            a for a, b in zip(day1, day2, strict=True) if a["availability"] != b["availability"]
        ]
        assert 1 <= len(moved) <= len(day1) * 0.15, len(moved)
        assert price_moves and stock_moves
        assert ground_truth(catalogue, vendor, "http://h:1", day=2) == day2


def test_day_control_endpoint_moves_the_served_prices(
    catalogue: Catalogue, replicas: dict[str, str]
) -> None:
    vendor = "hookedonhallmark"
    base = replicas[vendor]
    day1 = {i["link"]: i for i in ground_truth(catalogue, vendor, base, day=1)}
    day2 = {i["link"]: i for i in ground_truth(catalogue, vendor, base, day=2)}
    link = next(link for link in day1 if day1[link]["price"] != day2[link]["price"])
    try:
        assert control(base, "day") == {"day": 1}
        set_day(replicas, 2)
        assert control(base, "day") == {"day": 2}
        _, page = fetch(link)
        price_text = "".join(Selector(text=page.decode()).xpath('//*[@id="price"]/text()').getall())
        assert price_text.strip().replace("$", "").replace(",", "") == day2[link]["price"]
    finally:
        set_day(replicas, 1)
    _, page = fetch(link)
    price_text = "".join(Selector(text=page.decode()).xpath('//*[@id="price"]/text()').getall())
    assert price_text.strip().replace("$", "").replace(",", "") == day1[link]["price"]
    status, _ = fetch(f"{base}/__replica__/day?set=zero")
    assert status == 400


# -- every quirk of docs/shops.md is on the pages ------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_every_quirk_appears_in_a_default_catalogue(seed: int) -> None:
    catalogue = generate_catalogue(seed=seed, malformed_ratio=0.05, live_variants=False)
    found: Counter[str] = Counter()
    for vendor in VENDORS:
        site = ShopSite(catalogue, vendor)
        shop = catalogue.shops[vendor]
        for year_page in shop.years:
            keys = [(year_page.path, "viewall=1" if vendor == "hallmark_ornaments" else "")]
            keys += [
                (year_page.path, f"page={n}") for n in range(2, len(year_page.listing.pages) + 1)
            ]
            for sub in year_page.sub_categories:
                keys += [
                    (sub.listing.path, f"page={n}") for n in range(1, len(sub.listing.pages) + 1)
                ]
            for path, query in keys:
                page = Selector(text=site.resolve(path, query).render(1).decode())  # type: ignore[union-attr]
                count_listing_quirks(vendor, page, found)
            if year_page.sub_categories:
                in_subs = [set(s.listing.vendor_ids()) for s in year_page.sub_categories]
                assert "view-all" in year_page.sub_categories[-1].listing.path.lower()
                if any(ids & in_subs[-1] for ids in in_subs[:-1]):
                    found[f"{vendor}:product under sub-category and view-all"] += 1
            seen_pages = [set(page) for page in year_page.listing.pages]
            if any(a & b for a, b in itertools.pairwise(seen_pages)):
                found[f"{vendor}:product on two pages of a year"] += 1
        for listing in shop.listings.values():
            if listing.year is None:
                continue
            page = site.resolve(listing.path, "").render(1).decode()  # type: ignore[union-attr]
            count_product_quirks(vendor, listing.malformed, page, found)
        index = site.resolve(shop.index_path, "").render(1).decode()  # type: ignore[union-attr]
        if vendor == "hookedonhallmark":
            entries = json.loads(site.resolve("/ajax/years-by-year.json", "").render(1))  # type: ignore[union-attr]
            labels = [entry["label"] for entry in entries]
            found["hookedonhallmark:index span entry"] = sum(not e["img"] for e in entries)
            found["hookedonhallmark:index img entry"] = sum(bool(e["img"]) for e in entries)
            found["hookedonhallmark:index Vintage"] = labels.count("Vintage")
            found["hookedonhallmark:index Pre-1973"] = sum(x.startswith("Pre-1973") for x in labels)
        elif vendor == "ornament_shop":
            found["ornament_shop:index /ornament-accessories/"] = int(
                "/ornament-accessories/" in {o.path for o in shop.others}
            )
        else:
            hrefs = Selector(text=index).css("a.subcat::attr(href)").getall()
            found["hallmark_ornaments:index non-year entry"] = sum(
                re.search(r"\d{4}", href) is None for href in hrefs
            )
            found["hallmark_ornaments:index four-digit category id"] = sum(
                len(re.findall(r"\d{4}", href)) == 2 for href in hrefs
            )
        items = ground_truth(catalogue, vendor, "http://h:1")
        found[f"{vendor}:name with ™"] = sum("™" in str(i["name"]) for i in items)
        found[f"{vendor}:name with é"] = sum("é" in str(i["name"]) for i in items)
        found[f"{vendor}:name with &"] = sum("&" in str(i["name"]) for i in items)
        found[f"{vendor}:price over 1000"] = sum(Decimal(str(i["price"])) > 1000 for i in items)
        found[f"{vendor}:out of stock"] = sum(i["availability"] == "out_of_stock" for i in items)
    expected = [
        "hookedonhallmark:product on two pages of a year",
        "ornament_shop:product on two pages of a year",
        "hookedonhallmark:product under sub-category and view-all",
        "hookedonhallmark:year page with only sub-categories",
        "hookedonhallmark:view-all link in another case than view-all",
        "hookedonhallmark:next link",
        "ornament_shop:next link",
        "hookedonhallmark:tracking query on link",
        "ornament_shop:tracking query on link",
        "hallmark_ornaments:product-count",
        "hallmark_ornaments:tile without href",
        "hookedonhallmark:index span entry",
        "hookedonhallmark:index img entry",
        "hookedonhallmark:index Vintage",
        "hookedonhallmark:index Pre-1973",
        "ornament_shop:index /ornament-accessories/",
        "hallmark_ornaments:index non-year entry",
        "hallmark_ornaments:index four-digit category id",
        "hookedonhallmark:sale with struck price",
        "ornament_shop:sale with rrp",
        "hallmark_ornaments:sale with old price",
        "hookedonhallmark:Only N left",
        "hookedonhallmark:Sold Out",
        "hookedonhallmark:Out of Stock",
        "ornament_shop:Sold Out",
        "hallmark_ornaments:availability 0",
        "hookedonhallmark:price with thousands separator",
        "ornament_shop:price with thousands separator",
        "hallmark_ornaments:price as numeric string",
        "hallmark_ornaments:price as number",
        "hallmark_ornaments:name with entity in JSON",
        "hookedonhallmark:name with entity",
        "ornament_shop:name with entity",
        "hookedonhallmark:name with white space run",
        "ornament_shop:name with white space run",
        "hookedonhallmark:sku with space or lower case",
        "ornament_shop:sku with space or lower case",
        "hallmark_ornaments:sku with space or lower case",
        "hookedonhallmark:vendor id with blanks",
        "ornament_shop:no Brand row",
        "ornament_shop:Brand Hallmark Keepsake",
        "ornament_shop:BCData",
    ]
    expected += [f"{v}:{q}" for v in VENDORS for q in ("name with ™", "name with é", "name with &")]
    expected += [f"{v}:{q}" for v in VENDORS for q in ("price over 1000", "out of stock")]
    expected += [f"{v}:malformed {r}" for v in VENDORS for r in DROP_REASONS_BY_VENDOR[v]]
    missing = [quirk for quirk in expected if not found[quirk]]
    assert not missing, f"seed {seed}: quirks missing: {missing}"


def count_listing_quirks(vendor: str, page: Selector, found: Counter[str]) -> None:
    if vendor == "hookedonhallmark":
        if not page.css(".product-item") and page.css(".sub-categories a"):
            found["hookedonhallmark:year page with only sub-categories"] += 1
            hrefs = page.css(".sub-categories a::attr(href)").getall()
            if any("view-all" in h.lower() and "view-all" not in h for h in hrefs):
                found["hookedonhallmark:view-all link in another case than view-all"] += 1
        nexts = [a for a in page.css(".paging a") if "next" in a.css("::text").get("").lower()]
        found["hookedonhallmark:next link"] += len(nexts)
        hrefs = page.css(".product-item .name a::attr(href)").getall()
    elif vendor == "ornament_shop":
        found["ornament_shop:next link"] += len(page.css("li.pagination-item--next a[href]"))
        hrefs = page.css("li.product article.card .card-figure a::attr(href)").getall()
    else:
        count = page.css(".product-count::text").get("")
        tiles = page.css("#productCategoryBlock div.product-item")
        if re.fullmatch(rf"\d+ - {len(tiles)} of {len(tiles)} Products", count):
            found["hallmark_ornaments:product-count"] += 1
        found["hallmark_ornaments:tile without href"] += len(tiles.css("a.quickview:not([href])"))
        hrefs = []
    found[f"{vendor}:tracking query on link"] += sum("?ref=year#top" in h for h in hrefs)


def count_product_quirks(
    vendor: str, malformed: str | None, page: str, found: Counter[str]
) -> None:
    if malformed is not None:
        found[f"{vendor}:malformed {malformed}"] += 1
        return
    selector = Selector(text=page)
    if vendor == "hookedonhallmark":
        name_html = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)  # type: ignore[union-attr]
        sku = selector.css("#product_id::text").get("")
        stock = selector.css("#availability::text").get("")
        found["hookedonhallmark:sale with struck price"] += bool(selector.css("#price s"))
        stock = re.sub(r"Only \d+ left", "Only N left", stock)
        found[f"hookedonhallmark:{stock}"] += 1
        found["hookedonhallmark:vendor id with blanks"] += (
            selector.css("#add input::attr(value)").get("")
            != selector.css("#add input::attr(value)").get("").strip()
        )
        price = "".join(selector.css("#price::text").getall())
    elif vendor == "ornament_shop":
        name_html = re.search(r'productView-title">(.*?)</h1>', page, re.S).group(1)  # type: ignore[union-attr]
        sku = selector.css("dd[data-product-sku]::text").get("")
        found["ornament_shop:sale with rrp"] += bool(selector.css("span.price--rrp"))
        stock = selector.css("dt:contains('Availability') + dd::text").get("")
        found[f"ornament_shop:{stock}"] += 1
        brand = selector.css("dt:contains('Brand') + dd a span::text").get()
        found["ornament_shop:no Brand row"] += brand is None
        found[f"ornament_shop:Brand {brand}"] += 1
        found["ornament_shop:BCData"] += "var BCData = {" in page
        price = selector.css("span.price--withoutTax::text").get("")
    else:
        data = json.loads(re.search(r"var _3d_item = (.*);\n", page).group(1))  # type: ignore[union-attr]
        name_html, sku, price = data["name"], data["id"], selector.css("span.price::text").get("")
        found["hallmark_ornaments:name with entity in JSON"] += (
            html.unescape(name_html) != name_html
        )
        kind = "numeric string" if isinstance(data["price"], str) else "number"
        found[f"hallmark_ornaments:price as {kind}"] += 1
        found[f"hallmark_ornaments:availability {data['availability']}"] += 1
        found["hallmark_ornaments:sale with old price"] += bool(selector.css(".old-price"))
    found[f"{vendor}:name with entity"] += html.unescape(name_html) != name_html
    found[f"{vendor}:name with white space run"] += bool(re.search(r"\s\s", name_html.strip()))
    found[f"{vendor}:sku with space or lower case"] += sku != sku.upper().strip() or " " in sku
    found[f"{vendor}:price with thousands separator"] += bool(re.search(r"\$\d,\d{3}\.\d\d", price))


# -- live variants --------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Catalogue:
    return generate_catalogue(
        seed=1, products_per_shop=200, malformed_ratio=0.05, live_variants=True
    )


def product_pages(catalogue: Catalogue, vendor: str, day: int = 1) -> Iterator[tuple[str, str]]:
    """(path, page source) of every product page a year page lists."""
    site, shop = ShopSite(catalogue, vendor), catalogue.shops[vendor]
    for vendor_id in sorted(shop.reachable_vendor_ids()):
        path = shop.listings[vendor_id].path
        yield path, site.resolve(path, "").render(day).decode()  # type: ignore[union-attr]


def test_live_variants_are_on_by_default_and_keep_the_catalogue(live: Catalogue) -> None:
    assert LIVE_VARIANTS_DEFAULT is True
    plain = generate_catalogue(
        seed=1, products_per_shop=200, malformed_ratio=0.05, live_variants=False
    )
    assert plain.live_variants is False and live.live_variants is True
    assert plain.ornaments == live.ornaments
    for vendor in VENDORS:
        plain_shop, live_shop = plain.shops[vendor], live.shops[vendor]
        assert plain_shop.listings.keys() == live_shop.listings.keys()
        for vendor_id, listing in plain_shop.listings.items():
            other = live_shop.listings[vendor_id]
            assert (listing.price, listing.was_price, listing.in_stock, listing.path) == (
                other.price, other.was_price, other.in_stock, other.path,
            )  # fmt: skip
        # was_price is in every truth; only the live variants' truth has unknown stock.
        assert "was_price" in ground_truth(plain, vendor, "http://h:1")[0]
        assert "was_price" in ground_truth(live, vendor, "http://h:1")[0]
        assert all(
            i["availability"] != "unknown" for i in ground_truth(plain, vendor, "http://h:1")
        )
        assert not any(y.view_all for y in plain_shop.years)
    assert "price_conflict" not in expected_drops(plain, "ornament_shop")


def test_live_hookedonhallmark_stock_wording_and_unknown_phrases(live: Catalogue) -> None:
    vendor = "hookedonhallmark"
    truth = {urlsplit(str(i["link"])).path: i for i in ground_truth(live, vendor, "http://h:1")}
    wording: Counter[str] = Counter()
    for path, page in product_pages(live, vendor):
        if path not in truth:
            continue
        text = Selector(text=page).css("#availability::text").get("")
        assert truth[path]["availability"] == _stock(text), (path, text)
        shape = re.sub(r"\d+", "N", text)
        wording[shape] += 1
        wording["upper" if text.isupper() else "lower" if text.islower() else "mixed"] += 1
    in_stock = sum(1 for i in truth.values() if i["availability"] == "in_stock")
    assert wording["In Stock - Ships Next Business Day"] > in_stock / 3
    assert wording["Only N left!"] and wording["ONLY N LEFT!"] + wording["only N left!"]
    assert (
        wording["IN STOCK - SHIPS NEXT BUSINESS DAY"]
        + wording["in stock - ships next business day"]
    )
    assert wording["upper"] and wording["lower"]
    unknown = [i for i in truth.values() if i["availability"] == "unknown"]
    assert 1 <= len(unknown) <= len(truth) * 0.06
    assert wording["Backordered"] + wording["Pre-order"] >= 1
    # Unknown wording keeps its price: the item is in the truth, its availability unknown.
    assert all(re.fullmatch(r"\d+\.\d\d", str(i["price"])) for i in unknown)


def _bc_data(page: str) -> dict[str, object]:
    raw = re.search(r"var BCData = (\{.*?\});</script>", page)
    assert raw is not None
    return json.loads(raw[1])["product_attributes"]  # type: ignore[no-any-return]


def test_live_ornament_shop_info_rows_and_stock_from_bcdata(live: Catalogue) -> None:
    vendor = "ornament_shop"
    truth = {urlsplit(str(i["link"])).path: i for i in ground_truth(live, vendor, "http://h:1")}
    orders: Counter[tuple[str, ...]] = Counter()
    without_availability = free_text = 0
    for path, page in product_pages(live, vendor):
        selector = Selector(text=page)
        names = tuple(n.strip() for n in selector.css("dl.productView-info dt::text").getall())
        assert {"Condition:", "Weight:", "Shipping:", "SKU:"} <= set(names)
        assert selector.css("dt:contains('Condition') + dd::text").get() == "New"
        orders[tuple(n for n in names if n not in ("Brand:", "SKU:"))] += 1
        data = _bc_data(page)
        if path not in truth:
            continue
        item = truth[path]
        assert item["availability"] == ("in_stock" if data["instock"] else "out_of_stock")
        visible = selector.css(".productView-price span.price--withoutTax::text").get("")
        assert _price(visible) == _price(str(data["price"]["without_tax"]["value"]))  # type: ignore[index]
        if "Availability:" not in names:
            without_availability += 1
        else:
            text = selector.css("dt:contains('Availability') + dd::text").get("")
            free_text += _stock(text) == "unknown"
    assert len(orders) >= 6, "the rows come in varying order"
    assert without_availability >= 10 and free_text >= 5


def test_live_price_conflicts_are_dropped_and_counted(live: Catalogue) -> None:
    for vendor in ("ornament_shop", "hallmark_ornaments"):
        shop = live.shops[vendor]
        conflicts = {lk.path for lk in shop.listings.values() if lk.malformed == "price_conflict"}
        assert expected_drops(live, vendor)["price_conflict"] == len(conflicts) >= 1
        links = {urlsplit(str(i["link"])).path for i in ground_truth(live, vendor, "http://h:1")}
        assert not conflicts & links
        for path, page in product_pages(live, vendor, day=2):
            if path not in conflicts and path not in links:
                continue  # another drop reason
            selector = Selector(text=page)
            if vendor == "ornament_shop":
                visible = selector.css(".productView-price span.price--withoutTax::text").get("")
                data = str(_bc_data(page)["price"]["without_tax"]["value"])  # type: ignore[index]
            else:
                visible = selector.css(".prices span.price::text").get("")
                data = str(json.loads(re.search(r"var _3d_item = (.*);\n", page)[1])["price"])  # type: ignore[index]
            assert (_price(visible) != _price(data)) == (path in conflicts), path
    assert "price_conflict" not in expected_drops(live, "hookedonhallmark")


def test_live_3d_item_follows_other_head_scripts(live: Catalogue) -> None:
    positions: Counter[int] = Counter()
    for _path, page in product_pages(live, "hallmark_ornaments"):
        scripts = Selector(text=page).css("head script::text").getall()
        holding = [n for n, text in enumerate(scripts) if "var _3d_item" in text]
        assert len(holding) == 1
        positions[holding[0]] += 1
    assert 0 not in positions and len(positions) >= 4
    assert max(positions) <= 6  # at most the seventh script


def test_live_view_all_link_lists_every_product_of_the_year(live: Catalogue) -> None:
    vendor = "hookedonhallmark"
    site, shop = ShopSite(live, vendor), live.shops[vendor]
    paginated = [y for y in shop.years if len(y.listing.pages) > 1]
    assert paginated and all(y.view_all is not None for y in paginated)
    for year_page in paginated:
        first = Selector(text=site.resolve(year_page.path, "").render(1).decode())  # type: ignore[union-attr]
        above = first.xpath(
            "//a[@href][following::div[contains(@class, 'product-item')]]/@href"
        ).getall()
        view_all = [href for href in above if "view-all" in href.lower()]
        assert len(view_all) == 1, year_page.path
        paged: set[str] = set()
        for n in range(1, len(year_page.listing.pages) + 1):
            page = Selector(text=site.resolve(year_page.path, f"page={n}").render(1).decode())  # type: ignore[union-attr]
            paged |= {
                _clean_link(h) for h in page.css(".product-item .name a::attr(href)").getall()
            }
        whole = Selector(text=site.resolve(view_all[0], "").render(1).decode())  # type: ignore[union-attr]
        hrefs = [_clean_link(h) for h in whole.css(".product-item .name a::attr(href)").getall()]
        assert len(hrefs) == len(set(hrefs)) and set(hrefs) == paged
        assert not whole.css(".paging a")
    plain = ShopSite(generate_catalogue(seed=1, products_per_shop=200, live_variants=False), vendor)
    page = plain.resolve(paginated[0].path, "").render(1)  # type: ignore[union-attr]
    assert b"view-all" not in page.lower()


def test_live_truth_carries_the_pages_was_price(live: Catalogue) -> None:
    for vendor in VENDORS:
        truth = {
            urlsplit(str(i["link"])).path: i
            for i in ground_truth(live, vendor, "http://h:1", day=2)
        }
        on_sale = 0
        for path, page in product_pages(live, vendor, day=2):
            if path not in truth:
                continue
            selector = Selector(text=page)
            if vendor == "hookedonhallmark":
                shown = selector.css("#price s::text").get()
            elif vendor == "ornament_shop":
                shown = selector.css(".productView-price span.price--rrp::text").get()
            else:
                shown = None  # no "was" price is known on this shop's pages
                on_sale += bool(selector.css(".old-price"))
            on_sale += shown is not None
            assert truth[path]["was_price"] == _was(shown), path
        assert on_sale > 5, vendor


# -- listing tiles --------------------------------------------------------------------


def read_tiles(catalogue: Catalogue, vendor: str, day: int) -> dict[str, TileView]:
    """Every tile of every year listing page, read with docs/shops.md's selectors."""
    site, shop = ShopSite(catalogue, vendor), catalogue.shops[vendor]
    pages: list[tuple[str, str]] = []
    for year_page in shop.years:
        if vendor == "hallmark_ornaments":
            pages.append((year_page.path, "viewall=1"))
            continue
        for listing in [year_page.listing, *(sub.listing for sub in year_page.sub_categories)]:
            pages += [(listing.path, f"page={n}") for n in range(1, len(listing.pages) + 1)]
    tiles: dict[str, TileView] = {}
    for path, query in pages:
        page = Selector(text=site.resolve(path, query).render(day).decode())  # type: ignore[union-attr]
        if vendor == "ornament_shop":
            for card in page.css("li.product article.card"):
                link = _clean_link(card.css(".card-figure a::attr(href)").get(""))
                price = card.css(".card-body span.price--withoutTax::text").get()
                tiles["http://h:1" + link] = TileView(_tile_amount(price), None)
            continue
        for tile in page.css("div.product-item"):
            if vendor == "hookedonhallmark":
                link = _clean_link(tile.css(".name a::attr(href)").get(""))
            else:  # the raw HTML has no product link: the tile's catalog id names it
                link = shop.listings[tile.attrib["data-catalogid"]].path
            price = "".join(tile.css(".price").xpath("./text()").getall()) or None
            stock = tile.css(".stock::text").get()
            tiles["http://h:1" + link] = TileView(_tile_amount(price), stock)
    return tiles


def _tile_amount(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return f"{_price(text)}"
    except ValueError:
        return None


def test_listing_tiles_show_what_listing_tiles_says(live: Catalogue, catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        for source, day in ((catalogue, 1), (catalogue, 2), (live, 2)):
            expected = listing_tiles(source, vendor, "http://h:1", day)
            assert read_tiles(source, vendor, day) == expected
        tiles = listing_tiles(catalogue, vendor, "http://h:1", 1)
        truth = {i["link"]: i for i in ground_truth(catalogue, vendor, "http://h:1")}
        readable = [link for link, tile in tiles.items() if tile.price is not None]
        assert 0 < len(tiles) - len(readable) <= len(tiles) * 0.1
        for link, item in truth.items():
            tile = tiles[link]
            assert tile.price in (None, item["price"])
            if vendor == "ornament_shop":
                assert tile.stock is None
            else:
                assert (tile.stock in ("Sold Out", "Out of Stock")) == (
                    item["availability"] == "out_of_stock"
                ), link
    hoh = ShopSite(catalogue, "hookedonhallmark")
    sale = []
    for year_page in catalogue.shops["hookedonhallmark"].years:
        route = hoh.resolve(year_page.path, "")
        assert route is not None
        sale += Selector(text=route.render(1).decode()).css(".product-item .price s").getall()
    assert sale, "a sale tile holds <s>was</s> price"


def test_tile_prices_move_with_the_product_pages(catalogue: Catalogue) -> None:
    for vendor in VENDORS:
        truth1 = {i["link"]: i for i in ground_truth(catalogue, vendor, "http://h:1", day=1)}
        truth2 = {i["link"]: i for i in ground_truth(catalogue, vendor, "http://h:1", day=2)}
        tiles1 = listing_tiles(catalogue, vendor, "http://h:1", 1)
        tiles2 = listing_tiles(catalogue, vendor, "http://h:1", 2)
        price_moves = {lk for lk in truth1 if truth1[lk]["price"] != truth2[lk]["price"]}
        stock_moves = {
            lk for lk in truth1 if truth1[lk]["availability"] != truth2[lk]["availability"]
        }
        assert price_moves and stock_moves
        for link in price_moves:
            if tiles2[link].price is not None:
                assert (tiles1[link].price, tiles2[link].price) == (
                    truth1[link]["price"], truth2[link]["price"],
                )  # fmt: skip
        changed = changed_tiles(catalogue, vendor, "http://h:1", 1, 2)
        assert price_moves <= changed
        assert {lk for lk, t in tiles2.items() if t.price is None} <= changed
        only_stock = stock_moves - price_moves - {lk for lk, t in tiles2.items() if t.price is None}
        if vendor == "ornament_shop":  # its tiles show no stock: the flip is invisible
            assert only_stock and not only_stock & changed
        else:
            assert only_stock <= changed
        unchanged = set(truth1) - changed
        assert len(unchanged) > len(truth1) * 0.8
        assert all(truth1[lk] == truth2[lk] for lk in unchanged if vendor != "ornament_shop")


# -- the server ---------------------------------------------------------------------


def test_robots_txt_allows_everything(replicas: dict[str, str]) -> None:
    for base in replicas.values():
        status, body = fetch(f"{base}/robots.txt")
        assert status == 200
        assert b"User-agent: *\nDisallow:\n" in body


def test_raw_html_of_js_built_pages_holds_no_year_or_product_link(
    catalogue: Catalogue, replicas: dict[str, str]
) -> None:
    for vendor in ("hookedonhallmark", "ornament_shop"):
        status, raw = fetch(replicas[vendor] + catalogue.shops[vendor].index_path)
        assert status == 200
        assert YEAR_LINK_PATTERNS[vendor].search(raw) is None, vendor
        assert b"<li" not in raw
    shop = catalogue.shops["hallmark_ornaments"]
    for year_page in shop.years:
        status, raw = fetch(f"{replicas['hallmark_ornaments']}{year_page.path}?viewall=1")
        assert status == 200
        assert raw.count(b'class="product-item"') == len(year_page.listing.vendor_ids())
        assert PRODUCT_LINK_PATTERN.search(raw) is None
        assert not any(listing_path.encode() in raw for listing_path in shop.by_path)


def test_browser_renders_hookedonhallmark_year_index(
    catalogue: Catalogue, replicas: dict[str, str], browser: WebDriver
) -> None:
    shop = catalogue.shops["hookedonhallmark"]
    page = render(
        browser, replicas["hookedonhallmark"] + shop.index_path, "ul.columns-5 > li a[href]"
    )
    entries = page.css("ul.columns-5 > li")
    assert len(entries) == 54 + 2
    hrefs = {li.css("a::attr(href)").get() for li in entries}
    assert {y.path for y in shop.years} <= hrefs
    assert page.css("ul.columns-5 > li span") and page.css("ul.columns-5 > li img[alt]")


def test_browser_renders_ornament_shop_year_index(
    catalogue: Catalogue, replicas: dict[str, str], browser: WebDriver
) -> None:
    shop = catalogue.shops["ornament_shop"]
    page = render(browser, replicas["ornament_shop"] + shop.index_path, "li.navList-item a[href]")
    hrefs = set(page.css("li.navList-item a::attr(href)").getall())
    assert hrefs == {y.path for y in shop.years} | {o.path for o in shop.others}


def test_browser_fills_hallmark_ornaments_tile_links(
    catalogue: Catalogue, replicas: dict[str, str], browser: WebDriver
) -> None:
    shop = catalogue.shops["hallmark_ornaments"]
    year_page = max(shop.years, key=lambda y: len(y.listing.vendor_ids()))
    url = f"{replicas['hallmark_ornaments']}{year_page.path}?viewall=1"
    page = render(browser, url, "#productCategoryBlock[data-quickview=ready]")
    hrefs = page.css("a.quickview::attr(href)").getall()
    expected = {shop.listings[v].path for v in year_page.listing.vendor_ids()}
    assert len(hrefs) == len(expected) > 1
    assert {href.split("?")[0] for href in hrefs} == expected


def test_stats_count_requests_per_path_and_reset(
    catalogue: Catalogue, replicas: dict[str, str]
) -> None:
    base = replicas["ornament_shop"]
    control(base, "reset")
    listing = next(iter(catalogue.shops["ornament_shop"].listings.values()))
    fetch(base + listing.path)
    fetch(base + listing.path + "?ref=year")
    fetch(base + "/no-such-page/")
    stats = control(base, "stats")
    assert stats["total"] == 3
    assert stats["paths"] == {listing.path: 2, "/no-such-page/": 1}
    assert stats["kinds"] == {"product": 2}
    assert stats["not_found"] == 1
    assert stats["faults"] == {"slow": 0, "error": 0, "drop": 0, "permanent_error": 0}
    control(base, "reset")
    assert control(base, "stats")["total"] == 0


def test_stats_tell_request_kinds_apart_and_reset(
    replica_sites: Callable[..., RunningReplica],
) -> None:
    replica = replica_sites(seed=2, products_per_shop=60, live_variants=True, in_process=False)
    for vendor in VENDORS:
        base, shop = replica.urls[vendor], replica.catalogue.shops[vendor]
        assert replica.requests(vendor) == dict.fromkeys(REQUEST_GROUPS, 0)
        year_page = max(shop.years, key=lambda y: len(y.listing.pages))
        year_query = "?viewall=1" if vendor == "hallmark_ornaments" else "?page=2"
        product = next(iter(replica.truth(vendor)))["link"]
        for url in (
            base + shop.index_path,
            base + "/robots.txt",
            base + year_page.path,
            base + year_page.path + year_query,
            str(product),
            str(product) + "?ref=year",
            base + shop.others[0].path,
            base + "/no-such-page.html",
            base + "/favicon.ico",
        ):
            fetch(url)
        stats = replica.stats(vendor)
        assert replica.requests(vendor) == stats["requests"] == {
            "listing": 2, "product": 2, "index": 1, "robots": 1, "other": 3,
        }  # fmt: skip
        assert sum(stats["requests"].values()) == stats["total"]  # type: ignore[union-attr]
    # The live variants reach a server in another process with the pickled catalogue.
    vendor = "hookedonhallmark"
    phrase = next(lk for lk in replica.catalogue.shops[vendor].listings.values() if lk.stock_phrase)
    assert phrase.stock_phrase is not None
    assert phrase.stock_phrase.encode() in fetch(replica.urls[vendor] + phrase.path)[1]
    replica.reset(vendor)
    assert replica.requests(vendor) == dict.fromkeys(REQUEST_GROUPS, 0)
    assert replica.requests("ornament_shop")["product"] == 2, "one shop reset, not the others"
    replica.reset()
    assert replica.requests("ornament_shop") == dict.fromkeys(REQUEST_GROUPS, 0)


def test_keep_alive_connection_serves_many_requests(
    catalogue: Catalogue, replicas: dict[str, str]
) -> None:
    parts = urlsplit(replicas["hallmark_ornaments"])
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for listing in list(catalogue.shops["hallmark_ornaments"].listings.values())[:20]:
            connection.request("GET", listing.path)
            answer = connection.getresponse()
            assert answer.status == 200 and b"_3d_item" in answer.read()
        connection.request("HEAD", "/robots.txt")
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read() == b""
    finally:
        connection.close()


def _paths_with_fault(
    catalogue: Catalogue, vendor: str, faults: FaultConfig, fault: str
) -> list[str]:
    shop = catalogue.shops[vendor]
    return [
        listing.path
        for listing in shop.listings.values()
        if listing.year is not None
        and fault_for(faults, catalogue.seed, vendor, listing.path) == fault
        and listing.path not in permanent_error_paths(catalogue, vendor, faults)
    ]


def test_faults_error_then_success_drop_slow_and_permanent(catalogue: Catalogue) -> None:
    spec = (
        "slow=0.2,slow_seconds=0.4,error=0.2,error_times=2,drop=0.2,drop_times=1,permanent_error=2"
    )
    faults = parse_faults(spec)
    vendor = "hookedonhallmark"
    with serve_replicas(catalogue, faults=spec) as urls:
        base = urls[vendor]
        erroring = _paths_with_fault(catalogue, vendor, faults, "error")[0]
        assert [fetch(base + erroring)[0] for _ in range(3)] == [503, 503, 200]

        dropping = _paths_with_fault(catalogue, vendor, faults, "drop")[0]
        parts = urlsplit(base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", dropping)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            connection.getresponse()
        connection.close()
        assert fetch(base + dropping)[0] == 200

        slow = _paths_with_fault(catalogue, vendor, faults, "slow")[0]
        started = time.perf_counter()
        assert fetch(base + slow)[0] == 200
        assert time.perf_counter() - started >= 0.35

        failing = sorted(permanent_error_paths(catalogue, vendor, faults))
        assert len(failing) == 2
        assert [fetch(base + failing[0])[0] for _ in range(3)] == [500, 500, 500]
        truth_links = {i["link"] for i in ground_truth(catalogue, vendor, base, faults=spec)}
        assert base + failing[0] not in truth_links
        assert len(truth_links) == len(ground_truth(catalogue, vendor, base)) - 2

        # Never faulted: robots.txt, the year index, the control endpoints.
        for path in ("/robots.txt", catalogue.shops[vendor].index_path):
            assert all(fetch(base + path)[0] == 200 for _ in range(3))

        stats = control(base, "stats")
        assert stats["faults"] == {"slow": 1, "error": 2, "drop": 1, "permanent_error": 3}
        control(base, "reset")
        assert fetch(base + erroring)[0] == 503, "reset re-arms the faults"


def test_faults_spare_browser_pages_unless_asked(catalogue: Catalogue) -> None:
    vendor = "hallmark_ornaments"
    shop = catalogue.shops[vendor]
    for browser_pages, expected_errors in ((0, 0), (1, len(shop.years))):
        spec = f"error=1.0,browser_pages={browser_pages}"
        with serve_replicas(catalogue, faults=spec) as urls:
            statuses = [fetch(f"{urls[vendor]}{y.path}?viewall=1")[0] for y in shop.years]
            assert statuses.count(503) == expected_errors


def test_fault_tile_links_leaves_tiles_of_chosen_years_without_links(
    catalogue: Catalogue,
) -> None:
    vendor = "hallmark_ornaments"
    shop = catalogue.shops[vendor]
    for spec, years in (("tile_links=0.5", 1), ("tile_links=1,tile_link_years=2", 2)):
        faults = parse_faults(spec)
        withheld = withheld_tile_links(catalogue, vendor, faults)
        assert len(withheld) == years
        with serve_replicas(catalogue, faults=spec) as urls:
            base = urls[vendor]
            for year_page in shop.years:
                status, body = fetch(
                    f"{base}/ajax/quickview-links.json?cat={year_page.category_id}"
                )
                assert status == 200
                tiles = set(year_page.listing.vendor_ids())
                missing = withheld.get(year_page.category_id, set())
                assert set(json.loads(body)) == tiles - missing
                if faults.tile_links < 1 and missing:
                    assert 0 < len(missing) < len(tiles)  # the browser wait still holds
                elif missing:
                    assert missing == tiles
            assert control(base, "stats")["tile_links_withheld"] == sum(map(len, withheld.values()))
            # A product no page links to is in no truth; the other shops are untouched.
            truth = {i["vendor_id"] for i in ground_truth(catalogue, vendor, base, faults=spec)}
            hidden = set().union(*withheld.values())
            clean = {i["vendor_id"] for i in ground_truth(catalogue, vendor, base)}
            assert truth == clean - hidden and clean & hidden
            assert withheld_tile_links(catalogue, "ornament_shop", faults) == {}


def test_servers_run_in_a_separate_process(catalogue: Catalogue) -> None:
    with serve_replicas(catalogue, day=2, in_process=False) as urls:
        assert set(urls) == set(VENDORS)
        for vendor, base in urls.items():
            truth = ground_truth(catalogue, vendor, base, day=2)
            status, _page = fetch(str(truth[0]["link"]))
            assert status == 200
            assert control(base, "day") == {"day": 2}
            assert control(base, "stats")["kinds"] == {"product": 1}
    host, port = urlsplit(urls["ornament_shop"]).hostname, urlsplit(urls["ornament_shop"]).port
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass  # the process is gone with its ports


# -- a crawl written from docs/shops.md finds exactly the ground truth -----------------


def _normal_name(text: str) -> str:
    return " ".join(html.unescape(text).split())


def _price(text: str) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "")
    try:
        return Decimal(cleaned).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(text) from None


def _clean_link(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _stock(text: str) -> str:
    """docs/shops.md "Stock wording": the leading phrase of the cleaned text, any case."""
    cleaned = " ".join(text.split()).lower()
    if re.match(r"(in stock|only \d+ left)", cleaned):
        return "in_stock"
    if re.match(r"(out of stock|sold out)", cleaned):
        return "out_of_stock"
    return "unknown"


def _was(text: str | None) -> str | None:
    return None if text is None else f"{_price(text)}"


class ContractCrawl:
    """Walks one replica the way docs/shops.md describes, collecting items and drops."""

    def __init__(self, vendor: str, base: str, driver: WebDriver) -> None:
        self.vendor, self.base, self.driver = vendor, base, driver
        self.items: dict[str, dict[str, object]] = {}
        self.drops: Counter[str] = Counter()
        self.seen: set[str] = set()

    def first_visit(self, url: str) -> bool:
        link = _clean_link(url)
        if link in self.seen:
            return False
        self.seen.add(link)
        return True

    def get(self, url: str) -> Selector:
        status, body = fetch(url)
        assert status == 200, url
        return Selector(text=body.decode())

    def run(self) -> None:
        getattr(self, f"crawl_{self.vendor}")()

    def item(self, url: str, year: int, **fields: object) -> None:
        missing = [k for k in ("name", "sku", "vendor_id") if not fields.get(k)]
        if missing:
            self.drops[f"missing_{missing[0]}"] += 1
            return
        self.items[_clean_link(url)] = {
            "vendor": self.vendor,
            "currency": "USD",
            "release_year": year,
            "link": _clean_link(url),
            **fields,
        }

    def crawl_hookedonhallmark(self) -> None:
        index = render(self.driver, self.base + "/keepsake-hallmark-ornaments-by-year.html",
                       "ul.columns-5 > li a[href]")  # fmt: skip
        for li in index.css("ul.columns-5 > li"):
            label = li.css("span::text").get() or li.css("img::attr(alt)").get() or ""
            match = re.match(r"(\d{4})\b", label.strip())
            if match:
                self.hoh_listing(urljoin(self.base, li.css("a::attr(href)").get()), int(match[1]))

    def hoh_listing(self, url: str, year: int) -> None:
        while url:
            page = self.get(url)
            if not page.css(".product-item"):
                for href in page.css(".sub-categories a::attr(href)").getall():
                    if "view-all" in href.lower():
                        self.hoh_listing(urljoin(url, href), year)
                return
            above = page.xpath(
                "//a[@href][following::div[contains(@class, 'product-item')]]/@href"
            ).getall()
            view_all = [href for href in above if "view-all" in href.lower()]
            if view_all and self.first_visit(urljoin(url, view_all[0])):
                # Every product of the year on one page, instead of the pagination.
                url = urljoin(url, view_all[0])
                continue
            for href in page.css(".product-item .name a::attr(href)").getall():
                link = urljoin(url, href)
                if self.first_visit(link):
                    self.hoh_product(link, year)
            nexts = [a for a in page.css(".paging a") if "next" in a.css("::text").get("").lower()]
            url = urljoin(url, nexts[0].attrib["href"]) if nexts else ""

    def hoh_product(self, url: str, year: int) -> None:
        page = self.get(url)
        if not page.css("#price"):
            self.drops["missing_price"] += 1
            return
        try:
            price = _price("".join(page.css("#price::text").getall()))
        except ValueError:
            self.drops["bad_price"] += 1
            return
        self.item(
            url,
            year,
            vendor_id=page.css("#add input::attr(value)").get("").strip(),
            name=_normal_name("".join(page.css("#add h1 ::text").getall())),
            sku="".join(page.css("#product_id::text").get("").split()).upper(),
            price=f"{price}",
            brand="Hallmark",
            availability=_stock(page.css("#availability::text").get("")),
            was_price=_was(page.css("#price s::text").get()),
            stock_text=" ".join(page.css("#availability::text").get("").split()) or None,
        )

    def crawl_ornament_shop(self) -> None:
        index = render(self.driver, self.base + "/hallmark-ornaments-by-year.html",
                       "li.navList-item a[href]")  # fmt: skip
        for href in index.css("li.navList-item a::attr(href)").getall():
            first = urlsplit(href).path.strip("/").split("/")[0].split("-")[0]
            if re.fullmatch(r"\d{4}", first):
                url = urljoin(self.base, href)
                while url:
                    page = self.get(url)
                    for card in page.css("li.product article.card"):
                        link = urljoin(url, card.css(".card-figure a::attr(href)").get())
                        if self.first_visit(link):
                            self.bc_product(link, int(first))
                    nxt = page.css("li.pagination-item--next a::attr(href)").get()
                    url = urljoin(url, nxt) if nxt else ""

    def bc_product(self, url: str, year: int) -> None:
        page = self.get(url)
        info = {
            dt.css("::text").get("").strip(): dt.xpath("following-sibling::dd[1]")
            for dt in page.css("dl.productView-info dt.productView-info-name")
        }
        price_text = page.css(".productView-price span.price--withoutTax::text").get()
        if price_text is None:
            self.drops["missing_price"] += 1
            return
        try:
            price = _price(price_text)
        except ValueError:
            self.drops["bad_price"] += 1
            return
        raw = re.search(r"var BCData = (\{.*?\});</script>", page.get())
        product = json.loads(raw[1])["product_attributes"] if raw else {}
        data_price = (product.get("price") or {}).get("without_tax", {}).get("value")
        if data_price is not None and _price(str(data_price)) != price:
            self.drops["price_conflict"] += 1
            return
        stock_text = None  # the stock from BCData's flag: no wording
        if product.get("instock") is not None:
            availability = "in_stock" if product["instock"] else "out_of_stock"
        else:
            stock = info.get("Availability:")
            availability = _stock(stock.css("::text").get("") if stock else "")
            stock_text = " ".join((stock.css("::text").get("") if stock else "").split()) or None
        brand = info["Brand:"].css("a span::text").get() if "Brand:" in info else None
        self.item(
            url,
            year,
            vendor_id=page.css("input[name=product_id]::attr(value)").get("").strip(),
            name=_normal_name("".join(page.css("h1.productView-title ::text").getall())),
            sku="".join(info["SKU:"].css("::text").get("").split()).upper(),
            price=f"{price}",
            brand=brand or "Hallmark",
            availability=availability,
            was_price=_was(page.css(".productView-price span.price--rrp::text").get()),
            stock_text=stock_text,
        )

    def crawl_hallmark_ornaments(self) -> None:
        index = self.get(self.base + "/Hallmark-Ornaments-By-Year_c_200.html")
        for href in index.css("a.subcat::attr(href)").getall():
            match = re.search(r"\d{4}", urlsplit(href).path)
            if not match:
                continue
            page = render(self.driver, urljoin(self.base, href) + "?viewall=1",
                          "#productCategoryBlock[data-quickview=ready]")  # fmt: skip
            links = page.css("a.quickview::attr(href)").getall()
            count = re.search(r"of (\d+) Products", page.css(".product-count::text").get(""))
            assert count is not None and int(count[1]) == len(links)
            for link in links:
                if self.first_visit(urljoin(self.base, link)):
                    self.ho_product(urljoin(self.base, link), int(match[0]))

    def ho_product(self, url: str, year: int) -> None:
        page = self.get(url)
        raw = re.search(r"var _3d_item = (.*?);\s*</script>", page.get(), re.S)
        try:
            data = json.loads(raw[1], parse_float=Decimal)  # type: ignore[index]
        except (TypeError, json.JSONDecodeError):
            self.drops["bad_product_data"] += 1
            return
        if data.get("price") in (None, ""):
            self.drops["missing_price"] += 1
            return
        try:
            price = _price(str(data["price"]))
        except ValueError:
            self.drops["bad_price"] += 1
            return
        visible = page.css(".prices span.price::text").get()
        if visible is not None and _price(visible) != price:
            self.drops["price_conflict"] += 1
            return
        self.item(
            url,
            year,
            vendor_id=str(data["catalogid"]).strip(),
            name=_normal_name(data["name"]),
            sku="".join(str(data["id"]).split()).upper(),
            price=f"{price}",
            brand="Hallmark",
            availability="in_stock" if data["availability"] == 1 else "out_of_stock",
            was_price=None,
            stock_text=None,
        )


@pytest.mark.parametrize(("seed", "live_variants"), [(1, False), (2, False), (1, True), (3, True)])
def test_contract_crawl_yields_exactly_the_ground_truth(
    seed: int, live_variants: bool, browser: WebDriver
) -> None:
    catalogue = generate_catalogue(
        seed=seed, products_per_shop=120, malformed_ratio=0.05, live_variants=live_variants
    )
    with serve_replicas(catalogue, day=2) as urls:
        for vendor, base in urls.items():
            crawl = ContractCrawl(vendor, base, browser)
            crawl.run()
            got = sorted(crawl.items.values(), key=lambda item: str(item["link"]))
            expected = ground_truth(catalogue, vendor, base, day=2)
            assert len(got) == len(expected), vendor
            for got_item, expected_item in zip(got, expected, strict=True):
                assert got_item == expected_item
            assert dict(crawl.drops) == expected_drops(catalogue, vendor)
            # Every product page fetched once: links repeat, the crawl dedupes them.
            pages = control(base, "stats")["pages"]
            product_paths = {urlsplit(str(item["link"])).path for item in expected}
            assert all(pages[path] == 1 for path in product_paths)
            if live_variants and vendor == "hookedonhallmark":
                # The paginated years were read through their view-all links.
                years = catalogue.shops[vendor].years
                view_alls = [y.view_all.path for y in years if y.view_all is not None]
                assert view_alls and all(f"{path}?page=1" in pages for path in view_alls)


def test_cli_truth_prints_the_ground_truth_and_drops() -> None:
    command = [sys.executable, "-m", "replicas", "truth", "--seed", "4", "--products", "30"]
    command += ["--malformed", "0.2", "--vendor", "hallmark_ornaments", "--day", "2"]
    base = "http://127.0.0.1:8123"
    lines = subprocess.run(
        [*command, "--base-url", base], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    catalogue = generate_catalogue(seed=4, products_per_shop=30, malformed_ratio=0.2)
    assert [json.loads(line) for line in lines] == ground_truth(
        catalogue, "hallmark_ornaments", base, day=2
    )
    drops = subprocess.run(
        [*command, "--base-url", base, "--drops"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(drops) == expected_drops(catalogue, "hallmark_ornaments")
    bad = subprocess.run([*command, "--base-url", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "http(s) origin" in bad.stderr


def test_cli_truth_with_live_variants() -> None:
    base = "http://127.0.0.1:8123"
    command = [sys.executable, "-m", "replicas", "truth", "--seed", "4", "--products", "100"]
    command += ["--vendor", "ornament_shop", "--base-url", base, "--live-variants"]
    catalogue = generate_catalogue(seed=4, products_per_shop=100, live_variants=True)
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert [json.loads(line) for line in lines.splitlines()] == ground_truth(
        catalogue, "ornament_shop", base
    )
    drops = subprocess.run([*command, "--drops"], capture_output=True, text=True, check=True)
    assert json.loads(drops.stdout) == expected_drops(catalogue, "ornament_shop")
    assert json.loads(drops.stdout)["price_conflict"] >= 1


def test_retail_prices_csv_covers_the_catalogues_skus() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "replicas", "retail-prices", "--seed", "3", "--products", "200"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["sku", "release_year", "retail_price"]
    catalogue = generate_catalogue(seed=3, products_per_shop=200)
    assert [(r["sku"], int(r["release_year"]), Decimal(r["retail_price"])) for r in rows] == (
        catalogue.retail_prices()
    )
    assert {r["sku"] for r in rows} == {o.sku for o in catalogue.ornaments}
    assert all(re.fullmatch(r"\d+\.\d\d", r["retail_price"]) for r in rows)
    # The issue price is below today's prices for old years, above them for some recent ones.
    retail = {r["sku"]: Decimal(r["retail_price"]) for r in rows}
    old, recent = [], []
    for vendor in VENDORS:
        for item in ground_truth(catalogue, vendor, "http://h:1"):
            pair = (retail[str(item["sku"])], Decimal(str(item["price"])))
            (old if int(item["release_year"]) < 1990 else recent).append(pair)  # type: ignore[call-overload]
    assert all(paid < now for paid, now in old)
    assert any(paid > now for paid, now in recent)
    by_year = [Decimal(r["retail_price"]) for r in rows if r["release_year"] in ("1975", "2025")]
    assert by_year and min(by_year) >= Decimal("1.95")
    assert other_seed_differs(3)


def other_seed_differs(seed: int) -> bool:
    first = generate_catalogue(seed=seed, products_per_shop=50).retail_prices()
    return first != generate_catalogue(seed=seed + 1, products_per_shop=50).retail_prices()


def test_index_csv_is_a_seeded_daily_series_from_1973_to_today() -> None:
    def run(*args: str) -> list[dict[str, str]]:
        out = subprocess.run(
            [sys.executable, "-m", "replicas", "index-prices", *args],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return list(csv.DictReader(io.StringIO(out)))

    rows = run("--seed", "5", "--end", "2020-06-30")
    assert list(rows[0]) == ["date", "close"]
    days = [date.fromisoformat(r["date"]) for r in rows]
    assert days[0] == date(1973, 1, 2) and days[-1] == date(2020, 6, 30)
    assert all(day.weekday() < 5 for day in days) and days == sorted(set(days))
    assert len(days) > 47 * 250
    closes = [float(r["close"]) for r in rows]
    assert all(close > 0 for close in closes)
    assert 3 < closes[-1] / closes[0] < 500  # an equity index's long-run growth
    assert len(set(closes)) > len(closes) / 4, "it moves from day to day"
    assert run("--seed", "5", "--end", "2020-06-30") == rows
    assert run("--seed", "6", "--end", "2020-06-30") != rows
    assert run("--seed", "5", "--end", "2021-01-29")[: len(rows)] == rows
    assert index_series(5)[-1][0] > date.today() - timedelta(days=4)


def test_cli_serve_ends_when_its_parent_is_gone() -> None:
    # A parent pid that is not the real parent's (above Linux's pid_max, so never a real
    # one) stands for a parent that died: the server must end.
    process = subprocess.Popen(
        [sys.executable, "-m", "replicas", "serve", "--products", "5", "--json",
         "--parent-pid", "4194305"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        assert set(urls) == set(VENDORS)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_browser_assets_are_served_not_counted_as_missing(replicas: dict[str, str]) -> None:
    base = replicas["hookedonhallmark"]
    control(base, "reset")
    assert fetch(base + "/favicon.ico")[0] == 200
    stats = control(base, "stats")
    assert stats["not_found"] == 0 and stats["kinds"] == {"asset": 1}


def test_replica_sites_fixture_serves_truth_and_moves_days(
    replica_sites: Callable[..., RunningReplica],
) -> None:
    replica = replica_sites(
        seed=5, products_per_shop=30, malformed_ratio=0.1, faults="error=0.1", live_variants=False
    )
    item = replica.truth("ornament_shop")[0]
    assert str(item["link"]).startswith(replica.urls["ornament_shop"] + "/")
    assert sum(replica.drops("ornament_shop").values()) == 3
    replica.set_day(3)
    assert replica.truth("ornament_shop") == ground_truth(
        replica.catalogue, "ornament_shop", replica.urls["ornament_shop"], day=3
    )
    assert replica.stats("ornament_shop")["day"] == 3


def test_routing_edges_and_prerendered_pages(catalogue: Catalogue) -> None:
    vendor = "ornament_shop"
    shop = catalogue.shops[vendor]
    site = ShopSite(catalogue, vendor)
    listing = next(iter(shop.listings.values()))
    busiest = max(shop.years, key=lambda y: len(y.listing.pages))
    with serve_replicas(catalogue, prerender=True) as urls:
        base = urls[vendor]
        status, page = fetch(base + listing.path + "?ref=year")
        assert status == 200
        assert page == site.resolve(listing.path, "").render(1)  # type: ignore[union-attr]
        last = len(busiest.listing.pages)
        assert fetch(f"{base}{busiest.path}?page={last}")[0] == 200
        for bad in (f"?page={last + 1}", "?page=0", "?page=two"):
            assert fetch(base + busiest.path + bad)[0] == 404, bad
        assert fetch(base + "/__replica__/nothing")[0] == 404
        request = urllib.request.Request(base + listing.path, data=b"x=1", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405
        refused.value.close()
