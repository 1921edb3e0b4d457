"""Refresh crawls (``-a mode=refresh``) on the replicas, through real Chromium and Postgres.

A day-1 full crawl stores every shop; the replica moves to day 2; a refresh then walks
every listing again and reads exactly the product pages whose tile changed, or that are
not stored (counted by the replica, per path). What a tile cannot show (a stock flip on
ornament_shop, whose cards show no stock) is caught by a later stale read. Delisting
after a refresh needs every listing read completely.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from scrapy.http import HtmlResponse
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from christmas_spiders.crawl.record import record_listed
from christmas_spiders.db.refresh import StoredProduct
from christmas_spiders.db.writer import ProductWriter
from christmas_spiders.items import VENDORS
from christmas_spiders.parsing.availability import StockWording
from christmas_spiders.platforms.base import SpiderArgumentError, YearLink
from christmas_spiders.platforms.refresh import (
    BACK_IN_STOCK,
    NEW,
    NO_TILE_PRICE,
    READ_REASONS,
    STATS_PREFIX,
    UNCHANGED,
    UNKNOWN_AVAILABILITY,
    Decision,
    ListingTile,
    decide,
)
from christmas_spiders.spiders.hallmark_ornaments import HallmarkOrnamentsSpider
from christmas_spiders.spiders.hookedonhallmark import HookedOnHallmarkSpider
from christmas_spiders.spiders.ornament_shop import OrnamentShopSpider
from replicas.crawling import PROJECT_ROOT, CrawlResult, run_crawl
from replicas.faults import fault_for
from replicas.truth import changed_tiles
from tests.fixtures.replica import RunningReplica
from tests.fixtures.spiders import REPLICA_ORIGIN, make_spider
from tests.fixtures.storage import sample_items

CRAWL_TIMEOUT = 300.0
SEED = 3
PRODUCTS = 80
MALFORMED = 0.05
PRODUCT_COLUMNS = (
    "vendor, vendor_id, sku, name, price::text AS price, currency, brand, availability, "
    "release_year, link, was_price::text AS was_price, stock_text"
)


# ------------------------------------------------------------------ the decision


def _stored(
    price: str = "24.95",
    availability: str = "in_stock",
    listed_sold_out: bool | None = None,
    stock_text: str | None = None,
) -> StoredProduct:
    return StoredProduct(
        "http://x/p.html", Decimal(price), availability, listed_sold_out, stock_text
    )


def _unknown(listed_sold_out: bool | None = False, price: str = "24.95") -> StoredProduct:
    """A row stored unknown from a page that said ``Backordered``."""
    return _stored(price, "unknown", listed_sold_out, "Backordered")


def _tile(price: str | None = "24.95", sold_out: bool | None = None) -> ListingTile:
    return ListingTile("/p", None if price is None else Decimal(price), sold_out)


OUT = "out_of_stock"


@pytest.mark.parametrize(
    ("tile", "stored", "stale", "expected"),
    [
        (_tile(), None, False, (True, "new")),
        (_tile(), _stored(availability="delisted"), False, (True, "relisted")),
        # Stored unknown before its wording was kept: read, once.
        (_tile(), _stored(availability="unknown"), False, (True, "unknown_availability")),
        # Its wording is still unknown to the crawl: judged by the tile like any other.
        (_tile(), _unknown(), False, (False, "unchanged")),
        (_tile(), _unknown(listed_sold_out=None), False, (False, "unchanged")),
        (_tile("19.95"), _unknown(), False, (True, "price_changed")),
        (_tile(None), _unknown(), False, (True, "no_tile_price")),
        (_tile(), _unknown(), True, (True, "stale")),
        # The tile's stock, against the same tile at the previous listing read.
        (_tile(sold_out=True), _unknown(listed_sold_out=False), False, (True, "sold_out")),
        (_tile(sold_out=True), _unknown(listed_sold_out=None), False, (True, "sold_out")),
        (_tile(sold_out=True), _unknown(listed_sold_out=True), False, (False, "unchanged")),
        (_tile(sold_out=False), _unknown(listed_sold_out=True), False, (True, "back_in_stock")),
        (_tile(sold_out=False), _unknown(listed_sold_out=False), False, (False, "unchanged")),
        (_tile(None), _stored(), False, (True, "no_tile_price")),
        (_tile("19.95"), _stored(), False, (True, "price_changed")),
        (_tile(sold_out=True), _stored(), False, (True, "sold_out")),
        # Nothing remembered of the tile: compared with the row.
        (_tile(sold_out=False), _stored(availability=OUT), False, (True, "back_in_stock")),
        # The tile said sold out at the previous listing read and no longer does.
        (
            _tile(sold_out=False),
            _stored(availability=OUT, listed_sold_out=True),
            False,
            (True, "back_in_stock"),
        ),
        (_tile(sold_out=False), _stored(listed_sold_out=True), False, (True, "back_in_stock")),
        # Stored out of stock, its tile said no sold-out word before either (a backorder).
        (
            _tile(sold_out=False),
            _stored(availability=OUT, listed_sold_out=False),
            False,
            (False, "unchanged"),
        ),
        (
            _tile(sold_out=False),
            _stored(availability=OUT, listed_sold_out=False),
            True,
            (True, "stale"),
        ),
        (
            _tile(sold_out=True),
            _stored(availability=OUT, listed_sold_out=False),
            False,
            (False, "unchanged"),
        ),
        (_tile(sold_out=True), _stored(listed_sold_out=True), False, (True, "sold_out")),
        # Tiles that never show stock say nothing of a stored sell-out.
        (_tile(sold_out=None), _stored(availability=OUT), False, (False, "unchanged")),
        (_tile(sold_out=True), _stored(availability=OUT), False, (False, "unchanged")),
        (_tile("24.950"), _stored(), True, (True, "stale")),
        (_tile("24.950"), _stored(), False, (False, "unchanged")),
    ],
)
def test_decide_reads_a_page_only_when_tile_or_row_say_it_may_have_changed(
    tile: ListingTile, stored: StoredProduct | None, stale: bool, expected: tuple[bool, str]
) -> None:
    decision = decide(tile, stored, stale)
    assert (decision.read, decision.reason) == expected
    assert decision.reason in (*READ_REASONS, UNCHANGED)


def test_decide_reads_an_unknown_row_again_once_the_crawl_reads_its_wording() -> None:
    mapped = StockWording.configured({"out_of_stock": ["Backordered"]}).classify
    unchanged = _tile()
    assert decide(unchanged, _unknown(), classify=mapped) == Decision(True, UNKNOWN_AVAILABILITY)
    # Another unknown wording the mapping does not cover stays unread.
    other = _stored(availability="unknown", listed_sold_out=False, stock_text="Pre-order")
    assert decide(unchanged, other, classify=mapped) == Decision(False, UNCHANGED)
    # A row stored in or out of stock is not read for its wording, whatever it says.
    known = _stored(availability="out_of_stock", listed_sold_out=False, stock_text="Backordered")
    assert decide(unchanged, known, classify=mapped) == Decision(False, UNCHANGED)


# ------------------------------------------------------------------ tiles per shop

HOH_LISTING = """<html><body>
<div class="product-item"><div class="name"><a href="/a.html">A</a></div>
  <div class="price">$24.95</div></div>
<div class="product-item"><div class="name"><a href="/b.html">B</a></div>
  <div class="price"><s>$29.95</s> $24.95</div><div class="stock">Sold Out</div></div>
<div class="product-item"><div class="name"><a href="/c.html">C</a></div>
  <div class="price">Call for price</div></div>
<div class="product-item"><div class="name"><a href="/d.html">D</a></div></div>
</body></html>"""
BC_LISTING = """<html><body><ul class="productGrid">
<li class="product"><article class="card"><figure class="card-figure"><a href="/a/">x</a></figure>
<div class="card-body"><div class="card-text"><span class="price price--rrp">$39.95</span>
<span class="price price--withoutTax">$1,299.00</span></div></div></article></li>
<li class="product"><article class="card"><figure class="card-figure"><a href="/b/">x</a></figure>
<div class="card-body"><div class="card-text"></div></div></article></li>
</ul></body></html>"""
HO_LISTING = """<html><body><div id="productCategoryBlock">
<div class="product-item"><a class="quickview" href="/a_p_1.html">Q</a>
  <div class="product-price"><span class="price">$14.99</span></div></div>
<div class="product-item"><a class="quickview" href="/b_p_2.html">Q</a>
  <div class="product-price"><span class="price">$9.99</span></div>
  <div class="stock">Out of Stock</div></div>
<div class="product-item"><a class="quickview">Q</a>
  <div class="product-price"><span class="price">$9.99</span></div></div>
</div></body></html>"""


@pytest.mark.parametrize(
    ("spider_class", "body", "expected"),
    [
        (
            HookedOnHallmarkSpider,
            HOH_LISTING,
            [
                ListingTile("/a.html", Decimal("24.95"), False),
                ListingTile("/b.html", Decimal("24.95"), True),  # the unstruck amount
                ListingTile("/c.html", None, False),
                ListingTile("/d.html", None, False),
            ],
        ),
        (
            OrnamentShopSpider,
            BC_LISTING,
            # The retail price is not the price; the cards show no stock at all.
            [ListingTile("/a/", Decimal("1299.00"), None), ListingTile("/b/", None, None)],
        ),
        (
            HallmarkOrnamentsSpider,
            HO_LISTING,
            # A tile JavaScript gave no link is no product of the listing.
            [
                ListingTile("/a_p_1.html", Decimal("14.99"), False),
                ListingTile("/b_p_2.html", Decimal("9.99"), True),
            ],
        ),
    ],
)
def test_each_shop_reads_price_and_stock_off_its_listing_tiles(
    spider_class: type, body: str, expected: list[ListingTile]
) -> None:
    spider = make_spider(spider_class)
    response = HtmlResponse(url=f"{REPLICA_ORIGIN}/1995/", body=body.encode(), encoding="utf-8")
    assert spider.listing_tiles(response) == expected
    # A full crawl needs the links and the stock (remembered for the next refresh).
    assert spider.listing_tiles(response, with_price=False) == [
        ListingTile(tile.href, None, tile.sold_out) for tile in expected
    ]
    assert spider.listing_tiles(response, with_price=False, with_stock=False) == [
        ListingTile(tile.href) for tile in expected
    ]


def test_a_refresh_listing_page_requests_only_what_decide_picks() -> None:
    spider = make_spider(HookedOnHallmarkSpider, mode="refresh")
    assert (spider.refresh, spider.full_crawl, spider.lists_every_year) == (True, False, True)
    (request,) = spider.follow_year_links(
        [YearLink(1995, f"{REPLICA_ORIGIN}/1995-hallmark-ornaments.html")]
    )
    assert request.callback == spider.parse_refresh_listing
    body = HOH_LISTING.replace('href="/d.html"', 'href="/a.html?ref=2#top"')  # /a twice
    stored = {f"{REPLICA_ORIGIN}/{name}.html": _stored() for name in ("a", "b", "c")}
    response = HtmlResponse(request.url, body=body.encode(), encoding="utf-8", request=request)
    requests = list(spider.parse_listing(response, 1995, stored))
    # a: unchanged (listed twice, decided once); b: sold out; c: no readable price.
    assert [r.url for r in requests] == [f"{REPLICA_ORIGIN}/b.html", f"{REPLICA_ORIGIN}/c.html"]
    counted = {
        k.removeprefix(STATS_PREFIX): v
        for k, v in spider.crawler.stats.get_stats().items()
        if k.startswith(STATS_PREFIX)
    }
    assert counted == {"unchanged": 1, "sold_out": 1, NO_TILE_PRICE: 1}
    assert spider.listed_links == set(stored)
    # What each tile said about stock, for the next refresh to compare with.
    assert spider.listed_stock == {
        f"{REPLICA_ORIGIN}/a.html": False,
        f"{REPLICA_ORIGIN}/b.html": True,
        f"{REPLICA_ORIGIN}/c.html": False,
    }


def test_a_refresh_judges_an_unknown_row_with_the_crawls_own_stock_wording() -> None:
    stored = {
        f"{REPLICA_ORIGIN}/{name}.html": _unknown(listed_sold_out=False) for name in ("a", "b")
    }
    body = HOH_LISTING.replace("<s>$29.95</s> $24.95", "$24.95").replace(
        '<div class="stock">Sold Out</div>', ""
    )

    def reads(**settings: object) -> list[str]:
        spider = make_spider(HookedOnHallmarkSpider, mode="refresh", settings=settings)
        (request,) = spider.follow_year_links(
            [YearLink(1995, f"{REPLICA_ORIGIN}/1995-hallmark-ornaments.html")]
        )
        response = HtmlResponse(request.url, body=body.encode(), encoding="utf-8", request=request)
        return [r.url for r in spider.parse_listing(response, 1995, stored)]

    # c and d: not stored. a and b: unchanged tiles, their wording unknown to the crawl.
    assert reads() == [f"{REPLICA_ORIGIN}/c.html", f"{REPLICA_ORIGIN}/d.html"]
    # The wording mapped in the configuration: both read again.
    mapping = {"hookedonhallmark": {"out_of_stock": ["Backordered"]}}
    assert reads(CHRISTMAS_STOCK_WORDING=mapping) == [
        f"{REPLICA_ORIGIN}/{name}.html" for name in ("a", "b", "c", "d")
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mode": "quick"}, "mode='quick' is not one of full, refresh"),
        ({"mode": "refresh", "stale_hours": "24"}, "does not go with product_url= or stale_hours="),
        (
            {"mode": "refresh", "product_url": f"{REPLICA_ORIGIN}/a.html", "release_year": "1995"},
            "does not go with",
        ),
    ],
)
def test_mode_argument_is_checked(arguments: dict[str, str], message: str) -> None:
    with pytest.raises(SpiderArgumentError, match=message):
        make_spider(OrnamentShopSpider, **arguments)


# ------------------------------------------------------------------ what is remembered


def test_a_tile_that_stopped_saying_sold_out_is_remembered_only_once_its_page_is_stored(
    storage_engine: Engine,
) -> None:
    vendor = "hookedonhallmark"
    items = sample_items(7, vendor=vendor)
    ProductWriter(storage_engine, "seed").write(items)
    link = [str(item["link"]) for item in items]
    # (remembered tile stock, stored availability) before the listing read.
    before = [
        (True, "in_stock"),  # 0: said sold out, page not stored since: kept
        (True, "out_of_stock"),  # 1: the same, stored out of stock: kept
        (True, "out_of_stock"),  # 2: said sold out, page stored in the session
        (None, "out_of_stock"),  # 3: nothing remembered, read by the row's rule: kept
        (None, "in_stock"),  # 4: nothing remembered, not read for its stock
        (False, "out_of_stock"),  # 5: never said sold out (a backorder)
        (False, "in_stock"),  # 6: now says sold out
    ]
    with storage_engine.begin() as conn:
        for n, (listed, availability) in enumerate(before):
            conn.execute(
                text(
                    "UPDATE products SET listed_sold_out = :listed, availability = :a, "
                    "last_synced_at = now() - interval '1 hour' WHERE link = :link"
                ),
                {"listed": listed, "a": availability, "link": link[n]},
            )
    with Session(storage_engine) as session, session.begin():
        started = session.scalar(select(func.now() - text("interval '1 minute'")))
        assert started is not None
        session.execute(
            text("UPDATE products SET last_synced_at = now() WHERE link = :link"),
            {"link": link[2]},
        )
        tiles = dict.fromkeys(link, False) | {link[6]: True}
        assert record_listed(session, vendor, link, tiles, started) == len(link)
    with storage_engine.connect() as conn:
        remembered = {
            str(row.link): row.listed_sold_out
            for row in conn.execute(
                text("SELECT link, listed_sold_out FROM products WHERE vendor = :v"),
                {"v": vendor},
            )
        }
    assert [remembered[x] for x in link] == [True, True, False, None, False, False, True]


# ------------------------------------------------------------------ on the replicas


@dataclass
class Shop:
    replica: RunningReplica
    vendor: str
    engine: Engine
    database_url: str
    tmp: Path

    @property
    def url(self) -> str:
        return self.replica.urls[self.vendor]

    def crawl(
        self,
        label: str,
        *arguments: str,
        settings: tuple[str, ...] = (),
        config_path: Path | None = None,
    ) -> CrawlResult:
        result = run_crawl(
            self.vendor,
            self.url,
            self.tmp / label,
            [f"crawl_id={label}", *arguments],
            [f"CHRISTMAS_DATABASE_URL={self.database_url}", *settings],
            store=True,
            timeout=CRAWL_TIMEOUT,
            config_path=config_path,
        )
        assert result.returncode == 0, result.log[-4000:]
        return result

    def product_paths_requested(self) -> list[str]:
        """Product pages the replica served since its last reset, one entry per request."""
        paths = self.replica.stats(self.vendor)["paths"]
        shop = self.replica.catalogue.shops[self.vendor]
        assert isinstance(paths, dict)
        return sorted(p for p, n in paths.items() for _ in range(n) if p in shop.by_path)

    def stored(self) -> dict[str, dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE vendor = :v"),
                {"v": self.vendor},
            ).mappings()
            return {row["link"]: dict(row) for row in rows}

    def truth(self, day: int) -> dict[str, dict[str, object]]:
        return {str(t["link"]): t for t in self.replica.truth(self.vendor, day)}


@pytest.fixture
def shop_on_day_two(
    replica_sites: Callable[..., RunningReplica],
    storage_engine: Engine,
    migrated_database_url: str,
    tmp_path: Path,
) -> Callable[..., tuple[Shop, CrawlResult, CrawlResult]]:
    """A vendor's day-1 full crawl stored, the replica moved to day 2: (shop, full, refresh)."""

    def run(vendor: str, seed: int = SEED) -> tuple[Shop, CrawlResult, CrawlResult]:
        replica = replica_sites(seed=seed, products_per_shop=PRODUCTS, malformed_ratio=MALFORMED)
        shop = Shop(replica, vendor, storage_engine, migrated_database_url, tmp_path)
        full = shop.crawl("day1")
        assert shop.stored() == shop.truth(1)
        full_requests = replica.requests(vendor)
        replica.set_day(2)
        replica.reset(vendor)
        refresh = shop.crawl("day2", "mode=refresh")
        refresh.stats["replica_requests"] = replica.requests(vendor)
        full.stats["replica_requests"] = full_requests
        return shop, full, refresh

    return run


def _path(link: str) -> str:
    return urlsplit(link).path


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_refresh_reads_exactly_the_changed_tiles_and_the_new_products(
    shop_on_day_two: Callable[..., tuple[Shop, CrawlResult, CrawlResult]], vendor: str
) -> None:
    shop, full, refresh = shop_on_day_two(vendor)
    catalogue = shop.replica.catalogue
    day1, day2 = shop.truth(1), shop.truth(2)
    listed = set(shop.replica.tiles(vendor, 2))
    changed = changed_tiles(catalogue, vendor, shop.url, 1, 2)
    not_stored = listed - set(day1)  # the malformed pages: no item on day 1
    expected = changed | not_stored
    assert any(day1[link]["price"] != day2[link]["price"] for link in changed & set(day1))
    assert not_stored, "no product the refresh must read as new: the test would prove less"
    # Stock wording no rule knows, stored as unknown with the wording: a page whose tile
    # did not change would say the same again, so it is not read.
    unknown = {link for link, item in day1.items() if item["availability"] == "unknown"}
    if vendor == "hookedonhallmark":
        assert unknown - changed, "no unknown row with an unchanged tile: the test would prove less"
        assert all(day1[link]["stock_text"] for link in unknown)

    # Exactly those product pages, each once; every listing page, as the full crawl read.
    assert shop.product_paths_requested() == sorted(_path(link) for link in expected)
    requests = refresh.stats["replica_requests"]
    assert requests["product"] == len(expected)
    assert requests["listing"] == full.stats["replica_requests"]["listing"]
    assert refresh.stat("christmas/years/done") == len(catalogue.shops[vendor].years)
    reasons = refresh.prefixed(STATS_PREFIX)
    assert sum(n for reason, n in reasons.items() if reason != UNCHANGED) == len(expected)
    assert reasons[UNCHANGED] == len(listed) - len(expected)
    assert reasons[NEW] == len(not_stored)
    assert UNKNOWN_AVAILABILITY not in reasons

    # The database now holds day 2 for every product whose tile showed the change, and
    # day 1 (stored, untouched) for the others.
    stored = shop.stored()
    assert {link: stored[link] for link in set(day2) & expected} == {
        link: day2[link] for link in set(day2) & expected
    }
    assert {link: stored[link] for link in set(day2) - expected} == {
        link: day1[link] for link in set(day2) - expected
    }
    hidden = {link for link in day2 if stored[link] != day2[link]}
    if vendor == "ornament_shop":
        # Its cards show no stock: a flip there is not on the tile.
        assert hidden and all(
            day2[link]["availability"] != day1[link]["availability"]
            and day2[link]["price"] == day1[link]["price"]
            for link in hidden
        )
    else:
        assert hidden == set()
    # A refresh is no full crawl: its run proves presence, but its item count is its own.
    assert refresh.stat("christmas/monitors_passed") is True
    assert len(refresh.items) == len(set(day2) & expected)


@pytest.mark.browser
@pytest.mark.slow
def test_a_phrase_mapped_after_a_crawl_takes_effect_at_the_next_refresh(
    replica_sites: Callable[..., RunningReplica],
    storage_engine: Engine,
    migrated_database_url: str,
    tmp_path: Path,
) -> None:
    vendor = "hookedonhallmark"
    replica = replica_sites(seed=SEED, products_per_shop=PRODUCTS, malformed_ratio=MALFORMED)
    shop = Shop(replica, vendor, storage_engine, migrated_database_url, tmp_path)
    full = shop.crawl("day1")
    truth = shop.truth(1)
    assert shop.stored() == truth
    by_path = replica.catalogue.shops[vendor].by_path
    unknown = {link for link, item in truth.items() if item["availability"] == "unknown"}
    phrases = {by_path[_path(link)].stock_phrase for link in unknown}
    assert unknown and None not in phrases, "no page with a phrase no rule knows"
    # The crawl's log names each wording; the operator maps it in the configuration.
    for phrase in phrases:
        assert f"stock wording {phrase!r} is not one {vendor} knows" in full.log
    config = tmp_path / "mapped.json"
    config.write_text(
        json.dumps(
            {
                "extends": str(PROJECT_ROOT / "config" / "replica.json"),
                "crawl": {
                    "stock_wording": {vendor: {"out_of_stock": ["Backordered", "Pre-order"]}}
                },
            }
        )
    )

    # On the same day no tile moved: a refresh reads only the pages read every time (no
    # readable tile price, not stored), none of the rows stored unknown for their stock.
    tiles = replica.tiles(vendor)
    every_time = {link for link, tile in tiles.items() if tile.price is None} | (
        set(tiles) - set(truth)
    )
    readable = unknown - every_time
    assert readable, "every such tile without a price: the test would prove less"
    replica.reset(vendor)
    unmapped = shop.crawl("unmapped", "mode=refresh")
    assert UNKNOWN_AVAILABILITY not in unmapped.prefixed(STATS_PREFIX)
    assert shop.product_paths_requested() == sorted(_path(link) for link in every_time)
    assert shop.stored() == truth

    # The next refresh given the mapping reads exactly those rows besides, and stores
    # what the mapped phrase says.
    replica.reset(vendor)
    mapped = shop.crawl("mapped", "mode=refresh", config_path=config)
    assert mapped.prefixed(STATS_PREFIX)[UNKNOWN_AVAILABILITY] == len(unknown)
    assert shop.product_paths_requested() == sorted(_path(link) for link in unknown | every_time)
    assert mapped.stat("christmas/availability/unknown") == 0
    stored = shop.stored()
    assert {link: stored[link]["availability"] for link in unknown} == dict.fromkeys(
        unknown, "out_of_stock"
    )
    assert {link: row for link, row in stored.items() if link not in unknown} == {
        link: item for link, item in truth.items() if link not in unknown
    }

    # Stored out of stock now, their tiles show no sold-out word, and did not at the
    # listing read before either: nothing changed, so the next refresh does not read
    # those with a readable tile price (nor any other product as back_in_stock).
    assert all(tiles[link].stock is None for link in unknown)
    assert _listed_sold_out(shop, unknown) == dict.fromkeys(unknown, False)
    replica.reset(vendor)
    again = shop.crawl("again", "mode=refresh", config_path=config)
    reasons = again.prefixed(STATS_PREFIX)
    assert UNKNOWN_AVAILABILITY not in reasons
    assert BACK_IN_STOCK not in reasons
    requested = set(shop.product_paths_requested())
    assert requested & {_path(link) for link in readable} == set()
    assert {_path(link) for link in unknown - readable} <= requested  # no tile price
    assert shop.stored() == stored


def _listed_sold_out(shop: Shop, links: set[str]) -> dict[str, bool | None]:
    with shop.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT link, listed_sold_out FROM products "
                "WHERE vendor = :v AND link = ANY(:links)"
            ),
            {"v": shop.vendor, "links": sorted(links)},
        ).all()
    return {str(link): listed for link, listed in rows}


@pytest.mark.browser
@pytest.mark.slow
def test_a_tile_that_stops_saying_sold_out_is_read_and_stored_in_stock(
    shop_on_day_two: Callable[..., tuple[Shop, CrawlResult, CrawlResult]],
) -> None:
    # A catalogue with three such products among its 80 (SEED's has none).
    shop, _, refresh = shop_on_day_two("hookedonhallmark", seed=59)
    day1, day2 = shop.truth(1), shop.truth(2)
    before, after = shop.replica.tiles(shop.vendor, 1), shop.replica.tiles(shop.vendor, 2)
    # Sold out on day 1's tile and page; on day 2 the tile shows no stock word, the same
    # price, and the page says in stock.
    back = {
        link
        for link in set(day1) & set(day2)
        if before[link].stock is not None
        and after[link].stock is None
        and after[link].price == before[link].price == day1[link]["price"]
        and day1[link]["availability"] == "out_of_stock"
        and day2[link]["availability"] == "in_stock"
    }
    assert back, "no product back in stock on day 2: the test would prove less"
    assert {_path(link) for link in back} <= set(shop.product_paths_requested())
    assert refresh.prefixed(STATS_PREFIX)[BACK_IN_STOCK] >= len(back)
    stored = shop.stored()
    assert {link: stored[link] for link in back} == {link: day2[link] for link in back}
    # What the day-2 tiles said is remembered for the next refresh, for every listed
    # product: those tiles say no sold-out word now; day 2's sold-out tiles say one.
    remembered = _listed_sold_out(shop, set(day2))
    assert {link: remembered[link] for link in back} == dict.fromkeys(back, False)
    sold_out_now = {link for link in day2 if after[link].stock is not None}
    assert sold_out_now
    assert {link for link, listed in remembered.items() if listed} == sold_out_now


def _age(engine: Engine, vendor: str, links: set[str], hours: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET last_synced_at = now() - make_interval(secs => :s) "
                "WHERE vendor = :v AND link = ANY(:links)"
            ),
            {"s": hours * 3600, "v": vendor, "links": sorted(links)},
        )


@pytest.mark.browser
@pytest.mark.slow
def test_a_change_no_tile_shows_is_caught_by_a_later_stale_read(
    shop_on_day_two: Callable[..., tuple[Shop, CrawlResult, CrawlResult]],
) -> None:
    shop, _, _ = shop_on_day_two("ornament_shop")
    day2 = shop.truth(2)
    stored = shop.stored()
    hidden = {link for link in day2 if stored[link] != day2[link]}
    assert hidden
    # Older than crawl.max_product_age_hours (168): the hidden flips oldest, then others.
    tiles = shop.replica.tiles("ornament_shop", 2)
    read_every_time = {link for link, tile in tiles.items() if tile.price is None} | (
        set(tiles) - set(day2)
    )
    younger = set(sorted(set(day2) - hidden - read_every_time)[:5])
    _age(shop.engine, "ornament_shop", hidden, hours=300)
    _age(shop.engine, "ornament_shop", younger, hours=200)
    shop.replica.reset("ornament_shop")
    later = shop.crawl(
        "day2-later", "mode=refresh", settings=(f"CHRISTMAS_MAX_STALE_READS={len(hidden)}",)
    )
    # Only the oldest stale rows, at most the cap, besides the pages read every time
    # (no readable tile price, not stored).
    reasons = later.prefixed(STATS_PREFIX)
    assert reasons["stale"] == len(hidden)
    assert shop.product_paths_requested() == sorted(
        _path(link) for link in hidden | read_every_time
    )
    assert shop.stored() == day2


def _failing_year(replica: RunningReplica, vendor: str) -> int:
    """A year whose first listing page the replica answers with an error (BigCommerce
    year pages: ``<path>?page=N``)."""
    seed = replica.catalogue.seed
    for page in replica.catalogue.shops[vendor].years:
        if fault_for(replica.faults, seed, vendor, f"{page.path}?page=1") == "error":
            return page.year
    raise AssertionError("no failing year page: the test would prove less")


@pytest.mark.browser
@pytest.mark.slow
def test_only_a_refresh_that_read_every_listing_completely_delists(
    replica_sites: Callable[..., RunningReplica],
    storage_engine: Engine,
    migrated_database_url: str,
    tmp_path: Path,
) -> None:
    # Listing and product pages answer 503 for their first two requests.
    replica = replica_sites(
        seed=SEED, products_per_shop=PRODUCTS, faults="error=0.15,error_times=2"
    )
    vendor = "ornament_shop"
    shop = Shop(replica, vendor, storage_engine, migrated_database_url, tmp_path)
    shop.crawl("day1", settings=("RETRY_TIMES=3",))
    assert shop.stored() == shop.truth(1)
    # Stored under a year whose first listing page fails without retries: that year's
    # listing is incomplete, so none of its products is delisted.
    gone = dict(
        next(iter(shop.truth(1).values())),
        vendor_id="gone-1",
        sku="QX0001",
        release_year=_failing_year(replica, vendor),
    )
    gone["link"] = shop.url + "/no-longer-listed.html"
    ProductWriter(storage_engine, "seed").write([gone])

    # Failed listing pages, errors allowed: the monitors pass, the listing is incomplete.
    replica.reset(vendor)
    incomplete = shop.crawl(
        "incomplete", "mode=refresh", settings=("RETRY_TIMES=0", "SPIDERMON_MAX_ERRORS=1000")
    )
    assert incomplete.prefixed("christmas/years/incomplete/")["listing_page_failed"] > 0
    assert incomplete.stat("christmas/monitors_passed") is True
    assert incomplete.stats.get("christmas/delisted", 0) == 0
    assert {link: row["availability"] for link, row in shop.stored().items()} == {
        **{link: row["availability"] for link, row in shop.truth(1).items()},
        gone["link"]: gone["availability"],
    }

    # The same refresh with every listing read: the unlisted product alone is delisted,
    # though most products' pages were not read (their tiles had not changed).
    replica.reset(vendor)
    complete = shop.crawl(
        "complete", "mode=refresh", settings=("RETRY_TIMES=3", "SPIDERMON_MAX_ERRORS=1000")
    )
    assert complete.prefixed("christmas/years/incomplete/") == {}
    assert complete.stat("christmas/delisted") == 1
    assert complete.prefixed(STATS_PREFIX)[UNCHANGED] > 0
    stored = shop.stored()
    assert stored.pop(str(gone["link"]))["availability"] == "delisted"
    assert stored == shop.truth(1)
    with storage_engine.connect() as conn:
        unlisted = conn.execute(
            text(
                "SELECT count(*) FROM products WHERE vendor = :v AND link <> :gone "
                "AND last_listed_at < now() - interval '1 minute'"
            ),
            {"v": vendor, "gone": gone["link"]},
        ).scalar()
    assert unlisted == 0
