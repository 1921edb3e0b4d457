"""schemathesis against the served OpenAPI document: no 5xx, every response conforms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from christmas_spiders.api.db import dispose
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
        "GET /api/v1/ornaments",
        "GET /api/v1/collection",
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
        "/api/v1/ornaments": "/api/v1/ornaments?sort=-spread&limit=20",
        "/api/v1/collection": f"/api/v1/collection?skus={product['sku']},QX0001,QX9999",
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
