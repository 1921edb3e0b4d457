"""Refresh benchmark: what a refresh crawl costs against a full crawl.

    python -m bench refresh          # or: --products 20000 --check-products 300

Per shop, on a replica of ``--products`` products (a separate server process) and a
database of its own: a day-1 full crawl, the replica moved to day 2 (its ~4% daily
price moves, ~2% stock flips), then ``-a mode=refresh``. Reported per shop:

* requests of each crawl, counted by the replica per group (listing, product, other),
  the refresh's as a share of the full crawl's, and the full crawl's per product;
* the day-2 changes found: price changes whose tile shows a price, all price changes,
  and every change (stock flips on tiles without stock wait for a stale read);
* the wall-clock time each crawl takes at the polite default rate, modelled as
  requests times the configured ``crawl.download_delay``.

hookedonhallmark is measured twice: with its pages' stock phrases no rule knows left
unmapped (as served: the first week of a new shop, every such product stored
``unknown`` with its wording, and read again by a refresh only where its tile changed),
then with those phrases mapped in the crawl's configuration (a ``CONFIG_PATH`` file
setting ``crawl.stock_wording``, both crawls), as an operator maps them after reading
the first crawl's log: the steady state. The bench checks that the mapping covers every
wording the unmapped crawl logged, and compares the mapped crawl with the truth read
with the same mapping (:func:`truth_read_with`). Mapped to ``out_of_stock``
(:data:`MAPPED_WORDING` says why), those products' tiles show no sold-out word on either
day, so the ``back_in_stock`` rule (a tile that stopped saying sold out since the
previous listing read) leaves them unread. In both runs the bench counts the reads of
those pages whose tile price was readable and unchanged (read for their stock alone)
and prints what the share would be without them.

Then, as a check of that model, both crawls of one shop (``--check-vendor``) on a
``--check-products`` catalogue at the polite default settings (delay, AutoThrottle,
robots.txt, concurrency per shop), timed. Goals: a refresh at most 10% of a full
crawl's requests, 100% of the tile-visible price changes found, a full crawl at most
1.05 requests per product. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.bench_upsert import admin_url
from christmas_spiders.config import PROJECT_ROOT, get_model
from christmas_spiders.db.engine import make_engine, upgrade
from christmas_spiders.items import VENDORS
from christmas_spiders.parsing.availability import UNKNOWN, StockWording
from christmas_spiders.platforms.refresh import STATS_PREFIX
from replicas.catalogue import Catalogue, generate_catalogue
from replicas.crawling import CrawlResult, run_crawl
from replicas.server import control, serve_replicas, set_day
from replicas.truth import ground_truth, listing_tiles, origin_of

GOAL_REFRESH_SHARE = 0.10
GOAL_TILE_PRICE_FOUND = 1.0
GOAL_FULL_PER_PRODUCT = 1.05

# The replica's hookedonhallmark phrases no rule knows (replicas/catalogue.py,
# UNKNOWN_STOCK_PHRASES), mapped as an operator maps them after reading the crawl's
# WARNING lines. "Backordered - Ships in 2-3 Weeks" and "Pre-Order Now" both say the
# ornament cannot be had now: it ships weeks later, or once it is released. A product's
# availability says whether it can be bought for delivery now (the API counts in_stock
# offers as buyable today), so out_of_stock is the honest reading; in_stock would show
# a backorder as an offer in hand. The two leading phrases cover all four texts.
MAPPED_WORDING: dict[str, dict[str, list[str]]] = {
    "hookedonhallmark": {"out_of_stock": ["Backordered", "Pre-order"]},
}
AS_SERVED, MAPPED = "as served", "mapped"
# The spider's WARNING for a wording it does not know (BaseSpider.unknown_stock).
_UNKNOWN_WORDING = re.compile(r"stock wording (['\"])(?P<text>.*?)\1 is not one \w+ knows")


@dataclass
class Run:
    label: str
    requests: dict[str, int]
    seconds: float
    #: christmas/refresh/<reason> counts (a refresh's), christmas/availability/unknown.
    reasons: dict[str, int]
    unknown_items: int
    #: The stock wordings the crawl's log reported as unknown.
    unknown_wordings: list[str]
    #: Requests per path, as the replica counted them.
    paths: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@dataclass
class ShopResult:
    vendor: str
    wording: str  # AS_SERVED or MAPPED
    products: int
    full: Run
    refresh: Run
    tile_price_changes: int
    tile_price_found: int
    price_changes: int
    price_found: int
    changes: int
    changes_found: int
    #: Pages with a stock phrase no built-in rule knows: how many, how many stored as
    #: the truth read with the crawl's wording says.
    phrase_pages: int
    phrase_pages_right: int
    #: Of those, the pages the refresh requested, and how many of them had a readable
    #: tile price equal to the stored one (so no price reason read them).
    phrase_reads: int
    phrase_reads_price_unchanged: int

    @property
    def share(self) -> float:
        return self.refresh.total / self.full.total

    @property
    def full_per_product(self) -> float:
        return self.full.total / self.products


def polite_settings() -> list[str]:
    """The default configuration's politeness, as -s overrides of the replica profile."""
    crawl = get_model().crawl
    return [
        f"DOWNLOAD_DELAY={crawl.download_delay}",
        f"AUTOTHROTTLE_ENABLED={crawl.autothrottle}",
        f"AUTOTHROTTLE_START_DELAY={max(crawl.download_delay, 1.0)}",
        f"ROBOTSTXT_OBEY={crawl.obey_robots_txt}",
        f"CONCURRENT_REQUESTS={crawl.concurrent_requests}",
        f"CONCURRENT_REQUESTS_PER_DOMAIN={crawl.concurrent_requests_per_domain}",
    ]


def mapped_config(out: Path) -> Path:
    """The replica profile plus :data:`MAPPED_WORDING`, as a file for ``CONFIG_PATH``:
    how a deployment carries the mapping (no code path of the bench's own)."""
    path = out / "mapped-wording.json"
    path.write_text(
        json.dumps(
            {
                "extends": str(PROJECT_ROOT / "config" / "replica.json"),
                "crawl": {"stock_wording": MAPPED_WORDING},
            }
        )
    )
    return path


def _crawl(
    vendor: str,
    base_url: str,
    out: Path,
    label: str,
    arguments: list[str],
    settings: list[str],
    config_path: Path | None,
) -> Run:
    control(base_url, "reset")
    result: CrawlResult = run_crawl(
        vendor,
        base_url,
        out / label,
        [f"crawl_id={vendor}-{label}", *arguments],
        settings,
        store=True,
        timeout=7200,
        config_path=config_path,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{vendor} {label} crawl failed:\n{result.log[-3000:]}")
    requests = control(base_url, "stats")["requests"]
    assert isinstance(requests, dict)
    return Run(
        label,
        {k: int(v) for k, v in requests.items()},
        result.seconds,
        result.prefixed(STATS_PREFIX),
        int(result.stat("christmas/availability/unknown")),
        sorted({m["text"] for m in _UNKNOWN_WORDING.finditer(result.log)}),
        {str(k): int(v) for k, v in control(base_url, "stats")["paths"].items()},
    )


def truth_read_with(
    catalogue: Catalogue,
    vendor: str,
    base_url: str,
    day: int,
    wording: dict[str, dict[str, list[str]]] | None,
) -> dict[str, dict[str, object]]:
    """The day's truth by link, the pages' stock text read with the crawl's ``wording``.

    The replica's truth says ``unknown`` for a phrase no built-in rule knows; a crawl
    given a mapping for it stores the mapped availability, on both days (the phrase
    stays). So the truth of those pages is taken as the spider's configured wording
    reads the text the page shows: a mapped page found right is no miss, and the same
    phrase on both days is no change."""
    truth = {str(t["link"]): t for t in ground_truth(catalogue, vendor, base_url, day)}
    if not wording or vendor not in wording:
        return truth
    read = StockWording.configured(wording[vendor])
    shop = catalogue.shops[vendor]
    origin = origin_of(base_url)
    for link, item in truth.items():
        if item["availability"] == UNKNOWN:
            listing = shop.by_path[link.removeprefix(origin)]
            item["availability"] = read.classify(catalogue.state(listing, day).stock_text)
    return truth


def measure_shop(
    vendor: str,
    products: int,
    seed: int,
    pg_admin: str,
    out: Path,
    settings: list[str],
    wording: dict[str, dict[str, list[str]]] | None = None,
) -> ShopResult:
    """Day-1 full crawl, day-2 refresh; ``wording``: both crawls read the configuration
    :func:`mapped_config` writes (it must be :data:`MAPPED_WORDING`)."""
    from tests.fixtures.postgres import create_database, drop_database

    label = MAPPED if wording else AS_SERVED
    config_path = None
    if wording:
        assert wording == MAPPED_WORDING, "the crawl's configuration holds MAPPED_WORDING"
        config_path = mapped_config(out)
    run_out = out / vendor / label.replace(" ", "-")
    catalogue = generate_catalogue(seed=seed, products_per_shop=products)
    url = create_database(pg_admin, prefix="cs_bench")
    engine = make_engine(url)
    try:
        upgrade(url)
        database = [f"CHRISTMAS_DATABASE_URL={url}", *settings]
        with serve_replicas(catalogue, in_process=False) as urls:
            base = urls[vendor]
            full = _crawl(vendor, base, run_out, "full", [], database, config_path)
            set_day(urls, 2)
            refresh = _crawl(
                vendor, base, run_out, "refresh", ["mode=refresh"], database, config_path
            )
        day1 = truth_read_with(catalogue, vendor, base, 1, wording)
        day2 = truth_read_with(catalogue, vendor, base, 2, wording)
        tiles = listing_tiles(catalogue, vendor, base, 2)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT link, price::text, availability FROM products WHERE vendor = :v"),
                {"v": vendor},
            ).all()
        stored = {link: (price, availability) for link, price, availability in rows}
        origin = origin_of(base)
    finally:
        engine.dispose()
        drop_database(pg_admin, url)

    def found(links: set[str]) -> int:
        return sum(
            1
            for link in links
            if stored.get(link) == (day2[link]["price"], day2[link]["availability"])
        )

    phrases = {
        origin + listing.path
        for listing in catalogue.shops[vendor].listings.values()
        if listing.stock_phrase is not None and origin + listing.path in day2
    }
    phrase_reads = {link for link in phrases if link.removeprefix(origin) in refresh.paths}
    moved = {link for link in day2 if day2[link]["price"] != day1[link]["price"]}
    shown = {link for link in moved if tiles[link].price is not None}
    changed = {
        link
        for link in day2
        if (day2[link]["price"], day2[link]["availability"])
        != (day1[link]["price"], day1[link]["availability"])
    }
    return ShopResult(
        vendor,
        label,
        len(day1),
        full,
        refresh,
        len(shown),
        found(shown),
        len(moved),
        found(moved),
        len(changed),
        found(changed),
        len(phrases),
        found(phrases),
        len(phrase_reads),
        sum(1 for link in phrase_reads if tiles[link].price == day1[link]["price"]),
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def missed_goals(r: ShopResult) -> list[str]:
    missed = []
    if r.share > GOAL_REFRESH_SHARE:
        missed.append(f"refresh {r.share:.1%} > {GOAL_REFRESH_SHARE:.0%} of the full crawl")
    if r.tile_price_found < GOAL_TILE_PRICE_FOUND * r.tile_price_changes:
        missed.append(
            f"tile-visible price changes found {r.tile_price_found}/{r.tile_price_changes}"
        )
    if r.full_per_product > GOAL_FULL_PER_PRODUCT:
        missed.append(f"full crawl {r.full_per_product:.3f} > {GOAL_FULL_PER_PRODUCT} req/product")
    return missed


def check_mapping_covers(vendor: str, served: ShopResult) -> None:
    """The mapping is the one the unmapped crawl's log asks for: every wording it
    reported as unknown reads as in or out of stock with :data:`MAPPED_WORDING`."""
    logged = sorted({*served.full.unknown_wordings, *served.refresh.unknown_wordings})
    read = StockWording.configured(MAPPED_WORDING[vendor])
    left = [text for text in logged if read.classify(text) == UNKNOWN]
    if not logged or left:
        raise RuntimeError(
            f"{vendor}: the unmapped crawl logged the unknown wordings {logged}; "
            f"MAPPED_WORDING leaves {left} unknown"
        )
    print(
        f"{vendor}: unknown wording the unmapped crawl logged: {logged}; mapped as "
        + ", ".join(f"{text!r} -> {read.classify(text)}" for text in logged),
        flush=True,
    )


def report(results: list[ShopResult], delay: float) -> bool:
    print(
        f"\n{'shop':<20}{'stock wording':<15}{'products':>9}{'full req':>10}"
        f"{'refresh req':>13}{'share':>8}{'goal':>7}{'req/product':>13}"
        f"{'tile price found':>18}{'all price found':>17}{'all changes':>13}"
        f"{'full @polite':>14}{'refresh @polite':>17}"
    )
    for r in results:
        print(
            f"{r.vendor:<20}{r.wording:<15}{r.products:>9}{r.full.total:>10}{r.refresh.total:>13}"
            f"{r.share:>8.1%}{f'{GOAL_REFRESH_SHARE:.0%}':>7}{r.full_per_product:>13.3f}"
            f"{f'{r.tile_price_found}/{r.tile_price_changes}':>18}"
            f"{f'{r.price_found}/{r.price_changes}':>17}"
            f"{f'{r.changes_found}/{r.changes}':>13}"
            f"{_hours(r.full.total * delay):>14}{_hours(r.refresh.total * delay):>17}"
        )
    for r in results:
        print(f"\n{r.vendor} ({r.wording}): full {r.full.requests}; refresh {r.refresh.requests}")
        reasons = {k: v for k, v in sorted(r.refresh.reasons.items()) if k != "unchanged"}
        print(f"  refresh read product pages for: {reasons}")
        if r.phrase_pages:
            unchanged = r.phrase_reads_price_unchanged
            print(
                f"  pages with a stock phrase no built-in rule knows: {r.phrase_pages}, stored "
                f"as the truth read with the crawl's wording says: "
                f"{r.phrase_pages_right}/{r.phrase_pages}; items stored unknown: full crawl "
                f"{r.full.unknown_items}, refresh {r.refresh.unknown_items}"
            )
            print(
                f"  the refresh read {r.phrase_reads} of them, {unchanged} with a readable, "
                "unchanged tile price ("
                + (
                    "read for their stock alone: stored unknown, the crawl's wording reads "
                    "their stored stock text otherwise"
                    if r.wording == AS_SERVED
                    else "read for their stock alone: stored out_of_stock, tiles without a "
                    "sold-out word"
                )
                + f"); without those {unchanged} reads the refresh would be "
                f"{(r.refresh.total - unchanged) / r.full.total:.1%} (derived, not measured)"
            )
    ok = True
    print(
        f"\ngoals: refresh <= {GOAL_REFRESH_SHARE:.0%} of the full crawl's requests, "
        f"{GOAL_TILE_PRICE_FOUND:.0%} of tile-visible price changes found, full crawl <= "
        f"{GOAL_FULL_PER_PRODUCT} requests per product:"
    )
    for r in results:
        missed = missed_goals(r)
        ok &= not missed
        print(f"  {r.vendor} ({r.wording}): {'NOT met: ' + '; '.join(missed) if missed else 'met'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20000, help="products per shop")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vendors", nargs="+", default=list(VENDORS), choices=VENDORS)
    parser.add_argument("--check-products", type=int, default=300)
    parser.add_argument("--check-vendor", default="ornament_shop", choices=VENDORS)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    options = parser.parse_args(argv)
    delay = get_model().crawl.download_delay
    # The embedded server (if one was started) lives as long as this reference.
    pg_admin, _server = admin_url()
    figures: dict[str, Any] = {"products": options.products, "delay_seconds": delay}
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        out = Path(tmp)
        results = []
        for vendor in options.vendors:
            served = measure_shop(vendor, options.products, options.seed, pg_admin, out, [])
            results.append(served)
            if vendor in MAPPED_WORDING:
                check_mapping_covers(vendor, served)
                mapped = measure_shop(
                    vendor, options.products, options.seed, pg_admin, out, [], MAPPED_WORDING
                )
                if mapped.full.unknown_wordings or mapped.refresh.unknown_wordings:
                    raise RuntimeError(
                        f"{vendor}: crawls with the mapping still logged unknown wording "
                        f"{mapped.full.unknown_wordings + mapped.refresh.unknown_wordings}"
                    )
                results.append(mapped)
        ok = report(results, delay)
        print(
            f"\ncheck of the model: {options.check_vendor}, {options.check_products} "
            "products, polite default settings",
            flush=True,
        )
        started = time.monotonic()
        check = measure_shop(
            options.check_vendor,
            options.check_products,
            options.seed,
            pg_admin,
            out,
            polite_settings(),
        )
        for run in (check.full, check.refresh):
            print(
                f"  {run.label:<8} {run.total:>5} requests: modelled "
                f"{_hours(run.total * delay)}, measured {_hours(run.seconds)} "
                f"({run.seconds / run.total:.2f} s per request)"
            )
        print(f"  (both crawls and their set-up: {_hours(time.monotonic() - started)})")
    figures["shops"] = [
        {
            "vendor": r.vendor,
            "stock_wording": r.wording,
            "products": r.products,
            "full_requests": r.full.requests,
            "refresh_requests": r.refresh.requests,
            "refresh_share": round(r.share, 4),
            "full_requests_per_product": round(r.full_per_product, 4),
            "tile_price_changes": [r.tile_price_found, r.tile_price_changes],
            "price_changes": [r.price_found, r.price_changes],
            "changes": [r.changes_found, r.changes],
            "refresh_reasons": r.refresh.reasons,
            "unknown_phrase_pages": [r.phrase_pages_right, r.phrase_pages],
            "unknown_phrase_reads": [r.phrase_reads_price_unchanged, r.phrase_reads],
            "crawl_seconds": {
                "full": round(r.full.seconds, 1),
                "refresh": round(r.refresh.seconds, 1),
            },
        }
        for r in results
    ]
    figures["check"] = {
        "vendor": check.vendor,
        "products": check.products,
        "full": {"requests": check.full.total, "seconds": round(check.full.seconds, 1)},
        "refresh": {"requests": check.refresh.total, "seconds": round(check.refresh.seconds, 1)},
    }
    if options.out:
        options.out.write_text(json.dumps(figures, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
