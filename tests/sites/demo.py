"""``make demo``: serve the three replica shops, crawl each with ``scrapy crawl``, print a summary.

    python -m tests.sites.demo [--seed 1] [--products 300] [--out DIR]

Each crawl runs as a user runs it (``ENV=replica``, real Chromium for the JS pages)
and exports its items as JSON lines into ``--out`` (default: a new temporary folder).
The summary compares every shop's items with the replica's ground truth.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from christmas_spiders.items import VENDORS
from tests.sites.catalogue import generate_catalogue
from tests.sites.crawling import CrawlResult, run_crawl
from tests.sites.server import serve_replicas
from tests.sites.truth import expected_drops, ground_truth


def summary_table(rows: list[tuple[str, int, CrawlResult, bool]]) -> str:
    header = (
        "shop",
        "products",
        "items",
        "dropped",
        "failed",
        "browser renders",
        "seconds",
        "truth",
    )
    lines = [header]
    for vendor, products, result, exact in rows:
        lines.append(
            (
                vendor,
                str(products),
                str(len(result.items)),
                str(sum(result.prefixed("christmas/dropped/").values())),
                str(sum(result.prefixed("christmas/failed/").values())),
                str(result.stat("christmas/browser_renders")),
                f"{result.seconds:.1f}",
                "exact" if exact else "DIFFERS",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--products", type=int, default=300, help="products per shop")
    parser.add_argument("--malformed", type=float, default=0.02, help="share of broken pages")
    parser.add_argument("--out", type=Path, default=None, help="folder for the feeds and logs")
    options = parser.parse_args(argv)
    out = options.out or Path(tempfile.mkdtemp(prefix="christmas-demo-"))
    catalogue = generate_catalogue(
        seed=options.seed, products_per_shop=options.products, malformed_ratio=options.malformed
    )
    rows = []
    with serve_replicas(catalogue) as urls:
        for vendor in VENDORS:
            print(f"crawling {vendor} at {urls[vendor]} ...", flush=True)
            result = run_crawl(vendor, urls[vendor], out)
            truth = ground_truth(catalogue, vendor, urls[vendor])
            exact = (
                result.returncode == 0
                and sorted(result.items, key=lambda item: str(item["link"])) == truth
                and result.prefixed("christmas/dropped/") == expected_drops(catalogue, vendor)
            )
            rows.append((vendor, options.products, result, exact))
    print()
    print(summary_table(rows))
    print(f"\nitems, logs and stats: {out}")
    return 0 if all(exact for *_, exact in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
