"""schemathesis against the served OpenAPI document (positive and negative cases), and a
Hypothesis strategy over raw query strings and cursors: no 5xx, every response conforms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from christmas_spiders.api import pagination
from christmas_spiders.api.db import dispose
from christmas_spiders.api.pagination import query_scope
from tests.fixtures.api import ApiDatabase, app_for

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def schema_app(api_db: ApiDatabase) -> Iterator[Flask]:
    app = app_for(api_db)
    yield app
    dispose(app)


def operations(app: Flask) -> list:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis.pytest.from_fixture does not run under pytest 9 (it sets node._nodeid,
# which pytest 9 removed), so each operation's strategy drives a Hypothesis test here.
def test_every_response_conforms(schema_app, api_key):
    found = operations(schema_app)
    assert {f"{op.method.upper()} {op.path}" for op in found} >= {
        "GET /api/v1/products",
        "GET /api/v1/products/{product_id}",
        "GET /api/v1/products/{product_id}/history",
        "GET /api/v1/products/{product_id}/prices",
        "GET /api/v1/ornaments/{sku}",
        "GET /api/v1/vendors",
        "GET /api/v1/changes",
        "GET /api/v1/stats/years",
        "GET /healthz",
    }
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)

        check()


def test_malformed_requests_get_a_4xx_envelope_never_a_5xx(schema_app, api_key):
    # Negative cases: values the document forbids (wrong types, out of range, bad enums).
    for operation in operations(schema_app):
        if operation.path == "/healthz":
            continue  # no parameters: nothing to get wrong

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call_and_validate(
                headers={"X-API-Key": api_key},
                checks=[not_a_server_error, response_schema_conformance],
            )
            assert response.status_code < 500

        check()


def test_schema_examples_cover_real_rows(schema_app, api_db, api_key):
    # Random ids mostly meet 404s; real ones must conform too.
    import jsonschema

    client = schema_app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    document = client.get("/api/v1/openapi.json").get_json()
    product = api_db.products[4]
    urls = {
        "/api/v1/products/{product_id}": f"/api/v1/products/{product['id']}",
        "/api/v1/products/{product_id}/history": f"/api/v1/products/{product['id']}/history",
        "/api/v1/products/{product_id}/prices": f"/api/v1/products/{product['id']}/prices",
        "/api/v1/ornaments/{sku}": f"/api/v1/ornaments/{product['sku']}",
        "/api/v1/vendors": "/api/v1/vendors",
        "/api/v1/changes": "/api/v1/changes?direction=down",
        "/api/v1/stats/years": "/api/v1/stats/years",
        "/api/v1/products": "/api/v1/products?limit=3",
    }
    for path, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, url
        response_schema = document["paths"][path]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        jsonschema.validate(
            response.get_json(),
            {**response_schema, "components": document["components"]},
            cls=jsonschema.Draft202012Validator,
        )


# Raw query strings: any parameter name the routes take (and some they do not), any
# value: percent-encoded bytes (not always UTF-8), NUL, '+', huge numbers, long runs.
PARAMETER_NAMES = (
    "vendor", "sku", "release_year", "year_min", "year_max", "availability", "price_min",
    "price_max", "q", "changed_since", "synced_since", "since", "until", "field",
    "direction", "sort", "limit", "cursor", "format", "colour",
)  # fmt: skip
FUZZ_PATHS = (
    "/api/v1/products",
    "/api/v1/changes",
    "/api/v1/vendors",
    "/api/v1/stats/years",
    "/api/v1/products/{pid}/history",
    "/api/v1/products/{pid}/prices",
    "/api/v1/products/{pid}",
    "/api/v1/ornaments/{sku}",
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["1e999999", "NaN", "-0", "Infinity", "9" * 400, "1_0", "0x10", "٣"]),
)
TIMES = st.sampled_from(
    ["2026-11-01T12:00:00+01:00", "2026-11-01T12:00:00 01:00", "0001-01-01T00:00:00+14:00",
     "9999-12-31T23:59:59-14:00", "2026-02-30", "2026-11-01T12:00:00Z"]
)  # fmt: skip
RAW_VALUES = st.one_of(
    st.binary(max_size=40).map(lambda raw: urllib.parse.quote_from_bytes(raw, safe="")),
    st.text(max_size=40).map(
        lambda text: urllib.parse.quote(text, safe="+,:", errors="surrogatepass")
    ),
    NUMBERS,
    TIMES,
    st.just("x" * 5000),
)  # fmt: skip


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# JSON values a forged cursor may hold in its key: text with NUL or lone surrogates,
# numbers out of every column's range, wrong types.
KEY_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x00", "\ud800", "1e999999", "NaN", "2026-11-01T00:00:00", "x" * 30]),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


ROUTE_PATHS = {"products": "/api/v1/products", "changes": "/api/v1/changes"}
SORTS = (
    ("products", "id"),
    ("products", "price"),
    ("products", "name"),
    ("products", "release_year"),
    ("products", "last_synced_at"),
    ("changes", "-changed_at"),
    ("changes", "changed_at"),
)


def _signed(app: Flask, body: str) -> str:
    # encode_cursor's own format, over a payload it would never write.
    encoded = _b64(body.encode("utf-8", "surrogatepass"))
    with app.test_request_context():
        signature = hmac.new(pagination._secret(), encoded.encode(), hashlib.sha256).digest()
    return f"{encoded}.{_b64(signature[: pagination.SIGNATURE_BYTES])}"


@st.composite
def cursors(draw, app: Flask) -> str:
    """Tokens: garbage, well-formed but unsigned, or signed for a scope no request has."""
    kind = draw(st.sampled_from(["garbage", "unsigned", "signed"]))
    if kind == "garbage":
        return draw(st.text(max_size=60))
    key = draw(st.lists(KEY_VALUES, max_size=3))
    body = json.dumps({"s": draw(st.text(max_size=16)), "k": key}, default=str)
    if kind == "unsigned":
        return f"{_b64(body.encode('utf-8', 'surrogatepass'))}.{_b64(b'x' * 12)}"
    return _signed(app, body)


@st.composite
def forged_pages(draw, app: Flask) -> str:
    """A URL whose cursor this installation signed for exactly its route, sort and (no)
    filters, holding key values no column can hold: only the key checks stand between
    it and the database."""
    route, sort = draw(st.sampled_from(SORTS))
    key = [draw(KEY_VALUES), draw(KEY_VALUES)]
    body = json.dumps({"s": query_scope(route, sort, {}), "k": key}, default=str)
    token = _signed(app, body)
    return f"{ROUTE_PATHS[route]}?sort={sort}&cursor={token}"


def test_raw_query_strings_and_cursors_never_reach_a_5xx(schema_app, api_db, api_key):
    client = schema_app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = api_key
    product = api_db.products[0]

    @given(
        path=st.sampled_from(FUZZ_PATHS),
        pairs=st.lists(st.tuples(st.sampled_from(PARAMETER_NAMES), RAW_VALUES), max_size=5),
        cursor=st.none() | cursors(schema_app),
        sort=st.sampled_from(["id", "price", "name", "release_year", "-changed_at", None]),
        segment=st.text(max_size=30) | st.just(product["sku"]),
        forged=st.none() | forged_pages(schema_app),
    )
    @settings(
        max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(path, pairs, cursor, sort, segment, forged) -> None:
        query = "&".join(f"{name}={value}" for name, value in pairs)
        if sort is not None:
            query += f"&sort={sort}"
        if cursor is not None:
            query += "&cursor=" + urllib.parse.quote(cursor, safe="", errors="surrogatepass")
        url = path.format(
            pid=product["id"],
            sku=urllib.parse.quote(segment, safe="", errors="surrogatepass") or "x",
        )
        for target in (f"{url}?{query}", forged):
            if target is None:
                continue
            response = client.get(target)
            assert response.status_code < 500, (target, response.get_data(as_text=True))
            if response.status_code == 400:
                error = response.get_json()["error"]
                assert error["parameter"] and error["message"]

    check()
