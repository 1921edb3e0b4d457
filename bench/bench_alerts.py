"""Alert latency: from a crawl's verdict (its crawl_runs row turning passed) to the
messages received, for 1,000 changed products. Goal: under 2 s.

``python -m bench alerts [--products N] [--destinations D] [--repeat R]``.

A fresh database (migrated to head) on the server the tests use; N products stored
by a passed crawl; one drop_percent rule per sku, the rules spread over D Apprise
``json://`` destinations served by an HTTP receiver on 127.0.0.1. The alert service
runs as in production (``AlertService.run``: LISTEN, the configured poll intervals).
Each round, a crawl lowers every price by 10% while it is running (the service holds
its rows back), then its verdict is written; the figure is the time from that commit
to the last of the D digests arriving. Figures printed, nothing asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text

from bench.bench_upsert import admin_url
from christmas_spiders.alerts.rules import add_rule
from christmas_spiders.alerts.service import AlertService
from christmas_spiders.alerts.settings import AlertSettings
from christmas_spiders.config import get_config
from christmas_spiders.db.engine import make_engine, upgrade
from christmas_spiders.db.store import upsert_items
from tests.fixtures.alerts import finish_crawl, item, running_receiver, start_crawl, write_crawl
from tests.fixtures.postgres import create_database, drop_database

GOAL_SECONDS = 2.0


def _wait(condition, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the alert service did not get there in time")
        time.sleep(0.005)


def _held(engine: Engine, crawl_id: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT 1 FROM alert_crawls WHERE crawl_id = :c AND status = 'pending'"),
                {"c": crawl_id},
            ).first()
        )


def run(products: int, destinations: int, repeat: int) -> list[float]:
    admin, server = admin_url()
    url = create_database(admin, prefix="cs_bench")
    engine = make_engine(url, pool_size=10)
    stop = threading.Event()
    try:
        upgrade(url)
        skus = [f"QX{10000 + n}" for n in range(products)]
        price = Decimal("100.00")
        write_crawl(engine, "base", [item(sku, "ornament_shop", f"{price}") for sku in skus])
        with running_receiver() as receiver:
            with engine.begin() as conn:
                for n, sku in enumerate(skus):
                    path = f"d{n % destinations}"
                    add_rule(conn, f"r{n}", sku, "drop_percent", [receiver.url(path)], threshold=5)
            service = AlertService(engine, AlertSettings.from_config(get_config()))
            thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
            thread.start()
            figures = []
            for round_ in range(repeat):
                crawl_id = f"sale-{round_}"
                price = (price * Decimal("0.9")).quantize(Decimal("0.01"))
                with engine.begin() as conn:
                    start_crawl(conn, crawl_id)
                with engine.begin() as conn:
                    upsert_items(
                        conn, [item(sku, "ornament_shop", f"{price}") for sku in skus], crawl_id
                    )
                _wait(lambda c=crawl_id: _held(engine, c))
                expected = len(receiver.at()) + destinations
                with engine.begin() as conn:
                    finish_crawl(conn, crawl_id)
                verdict_at = time.monotonic()
                _wait(lambda n=expected: len(receiver.at()) >= n)
                last = max(m.received_at for m in receiver.at()[-destinations:])
                figures.append(last - verdict_at)
                lines = sum(m.body.count(" rule r") for m in receiver.at()[-destinations:])
                print(
                    f"round {round_ + 1}: {products} changes -> {lines} alerts in "
                    f"{destinations} digests, {figures[-1]:.3f} s after the verdict",
                    flush=True,
                )
            stop.set()
            thread.join(timeout=30)
        return figures
    finally:
        stop.set()
        engine.dispose()
        drop_database(admin, url)
        del server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--destinations", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    figures = run(args.products, args.destinations, args.repeat)
    median = statistics.median(figures)
    print(
        f"verdict -> last message: median {median:.3f} s, best {min(figures):.3f} s "
        f"(goal < {GOAL_SECONDS:.0f} s: {'met' if median < GOAL_SECONDS else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
