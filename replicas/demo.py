"""``make demo``: serve the three replica shops, crawl each with ``scrapy crawl``, print a summary.

    christmas demo [--seed 1] [--products 300] [--day 1] [--out DIR] [--live-variants]
                   [--serve [--no-crawl] [--host 127.0.0.1] [--port 8000]]

Each crawl runs as a user runs it (``ENV=replica``, real Chromium for the JS pages)
and exports its items as JSON lines into ``--out`` (default: a new temporary folder).
The items are stored as a crawl stores them: into the database ``christmas_demo`` of
the embedded Postgres (started if needed; ``--database-url`` names another database),
never into the project's own database, since the replicas use the real shops' names.
The summary compares every shop's items, and what was stored, with the replica's
ground truth, and lists the biggest cross-shop spreads among what was stored.

``--day N`` serves the shops as they are on day N (prices and stock move from day to
day): a second run with ``--day 2`` records the changes, as a later crawl of the real
shops would. ``--serve`` then serves the dashboard and the API on the demo's database
(``--no-crawl``: on what an earlier run stored), with the read-only role created
there and a new API key printed to log in with.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import signal
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from christmas_spiders.config import get_config
from christmas_spiders.db.engine import database_url, make_engine
from christmas_spiders.db.imports import import_index_closes, import_retail_prices
from christmas_spiders.db.ornaments import ornament_summaries
from christmas_spiders.db.roles import create_readonly_role
from christmas_spiders.db.store import schema_problem
from christmas_spiders.items import VENDORS
from replicas.catalogue import LIVE_VARIANTS_DEFAULT, Catalogue, generate_catalogue
from replicas.crawling import CrawlResult, run_crawl
from replicas.market import index_csv, retail_prices_csv
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


def unmigrated(url: str) -> str | None:
    """Why the database at ``url`` cannot take the demo's crawls (no schema, an old one), or
    None. The embedded database is migrated when it is opened; a named one is not."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return schema_problem(conn)
    finally:
        engine.dispose()


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
    return aligned(lines)


def aligned(lines: list[tuple[str, ...]]) -> str:
    """Rows as left-aligned columns, a rule under the first (the header)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in rendered)


def prepare_serving(url: str) -> str:
    """The read-only role (config ``api.readonly_role``) in the demo's database, and a new
    API key there; returns the key."""
    from christmas_spiders.api.cli import store_new_key

    api = get_config()["api"]
    engine = make_engine(url)
    try:
        create_readonly_role(
            engine, api["readonly_role"], api["readonly_password"], api["statement_timeout_ms"]
        )
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        return store_new_key(engine, f"demo-{stamp}-{uuid.uuid4().hex[:4]}")
    finally:
        engine.dispose()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(url: str, host: str, port: int) -> int:
    """Serve the dashboard and the API on ``url`` until Ctrl-C."""
    # Imported here: the crawl alone needs no Flask app.
    from werkzeug.serving import make_server

    from christmas_spiders.api import create_app
    from christmas_spiders.api.db import dispose

    key = prepare_serving(url)
    app = create_app({"database_url": url})
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host}:{server.server_port}"
    print(f"\ndashboard: {base}/  (log in with the key below)")
    print(f"API:       {base}/api/v1/ornaments  (header: Authorization: Bearer KEY)")
    print(f"key:       {key}")
    print("Ctrl-C stops the server.", flush=True)
    # Ctrl-C even where the shell started us with SIGINT ignored, and a polite kill too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        dispose(app)
    return 0


def crawl_and_compare(options: argparse.Namespace, url: str) -> bool:
    """Crawl the replica shops of ``options.day`` into ``url``; print the summary."""
    out = options.out or Path(tempfile.mkdtemp(prefix="christmas-demo-"))
    catalogue = generate_catalogue(
        seed=options.seed,
        products_per_shop=options.products,
        malformed_ratio=options.malformed,
        live_variants=options.live_variants,
    )
    rows = []
    with serve_replicas(catalogue, day=options.day) as urls:
        for vendor in VENDORS:
            print(f"crawling {vendor} (day {options.day}) at {urls[vendor]} ...", flush=True)
            crawl_id = f"demo-{uuid.uuid4().hex[:12]}"
            result = run_crawl(
                vendor,
                urls[vendor],
                out,
                [f"crawl_id={crawl_id}"],
                [f"CHRISTMAS_DATABASE_URL={url}"],
                store=True,
            )
            truth = ground_truth(catalogue, vendor, urls[vendor], options.day)
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
    print(f"\n{import_market_files(url, catalogue, options.seed, out)}")
    print(f"\nitems, logs and stats: {out}")
    print(f"stored in {make_url(url).render_as_string(hide_password=True)}")
    if not options.database_url:
        print("(the embedded Postgres keeps running: christmas db embedded-stop)")
    print(f"\n{biggest_spreads(url)}")
    return all(exact for *_, exact in rows)


def import_market_files(url: str, catalogue: Catalogue, seed: int, out: Path) -> str:
    """Write the catalogue's retail prices and the index's closes into ``out`` and import
    both (as ``christmas db import-retail-prices`` / ``import-index`` would); a summary."""
    retail = out / "retail-prices.csv"
    retail.write_text(retail_prices_csv(catalogue), encoding="utf-8")
    index = out / "index.csv"
    index.write_text(index_csv(seed), encoding="utf-8")
    engine = make_engine(url)
    try:
        prices = import_retail_prices(engine, retail)
        closes = import_index_closes(engine, index)
    finally:
        engine.dispose()
    return f"retail prices: {prices.rows} imported; index: {closes.rows} closes imported"


def biggest_spreads(url: str, count: int = 5) -> str:
    """The ``count`` biggest cross-shop spreads in the database, as a table."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = ornament_summaries(conn, {"min_offers": 2}, "-spread", count)
    finally:
        engine.dispose()
    rows = [row for row in rows if row["spread"] is not None]
    if not rows:
        return "no ornament is in stock at two shops: no spread to show"
    lines = [("sku", "name", "cheapest in stock", "dearest in stock", "spread")]
    for row in rows:
        cheapest, dearest, spread = row["cheapest"], row["dearest"], row["spread"]
        percent = "" if spread["percent"] is None else f" ({spread['percent']}%)"
        lines.append(
            (
                row["sku"],
                row["names"][0] if row["names"] else "",
                f"{cheapest['price']} {cheapest['vendor']}",
                f"{dearest['price']} {dearest['vendor']}",
                f"{spread['amount']}{percent}",
            )
        )
    return f"the {len(rows)} biggest cross-shop spreads:\n" + aligned(lines)


def day_number(text: str) -> int:
    day = int(text)
    if day < 1:
        raise argparse.ArgumentTypeError("the day is 1 or later")
    return day


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``christmas demo`` (``make demo``) and ``python -m replicas.demo``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--products", type=int, default=300, help="products per shop")
    parser.add_argument("--malformed", type=float, default=0.02, help="share of broken pages")
    parser.add_argument(
        "--day",
        type=day_number,
        default=1,
        help="serve the shops as on this day (prices move between days; default 1)",
    )
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
    parser.add_argument(
        "--serve",
        action="store_true",
        help="then serve the dashboard and the API on the demo's database (prints a key)",
    )
    parser.add_argument(
        "--no-crawl", action="store_true", help="with --serve: serve what is stored already"
    )
    parser.add_argument("--host", default="127.0.0.1", help="--serve's address")
    parser.add_argument("--port", type=int, default=8000, help="--serve's port (0: any free)")
    options = parser.parse_args(argv)
    if options.no_crawl and not options.serve:
        parser.error("--no-crawl goes with --serve")
    url = demo_database_url(options.database_url)
    # Said before any crawl: each would fail at its first write, and the summary with it.
    problem = unmigrated(url) if options.database_url else None
    if problem:
        shown = make_url(url).render_as_string(hide_password=True)
        parser.exit(
            2,
            f"error: database {shown} cannot take the demo: {problem}. Migrate it first: "
            f"christmas db --database-url {shown} upgrade\n",
        )
    exact = True if options.no_crawl else crawl_and_compare(options, url)
    if options.serve:
        return serve(url, options.host, options.port)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
