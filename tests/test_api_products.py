"""/api/v1/products: every filter and sort, keyset pagination, detail and history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, insert, select, text

from christmas_spiders.api.product_queries import PRODUCT_COLUMNS
from christmas_spiders.db.ids import product_id
from christmas_spiders.db.models import Product
from tests.fixtures.api import T0, add_key, make_api_database, remove_api_database


def fetch_all(client: Any, url: str) -> list[dict[str, Any]]:
    """Follow `next` tokens to the end; returns every row in order."""
    rows: list[dict[str, Any]] = []
    separator = "&" if "?" in url else "?"
    response = client.get(url)
    while True:
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        rows.extend(body["data"])
        if body["next"] is None:
            assert "Link" not in response.headers
            return rows
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"') and f"cursor={body['next']}" in link
        response = client.get(f"{url}{separator}cursor={body['next']}")


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def test_default_page_is_sorted_by_id_and_limited(client, api_db):
    body = client.get("/api/v1/products").get_json()
    assert body["meta"]["limit"] == 100 and body["meta"]["count"] == 100
    assert ids(body["data"]) == sorted(p["id"] for p in api_db.products)[:100]
    assert body["next"] is not None


def test_product_fields_and_price_as_exact_string(client, api_db):
    product = api_db.products[7]
    body = client.get(f"/api/v1/products/{product['id']}").get_json()
    data = body["data"]
    assert data["price"] == format(product["price"], "f") and isinstance(data["price"], str)
    assert data["release_year"] == product["release_year"]
    assert data["vendor"] == product["vendor"] and data["sku"] == product["sku"]
    assert data["last_synced_at"] == product["last_synced_at"].isoformat().replace("+00:00", "Z")
    assert set(data) == {
        "id", "vendor", "vendor_id", "sku", "name", "price", "currency", "brand",
        "availability", "release_year", "link", "was_price", "stock_text", "last_synced_at",
        "created_at",
    }  # fmt: skip
    assert data["was_price"] is None and product["was_price"] is None
    # An unknown offer says which wording made it unknown.
    unknown = api_db.products[4]
    data = client.get(f"/api/v1/products/{unknown['id']}").get_json()["data"]
    assert (data["availability"], data["stock_text"]) == ("unknown", "Backordered")
    on_sale = api_db.products[6]
    data = client.get(f"/api/v1/products/{on_sale['id']}").get_json()["data"]
    assert data["was_price"] == format(on_sale["was_price"], "f") and on_sale["was_price"]


@pytest.mark.parametrize("limit", [1, 7, 500])
def test_walk_returns_every_row_once(client, api_db, limit):
    rows = fetch_all(client, f"/api/v1/products?limit={limit}")
    assert ids(rows) == sorted(p["id"] for p in api_db.products)


def _key(product: dict[str, Any], field: str) -> Any:
    return product[field]


@pytest.mark.parametrize("sort", ["price", "name", "release_year", "last_synced_at", "id"])
@pytest.mark.parametrize("descending", [False, True])
def test_sorts_walk_in_order_with_id_tiebreak(client, api_db, sort, descending):
    expected = sorted(api_db.products, key=lambda p: (_key(p, sort), p["id"]), reverse=descending)
    prefix = "-" if descending else ""
    rows = fetch_all(client, f"/api/v1/products?sort={prefix}{sort}&limit=13")
    assert ids(rows) == ids(expected)


FILTERS: list[tuple[str, Any]] = [
    ("vendor=ornament_shop", lambda p: p["vendor"] == "ornament_shop"),
    (
        "vendor=ornament_shop,hookedonhallmark",
        lambda p: p["vendor"] in ("ornament_shop", "hookedonhallmark"),
    ),
    ("sku=qx%200007", lambda p: p["sku"] == "QX0007"),
    ("release_year=2018", lambda p: p["release_year"] == 2018),
    ("year_min=2020", lambda p: p["release_year"] >= 2020),
    ("year_max=2016", lambda p: p["release_year"] <= 2016),
    ("year_min=2017&year_max=2019", lambda p: 2017 <= p["release_year"] <= 2019),
    ("availability=in_stock", lambda p: p["availability"] == "in_stock"),
    (
        "availability=out_of_stock,delisted",
        lambda p: p["availability"] in ("out_of_stock", "delisted"),
    ),
    ("availability=unknown", lambda p: p["availability"] == "unknown"),
    ("on_sale=true", lambda p: p["was_price"] is not None and p["was_price"] > p["price"]),
    ("on_sale=false", lambda p: p["was_price"] is None or p["was_price"] <= p["price"]),
    (
        "on_sale=true&availability=in_stock,unknown&vendor=ornament_shop",
        lambda p: (
            p["was_price"] is not None
            and p["was_price"] > p["price"]
            and p["availability"] in ("in_stock", "unknown")
            and p["vendor"] == "ornament_shop"
        ),
    ),
    ("price_min=50", lambda p: p["price"] >= Decimal(50)),
    ("price_max=20.5", lambda p: p["price"] <= Decimal("20.5")),
    (
        "price_min=10&price_max=30&vendor=hookedonhallmark",
        lambda p: Decimal(10) <= p["price"] <= Decimal(30) and p["vendor"] == "hookedonhallmark",
    ),
    ("q=santa", lambda p: "santa" in p["name"].lower()),
    # LIKE wildcards are matched literally.
    ("q=100%25", lambda p: "100%" in p["name"]),
    ("q=_", lambda p: "_" in p["name"]),
    ("q=%25", lambda p: "%" in p["name"]),
    ("q=k%5Cs", lambda p: "k\\s" in p["name"]),
    ("q=O'Brien", lambda p: "O'Brien" in p["name"]),
    (
        "synced_since=2026-11-04T13:00:00Z",
        lambda p: p["last_synced_at"] >= dt.datetime(2026, 11, 4, 13, tzinfo=dt.UTC),
    ),
]


@pytest.mark.parametrize(("query", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters(client, api_db, query, keep):
    expected = sorted(p["id"] for p in api_db.products if keep(p))
    rows = fetch_all(client, f"/api/v1/products?{query}&limit=17")
    assert ids(rows) == expected
    # (An unknown vendor is a 400, not an empty page: test_api_hardening.py.)
    assert expected, "the seed must exercise the filter"


def test_changed_since_uses_the_audit(client, api_db):
    since = T0 + dt.timedelta(days=2)
    changed = {a["product_id"] for a in api_db.audit if a["changed_at"] >= since}
    rows = fetch_all(
        client, "/api/v1/products?changed_since=" + since.isoformat().replace("+", "%2B")
    )
    assert set(ids(rows)) == changed and changed
    # A date alone is midnight UTC.
    rows = fetch_all(client, "/api/v1/products?changed_since=2026-11-03")
    assert set(ids(rows)) == changed


def test_filters_and_sort_combine(client, api_db):
    expected = sorted(
        (
            p
            for p in api_db.products
            if p["vendor"] == "ornament_shop" and p["release_year"] >= 2018
        ),
        key=lambda p: (p["price"], p["id"]),
        reverse=True,
    )
    rows = fetch_all(
        client, "/api/v1/products?vendor=ornament_shop&year_min=2018&sort=-price&limit=5"
    )
    assert ids(rows) == ids(expected)


@pytest.mark.parametrize("descending", [False, True])
def test_one_shop_and_availability_by_price_pages_like_any_other_query(client, api_db, descending):
    # This shape pages along ix_products_vendor_availability_price, years checked in it.
    def keep(p: dict[str, Any]) -> bool:
        return (
            p["vendor"] == "hookedonhallmark"
            and p["availability"] == "in_stock"
            and 2016 <= p["release_year"] <= 2022
            and p["price"] >= Decimal("5.5")
        )

    expected = sorted(
        (p for p in api_db.products if keep(p)),
        key=lambda p: (p["price"], p["id"]),
        reverse=descending,
    )
    assert len(expected) > 6, "the seed must give several pages"
    rows = fetch_all(
        client,
        "/api/v1/products?vendor=hookedonhallmark&availability=in_stock&year_min=2016"
        f"&year_max=2022&price_min=5.5&sort={'-' if descending else ''}price&limit=3",
    )
    assert ids(rows) == ids(expected)
    assert all(set(row) == set(rows[0]) for row in rows) and "link" in rows[0]


def test_limit_is_capped_by_config(make_app, api_key):
    app = make_app(max_limit=10)
    client = app.test_client()
    headers = {"X-API-Key": api_key}
    assert len(client.get("/api/v1/products?limit=10", headers=headers).get_json()["data"]) == 10
    response = client.get("/api/v1/products?limit=11", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == "limit"


def test_cursor_is_bound_to_its_query(client):
    token = client.get("/api/v1/products?limit=2&sort=price").get_json()["next"]
    assert client.get(f"/api/v1/products?limit=2&sort=price&cursor={token}").status_code == 200
    for other in ("sort=-price", "sort=price&vendor=ornament_shop"):
        response = client.get(f"/api/v1/products?limit=2&{other}&cursor={token}")
        assert response.status_code == 400
        assert response.get_json()["error"]["parameter"] == "cursor"
    body, signature = token.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    response = client.get(f"/api/v1/products?limit=2&sort=price&cursor={tampered}")
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "cursor"


def _new_product(n: int, vendor: str, price: str, year: int) -> dict[str, Any]:
    vendor_id = f"late-{n}"
    return {
        "id": product_id(vendor, vendor_id),
        "vendor": vendor,
        "vendor_id": vendor_id,
        "sku": f"QX9{n:03d}",
        "name": f"Late arrival {n}",
        "price": Decimal(price),
        "currency": "USD",
        "brand": "Hallmark",
        "availability": "in_stock",
        "release_year": year,
        "link": f"https://{vendor}.example/p/{vendor_id}",
    }


@pytest.mark.parametrize("sort", ["id", "-price", "name", "release_year"])
def test_pagination_neither_skips_nor_repeats_while_rows_are_added(pg_admin_url, make_app, sort):
    database = make_api_database(pg_admin_url, products_per_vendor=15)
    try:
        app = make_app(database)
        key = add_key(database.owner_url, "pager")
        client = app.test_client()
        client.environ_base["HTTP_X_API_KEY"] = key
        owner = create_engine(database.owner_url)
        original = {p["id"] for p in database.products}
        seen: list[str] = []
        added: set[str] = set()
        url = f"/api/v1/products?sort={sort}&limit=4"
        response = client.get(url)
        page = 0
        while True:
            body = response.get_json()
            seen.extend(ids(body["data"]))
            if body["next"] is None:
                break
            # Between page fetches, rows land before, inside and after the cursor.
            page += 1
            rows = [
                _new_product(page * 3 + i, "ornament_shop", price, year)
                for i, (price, year) in enumerate(
                    [("1.00", 2001), ("45.00", 2019), ("99.99", 2030)]
                )
            ]
            with owner.begin() as conn:
                conn.execute(insert(Product), rows)
            added |= {row["id"] for row in rows}
            response = client.get(f"{url}&cursor={body['next']}")
        owner.dispose()
        assert len(seen) == len(set(seen)), "a row was repeated"
        assert original <= set(seen), "a row present all along was skipped"
        assert set(seen) - original <= added
    finally:
        remove_api_database(pg_admin_url, database)


def test_product_404_and_malformed_id(client):
    for pid in ("0" * 24, "nothex", "' OR 1=1 --"):
        response = client.get(f"/api/v1/products/{pid}")
        assert response.status_code == 404, pid
        assert response.get_json()["error"]["code"] == "not_found"
    # Text no column can hold is a bad request naming the path segment.
    for pid in ("%00", "ab%ED%A0%80cd", "a" * 3000):
        response = client.get(f"/api/v1/products/{pid}")
        assert response.status_code == 400, pid
        assert "product_id" in response.get_json()["error"]["message"], pid
    assert client.get("/api/v1/products/" + "0" * 24 + "/history").status_code == 404


def test_history_is_the_products_audit_rows(client, api_db):
    product = api_db.products[0]
    expected = [a for a in api_db.audit if a["product_id"] == product["id"]]
    body = client.get(f"/api/v1/products/{product['id']}/history").get_json()
    got = body["data"]
    assert [(r["field"], r["old_value"], r["new_value"]) for r in got] == [
        (a["field"], a["old_value"], a["new_value"]) for a in expected
    ]
    assert got[0]["operation"] == "INSERT" and got[0]["crawl_id"] == "crawl-1"
    assert [r["changed_at"] for r in got] == sorted(r["changed_at"] for r in got)


def test_history_filters_sort_and_pages(client, api_db):
    product = api_db.products[0]
    url = f"/api/v1/products/{product['id']}/history"
    prices = client.get(url + "?field=price").get_json()["data"]
    assert {r["field"] for r in prices} == {"price"} and len(prices) == 2
    since = client.get(url + "?since=2026-11-02T00:00:00Z").get_json()["data"]
    assert [r["operation"] for r in since] == ["UPDATE"]
    until = client.get(url + "?until=2026-11-02").get_json()["data"]
    assert {r["operation"] for r in until} == {"INSERT"} and len(until) == 2
    newest = client.get(url + "?sort=-changed_at").get_json()["data"]
    assert newest[0]["operation"] == "UPDATE"
    walked = fetch_all(client, url + "?limit=1")
    assert [r["id"] for r in walked] == [r["id"] for r in client.get(url).get_json()["data"]]
    response = client.get(url + "?field=colour")
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "field"


def test_the_stored_record_json_is_the_products_record(pg_admin_url, make_app):
    # Rows of every kind, written in a session on another time zone: no was_price and a
    # was_price, a free product and a dear one, stock wording and none, times with and
    # without microseconds, names with quotes, backslashes, control characters and
    # letters beyond ASCII. Each answer is the record built from the row's own columns.
    database = make_api_database(pg_admin_url, products_per_vendor=3)
    odd = [
        _new_product(1, "ornament_shop", "0.00", 1973),
        _new_product(2, "hookedonhallmark", "12345.67", 2026),
        _new_product(3, "hallmark_ornaments", "24.95", 2001),
    ]
    for row in odd:
        row |= {"was_price": None, "stock_text": None, "last_synced_at": T0, "created_at": T0}
    odd[0] |= {"name": 'Père Noël "Star" \\ ☃ 🎄', "was_price": Decimal("5.50")}
    odd[1] |= {
        "name": "tab\there\nnew line \x01 and \x7f",
        "stock_text": "In Stock - Ships Next Business Day",
        "last_synced_at": dt.datetime(2026, 12, 1, 8, 30, 0, tzinfo=dt.UTC),
        "created_at": dt.datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
    }
    odd[2] |= {"last_synced_at": dt.datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=dt.UTC)}
    try:
        owner = create_engine(database.owner_url)
        with owner.begin() as conn:
            conn.execute(text("SET LOCAL TimeZone = 'Asia/Kathmandu'"))
            conn.execute(insert(Product), odd)
        with owner.connect() as conn:
            rows = conn.execute(select(*(Product.__table__.c[c] for c in PRODUCT_COLUMNS)))
            expected = {}
            for row in rows:
                record = dict(zip(PRODUCT_COLUMNS, row, strict=True))
                for name in ("price", "was_price"):
                    if record[name] is not None:
                        record[name] = format(record[name], "f")
                expected[record["id"]] = orjson.loads(
                    orjson.dumps(record, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
                )
        owner.dispose()
        client = make_app(database).test_client()
        client.environ_base["HTTP_X_API_KEY"] = add_key(database.owner_url, "records")
        assert len(expected) == len(database.products) + len(odd)
        for product_id_, record in expected.items():
            answer = client.get(f"/api/v1/products/{product_id_}").get_json()["data"]
            assert answer == record and list(answer) == list(PRODUCT_COLUMNS)
        listed = {row["id"]: row for row in fetch_all(client, "/api/v1/products?limit=2")}
        assert listed == expected
        assert listed[odd[1]["id"]]["last_synced_at"] == "2026-12-01T08:30:00Z"
        assert listed[odd[2]["id"]]["last_synced_at"] == "2026-06-01T12:00:00.000001Z"
    finally:
        remove_api_database(pg_admin_url, database)
