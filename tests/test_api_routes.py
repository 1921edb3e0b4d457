"""/api/v1/ornaments/<sku>, /vendors, /changes, /stats/years, /healthz, /openapi.json."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.test_api_products import fetch_all


def money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def test_ornament_offers_cheapest_first_with_spread_and_seen_range(client, api_db):
    by_sku: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        by_sku[product["sku"]].append(product)
    # An ornament sold by all three shops, some in stock.
    sku = next(
        s
        for s, offers in sorted(by_sku.items())
        if len(offers) == 3 and sum(o["availability"] == "in_stock" for o in offers) >= 2
    )
    offers = sorted(by_sku[sku], key=lambda o: (o["price"], o["vendor"]))
    body = client.get(f"/api/v1/ornaments/{sku.lower()}").get_json()
    data = body["data"]
    assert data["sku"] == sku
    assert [o["vendor"] for o in data["offers"]] == [o["vendor"] for o in offers]
    assert [o["price"] for o in data["offers"]] == [money(o["price"]) for o in offers]
    for got, product in zip(data["offers"], offers, strict=True):
        seen = [product["price"]]
        for row in api_db.audit:
            if row["product_id"] == product["id"] and row["field"] == "price":
                seen += [Decimal(v) for v in (row["old_value"], row["new_value"]) if v]
        assert got["lowest_price_seen"] == money(min(seen))
        assert got["highest_price_seen"] == money(max(seen))
    in_stock = [o for o in offers if o["availability"] == "in_stock"]
    spread = data["spread"]
    assert spread["cheapest"]["vendor"] == in_stock[0]["vendor"]
    assert spread["dearest"]["vendor"] == in_stock[-1]["vendor"]
    assert spread["amount"] == money(in_stock[-1]["price"] - in_stock[0]["price"])
    assert spread["in_stock_offers"] == len(in_stock)


def test_ornament_with_a_price_history_reports_the_old_high(client, api_db):
    # Products with n % 4 == 0 cost 1.00 more before their second crawl.
    product = api_db.products[4]
    body = client.get(f"/api/v1/ornaments/{product['sku']}").get_json()
    offer = next(o for o in body["data"]["offers"] if o["product_id"] == product["id"])
    assert offer["highest_price_seen"] == money(product["price"] + 1)
    assert offer["lowest_price_seen"] == money(product["price"])


def test_ornament_spread_is_null_when_nothing_is_in_stock(client, api_db):
    by_sku: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        by_sku[product["sku"]].append(product)
    sku = next(
        s for s, o in sorted(by_sku.items()) if all(p["availability"] != "in_stock" for p in o)
    )
    assert client.get(f"/api/v1/ornaments/{sku}").get_json()["data"]["spread"] is None


def test_an_offer_of_unknown_stock_is_never_counted_in_stock(client, api_db):
    by_sku: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        by_sku[product["sku"]].append(product)
    # An ornament with an offer whose stock wording was unknown beside in-stock ones.
    sku, offers = next(
        (s, o)
        for s, o in sorted(by_sku.items())
        if any(p["availability"] == "unknown" for p in o)
        and any(p["availability"] == "in_stock" for p in o)
    )
    spread = client.get(f"/api/v1/ornaments/{sku}").get_json()["data"]["spread"]
    in_stock = [o for o in offers if o["availability"] == "in_stock"]
    assert spread["in_stock_offers"] == len(in_stock) < len(offers)
    unknown = [p for p in api_db.products if p["availability"] == "unknown"]
    (row,) = client.get(
        f"/api/v1/stats/years?availability=unknown&vendor={unknown[0]['vendor']}"
        f"&year_min={unknown[0]['release_year']}&year_max={unknown[0]['release_year']}"
    ).get_json()["data"]
    assert row["count"] >= 1 and row["in_stock_share"] == 0.0


def test_unknown_ornament_is_404(client):
    for sku in ("QX9999", "'; DROP TABLE products; --", "x" * 300):
        response = client.get(f"/api/v1/ornaments/{sku}")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_vendors_count_products_and_report_last_run_verdict(client, api_db):
    data = client.get("/api/v1/vendors").get_json()["data"]
    assert [v["vendor"] for v in data] == sorted({p["vendor"] for p in api_db.products})
    for entry in data:
        products = [p for p in api_db.products if p["vendor"] == entry["vendor"]]
        assert entry["products"] == len(products)
        assert entry["in_stock"] == sum(p["availability"] == "in_stock" for p in products)
        assert entry["delisted"] == sum(p["availability"] == "delisted" for p in products)
    runs = {v["vendor"]: v["last_run"] for v in data}
    assert runs["hallmark_ornaments"]["crawl_id"] == "run-a2"
    assert runs["hallmark_ornaments"]["verdict"] == "failed"
    assert runs["hallmark_ornaments"]["dropped"] == {"missing_price": 1}
    assert runs["hookedonhallmark"]["verdict"] == "running"
    # The last run is a worker the session's other worker judged: the session's verdict.
    assert runs["ornament_shop"]["crawl_id"] == "run-c1"
    assert (runs["ornament_shop"]["verdict"], runs["ornament_shop"]["workers"]) == ("passed", 2)
    assert runs["ornament_shop"]["monitor_report"] is None
    only = client.get("/api/v1/vendors?vendor=ornament_shop").get_json()["data"]
    assert [v["vendor"] for v in only] == ["ornament_shop"]


def test_changes_newest_first_with_product_fields(client, api_db):
    rows = fetch_all(client, "/api/v1/changes?limit=50")
    assert len(rows) == len(api_db.audit)
    keys = [(r["changed_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    by_id = {p["id"]: p for p in api_db.products}
    assert all(r["sku"] == by_id[r["product_id"]]["sku"] for r in rows)


def test_changes_direction_compares_numbers_not_text(client, api_db):
    drops = fetch_all(client, "/api/v1/changes?direction=down")
    rises = fetch_all(client, "/api/v1/changes?direction=up")
    expected_drops = [
        a
        for a in api_db.audit
        if a["field"] == "price"
        and a["old_value"]
        and Decimal(a["new_value"]) < Decimal(a["old_value"])
    ]
    assert len(drops) == len(expected_drops) > 0
    assert all(Decimal(r["new_value"]) < Decimal(r["old_value"]) for r in drops)
    # "9.99" -> "10.00" is a rise, though "10.00" < "9.99" as text.
    assert [(r["old_value"], r["new_value"]) for r in rises] == [("9.99", "10.00")]


def test_changes_filters(client, api_db):
    availability = fetch_all(client, "/api/v1/changes?field=availability&limit=500")
    assert len(availability) == sum(a["field"] == "availability" for a in api_db.audit)
    since = fetch_all(client, "/api/v1/changes?since=2026-11-03T00:00:00Z&until=2026-11-10")
    assert {r["crawl_id"] for r in since} == {"crawl-2"}
    shop = fetch_all(client, "/api/v1/changes?vendor=ornament_shop&field=price&sort=changed_at")
    assert {r["vendor"] for r in shop} == {"ornament_shop"}
    keys = [(r["changed_at"], r["id"]) for r in shop]
    assert keys == sorted(keys)
    response = client.get("/api/v1/changes?direction=down&field=availability")
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == "direction"


def test_year_stats(client, api_db):
    data = client.get("/api/v1/stats/years").get_json()["data"]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        groups[(product["vendor"], product["release_year"])].append(product)
    assert [(r["vendor"], r["release_year"]) for r in data] == sorted(groups)
    for row in data:
        products = groups[(row["vendor"], row["release_year"])]
        prices = [p["price"] for p in products]
        assert row["count"] == len(products)
        assert row["min_price"] == money(min(prices))
        assert row["max_price"] == money(max(prices))
        assert row["mean_price"] == money(sum(prices) / len(prices))
        assert row["median_price"] == money(statistics.median(prices))
        share = sum(p["availability"] == "in_stock" for p in products) / len(products)
        assert abs(row["in_stock_share"] - share) < 1e-4
    some = client.get("/api/v1/stats/years?vendor=ornament_shop&year_min=2019&year_max=2020")
    assert [(r["vendor"], r["release_year"]) for r in some.get_json()["data"]] == [
        ("ornament_shop", 2019),
        ("ornament_shop", 2020),
    ]


def test_healthz_needs_no_key(api_app):
    response = api_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "data": {"status": "ok", "database": "ok"},
        "meta": {},
        "next": None,
    }


def test_openapi_document_is_served_and_lists_every_route(api_app):
    document = api_app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    served = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in api_app.url_map.iter_rules()
        # The dashboard's pages share the app but are not API routes (docs/dashboard.md).
        if rule.endpoint != "meta.openapi" and not rule.endpoint.startswith("dashboard.")
    }
    assert served == set(document["paths"])


def test_every_route_accepts_exactly_the_parameters_it_documents(client, api_db):
    document = client.get("/api/v1/openapi.json").get_json()
    product = api_db.products[0]
    for path, item in document["paths"].items():
        declared = item["get"]["parameters"]
        assert {p["name"] for p in declared if p["in"] == "path"} == set(
            re.findall(r"{(\w+)}", path)
        ), path
        if path == "/healthz":
            assert declared == []  # it takes none, and ignores any it is given
            continue
        url = path.replace("{product_id}", product["id"]).replace("{sku}", product["sku"])
        response = client.get(url, query_string={"undeclared": "1"})
        assert response.status_code == 400, url
        error = response.get_json()["error"]
        assert error["code"] == "unknown_parameter" and error["parameter"] == "undeclared"
        accepted = sorted(p["name"] for p in declared if p["in"] == "query")
        assert error["message"].endswith("this route accepts: " + ", ".join(accepted)), url


def test_etag_gives_304_when_nothing_changed(client):
    first = client.get("/api/v1/vendors")
    etag = first.headers["ETag"]
    again = client.get("/api/v1/vendors", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/v1/vendors?vendor=ornament_shop", headers={"If-None-Match": etag})
    assert other.status_code == 200
    # CSV streams carry no ETag (their body is not known up front).
    assert "ETag" not in client.get("/api/v1/products?format=csv&limit=1").headers


def test_prices_as_intervals_from_the_price_history_view(client, api_db):
    product = api_db.products[4]  # one price change: 1.00 more before its second crawl
    data = client.get(f"/api/v1/products/{product['id']}/prices").get_json()["data"]
    assert [row["price"] for row in data] == [money(product["price"] + 1), money(product["price"])]
    assert data[0]["valid_to"] == data[1]["valid_from"] and data[1]["valid_to"] is None
    later = client.get(f"/api/v1/products/{product['id']}/prices?since=2026-11-10").get_json()
    assert [row["price"] for row in later["data"]] == [money(product["price"])]
    earlier = client.get(f"/api/v1/products/{product['id']}/prices?until=2026-11-02").get_json()
    assert [row["price"] for row in earlier["data"]] == [money(product["price"] + 1)]
    rows = read_csv_rows(client.get(f"/api/v1/products/{product['id']}/prices?format=csv"))
    assert [row["price"] for row in rows] == [row["price"] for row in data]
    assert client.get(f"/api/v1/products/{'0' * 24}/prices").status_code == 404


def read_csv_rows(response) -> list[dict[str, str]]:
    import csv
    import io

    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
