"""CSV for every list (format=csv or Accept: text/csv), streamed in batches."""

from __future__ import annotations

import csv
import io

import pytest

from christmas_spiders.api import output
from tests.test_api_products import fetch_all


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_products_csv_matches_json_row_for_row(client):
    rows = read_csv(client.get("/api/v1/products?format=csv&vendor=ornament_shop&sort=-price"))
    json_rows = fetch_all(client, "/api/v1/products?vendor=ornament_shop&sort=-price&limit=7")
    assert len(rows) == len(json_rows) > 0
    for got, expected in zip(rows, json_rows, strict=True):
        # A null (was_price where a page shows none) is an empty CSV cell.
        assert got == {key: "" if value is None else str(value) for key, value in expected.items()}


def test_accept_header_selects_csv_and_json_stays_default(client):
    assert client.get("/api/v1/products", headers={"Accept": "text/csv"}).mimetype == "text/csv"
    assert client.get("/api/v1/products", headers={"Accept": "*/*"}).mimetype == "application/json"
    both = client.get("/api/v1/products", headers={"Accept": "text/csv;q=0.5, application/json"})
    assert both.mimetype == "application/json"
    forced = client.get("/api/v1/products?format=json", headers={"Accept": "text/csv"})
    assert forced.mimetype == "application/json"


def test_products_csv_is_streamed_in_batches(client, api_db, monkeypatch):
    monkeypatch.setattr(output, "CSV_BATCH_ROWS", 10)
    response = client.get("/api/v1/products?format=csv")
    assert response.is_streamed
    chunks = list(response.response)
    # The header, then one chunk per batch of 10 rows fetched from the server-side cursor.
    assert len(chunks) == 1 + len(api_db.products) // 10
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert sorted(r["id"] for r in rows) == sorted(p["id"] for p in api_db.products)
    response.close()


def test_csv_exports_every_row_unless_limited(client, api_db):
    assert len(read_csv(client.get("/api/v1/products?format=csv"))) == len(api_db.products)
    assert len(read_csv(client.get("/api/v1/products?format=csv&limit=5"))) == 5
    first = client.get("/api/v1/products?limit=100").get_json()
    rest = read_csv(client.get(f"/api/v1/products?format=csv&cursor={first['next']}"))
    assert len(rest) == len(api_db.products) - 100


@pytest.mark.parametrize(
    ("url", "first_column", "count"),
    [
        ("/api/v1/changes?format=csv", "id", lambda db: len(db.audit)),
        ("/api/v1/changes?format=csv&direction=up", "id", lambda db: 1),
        ("/api/v1/vendors?format=csv", "vendor", lambda db: 3),
        ("/api/v1/stats/years?format=csv", "vendor", lambda db: 30),
    ],
)
def test_other_lists_as_csv(client, api_db, url, first_column, count):
    rows = read_csv(client.get(url))
    assert len(rows) == count(api_db)
    assert next(iter(rows[0])) == first_column


def test_history_and_ornament_csv(client, api_db):
    product = api_db.products[4]
    rows = read_csv(client.get(f"/api/v1/products/{product['id']}/history?format=csv"))
    assert [r["operation"] for r in rows] == ["INSERT", "INSERT", "UPDATE"]
    offers = read_csv(client.get(f"/api/v1/ornaments/{product['sku']}?format=csv"))
    assert product["id"] in {o["product_id"] for o in offers}
    assert [o["price"] for o in offers] == sorted((o["price"] for o in offers), key=float)


def test_vendor_csv_flattens_the_last_run(client):
    rows = {r["vendor"]: r for r in read_csv(client.get("/api/v1/vendors?format=csv"))}
    assert rows["hallmark_ornaments"]["last_run_verdict"] == "failed"
    assert rows["hallmark_ornaments"]["last_run_crawl_id"] == "run-a2"
    assert rows["hookedonhallmark"]["last_run_finished_at"] == ""
