"""Refresh benchmark (issue 14): what a refresh crawl costs against a full crawl.

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

Then, as a check of that model, both crawls of one shop (``--check-vendor``) on a
``--check-products`` catalogue at the polite default settings (delay, AutoThrottle,
robots.txt, concurrency per shop), timed. Goals: a refresh at most 10% of a full
crawl's requests, 100% of the tile-visible price changes found, a full crawl at most
1.05 requests per product. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.bench_upsert import admin_url
from christmas_spiders.config import get_model
from christmas_spiders.db.engine import make_engine, upgrade
from christmas_spiders.items import VENDORS
from replicas.catalogue import generate_catalogue
from replicas.crawling import CrawlResult, run_crawl
from replicas.server import control, serve_replicas, set_day
from replicas.truth import ground_truth, listing_tiles

GOAL_REFRESH_SHARE = 0.10
GOAL_TILE_PRICE_FOUND = 1.0
GOAL_FULL_PER_PRODUCT = 1.05


@dataclass
class Run:
    label: str
    requests: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@dataclass
class ShopResult:
    vendor: str
    products: int
    full: Run
    refresh: Run
    tile_price_changes: int
    tile_price_found: int
    price_changes: int
    price_found: int
    changes: int
    changes_found: int

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


def _crawl(
    vendor: str, base_url: str, out: Path, label: str, arguments: list[str], settings: list[str]
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
    )
    if result.returncode != 0:
        raise RuntimeError(f"{vendor} {label} crawl failed:\n{result.log[-3000:]}")
    requests = control(base_url, "stats")["requests"]
    assert isinstance(requests, dict)
    return Run(label, {k: int(v) for k, v in requests.items()}, result.seconds)


def measure_shop(
    vendor: str, products: int, seed: int, pg_admin: str, out: Path, settings: list[str]
) -> ShopResult:
    from tests.fixtures.postgres import create_database, drop_database

    catalogue = generate_catalogue(seed=seed, products_per_shop=products)
    url = create_database(pg_admin, prefix="cs_bench")
    engine = make_engine(url)
    try:
        upgrade(url)
        database = [f"CHRISTMAS_DATABASE_URL={url}", *settings]
        with serve_replicas(catalogue, in_process=False) as urls:
            base = urls[vendor]
            full = _crawl(vendor, base, out, "full", [], database)
            set_day(urls, 2)
            refresh = _crawl(vendor, base, out, "refresh", ["mode=refresh"], database)
        day1 = {t["link"]: t for t in ground_truth(catalogue, vendor, base, 1)}
        day2 = {t["link"]: t for t in ground_truth(catalogue, vendor, base, 2)}
        tiles = listing_tiles(catalogue, vendor, base, 2)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT link, price::text, availability FROM products WHERE vendor = :v"),
                {"v": vendor},
            ).all()
        stored = {link: (price, availability) for link, price, availability in rows}
    finally:
        engine.dispose()
        drop_database(pg_admin, url)

    def found(links: set[str]) -> int:
        return sum(
            1
            for link in links
            if stored.get(link) == (day2[link]["price"], day2[link]["availability"])
        )

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
        len(day1),
        full,
        refresh,
        len(shown),
        found(shown),
        len(moved),
        found(moved),
        len(changed),
        found(changed),
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def report(results: list[ShopResult], delay: float) -> bool:
    print(
        f"\n{'shop':<20}{'products':>9}{'full req':>10}{'refresh req':>13}{'share':>8}"
        f"{'req/product':>13}{'tile price found':>18}{'all price found':>17}"
        f"{'all changes':>13}{'full @polite':>14}{'refresh @polite':>17}"
    )
    ok = True
    for r in results:
        print(
            f"{r.vendor:<20}{r.products:>9}{r.full.total:>10}{r.refresh.total:>13}"
            f"{r.share:>8.1%}{r.full_per_product:>13.3f}"
            f"{f'{r.tile_price_found}/{r.tile_price_changes}':>18}"
            f"{f'{r.price_found}/{r.price_changes}':>17}"
            f"{f'{r.changes_found}/{r.changes}':>13}"
            f"{_hours(r.full.total * delay):>14}{_hours(r.refresh.total * delay):>17}"
        )
        print(f"{'':<20}full {r.full.requests}; refresh {r.refresh.requests}")
        ok &= (
            r.share <= GOAL_REFRESH_SHARE
            and r.tile_price_found >= GOAL_TILE_PRICE_FOUND * r.tile_price_changes
            and r.full_per_product <= GOAL_FULL_PER_PRODUCT
        )
    print(
        f"goals: refresh <= {GOAL_REFRESH_SHARE:.0%} of the full crawl's requests, "
        f"{GOAL_TILE_PRICE_FOUND:.0%} of tile-visible price changes found, full crawl <= "
        f"{GOAL_FULL_PER_PRODUCT} requests per product: {'met' if ok else 'NOT met'}"
    )
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
        results = [
            measure_shop(vendor, options.products, options.seed, pg_admin, out, [])
            for vendor in options.vendors
        ]
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
            "products": r.products,
            "full_requests": r.full.requests,
            "refresh_requests": r.refresh.requests,
            "refresh_share": round(r.share, 4),
            "full_requests_per_product": round(r.full_per_product, 4),
            "tile_price_changes": [r.tile_price_found, r.tile_price_changes],
            "price_changes": [r.price_found, r.price_changes],
            "changes": [r.changes_found, r.changes],
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
