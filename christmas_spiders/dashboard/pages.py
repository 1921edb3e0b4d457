"""The dashboard's pages, read through the API's query functions (and the chart's history).

``/`` (search box, shops), ``/search?q=``, ``/ornaments/<sku>`` (every shop's price over
time and the offers), ``/shops`` (each shop's last crawl and its verdict), ``/changes``
(price drops and rises, sell-outs and restocks).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, NamedTuple

from flask import abort, current_app, render_template, request
from markupsafe import Markup
from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    any_,
    bindparam,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from christmas_spiders.api.audit_queries import changes_statement
from christmas_spiders.api.db import compiled_query, fetch_rows, request_connection
from christmas_spiders.api.ornament_queries import OFFER_COLUMNS, OFFERS, spread
from christmas_spiders.api.pagination import (
    AFTER_ID,
    AFTER_KEY,
    ROW_LIMIT,
    convert_key,
    decode_cursor,
    encode_cursor,
    query_scope,
)
from christmas_spiders.api.params import MAX_SKU_LENGTH, normalise_sku
from christmas_spiders.api.product_queries import (
    PRICE_HISTORY,
    product_list_statement,
    product_shape,
)
from christmas_spiders.api.vendor_queries import vendor_summaries
from christmas_spiders.dashboard.blueprint import NO_VALUE, bp, html, money
from christmas_spiders.dashboard.charts import offer_points, series_label
from christmas_spiders.db.models import ProductAudit

# Longest search text taken (a name is rarely a tenth of it).
MAX_QUERY_LENGTH = 200
# Product rows a search reads; grouped by sku they make the result list.
SEARCH_ROWS = 300
# /changes reads the audit newest first in batches this big, at most this many, to
# fill a page with the kinds asked for (most audit rows are first sightings).
SCAN_ROWS = 500
SCAN_BATCHES = 6
CHANGE_KINDS = {
    "drop": "Price drops",
    "rise": "Price rises",
    "sellout": "Sell-outs",
    "restock": "Restocks",
}


def page_rows() -> int:
    return int(current_app.config["CHRISTMAS"]["dashboard"]["page_rows"])


def _products(conn: Connection, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    shape, values = product_shape(filters)
    statement = product_list_statement(shape, "name", False, True)
    return [dict(row._mapping) for row in conn.execute(statement, {**values, ROW_LIMIT: limit})]


def ornament_rows(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Products grouped by sku (first seen first): names, shops, offers, cheapest in stock."""
    ornaments: dict[str, dict[str, Any]] = {}
    for product in products:
        entry = ornaments.setdefault(
            product["sku"],
            {
                "sku": product["sku"],
                "names": [],
                "release_year": product["release_year"],
                "vendors": [],
                "offers": 0,
                "in_stock": 0,
                "cheapest": None,
            },
        )
        if product["name"] not in entry["names"]:
            entry["names"].append(product["name"])
        if product["vendor"] not in entry["vendors"]:
            entry["vendors"].append(product["vendor"])
        entry["offers"] += 1
        if product["availability"] == "in_stock":
            entry["in_stock"] += 1
            if entry["cheapest"] is None or product["price"] < entry["cheapest"]:
                entry["cheapest"] = product["price"]
    return list(ornaments.values())


@bp.get("/")
def index() -> str:
    return render_template(
        "dashboard/index.html", shops=vendor_summaries(request_connection()), kinds=CHANGE_KINDS
    )


@bp.get("/search")
def search() -> str:
    query = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    results: list[dict[str, Any]] = []
    truncated = False
    if query:
        conn = request_connection()
        sku = normalise_sku(query)
        exact = _products(conn, {"sku": sku}, SEARCH_ROWS) if len(sku) <= MAX_SKU_LENGTH else []
        by_name = _products(conn, {"q": query}, SEARCH_ROWS)
        # An exact sku first; a product matched both ways counts once.
        unique = {product["id"]: product for product in [*exact, *by_name]}
        results = ornament_rows(list(unique.values()))
        truncated = len(by_name) >= SEARCH_ROWS
    return render_template(
        "dashboard/search.html", query=query, results=results, truncated=truncated
    )


# Every offer's price steps (the price_history view the API's /prices reads) and its
# availability changes (the audit's rows), for all the offers of a sku in one statement
# and one round trip: ``kind`` 0 is a price interval, 1 an availability change (its
# time in ``valid_from``); each oldest first. The ids are one array parameter: one
# statement text and plan whatever the number of offers (no IN list expanded per
# request).
_PRICES = PRICE_HISTORY.c
_IDS = bindparam("product_ids", type_=ARRAY(String))
PRICE_KIND, AVAILABILITY_KIND = 0, 1
OFFER_HISTORY = union_all(
    select(
        _PRICES.product_id,
        literal(PRICE_KIND).label("kind"),
        # An availability row's change time comes in this column too.
        _PRICES.valid_from,
        literal(0, BigInteger).label("seq"),
        _PRICES.valid_to,
        _PRICES.price,
        null().label("availability"),
    ).where(_PRICES.product_id == any_(_IDS)),
    select(
        ProductAudit.product_id,
        literal(AVAILABILITY_KIND),
        ProductAudit.changed_at,
        ProductAudit.id,
        null(),
        null(),
        ProductAudit.new_value,
    ).where(ProductAudit.product_id == any_(_IDS), ProductAudit.field == "availability"),
).order_by("product_id", "kind", "valid_from", "seq")
OFFER_HISTORY_SQL, OFFER_HISTORY_VALUES = compiled_query(OFFER_HISTORY)
OFFERS_SQL, OFFERS_VALUES = compiled_query(OFFERS)


class PriceStep(NamedTuple):
    """One price interval of an offer, as ``charts.offer_points`` reads it."""

    valid_from: dt.datetime
    valid_to: dt.datetime | None
    price: Decimal


def chart_series(offers: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """One series per offer (per shop): its price steps from the price history."""
    intervals: dict[str, list[PriceStep]] = defaultdict(list)
    availability: dict[str, list[tuple[dt.datetime, Any]]] = defaultdict(list)
    ids = [offer["product_id"] for offer in offers]
    values = {**OFFER_HISTORY_VALUES, "product_ids": ids}
    for product_id, kind, valid_from, _seq, valid_to, price, status in fetch_rows(
        OFFER_HISTORY_SQL, values
    ):
        if kind == PRICE_KIND:
            intervals[product_id].append(PriceStep(valid_from, valid_to, price))
        else:
            availability[product_id].append((valid_from, status))
    series = []
    for offer in sorted(offers, key=lambda offer: (offer["vendor"], offer["vendor_id"])):
        product = offer["product_id"]
        points = offer_points(intervals[product], availability[product], offer["availability"], now)
        series.append(
            {
                "label": series_label(offer, offers),
                "vendor": offer["vendor"],
                "product_id": product,
                "points": points,
            }
        )
    return series


def when(value: dt.datetime | None) -> str:
    """A time as the tables show it (minutes, UTC as stored), a dash for none."""
    return NO_VALUE if value is None else value.strftime("%Y-%m-%d %H:%M")


def offer_row(offer: dict[str, Any]) -> str:
    """One row of the offers table, as the template once wrote it (same HTML): written
    here in one pass, so the template places the table's body as one text (no
    expression, escape and Markup object per cell)."""
    stock = offer["availability"]
    return (
        "\n<tr>\n"
        f'  <td><a href="{html(offer["link"])}" rel="noopener noreferrer nofollow">'
        f"{html(offer['vendor'])}</a></td>\n"
        f"  <td>{html(offer['name'])}</td>\n"
        f'  <td class="num">{money(offer["price"])}</td>\n'
        f'  <td><span class="stock stock-{html(stock)}">'
        f"{html(stock.replace('_', ' '))}</span></td>\n"
        f'  <td class="num">{money(offer["lowest_price_seen"])}</td>\n'
        f'  <td class="num">{money(offer["highest_price_seen"])}</td>\n'
        f"  <td>{when(offer['last_synced_at'])}</td>\n"
        "</tr>\n"
    )


@bp.get("/ornaments/<sku>")
def ornament(sku: str) -> str:
    wanted = normalise_sku(sku)
    if not wanted or len(wanted) > MAX_SKU_LENGTH:
        abort(404)
    rows = fetch_rows(OFFERS_SQL, {**OFFERS_VALUES, "sku": wanted})
    offers = [dict(zip(OFFER_COLUMNS, row, strict=True)) for row in rows]
    if not offers:
        abort(404, f"No shop lists an ornament with sku {wanted}.")
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "dashboard/ornament.html",
        sku=wanted,
        names=sorted({offer["name"] for offer in offers}),
        offers=offers,
        offer_rows=Markup("".join(offer_row(offer) for offer in offers)),
        spread=spread(offers),
        chart={"series": chart_series(offers, now)},
    )


@bp.get("/shops")
def shops() -> str:
    return render_template("dashboard/shops.html", shops=vendor_summaries(request_connection()))


def change_kind(row: Any) -> str | None:
    """drop / rise (price), sellout / restock (availability); None for anything else."""
    if row.operation != "UPDATE" or row.old_value is None or row.new_value is None:
        return None
    if row.field == "price":
        try:
            old, new = Decimal(row.old_value), Decimal(row.new_value)
        except ArithmeticError:
            return None
        return "drop" if new < old else "rise" if new > old else None
    if row.field == "availability":
        if row.new_value == "out_of_stock" and row.old_value == "in_stock":
            return "sellout"
        if row.new_value == "in_stock" and row.old_value != "in_stock":
            return "restock"
    return None


def _changes_query(kind: str, after: bool) -> tuple[Any, dict[str, Any]]:
    if kind in ("drop", "rise"):
        direction = "down" if kind == "drop" else "up"
        return changes_statement(0, False, False, direction, 0, "-changed_at", after, True), {}
    if kind in ("sellout", "restock"):
        statement = changes_statement(1, False, False, None, 0, "-changed_at", after, True)
        return statement, {"field_0": "availability"}
    statement = changes_statement(2, False, False, None, 0, "-changed_at", after, True)
    return statement, {"field_0": "price", "field_1": "availability"}


@bp.get("/changes")
def changes() -> str:
    kind = request.args.get("kind") or "all"
    if kind != "all" and kind not in CHANGE_KINDS:
        abort(400, f"kind must be one of: all, {', '.join(CHANGE_KINDS)}")
    limit = page_rows()
    scope = query_scope("dashboard:changes", "-changed_at", {"kind": kind})
    position: dict[str, Any] = {}
    token = request.args.get("cursor")
    if token:
        key = convert_key(decode_cursor(token, scope, 2), (dt.datetime.fromisoformat, int))
        position = {AFTER_KEY: key[0], AFTER_ID: key[1]}
    conn = request_connection()
    found: list[dict[str, Any]] = []
    last: Any = None
    more = False
    for _ in range(SCAN_BATCHES):
        statement, values = _changes_query(kind, bool(position))
        rows = conn.execute(statement, {**values, **position, ROW_LIMIT: SCAN_ROWS}).all()
        for row in rows:
            last = row
            row_kind = change_kind(row)
            if row_kind is not None and kind in ("all", row_kind):
                found.append({**row._mapping, "kind": row_kind})
                if len(found) == limit:
                    break
        more = len(rows) == SCAN_ROWS or (bool(rows) and last is not rows[-1])
        if len(found) == limit or not more or last is None:
            break
        position = {AFTER_KEY: last.changed_at, AFTER_ID: last.id}
    next_token = encode_cursor(scope, [last.changed_at, last.id]) if more and last else None
    return render_template(
        "dashboard/changes.html",
        kind=kind,
        kinds=CHANGE_KINDS,
        changes=found,
        next_token=next_token,
    )
