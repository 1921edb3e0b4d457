"""Answers that explain, cursors only this installation signs, headers that leak nothing,
CSV that a spreadsheet will not run, one rate-limit budget per key."""

from __future__ import annotations

import csv
import io
import multiprocessing
import runpy
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from christmas_spiders.api import output, pagination
from christmas_spiders.api.db import dispose
from christmas_spiders.api.pagination import encode_cursor, query_scope
from christmas_spiders.api.ratelimit import (
    EXTENSION,
    SQLITE_SCHEME,
    SqliteFixedWindowStorage,
    costs,
)
from christmas_spiders.config import DEFAULTS
from tests.fixtures.api import add_key, app_for, make_api_database, remove_api_database

ROOT = Path(__file__).resolve().parents[1]


def error_of(response, status: int = 400) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


# --- answers that explain -------------------------------------------------------------

UNKNOWN_VENDOR = [
    "/api/v1/products?vendor=amazon",
    "/api/v1/products?vendor=ornament_shop,amazon",
    "/api/v1/changes?vendor=amazon",
    "/api/v1/vendors?vendor=amazon",
    "/api/v1/stats/years?vendor=amazon",
]


@pytest.mark.parametrize("url", UNKNOWN_VENDOR)
def test_an_unknown_vendor_is_a_400_naming_it(client, url):
    error = error_of(client.get(url))
    assert error["parameter"] == "vendor"
    assert "'amazon'" in error["message"] and "ornament_shop" in error["message"]


def test_a_vendor_new_to_the_database_is_known_within_seconds(make_app, api_key, monkeypatch):
    from christmas_spiders.api.params import KnownValues

    app = make_app()
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    assert client.get("/api/v1/vendors?vendor=ornament_shop").status_code == 200
    # A miss re-reads the list once the last read is older than MISS_REFRESH_SECONDS.
    monkeypatch.setattr(KnownValues, "MISS_REFRESH_SECONDS", 0.0)
    cache = app.extensions["christmas_known_values"]
    values, read_at = cache["vendor"]
    cache["vendor"] = (values - {"hookedonhallmark"}, read_at)
    assert client.get("/api/v1/vendors?vendor=hookedonhallmark").status_code == 200


INVERTED = [
    ("/api/v1/products?price_min=50&price_max=10", "price_min"),
    ("/api/v1/products?year_min=2020&year_max=2019", "year_min"),
    ("/api/v1/stats/years?year_min=2020&year_max=2019", "year_min"),
    ("/api/v1/changes?since=2026-11-02&until=2026-11-01", "since"),
    ("/api/v1/products/{pid}/history?since=2026-11-02&until=2026-11-01", "since"),
    ("/api/v1/products/{pid}/prices?since=2026-11-02&until=2026-11-01", "since"),
]


@pytest.mark.parametrize(("url", "parameter"), INVERTED)
def test_an_inverted_range_is_a_400_naming_it(client, api_db, url, parameter):
    error = error_of(client.get(url.format(pid=api_db.products[0]["id"])))
    assert error["parameter"] == parameter
    assert "range is empty" in error["message"]


def test_an_equal_range_is_allowed(client):
    assert client.get("/api/v1/products?price_min=20&price_max=20").status_code == 200
    assert client.get("/api/v1/products?year_min=2019&year_max=2019").status_code == 200


def test_a_plus_sent_unencoded_gets_a_hint_to_encode_it(client):
    # What a client gets when it types since=2026-11-01T12:00:00+01:00 into a URL.
    error = error_of(client.get("/api/v1/changes?since=2026-11-01T12:00:00+01:00"))
    assert error["parameter"] == "since"
    assert "%2B" in error["message"]
    encoded = client.get("/api/v1/changes?since=2026-11-01T12:00:00%2B01:00")
    assert encoded.status_code == 200


def test_a_key_created_after_a_refusal_works_at_once(make_app, api_db):
    app = make_app(key_cache_seconds=3600)
    client = app.test_client()
    name = f"fresh-{uuid.uuid4().hex[:6]}"
    assert client.get("/api/v1/vendors", headers={"X-API-Key": "cs_early"}).status_code == 401
    created = app.test_cli_runner().invoke(args=["keys", "create", name])
    key = created.stdout.strip().splitlines()[0]
    # The moment before, a request with the same key was refused: nothing remembers that.
    headers = {"X-API-Key": key}
    assert client.get("/api/v1/vendors", headers=headers).status_code == 200


def test_bad_text_is_a_400_naming_the_parameter(client):
    for query in (
        "vendor=" + "x" * 3000,
        "cursor=" + "x" * 3000,
        "since=" + "2" * 3000,
    ):
        error = error_of(client.get(f"/api/v1/products?{query}"))
        assert error["parameter"] == query.split("=")[0], query
    # Path segments too: text no column can hold is a 400 naming the segment.
    for url, name in (
        ("/api/v1/ornaments/%ED%A0%80", "sku"),
        ("/api/v1/products/%FF%00/history", "product_id"),
    ):
        assert error_of(client.get(url))["parameter"] == name, url
    # Bytes that are not UTF-8 stay as they were sent (werkzeug keeps the escapes): a
    # literal search, never a database encoding error.
    for query in ("q=%ED%A0%80", "q=%FF%FE", "sku=%C0%AF"):
        assert client.get(f"/api/v1/products?{query}").status_code == 200


# --- cursors ------------------------------------------------------------------------


def test_no_cursor_secret_in_the_code():
    assert DEFAULTS["api"]["cursor_secret"] is None


def _signed(app, route: str, sort: str, key: list) -> str:
    with app.test_request_context():
        return encode_cursor(query_scope(route, sort, {}), key)


# Keys signed with the installation's own secret that hold what no column can.
FORGED_KEYS = [
    ("/api/v1/products", "products", "name", ["a\x00b", "0" * 24]),
    ("/api/v1/products", "products", "name", ["\ud800", "0" * 24]),
    ("/api/v1/products", "products", "price", ["1e999999", "0" * 24]),
    ("/api/v1/products", "products", "price", ["NaN", "0" * 24]),
    ("/api/v1/products", "products", "price", [1e308, "0" * 24]),
    ("/api/v1/products", "products", "release_year", [10**30, "0" * 24]),
    ("/api/v1/products", "products", "release_year", [True, "0" * 24]),
    ("/api/v1/products", "products", "id", ["x" * 25, "x" * 25]),
    ("/api/v1/products", "products", "id", [None, None]),
    ("/api/v1/products", "products", "last_synced_at", ["2026-11-01T00:00:00", "0" * 24]),
    ("/api/v1/products", "products", "last_synced_at", ["0001-01-01T00:00:00+05:00", "0" * 24]),
    ("/api/v1/changes", "changes", "-changed_at", ["2026-11-01T00:00:00+00:00", 2**70]),
    ("/api/v1/changes", "changes", "-changed_at", ["2026-11-01T00:00:00+00:00", "1\x00"]),
    ("/api/v1/changes", "changes", "-changed_at", [{"a": 1}, 1]),
]


@pytest.mark.parametrize(("url", "route", "sort", "key"), FORGED_KEYS)
def test_a_signed_cursor_holding_what_no_column_can_is_a_400(
    api_app, client, url, route, sort, key
):
    token = _signed(api_app, route, sort, key)
    error = error_of(client.get(url, query_string={"sort": sort, "cursor": token}))
    assert error["parameter"] == "cursor"


def test_a_cursor_signed_elsewhere_is_a_400(make_app, api_key):
    ours = make_app()
    theirs = make_app(cursor_secret="another installation")
    client = ours.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    first = client.get("/api/v1/products?limit=2").get_json()
    assert first["next"]
    assert client.get(f"/api/v1/products?limit=2&cursor={first['next']}").status_code == 200
    foreign = _signed(theirs, "products", "id", ["0" * 24, "0" * 24])
    assert error_of(client.get(f"/api/v1/products?cursor={foreign}"))["parameter"] == "cursor"


def test_the_secret_is_the_installations_unless_configured(make_app, api_db):
    app = make_app()
    with app.app_context():
        secret = pagination.installation_secret(app)
    engine = create_engine(api_db.owner_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT cursor_secret FROM api_settings")).scalar_one()
    finally:
        engine.dispose()
    assert secret == stored.encode()
    configured = make_app(cursor_secret="set in config")
    assert pagination.installation_secret(configured) == b"set in config"


# --- headers ------------------------------------------------------------------------


def test_link_is_relative_and_never_echoes_host(client):
    response = client.get(
        "/api/v1/products?limit=2&vendor=ornament_shop", headers={"Host": "evil.example"}
    )
    link = response.headers["Link"]
    assert link.startswith("</api/v1/products?") and "evil" not in link
    assert "vendor=ornament_shop" in link and f"cursor={response.get_json()['next']}" in link


def test_link_uses_the_configured_public_base_url(make_app, api_key):
    app = make_app(public_base_url="https://ornaments.example.org/")
    response = app.test_client().get(
        "/api/v1/products?limit=2", headers={"X-API-Key": api_key, "Host": "evil.example"}
    )
    assert response.headers["Link"].startswith("<https://ornaments.example.org/api/v1/products?")


def test_keyed_answers_are_not_sniffed_or_stored(client, api_db):
    for url, status in (
        ("/api/v1/products?limit=1", 200),
        ("/api/v1/products?format=csv&limit=1", 200),
        (f"/api/v1/products/{api_db.products[0]['id']}", 200),
        ("/api/v1/products?limit=x", 400),
        ("/api/v1/nothing", 404),
    ):
        response = client.get(url)
        assert response.status_code == status, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Cache-Control"] == "private, no-store", url
    refused = client.get("/api/v1/products", headers={"Authorization": "Bearer cs_wrong"})
    assert refused.status_code == 401
    assert refused.headers["Cache-Control"] == "private, no-store"
    public = client.get("/healthz")
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in public.headers.get("Cache-Control", "")


# --- CSV ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Santa = 1", "Santa = 1"),
        ("", ""),
    ],
)
def test_csv_text_cells_are_neutralised(cell, written):
    assert output.neutralise(cell) == written
    assert output.csv_value(cell) == written


@pytest.fixture(scope="module")
def formula_db(pg_admin_url):
    database = make_api_database(pg_admin_url, products_per_vendor=2)
    engine = create_engine(database.owner_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET name = :name WHERE id = :id"),
            {"name": '=HYPERLINK("http://evil.example","Santa")', "id": database.products[0]["id"]},
        )
    engine.dispose()
    yield database
    remove_api_database(pg_admin_url, database)


def test_exports_neutralise_a_scraped_formula(formula_db):
    app = app_for(formula_db)
    key = add_key(formula_db.owner_url, "csv")
    try:
        client = app.test_client()
        client.environ_base["HTTP_X_API_KEY"] = key
        product = formula_db.products[0]
        streamed = client.get("/api/v1/products?format=csv")
        rows = list(csv.DictReader(io.StringIO(streamed.get_data(as_text=True))))
        names = {row["id"]: row["name"] for row in rows}
        assert names[product["id"]] == '\'=HYPERLINK("http://evil.example","Santa")'
        small = client.get(f"/api/v1/ornaments/{product['sku']}?format=csv")
        offers = list(csv.DictReader(io.StringIO(small.get_data(as_text=True))))
        assert any(offer["name"].startswith("'=HYPERLINK") for offer in offers)
        # JSON carries the name as it is: it is data there, not a cell.
        data = client.get(f"/api/v1/products/{product['id']}").get_json()["data"]
        assert data["name"].startswith("=HYPERLINK")
        # Prices stay numbers a spreadsheet can add up.
        assert all(not row["price"].startswith("'") for row in rows)
    finally:
        dispose(app)


# --- rate limit ---------------------------------------------------------------------

EIGHT_ROUTES = [
    "/api/v1/products",
    "/api/v1/vendors",
    "/api/v1/changes",
    "/api/v1/stats/years",
    "/api/v1/products?vendor=ornament_shop",
    "/api/v1/changes?direction=down",
    "/api/v1/ornaments/QX0001",
    "/api/v1/openapi.json",  # public: costs nothing
    "/api/v1/products?sort=-price",
]


def _statuses(app, key: str, urls: list[str]) -> list[int]:
    client = app.test_client()
    return [client.get(url, headers={"X-API-Key": key}).status_code for url in urls]


def test_one_budget_per_key_across_routes(make_app, api_db):
    app = make_app(rate_limit="5/minute")
    key = add_key(api_db.owner_url, f"budget-{uuid.uuid4().hex[:6]}")
    statuses = _statuses(app, key, EIGHT_ROUTES * 2)
    # 14 counted requests over seven routes (and two public ones): five pass in all.
    assert statuses[:5] == [200] * 5, statuses
    assert statuses[5:7] == [429, 429]
    assert statuses[EIGHT_ROUTES.index("/api/v1/openapi.json") :: len(EIGHT_ROUTES)] == [200, 200]
    assert statuses.count(429) == len(statuses) - 5 - 2


def test_a_route_may_cost_more(make_app, api_db):
    app = make_app(rate_limit="7/minute")

    @app.get("/api/v1/costly")
    @costs(3)
    def costly() -> dict:
        return {"data": "ok"}

    key = add_key(api_db.owner_url, f"cost-{uuid.uuid4().hex[:6]}")
    client = app.test_client()
    headers = {"X-API-Key": key}
    first = client.get("/api/v1/costly", headers=headers)
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "4"
    # 3 + 3 + 1 of 7: the budget is spent; the next request of either kind is refused.
    assert _statuses(app, key, ["/api/v1/costly", "/api/v1/vendors"]) == [200, 200]
    assert _statuses(app, key, ["/api/v1/vendors"]) == [429]
    with pytest.raises(ValueError):
        costs(0)


def test_the_sqlite_store_is_one_budget_for_two_apps(make_app, api_db, tmp_path):
    shared = {
        "rate_limit": "4/minute",
        "rate_limit_storage": f"{SQLITE_SCHEME}://{tmp_path / 'limits.sqlite3'}",
        "rate_limit_prefix": f"cs_test_api_{uuid.uuid4().hex[:8]}",
    }
    first = make_app(**shared)
    second = make_app(**shared)
    key = add_key(api_db.owner_url, f"sqlite-{uuid.uuid4().hex[:6]}")
    for app in (first, second, first, second):
        assert _statuses(app, key, ["/api/v1/vendors"]) == [200]
    assert _statuses(second, key, ["/api/v1/products"]) == [429]
    assert _statuses(first, key, ["/api/v1/changes"]) == [429]


def _hit_many(path: str, count: int) -> None:
    storage = SqliteFixedWindowStorage(f"{SQLITE_SCHEME}://{path}")
    for _ in range(count):
        storage.incr("shared", 60)


def test_the_sqlite_store_counts_every_process(tmp_path):
    path = str(tmp_path / "limits.sqlite3")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hit_many, args=(path, 200)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    storage = SqliteFixedWindowStorage(f"{SQLITE_SCHEME}://{path}")
    assert storage.get("shared") == 600
    assert storage.incr("shared", 60) == 601
    storage.clear("shared")
    assert storage.get("shared") == 0


def test_the_sqlite_store_restarts_a_window_and_sweeps(tmp_path, monkeypatch):
    from christmas_spiders.api import ratelimit

    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    storage = SqliteFixedWindowStorage(f"{SQLITE_SCHEME}://{tmp_path / 'w.sqlite3'}")
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get_expiry("k") == 1060.0
    clock[0] = 1060.0
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1
    storage.incr("old", 1)
    clock[0] += ratelimit.SWEEP_SECONDS + 2
    storage.incr("fresh", 60)
    rows = storage._connection().execute("SELECT key FROM counters ORDER BY key").fetchall()
    assert rows == [("fresh",)]
    assert storage.reset() == 1


def test_gunicorn_shares_a_store_between_workers_by_default(tmp_path, monkeypatch):
    from gunicorn.util import import_app

    from christmas_spiders.api.auth import PUBLIC_ENDPOINTS  # noqa: F401 (app imports)

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CHRISTMAS_API_RATE_LIMIT_FILE", str(tmp_path / "rl.sqlite3"))
    settings = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    app = import_app(settings["wsgi_app"])
    try:
        assert app.config["CHRISTMAS"]["api"]["rate_limit_storage"] == (
            f"{SQLITE_SCHEME}://{tmp_path / 'rl.sqlite3'}"
        )
        limiter = app.extensions[EXTENSION]
        assert isinstance(limiter.storage, SqliteFixedWindowStorage)
    finally:
        dispose(app)
    with_redis = settings["app_overrides"](
        {"api": {"rate_limit_storage": None}, "redis_url": "redis://127.0.0.1:6379/0"}, {}
    )
    assert with_redis == {}


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        # Sent encoded: kept as sent.
        (
            "limit=2&vendor=ornament_shop&q=Orn%61ment",
            ["limit=2", "vendor=ornament_shop", "q=Orn%61ment"],
        ),
        # An escaped name that spells cursor is the old cursor: replaced, never repeated.
        ("limit=2&%63ursor=", ["limit=2"]),
        # Raw characters a header must not carry: encoded again.
        ("limit=2&q='", ["limit=2", "q=%27"]),
    ],
)
def test_link_keeps_the_query_and_replaces_the_cursor(client, query, kept):
    first = client.get(f"/api/v1/products?{query.replace('%63ursor=', '')}").get_json()
    url = f"/api/v1/products?{query.replace('%63ursor=', '%63ursor=' + (first['next'] or ''))}"
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    link = response.headers["Link"]
    target = link[1 : link.index(">")]
    parts = target.split("?", 1)[1].split("&")
    assert parts[:-1] == kept
    assert parts[-1] == f"cursor={response.get_json()['next']}"
    assert client.get(target).status_code == 200
