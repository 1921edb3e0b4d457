"""Bad input: 400 naming the parameter, 404 for unknown things, never a 500; injection is inert."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text

from christmas_spiders.db.models import ApiKey, Product, ProductAudit

BAD_PARAMETERS = [
    ("/api/v1/products?limit=abc", "limit"),
    ("/api/v1/products?limit=0", "limit"),
    ("/api/v1/products?limit=-5", "limit"),
    ("/api/v1/products?limit=1_0", "limit"),
    ("/api/v1/products?limit=99999999999999999999", "limit"),
    ("/api/v1/products?release_year=twenty", "release_year"),
    ("/api/v1/products?year_min=1e3", "year_min"),
    ("/api/v1/products?year_max=%EF%BC%92", "year_max"),  # a full-width digit
    ("/api/v1/products?price_min=NaN", "price_min"),
    ("/api/v1/products?price_max=-1", "price_max"),
    ("/api/v1/products?price_max=1e309", "price_max"),
    ("/api/v1/products?availability=sold", "availability"),
    ("/api/v1/products?availability=in_stock,", "availability"),
    ("/api/v1/products?sort=colour", "sort"),
    ("/api/v1/products?sort=--price", "sort"),
    ("/api/v1/products?cursor=abc", "cursor"),
    ("/api/v1/products?cursor=a.b", "cursor"),
    ("/api/v1/products?cursor=%00", "cursor"),
    ("/api/v1/products?changed_since=yesterday", "changed_since"),
    ("/api/v1/products?changed_since=2026-13-01", "changed_since"),
    ("/api/v1/products?synced_since=0000-01-01", "synced_since"),
    ("/api/v1/products?q=", "q"),
    ("/api/v1/products?q=" + "x" * 201, "q"),
    ("/api/v1/products?q=%00", "q"),
    ("/api/v1/products?vendor=a%00b", "vendor"),
    ("/api/v1/products?format=xml", "format"),
    ("/api/v1/products?colour=red", "colour"),
    ("/api/v1/products?limit=1&limit=2", "limit"),
    ("/api/v1/changes?field=colour", "field"),
    ("/api/v1/changes?direction=sideways", "direction"),
    ("/api/v1/changes?since=2026-11-01T25:00", "since"),
    ("/api/v1/changes?until=soon", "until"),
    ("/api/v1/changes?sort=price", "sort"),
    ("/api/v1/stats/years?year_min=x", "year_min"),
    ("/api/v1/stats/years?availability=maybe", "availability"),
    ("/api/v1/vendors?limit=5", "limit"),
    ("/api/v1/ornaments/QX0001?format=xml", "format"),
]


@pytest.mark.parametrize(("url", "parameter"), BAD_PARAMETERS, ids=[u for u, _ in BAD_PARAMETERS])
def test_malformed_parameter_is_400_naming_it(client, url, parameter):
    response = client.get(url)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["status"] == 400
    assert error["parameter"] == parameter
    assert error["code"] in ("bad_parameter", "unknown_parameter")
    assert error["message"]


def test_product_detail_offers_json_only(client, api_db):
    response = client.get(f"/api/v1/products/{api_db.products[0]['id']}?format=csv")
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == "format"


def test_unknown_route_and_method_use_the_envelope(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    response = client.post("/api/v1/products")
    assert response.status_code == 405
    assert response.get_json()["error"]["status"] == 405
    assert "GET" in response.headers["Allow"]
    assert client.delete(f"/api/v1/products/{'0' * 24}").status_code == 405


def test_an_unexpected_error_is_a_500_envelope_not_a_traceback(make_app, api_key, monkeypatch):
    from christmas_spiders.api import vendors

    app = make_app()

    def broken(*args, **kwargs):
        raise RuntimeError("boom: secret detail")

    monkeypatch.setattr(vendors, "csv_rows", broken)
    response = app.test_client().get("/api/v1/vendors?format=csv", headers={"X-API-Key": api_key})
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"status": 500, "code": "internal_error", "message": "internal error"}
    }


def test_statement_timeout_is_a_503(make_app, api_db, api_key):
    app = make_app(statement_timeout_ms=300)
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    owner = create_engine(api_db.owner_url)
    try:
        with owner.connect() as conn:
            # A writer holding the table: the API's query waits, then statement_timeout fires.
            conn.execute(text("LOCK TABLE products IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            response = client.get("/api/v1/products")
            waited = time.monotonic() - started
            conn.rollback()
    finally:
        owner.dispose()
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "query_timeout"
    assert 0.25 < waited < 10
    assert client.get("/api/v1/products").status_code == 200


INJECTIONS = [
    "'; DROP TABLE products; --",
    "' OR '1'='1",
    "1; DELETE FROM product_audit",
    "ornament_shop' UNION SELECT key_hash FROM api_keys --",
    "%' OR name LIKE '%",
    "\\'; TRUNCATE products; --",
]


def _counts(owner_url: str) -> tuple[int, int, int]:
    engine = create_engine(owner_url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(select(func.count()).select_from(Product)).scalar_one(),
                conn.execute(select(func.count()).select_from(ProductAudit)).scalar_one(),
                conn.execute(select(func.count()).select_from(ApiKey)).scalar_one(),
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_attempts_change_nothing(client, api_db, payload):
    before = _counts(api_db.owner_url)
    for parameter in ("vendor", "sku", "q", "sort", "availability", "cursor", "price_min"):
        response = client.get("/api/v1/products", query_string={parameter: payload})
        assert response.status_code in (200, 400), (parameter, response.status_code)
        if response.status_code == 200:
            # Taken literally: no product matches the payload text.
            assert response.get_json()["data"] == []
    for url in (f"/api/v1/ornaments/{payload}", f"/api/v1/products/{payload}/history"):
        assert client.get(url).status_code == 404
    for parameter in ("field", "since", "vendor", "direction"):
        response = client.get("/api/v1/changes", query_string={parameter: payload})
        assert response.status_code in (200, 400)
    assert _counts(api_db.owner_url) == before


def test_a_dropped_connection_is_a_503_then_replaced(make_app, api_db, api_key):
    # The key stays known, so the listing's own query is the first to meet the dead
    # connection.
    app = make_app(key_cache_seconds=60, pool_size=1)
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    assert client.get("/api/v1/products?limit=2").status_code == 200
    owner = create_engine(api_db.owner_url)
    try:
        with owner.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE usename = :role AND datname = current_database()"
                ),
                {"role": api_db.role},
            ).scalar_one()
    finally:
        owner.dispose()
    assert ended >= 1
    response = client.get("/api/v1/products?limit=2")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert client.get("/api/v1/products?limit=2").status_code == 200
