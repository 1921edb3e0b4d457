"""Price files that go with a catalogue: the ornaments' retail prices and a market index.

``retail_prices_csv(catalogue)`` is ``sku,release_year,retail_price``: each ornament's
original issue price (``Catalogue.retail_prices()``). ``index_csv(seed)`` is
``date,close``: a synthetic, ETF-like daily series (trading days, Monday to Friday) from
the first release year to today, a seeded random walk with an ETF's long-run drift and
volatility, so that ornament prices can be compared with what the money would have made
in the market. The same seed gives the same closes; a later ``end`` only adds days.
"""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import date, timedelta

from replicas.catalogue import FIRST_YEAR, Catalogue

INDEX_START = date(FIRST_YEAR, 1, 2)
INDEX_FIRST_CLOSE = 10.0
# Yearly drift and volatility of a broad equity ETF; 252 trading days a year.
INDEX_DRIFT = 0.07
INDEX_VOLATILITY = 0.16
TRADING_DAYS = 252


def retail_prices_csv(catalogue: Catalogue) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("sku", "release_year", "retail_price"))
    for sku, year, price in catalogue.retail_prices():
        writer.writerow((sku, year, f"{price:.2f}"))
    return out.getvalue()


def index_series(seed: int, end: date | None = None) -> list[tuple[date, float]]:
    """``(trading day, close)`` from INDEX_START to ``end`` (default: today)."""
    end = date.today() if end is None else end
    rng = random.Random(f"{seed}:index")
    step_drift = (INDEX_DRIFT - INDEX_VOLATILITY**2 / 2) / TRADING_DAYS
    step_sigma = INDEX_VOLATILITY / math.sqrt(TRADING_DAYS)
    level = INDEX_FIRST_CLOSE
    rows: list[tuple[date, float]] = []
    day = INDEX_START
    while day <= end:
        if day.weekday() < 5:
            if rows:
                level *= math.exp(step_drift + step_sigma * rng.gauss(0.0, 1.0))
            rows.append((day, round(level, 2)))
        day += timedelta(days=1)
    return rows


def index_csv(seed: int, end: date | None = None) -> str:
    lines = ["date,close"]
    lines += [f"{day.isoformat()},{close:.2f}" for day, close in index_series(seed, end)]
    return "\n".join(lines) + "\n"
