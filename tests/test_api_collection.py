"""/api/v1/collection: each shop's total, the cheapest way to buy it all, a seller's ask."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, insert

from christmas_spiders.db.ids import product_id
from christmas_spiders.db.models import Product
from tests.fixtures.api import add_key, make_api_database, remove_api_database
from tests.test_api_csv import read_csv
from tests.test_api_routes import money


def expected(api_db, skus: list[str]) -> dict[str, Any]:
    listed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in api_db.products:
        if product["sku"] in skus and product["availability"] != "delisted":
            listed[product["sku"]].append(product)
    shops: dict[str, dict[str, Any]] = {}
    buy, sell, not_in_stock, not_carried = [], [], [], []
    for sku in skus:
        offers = sorted(listed[sku], key=lambda o: (o["price"], o["vendor"], o["id"]))
        if not offers:
            not_carried.append(sku)
            continue
        in_stock = [o for o in offers if o["availability"] == "in_stock"]
        if in_stock:
            buy.append(in_stock[0])
        else:
            not_in_stock.append(sku)
        sell.append(min(offers, key=lambda o: (-o["price"], o["vendor"], o["id"])))
        for vendor in {o["vendor"] for o in offers}:
            shop = shops.setdefault(
                vendor,
                {"listed": 0, "in_stock": 0, "total": Decimal(0), "in_stock_total": Decimal(0)},
            )
            at_shop = [o for o in offers if o["vendor"] == vendor]
            shop["listed"] += 1
            shop["total"] += at_shop[0]["price"]
            stocked = [o for o in at_shop if o["availability"] == "in_stock"]
            if stocked:
                shop["in_stock"] += 1
                shop["in_stock_total"] += stocked[0]["price"]

    def items(chosen: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "total": money(sum((o["price"] for o in chosen), Decimal(0))),
            "count": len(chosen),
            "items": [
                {
                    "sku": o["sku"],
                    "vendor": o["vendor"],
                    "product_id": o["id"],
                    "name": o["name"],
                    "price": money(o["price"]),
                }
                for o in chosen
            ],
        }

    return {
        "skus": len(skus),
        "shops": [
            {
                "vendor": vendor,
                "listed": shop["listed"],
                "in_stock": shop["in_stock"],
                "total": money(shop["total"]),
                "in_stock_total": money(shop["in_stock_total"]),
            }
            for vendor, shop in sorted(shops.items())
        ],
        "buy": {**items(buy), "not_in_stock": not_in_stock},
        "sell": items(sell),
        "not_carried": not_carried,
    }


def some_skus(api_db) -> list[str]:
    """Skus in stock somewhere, sold out everywhere, and one only delisted offers have."""
    by_sku: dict[str, list[str]] = defaultdict(list)
    for product in api_db.products:
        by_sku[product["sku"]].append(product["availability"])
    stocked = [s for s, a in sorted(by_sku.items()) if "in_stock" in a][:6]
    sold_out = [
        s for s, a in sorted(by_sku.items()) if "in_stock" not in a and set(a) != {"delisted"}
    ]
    gone = [s for s, a in sorted(by_sku.items()) if set(a) == {"delisted"}]
    return stocked + sold_out[:1] + gone[:1]


def test_collection_value_from_every_shop(client, api_db):
    skus = some_skus(api_db)
    asked = [*skus, "QX9999"]
    body = client.get(f"/api/v1/collection?skus={','.join(asked)}").get_json()
    assert body["data"] == expected(api_db, asked)
    assert body["meta"] == {"skus": asked}
    assert "QX9999" in body["data"]["not_carried"]
    assert body["data"]["buy"]["not_in_stock"]


def test_a_collection_nothing_of_which_can_be_bought_totals_zero(client, api_db):
    sold_out = some_skus(api_db)[-2:-1]  # listed, in stock nowhere
    data = client.get(f"/api/v1/collection?skus={sold_out[0]},QX9999").get_json()["data"]
    assert data == expected(api_db, [*sold_out, "QX9999"])
    assert data["buy"] == {"total": "0.00", "count": 0, "items": [], "not_in_stock": sold_out}
    only_unknown = client.get("/api/v1/collection?skus=QX9999").get_json()["data"]
    assert only_unknown["sell"] == {"total": "0.00", "count": 0, "items": []}
    assert only_unknown["shops"] == []


def test_skus_repeated_lower_case_and_spaced_are_one_collection(client, api_db):
    skus = some_skus(api_db)[:3]
    plain = client.get(f"/api/v1/collection?skus={','.join(skus)}").get_json()
    spelled = [sku.lower().replace("qx", "qx ") for sku in skus]
    query = f"skus={spelled[0]},{spelled[1]}&skus={spelled[2]}&skus={skus[0]}"
    assert client.get(f"/api/v1/collection?{query}").get_json() == plain


def test_csv_one_line_per_sku(client, api_db):
    skus = [*some_skus(api_db), "QX9999"]
    value = client.get(f"/api/v1/collection?skus={','.join(skus)}").get_json()["data"]
    lines = read_csv(client.get(f"/api/v1/collection?format=csv&skus={','.join(skus)}"))
    assert [line["sku"] for line in lines] == skus
    buy = {item["sku"]: item for item in value["buy"]["items"]}
    sell = {item["sku"]: item for item in value["sell"]["items"]}
    for line in lines:
        sku = line["sku"]
        assert line["carried"] == ("false" if sku in value["not_carried"] else "true")
        assert line["buy_price"] == (buy[sku]["price"] if sku in buy else "")
        assert line["buy_vendor"] == (buy[sku]["vendor"] if sku in buy else "")
        assert line["sell_price"] == (sell[sku]["price"] if sku in sell else "")


def test_limits_and_bad_values(client):
    many = ",".join(f"QX{n:04d}" for n in range(501))
    for query, message in (
        ("", "'skus' is required"),
        (f"skus={many}", "at most 500"),
        ("skus=QX1,,QX2", "comma-separated"),
        (f"skus={'Q' * 65}", "comma-separated"),
    ):
        response = client.get(f"/api/v1/collection?{query}")
        assert response.status_code == 400, query
        error = response.get_json()["error"]
        assert error["parameter"] == "skus"
        assert message in error["message"]
    exactly = ",".join(f"QX{n:04d}" for n in range(500))
    assert client.get(f"/api/v1/collection?skus={exactly}").status_code == 200


def test_a_shop_listing_a_sku_twice_counts_its_cheaper_offer(pg_admin_url, make_app):
    # QX8001: one shop lists it sold out cheap and in stock dearer, two others in stock
    # (one at a price of more digits: cheapest by value, not by text). QX8002: one shop
    # lists it twice in stock. Each shop's totals take its cheapest offer of a sku, and
    # its cheapest in-stock one for the in-stock totals.
    database = make_api_database(pg_admin_url, products_per_vendor=3)
    offers = [
        ("ornament_shop", "a", "QX8001", "10.00", "out_of_stock"),
        ("ornament_shop", "b", "QX8001", "30.00", "in_stock"),
        ("hookedonhallmark", "c", "QX8001", "20.00", "in_stock"),
        ("hallmark_ornaments", "f", "QX8001", "100.00", "in_stock"),
        ("hallmark_ornaments", "d", "QX8002", "15.00", "in_stock"),
        ("hallmark_ornaments", "e", "QX8002", "12.50", "in_stock"),
    ]
    rows = [
        {
            "id": product_id(vendor, vendor_id),
            "vendor": vendor,
            "vendor_id": vendor_id,
            "sku": sku,
            "name": f"Twice listed {vendor_id}",
            "price": Decimal(price),
            "currency": "USD",
            "brand": "Hallmark",
            "availability": availability,
            "release_year": 2020,
            "link": f"https://{vendor}.example/p/{vendor_id}",
        }
        for vendor, vendor_id, sku, price, availability in offers
    ]
    try:
        owner = create_engine(database.owner_url)
        with owner.begin() as conn:
            conn.execute(insert(Product), rows)
        owner.dispose()
        database.products.extend(rows)
        client = make_app(database).test_client()
        client.environ_base["HTTP_X_API_KEY"] = add_key(database.owner_url, "twice")
        data = client.get("/api/v1/collection?skus=QX8001,QX8002").get_json()["data"]
        assert data == expected(database, ["QX8001", "QX8002"])
        assert {shop["vendor"]: shop for shop in data["shops"]} == {
            "hallmark_ornaments": {
                "vendor": "hallmark_ornaments",
                "listed": 2,
                "in_stock": 2,
                "total": "112.50",
                "in_stock_total": "112.50",
            },
            "hookedonhallmark": {
                "vendor": "hookedonhallmark",
                "listed": 1,
                "in_stock": 1,
                "total": "20.00",
                "in_stock_total": "20.00",
            },
            "ornament_shop": {
                "vendor": "ornament_shop",
                "listed": 1,
                "in_stock": 1,
                "total": "10.00",
                "in_stock_total": "30.00",
            },
        }
        assert [item["price"] for item in data["buy"]["items"]] == ["20.00", "12.50"]
        assert [item["price"] for item in data["sell"]["items"]] == ["100.00", "15.00"]
    finally:
        remove_api_database(pg_admin_url, database)
