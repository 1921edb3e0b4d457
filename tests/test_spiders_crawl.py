"""Each spider crawls its replica end to end: ``scrapy crawl`` in a subprocess, ENV=replica,
real Chromium for the JS pages (and only those), items compared with the ground truth.

The replicas serve the live shops' page variants (longer and unknown stock wording,
BCData stock, price conflicts, ``_3d_item`` after other head scripts, view-all links):
the items must match the truth field for field, ``was_price`` and ``unknown`` included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest
from parsel import Selector

from christmas_spiders.items import VENDORS
from replicas.catalogue import Catalogue, generate_catalogue
from replicas.crawling import CrawlResult, run_crawl
from replicas.server import serve_replicas
from replicas.truth import expected_drops, ground_truth

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PRODUCTS = 100
MALFORMED = 0.1
CRAWL_TIMEOUT = 300.0


def js_pages(catalogue: Catalogue, vendor: str, years: set[int] | None = None) -> int:
    """Pages vendor-sites.md marks as built by JavaScript that a crawl visits."""
    if vendor == "hallmark_ornaments":  # every year page (?viewall=1) is one
        return sum(
            1 for page in catalogue.shops[vendor].years if years is None or page.year in years
        )
    return 1  # the year index


def check_exact(result: CrawlResult, truth: list[dict[str, object]]) -> None:
    assert result.returncode == 0, result.log[-4000:]
    got = sorted(result.items, key=lambda item: str(item["link"]))
    by_link = {item["link"]: item for item in got}
    missing = [t["link"] for t in truth if t["link"] not in by_link]
    extra = sorted(set(by_link) - {t["link"] for t in truth})
    wrong = [
        (by_link[t["link"]], t) for t in truth if t["link"] in by_link and by_link[t["link"]] != t
    ]
    assert (missing, extra, wrong[:3]) == ([], [], [])
    assert len(got) == len(truth)  # and no product twice


@pytest.fixture(scope="module", params=[1, 2], ids=["seed1", "seed2"])
def replica(request: pytest.FixtureRequest) -> Iterator[tuple[Catalogue, dict[str, str]]]:
    catalogue = generate_catalogue(
        seed=request.param,
        products_per_shop=PRODUCTS,
        malformed_ratio=MALFORMED,
        live_variants=True,
    )
    with serve_replicas(catalogue) as urls:
        yield catalogue, urls


@pytest.mark.parametrize("vendor", VENDORS)
def test_crawl_yields_exactly_the_ground_truth(
    replica: tuple[Catalogue, dict[str, str]], vendor: str, tmp_path: Path
) -> None:
    catalogue, urls = replica
    result = run_crawl(vendor, urls[vendor], tmp_path, timeout=CRAWL_TIMEOUT)
    truth = ground_truth(catalogue, vendor, urls[vendor])
    check_exact(result, truth)
    # Broken product pages and pages whose two prices disagree: no item, counted per reason.
    assert result.prefixed("christmas/dropped/") == expected_drops(catalogue, vendor)
    assert sum(expected_drops(catalogue, vendor).values()) > 0
    if vendor != "hookedonhallmark":  # the shops with a second price source
        assert expected_drops(catalogue, vendor).get("price_conflict", 0) > 0
    # Stock wording no rule knows: items kept, counted; was-prices read where shown.
    unknown = sum(item["availability"] == "unknown" for item in truth)
    assert result.stat("christmas/availability/unknown") == unknown
    assert (unknown > 0) == (vendor == "hookedonhallmark")
    assert any(item["was_price"] for item in truth) == (vendor != "hallmark_ornaments")
    if vendor == "hookedonhallmark":
        # Each year that offers view-all (beside its first products, or as the sub-category
        # of a year page without products) was read through it, not through its pages.
        view_alls = sum(
            1
            for page in catalogue.shops[vendor].years
            if page.view_all is not None
            or any("view-all" in sub.listing.path.lower() for sub in page.sub_categories)
        )
        assert view_alls > 0 and result.stat("christmas/listings/view_all") == view_alls
    # Only the JS pages went through the browser, each once.
    assert result.stat("christmas/browser_renders") == js_pages(catalogue, vendor)
    years = result.stat("christmas/years/total")
    assert years == len(catalogue.shops[vendor].years)
    assert result.stat("christmas/years/done") == years
    assert result.prefixed("christmas/failed/") == {}
    assert result.stat("christmas/product_pages") == len(result.items) + sum(
        expected_drops(catalogue, vendor).values()
    )
    assert "progress: years" in result.log or "final: years" in result.log
    # No console into the crawl (settings.py): neither telnet nor the remote-control server.
    assert "Telnet console listening" not in result.log
    assert "Remote control HTTP server" not in result.log


def test_js_pages_hold_no_links_in_their_raw_html(
    replica: tuple[Catalogue, dict[str, str]],
) -> None:
    """So the crawl above really took the links from the browser."""
    _, urls = replica

    def raw(url: str) -> Selector:
        with urlopen(url, timeout=10) as response:
            return Selector(text=response.read().decode("utf-8"))

    hoh = raw(urls["hookedonhallmark"] + "/keepsake-hallmark-ornaments-by-year.html")
    assert hoh.css("ul.columns-5") and not hoh.css("ul.columns-5 a")
    shop = raw(urls["ornament_shop"] + "/hallmark-ornaments-by-year.html")
    assert not shop.css("li.navList-item a")
    index = raw(urls["hallmark_ornaments"] + "/Hallmark-Ornaments-By-Year_c_200.html")
    year_links = index.css("a.subcat::attr(href)").getall()
    tiles = 0
    for href in year_links:
        page = raw(urls["hallmark_ornaments"] + href + "?viewall=1")
        tiles += len(page.css("#productCategoryBlock div.product-item a.quickview"))
        assert not page.css("a.quickview[href]")
    assert tiles > 0


@pytest.fixture(scope="module")
def small_replica() -> Iterator[tuple[Catalogue, dict[str, str]]]:
    catalogue = generate_catalogue(seed=3, products_per_shop=60)
    with serve_replicas(catalogue) as urls:
        yield catalogue, urls


def test_years_argument_crawls_only_those_years(
    small_replica: tuple[Catalogue, dict[str, str]], tmp_path: Path
) -> None:
    catalogue, urls = small_replica
    years = {1995, 2001, 2002, 2003}
    for vendor in ("ornament_shop", "hallmark_ornaments"):
        result = run_crawl(
            vendor, urls[vendor], tmp_path, arguments=["years=1995,2001-2003"], timeout=120
        )
        truth = [
            t for t in ground_truth(catalogue, vendor, urls[vendor]) if t["release_year"] in years
        ]
        check_exact(result, truth)
        assert result.stat("christmas/years/total") == 4
        assert result.stat("christmas/browser_renders") == js_pages(catalogue, vendor, years)


def test_second_crawl_takes_year_links_from_the_cache(
    small_replica: tuple[Catalogue, dict[str, str]], tmp_path: Path
) -> None:
    catalogue, urls = small_replica
    vendor = "ornament_shop"
    truth = ground_truth(catalogue, vendor, urls[vendor])
    first = run_crawl(vendor, urls[vendor], tmp_path, timeout=120)
    check_exact(first, truth)
    assert first.stat("christmas/browser_renders") == 1
    second = run_crawl(vendor, urls[vendor], tmp_path, timeout=120)
    check_exact(second, truth)
    assert second.stat("christmas/year_links/cache_hit") == 1
    assert second.stat("christmas/browser_renders") == 0


def _replica_requests(base_url: str) -> int:
    with urlopen(base_url + "/__replica__/stats", timeout=10) as response:
        stats = json.loads(response.read())
    return int(stats["total"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["years=1995,nineteen"], "'nineteen' is not a four-digit year"),
        (["years=2003-2001"], "runs backwards"),
        (["base_url=ftp://127.0.0.1:21"], "not an http(s) origin"),
        (["base_url=http://127.0.0.1:8080/shop"], "origin only"),
    ],
)
def test_bad_arguments_stop_at_once_with_zero_requests(
    small_replica: tuple[Catalogue, dict[str, str]],
    tmp_path: Path,
    arguments: list[str],
    message: str,
) -> None:
    _, urls = small_replica
    vendor = "hookedonhallmark"
    urlopen(urls[vendor] + "/__replica__/reset", timeout=10).close()
    base_url = None if arguments[0].startswith("base_url=") else urls[vendor]
    result = run_crawl(vendor, base_url, tmp_path, arguments=arguments, timeout=60)
    assert result.returncode != 0
    assert "bad spider argument" in result.log and message in result.log
    assert result.items == [] and result.stats == {}
    assert _replica_requests(urls[vendor]) == 0
    assert "Spider opened" not in result.log


FAULTS = "error=0.1,drop=0.08,slow=0.03,slow_seconds=1,permanent_error=2"


@pytest.mark.parametrize("vendor", VENDORS)
def test_faults_end_in_the_item_or_a_counted_failure(vendor: str, tmp_path: Path) -> None:
    catalogue = generate_catalogue(seed=4, products_per_shop=60)
    with serve_replicas(catalogue, faults=FAULTS) as urls:
        result = run_crawl(vendor, urls[vendor], tmp_path, timeout=CRAWL_TIMEOUT)
        check_exact(result, ground_truth(catalogue, vendor, urls[vendor], faults=FAULTS))
    # The two pages that always answer 500: counted and logged, nothing half-filled.
    assert result.prefixed("christmas/failed/") == {"product_page": 2}
    assert result.stat("retry/count") > 0
    assert result.log.count("product_page failed:") == 2
