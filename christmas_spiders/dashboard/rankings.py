"""The collectors' pages: the biggest cross-shop spreads, the rarest ornaments, the years.

Read through :mod:`christmas_spiders.db.ornaments` (the summary a trigger keeps per sku,
and the year statistics with the appreciation against retail prices and an index), the
same functions the API's ``/ornaments`` and ``/stats/years`` answer from.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import Select, Text, cast, func, literal_column, type_coerce
from sqlalchemy.types import NullType

from christmas_spiders.api.db import compiled_query, fetch_rows, request_connection
from christmas_spiders.dashboard.blueprint import (
    EXTRA_PAGES,
    NO_VALUE,
    bp,
    html,
    money,
    ornament_link,
    page_links,
)
from christmas_spiders.dashboard.pages import page_rows
from christmas_spiders.db.ornaments import (
    SUMMARY,
    SummaryShape,
    ordering,
    ornament_summaries,
    summary_shape,
    summary_statement,
    year_stats,
)

SPREAD_SORTS = {"amount": "-spread", "percent": "-spread_percent"}
RARITY_VIEWS = {
    # The rarest first: fewest shops with it in stock, then fewest listing it.
    "rarest": ({}, "rarity"),
    "sold-out": ({"in_stock_offers": 0}, "rarity"),
}
YEAR_RANGE = (1, 9999)
# app.extensions entry: the year page's figures (YearCache).
YEAR_CACHE = "christmas_dashboard_years"

EXTRA_PAGES.extend(
    [("dashboard.spreads", "Spreads"), ("dashboard.rarest", "Rarest"), ("dashboard.years", "Years")]
)


def _year_filter() -> dict[str, int]:
    """``?year=`` as the summary's release_year filter (a 400 page when not a year)."""
    raw = request.args.get("year", "").strip()
    if not raw:
        return {}
    if not raw.isdigit() or not YEAR_RANGE[0] <= int(raw) <= YEAR_RANGE[1]:
        abort(400, "year must be a release year such as 2019")
    return {"release_year": int(raw)}


def listing_link(endpoint: str, year: str, **args: str) -> str:
    """``url_for(endpoint, **args, year=year or None)`` for a listing's tabs: ``args``
    are plain words; a year of plain digits (the usual one) is appended to the page's
    kept address, without url_for's routing and encoding per link."""
    if year and not (year.isascii() and year.isdigit()):
        return url_for(endpoint, **args, year=year)
    query = [f"{name}={value}" for name, value in args.items()]
    if year:
        query.append(f"year={year}")
    address: str = page_links()["links"][endpoint]
    return f"{address}?{'&'.join(query)}" if query else address


# A listing's cells are formatted here, one pass over its rows, so that its template
# only places them: a macro call and a dozen filters and subscripts per row were most
# of a listing page's time.
def ornament_cells(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """An ornament's first cells in every listing: its link, sku, names and year."""
    return {
        "href": ornament_link(prefix, row["sku"]),
        "sku": row["sku"],
        "names": " / ".join(row["names"]),
        "year": row["release_year"] or NO_VALUE,
    }


# What the spreads page shows of a summary row: read as it is stored (no nested record
# per row, no 90-day share the page does not show), the prices and percent as text.
SPREAD_COLUMNS = (
    "sku",
    "names",
    "release_year",
    "cheapest_vendor",
    "cheapest_price",
    "dearest_vendor",
    "dearest_price",
    "spread_amount",
    "spread_percent",
)


def spread_statement(shape: SummaryShape, sort: str, limit: int) -> Select[Any]:
    """The spreads page's rows: the summary listing's filters and order (the API's
    ``/ornaments?sort=...``), its columns only."""
    columns: list[Any] = [SUMMARY[name] for name in SPREAD_COLUMNS]
    # psycopg returns text[] as a list already (no ARRAY processing per item).
    columns[1] = type_coerce(columns[1], NullType()).label("names")
    # Postgres's text of a numeric(12, 2) is the page's "$24.95" without the dollar, and
    # round(numeric, 1) is round_percent (half away from zero: half up for a spread): no
    # Decimal made per cell only to be formatted again.
    for index in (4, 6, 7):
        columns[index] = cast(columns[index], Text).label(SPREAD_COLUMNS[index])
    columns[8] = cast(func.round(columns[8], literal_column("1")), Text).label("spread_percent")
    return (
        summary_statement(shape)
        .with_only_columns(*columns)
        .order_by(*ordering(sort, SUMMARY))
        .limit(limit)
    )


@functools.lru_cache(maxsize=64)
def spread_query(shape: SummaryShape, sort: str, limit: int) -> tuple[str, dict[str, Any]]:
    """:func:`spread_statement` as ``fetch_rows`` runs it, compiled once per shape, sort
    and limit. Prepared: only an exact year filters it (a generic plan walks the sort
    key's index, as for the API's listing without a year range)."""
    return compiled_query(spread_statement(shape, sort, limit))


# A sku of only these characters is the same quoted for a link and escaped for HTML.
PLAIN_SKU = re.compile(r"[A-Za-z0-9_.~-]+")


def spread_row(row: Any, prefix: str) -> str:
    """One row of the spreads table, as the template once wrote it (same HTML), from a
    row of :func:`spread_statement` with a spread (so both prices and shops);
    ``prefix``: the ornament link's prefix, already escaped."""
    sku, names, year, cheap_vendor, cheap, dear_vendor, dear, amount, percent = row
    if PLAIN_SKU.fullmatch(sku):
        link, text = prefix + sku, sku
    else:
        link, text = prefix + html(ornament_link("", sku)), html(sku)
    return (
        "\n<tr>\n"
        f'  <td><a href="{link}">{text}</a></td>\n'
        f"  <td>{html(' / '.join(names))}</td>\n"
        f'  <td class="num">{year or NO_VALUE}</td>\n'
        f'  <td>${cheap} <span class="hint">{html(cheap_vendor)}</span></td>\n'
        f'  <td>${dear} <span class="hint">{html(dear_vendor)}</span></td>\n'
        f'  <td class="num">${amount}</td>\n'
        f'  <td class="num">{NO_VALUE if percent is None else percent}</td>\n'
        "</tr>\n"
    )


def rarity_cells(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    rarity = row["rarity"]
    return {
        **ornament_cells(row, prefix),
        "carried_by": ", ".join(rarity["carried_by"]) or NO_VALUE,
        "in_stock_at": ", ".join(rarity["in_stock_at"]) or "nowhere",
        "share": f"{rarity['in_stock_share_90d'] * 100:.0f}%",
        "cheapest": money(row["cheapest"]["price"] if row["cheapest"] else None),
    }


@bp.get("/spreads")
def spreads() -> str:
    sort = request.args.get("sort") or "amount"
    if sort not in SPREAD_SORTS:
        abort(400, f"sort must be one of: {', '.join(SPREAD_SORTS)}")
    shape, values = summary_shape({"min_offers": 2, **_year_filter()})
    sql, constants = spread_query(shape, SPREAD_SORTS[sort], page_rows())
    prefix = html(page_links()["ornament_prefix"])
    amount = SPREAD_COLUMNS.index("spread_amount")
    # The table's body as one text: no Markup object made and escaped per row.
    rows = Markup(
        "".join(
            spread_row(row, prefix)
            for row in fetch_rows(sql, {**constants, **values})
            # Only rows with a spread (two offers in stock): the sort puts the others last.
            if row[amount] is not None
        )
    )
    year = request.args.get("year", "")
    tabs = {
        "amount": listing_link("dashboard.spreads", year),
        "percent": listing_link("dashboard.spreads", year, sort="percent"),
    }
    return render_template("dashboard/spreads.html", rows=rows, sort=sort, year=year, tabs=tabs)


@bp.get("/rarest")
def rarest() -> str:
    view = request.args.get("view") or "rarest"
    if view not in RARITY_VIEWS:
        abort(400, f"view must be one of: {', '.join(RARITY_VIEWS)}")
    filters, sort = RARITY_VIEWS[view]
    rows = ornament_summaries(
        request_connection(), {**filters, **_year_filter()}, sort, page_rows()
    )
    prefix = page_links()["ornament_prefix"]
    year = request.args.get("year", "")
    tabs = {
        "rarest": listing_link("dashboard.rarest", year),
        "sold-out": listing_link("dashboard.rarest", year, view="sold-out"),
    }
    return render_template(
        "dashboard/rarest.html",
        rows=[rarity_cells(row, prefix) for row in rows],
        view=view,
        year=year,
        tabs=tabs,
    )


def year_chart(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Per shop: the median price by release year, and the appreciation beside the index's."""
    by_vendor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    index: dict[int, float] = {}
    for row in stats:
        if row["release_year"] is None:
            continue  # a point needs its year
        by_vendor[row["vendor"]].append(row)
        if row["index_growth"] is not None:
            index[row["release_year"]] = row["index_growth"]
    prices = [
        {
            "label": vendor,
            "points": [
                {"x": row["release_year"], "y": float(row["median_price"])}
                for row in rows
                if row["median_price"] is not None
            ],
        }
        for vendor, rows in sorted(by_vendor.items())
    ]
    growth = [
        {
            "label": vendor,
            "points": [
                {"x": row["release_year"], "y": round(row["basket_growth"] * 100, 2)}
                for row in rows
                if row["basket_growth"] is not None
            ],
        }
        for vendor, rows in sorted(by_vendor.items())
    ]
    growth = [series for series in growth if series["points"]]
    if index:
        growth.append(
            {
                "label": "index",
                "points": [
                    {"x": year, "y": round(value * 100, 2)} for year, value in sorted(index.items())
                ],
            }
        )
    return {"prices": prices, "growth": growth}


@dataclass(frozen=True)
class YearFigures:
    stats: list[dict[str, Any]]
    chart: dict[str, Any]
    computed_at: dt.datetime
    # time.monotonic() when computed: the age that dashboard.years_cache_seconds bounds.
    computed: float


class YearCache:
    """The year page's figures, computed at most once per ``years_cache_seconds`` per
    worker: they are percentiles over every product (about 180 ms of CPU on 100,000),
    and change only as crawls store prices. A worker computes them while its other
    threads wait for the result rather than computing them too."""

    def __init__(self) -> None:
        self._figures: YearFigures | None = None
        self._lock = threading.Lock()

    def figures(self, seconds: float) -> YearFigures:
        figures = self._figures
        if figures is not None and self._fresh(figures, seconds):
            return figures
        with self._lock:
            figures = self._figures
            if figures is not None and self._fresh(figures, seconds):
                return figures
            now = dt.datetime.now(dt.UTC)
            stats = year_stats(request_connection(), today=now.date())
            figures = YearFigures(stats, year_chart(stats), now, time.monotonic())
            self._figures = figures
            return figures

    @staticmethod
    def _fresh(figures: YearFigures, seconds: float) -> bool:
        # The growth since release counts in days: a new day computes them again.
        return (
            time.monotonic() - figures.computed < seconds
            and figures.computed_at.date() == dt.datetime.now(dt.UTC).date()
        )


def year_cache() -> YearCache:
    cache = current_app.extensions.get(YEAR_CACHE)
    if cache is None:
        cache = current_app.extensions.setdefault(YEAR_CACHE, YearCache())
    return cache


@bp.get("/years")
def years() -> str:
    seconds = float(current_app.config["CHRISTMAS"]["dashboard"]["years_cache_seconds"])
    figures = year_cache().figures(seconds)
    return render_template(
        "dashboard/years.html",
        stats=figures.stats,
        chart=figures.chart,
        computed_at=figures.computed_at,
        cache_seconds=seconds,
    )
