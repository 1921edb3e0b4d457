"""``make demo``: serve the three replica shops, crawl each with ``scrapy crawl``, print a summary.

    christmas demo [--seed 1] [--products 300] [--out DIR] [--live-variants]

Each crawl runs as a user runs it (``ENV=replica``, real Chromium for the JS pages)
and exports its items as JSON lines into ``--out`` (default: a new temporary folder).
The items are stored as a crawl stores them: into the database ``christmas_demo`` of
the embedded Postgres (started if needed; ``--database-url`` names another database),
never into the project's own database, since the replicas use the real shops' names.
The summary compares every shop's items, and what was stored, with the replica's
ground truth.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from christmas_spiders.config import get_config
from christmas_spiders.db.engine import database_url, make_engine
from christmas_spiders.items import VENDORS
from replicas.catalogue import LIVE_VARIANTS_DEFAULT, generate_catalogue
from replicas.crawling import CrawlResult, run_crawl
from replicas.server import serve_replicas
from replicas.truth import expected_drops, ground_truth

DEMO_DATABASE = "christmas_demo"


def demo_database_url(explicit: str | None) -> str:
    """``explicit``, else the database christmas_demo of the embedded Postgres."""
    if explicit:
        return database_url({**get_config(), "database_url": explicit})
    config = copy.deepcopy(get_config())
    config["database_url"] = None
    config["embedded_postgres"]["database"] = DEMO_DATABASE
    return database_url(config)


def stored_counts(url: str, crawl_id: str, vendor: str) -> dict[str, object]:
    """What the crawl left in the database: its products, audit rows and crawl_runs verdict."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run = conn.execute(
                text("SELECT * FROM crawl_runs WHERE crawl_id = :c"), {"c": crawl_id}
            ).one_or_none()
            if run is None:
                return {"stored": 0, "audit": 0, "monitors": "no run"}
            stored = conn.execute(
                text("SELECT count(*) FROM products WHERE vendor = :v AND last_synced_at >= :t"),
                {"v": vendor, "t": run.started_at},
            ).scalar_one()
            audit = conn.execute(
                text("SELECT count(*) FROM product_audit WHERE crawl_id = :c"), {"c": crawl_id}
            ).scalar_one()
    finally:
        engine.dispose()
    verdict = {True: "passed", False: "FAILED", None: "not run"}[run.monitors_passed]
    return {"stored": stored, "audit": audit, "monitors": verdict}


def summary_table(rows: list[tuple[str, int, CrawlResult, bool, dict[str, object]]]) -> str:
    header = (
        "shop",
        "products",
        "items",
        "dropped",
        "failed",
        "browser renders",
        "seconds",
        "stored",
        "audit rows",
        "monitors",
        "truth",
    )
    lines = [header]
    for vendor, products, result, exact, db in rows:
        lines.append(
            (
                vendor,
                str(products),
                str(len(result.items)),
                str(sum(result.prefixed("christmas/dropped/").values())),
                str(sum(result.prefixed("christmas/failed/").values())),
                str(result.stat("christmas/browser_renders")),
                f"{result.seconds:.1f}",
                str(db["stored"]),
                str(db["audit"]),
                str(db["monitors"]),
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


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``christmas demo`` (``make demo``) and ``python -m replicas.demo``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--products", type=int, default=300, help="products per shop")
    parser.add_argument("--malformed", type=float, default=0.02, help="share of broken pages")
    parser.add_argument("--out", type=Path, default=None, help="folder for the feeds and logs")
    parser.add_argument(
        "--live-variants",
        action=argparse.BooleanOptionalAction,
        default=LIVE_VARIANTS_DEFAULT,
        help="serve the live shops' page variants",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"store here (default: database {DEMO_DATABASE} of the embedded Postgres)",
    )
    options = parser.parse_args(argv)
    url = demo_database_url(options.database_url)
    out = options.out or Path(tempfile.mkdtemp(prefix="christmas-demo-"))
    catalogue = generate_catalogue(
        seed=options.seed,
        products_per_shop=options.products,
        malformed_ratio=options.malformed,
        live_variants=options.live_variants,
    )
    rows = []
    with serve_replicas(catalogue) as urls:
        for vendor in VENDORS:
            print(f"crawling {vendor} at {urls[vendor]} ...", flush=True)
            crawl_id = f"demo-{uuid.uuid4().hex[:12]}"
            result = run_crawl(
                vendor,
                urls[vendor],
                out,
                [f"crawl_id={crawl_id}"],
                [f"CHRISTMAS_DATABASE_URL={url}"],
                store=True,
            )
            truth = ground_truth(catalogue, vendor, urls[vendor])
            db = stored_counts(url, crawl_id, vendor)
            exact = (
                result.returncode == 0
                and sorted(result.items, key=lambda item: str(item["link"])) == truth
                and result.prefixed("christmas/dropped/") == expected_drops(catalogue, vendor)
                and db["stored"] == len(truth)
            )
            rows.append((vendor, options.products, result, exact, db))
    print()
    print(summary_table(rows))
    print(f"\nitems, logs and stats: {out}")
    print(f"stored in {make_url(url).render_as_string(hide_password=True)}")
    if not options.database_url:
        print("(the embedded Postgres keeps running: christmas db embedded-stop)")
    return 0 if all(exact for *_, exact in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
