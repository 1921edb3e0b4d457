"""Command line of the replica shops.

    christmas replicas serve --seed 1 --products 200 --day 1 [--malformed 0.05]
                                [--faults slow=0.05,error=0.05,drop=0.03] [--json]
                                [--live-variants]
    christmas replicas truth --seed 1 --products 200 --vendor ornament_shop \
                                --base-url http://127.0.0.1:8001 [--day 2] [--drops]
                                [--live-variants]
    christmas replicas retail-prices --seed 1 --products 200 > retail.csv
    christmas replicas index-prices --seed 1 [--end 2026-12-01] > index.csv

``serve`` prints one ``vendor base_url`` line per shop (or one JSON object with
``--json``) and serves until Ctrl-C / SIGTERM. ``truth`` prints the ground truth as JSON
lines (one item a line, sorted by link), or with ``--drops`` the expected drop counts.
``retail-prices`` prints the catalogue's ``sku,release_year,retail_price`` CSV,
``index-prices`` a seeded daily ``date,close`` index series up to today (or ``--end``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import signal
import sys
import threading
from datetime import date
from pathlib import Path

from replicas.catalogue import LIVE_VARIANTS_DEFAULT, VENDORS, Catalogue, generate_catalogue
from replicas.faults import parse_faults
from replicas.market import index_csv, retail_prices_csv
from replicas.server import ReplicaServers
from replicas.truth import expected_drops, ground_truth


def _catalogue(args: argparse.Namespace) -> Catalogue:
    if getattr(args, "catalogue_pickle", None):
        return pickle.loads(Path(args.catalogue_pickle).read_bytes())
    return generate_catalogue(
        args.seed,
        args.products,
        getattr(args, "malformed", 0.0),
        getattr(args, "live_variants", LIVE_VARIANTS_DEFAULT),
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {value}")
    return value


def _faults(text: str) -> str:
    try:
        parse_faults(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def main(argv: list[str] | None = None, prog: str = "python -m replicas") -> int:
    """``christmas replicas`` and ``python -m replicas``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("serve", "serve the three shops, one port each, until Ctrl-C"),
        ("truth", "one shop's expected items as JSON lines"),
    ):
        sub = commands.add_parser(name, help=summary)
        sub.add_argument("--seed", type=int, default=1)
        sub.add_argument("--products", type=_positive, default=200, help="products per shop")
        sub.add_argument(
            "--malformed", type=_ratio, default=0.0, help="share of broken product pages"
        )
        sub.add_argument("--day", type=_positive, default=1)
        sub.add_argument("--faults", type=_faults, default=None)
        sub.add_argument(
            "--live-variants",
            action=argparse.BooleanOptionalAction,
            default=LIVE_VARIANTS_DEFAULT,
            help="the live shops' page variants (stock wording, price conflicts, ...)",
        )
    retail = commands.add_parser("retail-prices", help="sku,release_year,retail_price CSV")
    retail.add_argument("--seed", type=int, default=1)
    retail.add_argument("--products", type=_positive, default=200, help="products per shop")
    index = commands.add_parser("index-prices", help="date,close CSV of a synthetic index")
    index.add_argument("--seed", type=int, default=1)
    index.add_argument("--end", type=date.fromisoformat, default=None, help="last day (today)")
    serve = commands.choices["serve"]
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--json", action="store_true", help="print the base URLs as one JSON line")
    serve.add_argument("--prerender", action="store_true", help="render every page before serving")
    serve.add_argument("--catalogue-pickle", help=argparse.SUPPRESS)
    # serve_replicas(in_process=False): end with the process that started us, even
    # when it dies without stopping us.
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    truth = commands.choices["truth"]
    truth.add_argument("--vendor", choices=VENDORS, required=True)
    truth.add_argument("--base-url", required=True)
    truth.add_argument(
        "--drops", action="store_true", help="print the expected drop counts instead"
    )
    args = parser.parse_args(argv)

    if args.command == "index-prices":
        sys.stdout.write(index_csv(args.seed, args.end))
        return 0
    catalogue = _catalogue(args)
    if args.command == "retail-prices":
        sys.stdout.write(retail_prices_csv(catalogue))
        return 0
    if args.command == "truth":
        if args.drops:
            print(json.dumps(expected_drops(catalogue, args.vendor), sort_keys=True))
            return 0
        try:
            items = ground_truth(catalogue, args.vendor, args.base_url, args.day, args.faults)
        except ValueError as error:
            parser.error(str(error))
        for item in items:
            print(json.dumps(item, ensure_ascii=False, sort_keys=True))
        return 0

    servers = ReplicaServers(catalogue, args.day, parse_faults(args.faults), args.host)
    if args.prerender:
        for app in servers.apps.values():
            app.prerender()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    urls = servers.start()
    try:
        if args.json:
            print(json.dumps(urls), flush=True)
        else:
            for vendor, url in urls.items():
                print(f"{vendor} {url}", flush=True)
            print("Serving until Ctrl-C.", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if args.parent_pid and os.getppid() != args.parent_pid:
                break
    finally:
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
