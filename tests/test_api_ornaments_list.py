"""/api/v1/ornaments: one row per sku across the shops, and the summary trigger behind it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import insert, text

from christmas_spiders.db.audit_sql import rebuild_ornament_summary
from christmas_spiders.db.ids import product_id
from christmas_spiders.db.models import Product, ProductAudit
from christmas_spiders.db.ornaments import (
    listing_statement,
    ornament_summaries,
    rarity,
    summary_record,
    summary_shape,
)
from christmas_spiders.db.store import upsert_items
from tests.fixtures.api import VENDORS
from tests.fixtures.storage import sample_items
from tests.test_api_csv import read_csv
from tests.test_api_products import fetch_all
from tests.test_api_routes import money

DAYS_90 = dt.timedelta(days=90).total_seconds()


def expected_rows(api_db) -> dict[str, dict[str, Any]]:
    """Each sku's row, worked out from the seed alone."""
    by_sku: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        by_sku[product["sku"]].append(product)
    seen: dict[str, list[Decimal]] = defaultdict(list)
    for row in api_db.audit:
        if row["field"] == "price":
            seen[row["product_id"]] += [
                Decimal(v) for v in (row["old_value"], row["new_value"]) if v
            ]
    rows = {}
    for sku, offers in by_sku.items():
        in_stock = sorted(
            (o for o in offers if o["availability"] == "in_stock"),
            key=lambda o: (o["price"], o["vendor"], o["id"]),
        )
        cheapest = in_stock[0] if in_stock else None
        dearest = (
            min(in_stock, key=lambda o: (-o["price"], o["vendor"], o["id"])) if in_stock else None
        )
        spread = None
        if len(in_stock) >= 2:
            amount = dearest["price"] - cheapest["price"]
            percent = (amount / cheapest["price"] * 100).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
            spread = {"amount": money(amount), "percent": str(percent)}
        prices = [o["price"] for o in offers] + [p for o in offers for p in seen[o["id"]]]
        years = sorted(o["release_year"] for o in offers)
        rows[sku] = {
            "sku": sku,
            "names": sorted({o["name"] for o in offers}),
            # The year most offers give, the earliest of a tie.
            "release_year": max(sorted(set(years)), key=years.count),
            "offers": len(offers),
            "in_stock_offers": len(in_stock),
            "cheapest": None
            if cheapest is None
            else {
                "vendor": cheapest["vendor"],
                "product_id": cheapest["id"],
                "price": money(cheapest["price"]),
            },
            "dearest": None
            if dearest is None
            else {
                "vendor": dearest["vendor"],
                "product_id": dearest["id"],
                "price": money(dearest["price"]),
            },
            "spread": spread,
            "lowest_price_seen": money(min(prices)),
            "carried_by": sorted({o["vendor"] for o in offers if o["availability"] != "delisted"}),
            "in_stock_at": sorted({o["vendor"] for o in in_stock}),
            # Each seeded offer has had its current state since it was stored.
            "first_in_stock": min((o["created_at"] for o in in_stock), default=None),
        }
    return rows


def test_every_sku_once_with_its_offers_spread_and_lowest_price(client, api_db):
    expected = expected_rows(api_db)
    before = dt.datetime.now(dt.UTC)
    rows = fetch_all(client, "/api/v1/ornaments?limit=7")
    after = dt.datetime.now(dt.UTC)
    assert [row["sku"] for row in rows] == sorted(expected)
    for row in rows:
        want = expected[row["sku"]]
        rarity_row = row.pop("rarity")
        assert rarity_row["carried_by"] == want["carried_by"]
        assert rarity_row["in_stock_at"] == want["in_stock_at"]
        first = want["first_in_stock"]
        if first is None:
            assert rarity_row["in_stock_share_90d"] == 0
        else:
            low = min(1.0, (before - first).total_seconds() / DAYS_90)
            high = min(1.0, (after - first).total_seconds() / DAYS_90)
            assert low - 1e-4 <= rarity_row["in_stock_share_90d"] <= high + 1e-4
        assert row == {
            key: value
            for key, value in want.items()
            if key not in ("carried_by", "in_stock_at", "first_in_stock")
        }


def test_the_row_agrees_with_the_one_ornament_answer(client, api_db):
    rows = fetch_all(client, "/api/v1/ornaments?limit=500&min_offers=2")
    for row in rows[:10]:
        one = client.get(f"/api/v1/ornaments/{row['sku']}").get_json()["data"]
        assert one["rarity"] == row["rarity"]
        assert one["names"] == row["names"]
        if row["spread"] is not None:
            assert one["spread"]["amount"] == row["spread"]["amount"]
            assert one["spread"]["percent"] == row["spread"]["percent"]
            assert one["spread"]["cheapest"] == row["cheapest"]
            assert one["spread"]["dearest"] == row["dearest"]
        assert min(Decimal(o["lowest_price_seen"]) for o in one["offers"]) == Decimal(
            row["lowest_price_seen"]
        )


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("-spread", lambda r: Decimal(r["spread"]["amount"]) if r["spread"] else Decimal(-1)),
        (
            "spread_percent",
            lambda r: Decimal(r["spread"]["percent"]) if r["spread"] else Decimal(-1),
        ),
        (
            "cheapest",
            lambda r: Decimal(r["cheapest"]["price"]) if r["cheapest"] else Decimal("1e10"),
        ),
        ("-offers", lambda r: r["offers"]),
        ("rarity", lambda r: (len(r["rarity"]["in_stock_at"]), len(r["rarity"]["carried_by"]))),
        ("-sku", lambda r: r["sku"]),
    ],
)
def test_sorted_pages_cover_every_sku_once_in_order(client, api_db, sort, key):
    rows = fetch_all(client, f"/api/v1/ornaments?sort={sort}&limit=6")
    skus = [row["sku"] for row in rows]
    assert sorted(skus) == sorted(expected_rows(api_db))
    keys = [key(row) for row in rows]
    # spread_percent pages by the unrounded percent: the rounded ones are still in order.
    assert keys == sorted(keys, reverse=sort.startswith("-"))


def test_biggest_spreads_first_and_the_rarest_first(client, api_db):
    expected = expected_rows(api_db)
    top = client.get("/api/v1/ornaments?sort=-spread&limit=5").get_json()["data"]
    amounts = sorted(
        (Decimal(r["spread"]["amount"]) for r in expected.values() if r["spread"]), reverse=True
    )
    assert [Decimal(r["spread"]["amount"]) for r in top] == amounts[:5]
    rarest = client.get("/api/v1/ornaments?sort=rarity&limit=3").get_json()["data"]
    fewest = min(len(r["in_stock_at"]) for r in expected.values())
    assert all(len(r["rarity"]["in_stock_at"]) == fewest for r in rarest)


def test_filters(client, api_db):
    expected = expected_rows(api_db)

    def skus(query: str) -> list[str]:
        return [r["sku"] for r in fetch_all(client, f"/api/v1/ornaments?{query}")]

    sold_out = sorted(s for s, r in expected.items() if r["in_stock_offers"] == 0)
    assert sold_out and skus("in_stock_offers=0") == sold_out
    assert skus("in_stock_offers=2") == sorted(
        s for s, r in expected.items() if r["in_stock_offers"] == 2
    )
    carried = sorted(s for s, r in expected.items() if VENDORS[1] in r["carried_by"])
    assert skus(f"vendor={VENDORS[1]}") == carried
    both = sorted(s for s, r in expected.items() if {VENDORS[0], VENDORS[2]} & set(r["carried_by"]))
    assert skus(f"vendor={VENDORS[0]},{VENDORS[2]}") == both
    year = next(iter(expected.values()))["release_year"]
    assert skus(f"release_year={year}") == sorted(
        s for s, r in expected.items() if r["release_year"] == year
    )
    assert skus("year_min=2018&year_max=2019") == sorted(
        s for s, r in expected.items() if 2018 <= r["release_year"] <= 2019
    )
    assert skus("min_offers=3") == sorted(s for s, r in expected.items() if r["offers"] >= 3)
    wide = sorted(
        s for s, r in expected.items() if r["spread"] and Decimal(r["spread"]["percent"]) >= 50
    )
    assert wide and skus("min_spread_percent=50") == wide
    # LIKE's wildcards are literal: "100%" matches the name with a percent sign only.
    assert skus("q=100%25") == sorted(
        s for s, r in expected.items() if any("100%" in n for n in r["names"])
    )
    assert skus("q=santa_claus") == skus("q=100%25")
    assert skus("q=o%27brien") == sorted(
        s for s, r in expected.items() if any("O'Brien" in n for n in r["names"])
    )


def test_bad_parameters_are_400s(client):
    for query, parameter in (
        ("sort=price", "sort"),
        ("in_stock_offers=-1", "in_stock_offers"),
        ("min_spread_percent=x", "min_spread_percent"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ):
        response = client.get(f"/api/v1/ornaments?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["parameter"] == parameter
    first = client.get("/api/v1/ornaments?sort=-spread&limit=2").get_json()
    foreign = client.get(f"/api/v1/ornaments?sort=spread&limit=2&cursor={first['next']}")
    assert foreign.status_code == 400


def test_csv_has_one_line_per_sku_with_the_json_values(client, api_db):
    rows = {r["sku"]: r for r in fetch_all(client, "/api/v1/ornaments?sort=-spread&limit=500")}
    lines = read_csv(client.get("/api/v1/ornaments?format=csv&sort=-spread"))
    assert [line["sku"] for line in lines] == list(rows)
    for line in lines:
        row = rows[line["sku"]]
        assert line["names"] == "; ".join(row["names"])
        assert line["cheapest_price"] == (row["cheapest"]["price"] if row["cheapest"] else "")
        assert line["spread_percent"] == (row["spread"]["percent"] if row["spread"] else "")
        assert line["lowest_price_seen"] == row["lowest_price_seen"]
        assert line["carried_by"] == "; ".join(row["rarity"]["carried_by"])
        assert int(line["in_stock_offers"]) == row["in_stock_offers"]
        # One rounding for both (time moves on between the two answers: one step).
        share = row["rarity"]["in_stock_share_90d"]
        assert abs(float(line["in_stock_share_90d"]) - share) <= 1e-4
    assert len(read_csv(client.get("/api/v1/ornaments?format=csv&limit=3"))) == 3


# The trigger, on a database of the test's own.


def summaries(engine, **filters: Any) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row["sku"]: row for row in ornament_summaries(conn, filters, limit=None)}


def test_the_summary_follows_inserts_changes_delistings_and_deletes(storage_engine):
    shop_a = sample_items(3, vendor="ornament_shop", price="20.00")
    shop_b = sample_items(2, vendor="hookedonhallmark", price="25.00")
    with storage_engine.begin() as conn:
        upsert_items(conn, shop_a + shop_b, "crawl-1")
    rows = summaries(storage_engine)
    assert sorted(rows) == ["QX5000", "QX5001", "QX5002"]
    assert rows["QX5000"]["spread"] == {"amount": Decimal("5.00"), "percent": Decimal("25.0")}
    assert rows["QX5000"]["cheapest"]["vendor"] == "ornament_shop"
    assert rows["QX5002"]["spread"] is None  # one offer in stock
    assert rows["QX5002"]["cheapest"] == rows["QX5002"]["dearest"]

    # A price drop, a sell-out: the same upsert.
    shop_b[0]["price"] = "10.00"
    shop_a[1]["availability"] = "out_of_stock"
    with storage_engine.begin() as conn:
        upsert_items(conn, shop_a + shop_b, "crawl-2")
    rows = summaries(storage_engine)
    assert rows["QX5000"]["cheapest"]["vendor"] == "hookedonhallmark"
    assert rows["QX5000"]["spread"]["amount"] == Decimal("10.00")
    assert rows["QX5000"]["lowest_price_seen"] == Decimal("10.00")
    assert rows["QX5001"]["in_stock_offers"] == 1
    assert rows["QX5001"]["rarity"]["in_stock_at"] == ["hookedonhallmark"]
    assert rows["QX5001"]["rarity"]["carried_by"] == ["hookedonhallmark", "ornament_shop"]

    # Back up again: the lowest price seen stays where it was.
    shop_b[0]["price"] = "30.00"
    with storage_engine.begin() as conn:
        upsert_items(conn, shop_b, "crawl-3")
        conn.execute(text("UPDATE products SET availability = 'delisted' WHERE sku = 'QX5002'"))
    rows = summaries(storage_engine)
    assert rows["QX5000"]["lowest_price_seen"] == Decimal("10.00")
    assert rows["QX5000"]["dearest"]["price"] == Decimal("30.00")
    assert rows["QX5002"]["rarity"]["carried_by"] == []
    assert rows["QX5002"]["offers"] == 1
    assert list(summaries(storage_engine, in_stock_offers=0)) == ["QX5002"]

    # A sku corrected by hand moves the offer between two summaries.
    with storage_engine.begin() as conn:
        conn.execute(text("UPDATE products SET sku = 'QX5002' WHERE sku = 'QX5001'"))
    rows = summaries(storage_engine)
    assert "QX5001" not in rows
    assert rows["QX5002"]["offers"] == 3
    with storage_engine.begin() as conn:
        conn.execute(text("DELETE FROM products WHERE sku = 'QX5002'"))
    assert sorted(summaries(storage_engine)) == ["QX5000"]
    with storage_engine.begin() as conn:
        conn.execute(text("TRUNCATE products"))
    assert summaries(storage_engine) == {}


def test_a_free_cheapest_offer_has_a_spread_without_a_percent(storage_engine):
    with storage_engine.begin() as conn:
        upsert_items(conn, sample_items(1, price="0.00") + sample_items(1, "hookedonhallmark"), "c")
    row = summaries(storage_engine)["QX5000"]
    assert row["spread"] == {"amount": Decimal("24.95"), "percent": None}


def test_the_stored_listing_json_is_the_summary_record(storage_engine):
    # Rows of every kind: a free cheapest offer (a spread without a percent), one offer
    # in stock (no spread), sold out everywhere (no cheapest, no dearest), a name with
    # quotes, a backslash and non-ASCII letters, and a sku with a quote and a backslash.
    free = sample_items(1, price="0.00")
    dearer = sample_items(2, "hookedonhallmark", price="31.50")
    sold_out = sample_items(4, "hallmark_ornaments")[2:]
    for item in sold_out:
        item["availability"] = "out_of_stock"
    dearer[1]["name"] = 'Père Noël "Star" \\ ☃'
    sold_out[1]["sku"] = 'QX5003"\\'
    with storage_engine.begin() as conn:
        upsert_items(conn, free + dearer + sold_out, "c")
    at = dt.datetime.now(dt.UTC)
    shape, values = summary_shape({})
    with storage_engine.connect() as conn:
        records = [
            summary_record(row, str)
            for row in conn.execute(listing_statement(shape, "sku", None), {**values, "at": at})
        ]
        stored = dict(conn.execute(text("SELECT sku, listing_json FROM ornament_summary")).all())
    assert len(records) == 4
    assert {record["sku"]: record["spread"] for record in records} == {
        "QX5000": {"amount": "31.50", "percent": None},
        "QX5001": None,
        "QX5002": None,
        'QX5003"\\': None,
    }
    assert records[2]["cheapest"] is None
    for record in records:
        share_text = repr(record["rarity"]["in_stock_share_90d"])
        assert json.loads(stored[record["sku"]] + share_text + "}}") == record


def test_an_unchanged_recrawl_leaves_the_summary_alone(storage_engine):
    items = sample_items(4)
    with storage_engine.begin() as conn:
        upsert_items(conn, items, "crawl-1")

    def stamps() -> list[Any]:
        with storage_engine.connect() as conn:
            return conn.execute(text("SELECT sku, updated_at FROM ornament_summary")).all()

    before = stamps()
    with storage_engine.begin() as conn:
        upsert_items(conn, items, "crawl-2")
    assert stamps() == before


@pytest.mark.parametrize("known", [False, True], ids=["new sku", "known sku"])
def test_concurrent_writers_of_one_sku_both_count(storage_engine, known):
    # Two shops' crawls store offers of the same sku at once, each in its own
    # transaction: the second waits for the first and counts its offer.
    if known:
        with storage_engine.begin() as conn:
            upsert_items(conn, sample_items(1, vendor="hallmark_ornaments", price="25.00"), "c0")
    first = sample_items(1, vendor="ornament_shop", price="20.00")
    second = sample_items(1, vendor="hookedonhallmark", price="30.00")
    stored, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write(items: list[dict[str, Any]], hold: bool) -> None:
        try:
            with storage_engine.begin() as conn:
                upsert_items(conn, items, "crawl")
                if hold:
                    stored.set()
                    release.wait(10)
        except BaseException as exc:  # reported below
            errors.append(exc)
            stored.set()

    threads = [threading.Thread(target=write, args=(first, True))]
    threads[0].start()
    assert stored.wait(10)
    threads.append(threading.Thread(target=write, args=(second, False)))
    threads[1].start()
    threads[1].join(0.5)
    assert threads[1].is_alive()  # waiting for the first writer's summary row
    release.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    row = summaries(storage_engine)["QX5000"]
    assert row["offers"] == 3 if known else 2
    assert row["spread"]["amount"] == Decimal("10.00")


def test_a_bulk_load_without_the_audit_still_fills_the_summary(storage_engine):
    with storage_engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        upsert_items(conn, sample_items(3), "crawl-1")
        assert conn.execute(text("SELECT count(*) FROM product_audit")).scalar() == 0
    assert sorted(summaries(storage_engine)) == ["QX5000", "QX5001", "QX5002"]


def test_the_trigger_and_the_rebuild_from_the_audit_keep_the_same_history(storage_engine):
    shop_a = sample_items(3, price="20.00")
    shop_b = sample_items(3, vendor="hookedonhallmark", price="22.00")
    steps = [
        [],
        [("a", 0, "availability", "out_of_stock")],
        [("b", 0, "availability", "out_of_stock"), ("a", 1, "price", "15.00")],
        [("a", 0, "availability", "in_stock"), ("a", 1, "price", "25.00")],
    ]
    for number, changes in enumerate(steps):
        for shop, index, field, value in changes:
            (shop_a if shop == "a" else shop_b)[index][field] = value
        with storage_engine.begin() as conn:  # one transaction, one time, per step
            upsert_items(conn, shop_a + shop_b, f"crawl-{number}")

    history = (
        "SELECT sku, lowest_price_seen, in_stock_spans::text FROM ornament_summary ORDER BY sku"
    )
    with storage_engine.connect() as conn:
        kept = conn.execute(text(history)).all()
        sold_out = conn.execute(
            text("SELECT changed_at FROM product_audit WHERE new_value = 'out_of_stock'")
        ).scalars()
        assert len(set(sold_out)) == 2
    with storage_engine.begin() as conn:
        rebuild_ornament_summary(conn)
    with storage_engine.connect() as conn:
        assert conn.execute(text(history)).all() == kept
        spans = dict(
            conn.execute(
                text(
                    "SELECT sku, (SELECT count(*) FROM unnest(in_stock_spans)) "
                    "FROM ornament_summary"
                )
            ).all()
        )
    # QX5000 was sold out everywhere between steps 2 and 3: two spans.
    assert spans == {"QX5000": 2, "QX5001": 1, "QX5002": 1}
    assert [row[1] for row in kept] == [Decimal("20.00"), Decimal("15.00"), Decimal("20.00")]


def test_in_stock_share_over_the_last_90_days(storage_engine):
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def days_ago(days: float) -> dt.datetime:
        return now - dt.timedelta(days=days)

    def offer(vendor: str, availability: str, created: float) -> dict[str, Any]:
        return {
            "id": product_id(vendor, "v1"),
            "vendor": vendor,
            "vendor_id": "v1",
            "sku": "QX7000",
            "name": "Shared",
            "price": Decimal("10.00"),
            "currency": "USD",
            "brand": "Hallmark",
            "availability": availability,
            "release_year": 2020,
            "link": f"http://127.0.0.1/{vendor}",
            "created_at": days_ago(created),
        }

    # a: in stock from 100 days ago until 60 days ago (30 of the 90 days).
    # b: in stock for the last 45 days (its current state since its last change).
    # c: in stock from 50 to 40 days ago: overlaps b by 5 days, adds 5.
    # d: no availability change recorded: in stock since stored, 3 days ago.
    # e: unknown until its first change 20 days ago (a price change before is no state).
    products = [
        offer("a", "out_of_stock", 120),
        offer("b", "in_stock", 120),
        offer("c", "out_of_stock", 120),
        offer("d", "in_stock", 3),
        offer("e", "out_of_stock", 80),
    ]
    ids = {p["vendor"]: p["id"] for p in products}

    def change(vendor: str, days: float, value: str, field: str = "availability") -> dict:
        return {
            "product_id": ids[vendor],
            "operation": "UPDATE",
            "field": field,
            "old_value": None,
            "new_value": value,
            "changed_at": days_ago(days),
            "crawl_id": None,
        }

    audit = [
        change("a", 100, "in_stock"),
        change("a", 60, "out_of_stock"),
        change("b", 120, "out_of_stock"),
        change("b", 45, "in_stock"),
        change("c", 50, "in_stock"),
        change("c", 40, "out_of_stock"),
        change("e", 70, "11.00", field="price"),
        change("e", 20, "in_stock"),
        change("e", 10, "out_of_stock"),
    ]
    with storage_engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(insert(Product), products)
        conn.execute(insert(ProductAudit), audit)
        rebuild_ornament_summary(conn)
        got = rarity(conn, ["QX7000", "QX0000"], at=now)
    # a: 30 days; b + c: 50 days (45, and 5 more); e: 20 to 10 days ago, inside b's.
    assert got == {
        "QX7000": {
            "carried_by": ["a", "b", "c", "d", "e"],
            "in_stock_at": ["b", "d"],
            "in_stock_share_90d": round(80 / 90, 4),
        }
    }
    with storage_engine.begin() as conn:
        # Changed without an audit row: b's last change says in stock, its current state
        # does not; the current state is taken to hold since that change.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE products SET availability = 'out_of_stock' WHERE id = :id"),
            {"id": ids["b"]},
        )
        conn.execute(text("DELETE FROM products WHERE vendor IN ('a', 'c')"))
        rebuild_ornament_summary(conn)
        later = rarity(conn, ["QX7000"], at=now)["QX7000"]
    # Left: e's 10 days and d's 3.
    assert later["in_stock_at"] == ["d"]
    assert later["in_stock_share_90d"] == round((10 + 3) / 90, 4)
