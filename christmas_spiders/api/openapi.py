"""The OpenAPI 3.1 document served at /api/v1/openapi.json, kept next to the routes.

tests/test_api_schema.py runs schemathesis against it: every response must conform.
"""

from __future__ import annotations

from typing import Any

from christmas_spiders.api.output import CSV_BATCH_ROWS
from christmas_spiders.api.products import (
    AUDITABLE_FIELDS,
    AVAILABILITIES,
    PRODUCT_SORTS,
    sort_choices,
)

API_VERSION = "1.0.0"

DECIMAL_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
PRICE = {
    "type": "string",
    "pattern": r"^-?[0-9]+\.[0-9]{2}$",
    "description": 'A decimal string such as "24.95" (exact; never a binary float).',
    "examples": ["24.95"],
}
NULLABLE_PRICE = {**PRICE, "type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "data": data,
            "meta": {"type": "object"},
            "next": {
                "type": ["string", "null"],
                "description": "Opaque token for the next page (pass as `cursor`); null on "
                "the last page.",
            },
        }
    )


SCHEMAS: dict[str, Any] = {
    "Product": _object(
        {
            "id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
            "vendor": {"type": "string"},
            "vendor_id": {"type": "string"},
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "price": PRICE,
            "currency": {"type": "string"},
            "brand": {"type": "string"},
            "availability": {"type": "string", "enum": list(AVAILABILITIES)},
            "release_year": {"type": "integer"},
            "link": {"type": "string"},
            "last_synced_at": TIMESTAMP,
            "created_at": TIMESTAMP,
        }
    ),
    "AuditRow": _object(
        {
            "id": {"type": "integer"},
            "product_id": {"type": "string"},
            "operation": {"type": "string", "enum": ["INSERT", "UPDATE", "DELETE"]},
            "field": {"type": "string"},
            "old_value": {"type": ["string", "null"]},
            "new_value": {"type": ["string", "null"]},
            "changed_at": TIMESTAMP,
            "crawl_id": {"type": ["string", "null"]},
        }
    ),
    "Change": {
        "allOf": [
            _ref("AuditRow"),
            _object(
                {
                    "vendor": {"type": ["string", "null"]},
                    "sku": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]},
                }
            ),
        ]
    },
    "Offer": _object(
        {
            "product_id": {"type": "string"},
            "vendor": {"type": "string"},
            "vendor_id": {"type": "string"},
            "name": {"type": "string"},
            "price": PRICE,
            "currency": {"type": "string"},
            "availability": {"type": "string"},
            "link": {"type": "string"},
            "last_synced_at": TIMESTAMP,
            "lowest_price_seen": PRICE,
            "highest_price_seen": PRICE,
        }
    ),
    "PriceInterval": _object(
        {
            "price": PRICE,
            "valid_from": TIMESTAMP,
            "valid_to": {**NULLABLE_TIMESTAMP, "description": "null: the current price."},
            "crawl_id": {"type": ["string", "null"]},
        }
    ),
    "SpreadEnd": _object(
        {"vendor": {"type": "string"}, "product_id": {"type": "string"}, "price": PRICE}
    ),
    "Ornament": _object(
        {
            "sku": {"type": "string"},
            "names": {"type": "array", "items": {"type": "string"}},
            "offers": {"type": "array", "items": _ref("Offer"), "description": "Cheapest first."},
            "spread": {
                "oneOf": [
                    {"type": "null"},
                    _object(
                        {
                            "in_stock_offers": {"type": "integer"},
                            "cheapest": _ref("SpreadEnd"),
                            "dearest": _ref("SpreadEnd"),
                            "amount": PRICE,
                            "percent": {"type": ["string", "null"]},
                        }
                    ),
                ],
                "description": "Between the cheapest and the dearest offer in stock; null "
                "when none is in stock.",
            },
        }
    ),
    "CrawlRun": _object(
        {
            "crawl_id": {"type": "string"},
            "started_at": TIMESTAMP,
            "finished_at": NULLABLE_TIMESTAMP,
            "finish_reason": {"type": ["string", "null"]},
            "full_crawl": {"type": "boolean"},
            "pages": {"type": "integer"},
            "items": {"type": "integer"},
            "errors": {"type": "integer"},
            "delisted": {"type": "integer"},
            "monitors_passed": {"type": ["boolean", "null"]},
            "dropped": {"type": "object", "additionalProperties": {"type": "integer"}},
            "verdict": {"type": "string", "enum": ["passed", "failed", "running", "unknown"]},
            "monitor_report": {"type": ["object", "null"]},
        }
    ),
    "Vendor": _object(
        {
            "vendor": {"type": "string"},
            "products": {"type": "integer"},
            "in_stock": {"type": "integer"},
            "out_of_stock": {"type": "integer"},
            "delisted": {"type": "integer"},
            "last_run": {"oneOf": [{"type": "null"}, _ref("CrawlRun")]},
        }
    ),
    "YearStat": _object(
        {
            "vendor": {"type": "string"},
            "release_year": {"type": "integer"},
            "count": {"type": "integer"},
            "min_price": PRICE,
            "max_price": PRICE,
            "mean_price": PRICE,
            "median_price": PRICE,
            "in_stock_share": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "Health": _object({"status": {"type": "string"}, "database": {"type": "string"}}),
    "Error": _object(
        {
            "error": _object(
                {
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "parameter": {
                        "type": "string",
                        "description": "The query parameter at fault (400 only).",
                    },
                },
                optional=("parameter",),
            )
        }
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


ERROR_RESPONSES: dict[str, Any] = {
    "400": _error("A malformed parameter; `error.parameter` names it."),
    "401": _error("Missing, unknown or revoked API key."),
    "429": {
        **_error("Rate limit exceeded for this key."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
    "503": _error("The database is unavailable or the query hit the statement timeout."),
    "500": _error("Internal error (a bug: please report it)."),
}

ETAG_HEADER = {
    "ETag": {
        "schema": {"type": "string"},
        "description": "JSON answers only; send it back as If-None-Match to get a 304.",
    }
}
LINK_HEADER = {
    "Link": {
        "schema": {"type": "string"},
        "description": 'RFC 8288 `<url>; rel="next"` when a next page exists.',
    }
}


def _list_response(item: str, paginated: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": "The list in the envelope; with `format=csv` or `Accept: text/csv` "
        "a CSV file (streamed"
        + (", every matching row from the cursor on" if paginated else "")
        + ").",
        "content": {
            "application/json": {"schema": _envelope({"type": "array", "items": _ref(item)})},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
    if paginated:
        response["headers"] = LINK_HEADER
    return response


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query") -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def _limit(max_limit: int) -> dict[str, Any]:
    return _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": max_limit},
        f"Rows per page (default 100, at most {max_limit}: config api.max_limit); for CSV: "
        "caps the export (default all rows).",
    )


CURSOR = _param("cursor", {"type": "string"}, "The `next` token of the previous page.")
FORMAT = _param("format", {"type": "string", "enum": ["json", "csv"]}, "Overrides Accept.")
VENDOR = _param("vendor", {"type": "string", "maxLength": 800}, "Vendor name(s), comma-separated.")
YEAR = {"type": "integer", "minimum": 1, "maximum": 9999}
DECIMAL = {"type": "string", "pattern": DECIMAL_PATTERN}
FIELD = _param(
    "field",
    {"type": "string", "enum": list(AUDITABLE_FIELDS)},
    "Only changes of this field (several: comma-separated).",
)
SINCE = _param("since", {"type": "string", "format": "date-time"}, "changed_at >= since (UTC).")
UNTIL = _param("until", {"type": "string", "format": "date-time"}, "changed_at < until (UTC).")
AUDIT_SORT = _param(
    "sort", {"type": "string", "enum": ["changed_at", "-changed_at"]}, "'-' for newest first."
)
PRODUCT_ID = _param("product_id", {"type": "string"}, "A product id (24 hex).", where="path")


def _operation(
    summary: str,
    tag: str,
    parameters: list[dict[str, Any]],
    ok: dict[str, Any],
    not_found: bool = False,
    secured: bool = True,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {**ok, "headers": {**ok.get("headers", {}), **ETAG_HEADER}},
        "304": {"description": "Not modified: `If-None-Match` named the current ETag."},
    }
    if secured:
        responses.update(ERROR_RESPONSES)
    if not_found:
        responses["404"] = _error("No such product or ornament.")
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "parameters": parameters,
        "responses": responses,
    }
    if not secured:
        operation["security"] = []
    return operation


def openapi_document(max_limit: int = 500) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/products": {
            "get": _operation(
                "Products, filtered and sorted, keyset-paginated",
                "products",
                [
                    VENDOR,
                    _param("sku", {"type": "string", "maxLength": 64}, "Hallmark sku (QX5257)."),
                    _param("release_year", YEAR, "Exact release year."),
                    _param("year_min", YEAR, "release_year >= year_min."),
                    _param("year_max", YEAR, "release_year <= year_max."),
                    _param(
                        "availability",
                        {"type": "string", "enum": list(AVAILABILITIES)},
                        "in_stock, out_of_stock or delisted (several: comma-separated).",
                    ),
                    _param("price_min", DECIMAL, "price >= price_min."),
                    _param("price_max", DECIMAL, "price <= price_max."),
                    _param("q", {"type": "string", "maxLength": 200}, "Name contains (any case)."),
                    _param(
                        "changed_since",
                        {"type": "string", "format": "date-time"},
                        "Products with an audited change at or after this time.",
                    ),
                    _param(
                        "synced_since",
                        {"type": "string", "format": "date-time"},
                        "Products seen by a crawl at or after this time.",
                    ),
                    _param(
                        "sort",
                        {"type": "string", "enum": sort_choices(PRODUCT_SORTS)},
                        "Sort key; '-' prefix for descending; ties broken by id. Default id.",
                    ),
                    _limit(max_limit),
                    CURSOR,
                    FORMAT,
                ],
                _list_response("Product", paginated=True),
            )
        },
        "/api/v1/products/{product_id}": {
            "get": _operation(
                "One product",
                "products",
                [PRODUCT_ID, _param("format", {"type": "string", "enum": ["json"]}, "JSON only.")],
                {
                    "description": "The product.",
                    "content": {"application/json": {"schema": _envelope(_ref("Product"))}},
                },
                not_found=True,
            )
        },
        "/api/v1/products/{product_id}/history": {
            "get": _operation(
                "A product's audited changes (price, availability, ...)",
                "products",
                [PRODUCT_ID, FIELD, SINCE, UNTIL, AUDIT_SORT, _limit(max_limit), CURSOR, FORMAT],
                _list_response("AuditRow", paginated=True),
                not_found=True,
            )
        },
        "/api/v1/products/{product_id}/prices": {
            "get": _operation(
                "A product's prices as intervals (from the price_history view)",
                "products",
                [
                    PRODUCT_ID,
                    _param(
                        "since",
                        {"type": "string", "format": "date-time"},
                        "Intervals still valid at or after this time.",
                    ),
                    _param(
                        "until",
                        {"type": "string", "format": "date-time"},
                        "Intervals starting before this time.",
                    ),
                    FORMAT,
                ],
                _list_response("PriceInterval", paginated=False),
                not_found=True,
            )
        },
        "/api/v1/ornaments/{sku}": {
            "get": _operation(
                "Every shop's offer for one ornament, cheapest first, with the in-stock spread",
                "ornaments",
                [_param("sku", {"type": "string"}, "Hallmark sku.", where="path"), FORMAT],
                {
                    "description": "The comparison (CSV: the offers).",
                    "content": {
                        "application/json": {"schema": _envelope(_ref("Ornament"))},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                not_found=True,
            )
        },
        "/api/v1/vendors": {
            "get": _operation(
                "Products per vendor, in stock, last crawl run and its monitor verdict",
                "vendors",
                [VENDOR, FORMAT],
                _list_response("Vendor", paginated=False),
            )
        },
        "/api/v1/changes": {
            "get": _operation(
                "Recent changes across all products; direction=down for price drops",
                "changes",
                [
                    FIELD,
                    SINCE,
                    UNTIL,
                    VENDOR,
                    _param(
                        "direction",
                        {"type": "string", "enum": ["down", "up"]},
                        "Price drops or rises (numeric comparison; implies field=price).",
                    ),
                    AUDIT_SORT,
                    _limit(max_limit),
                    CURSOR,
                    FORMAT,
                ],
                _list_response("Change", paginated=True),
            )
        },
        "/api/v1/stats/years": {
            "get": _operation(
                "Per vendor and release year: count, min, max, mean, median price, in-stock share",
                "stats",
                [
                    VENDOR,
                    _param("year_min", YEAR, "release_year >= year_min."),
                    _param("year_max", YEAR, "release_year <= year_max."),
                    _param(
                        "availability",
                        {"type": "string", "enum": list(AVAILABILITIES)},
                        "Only products with this availability.",
                    ),
                    FORMAT,
                ],
                _list_response("YearStat", paginated=False),
            )
        },
        "/healthz": {
            "get": _operation(
                "Liveness and database check (no key needed)",
                "meta",
                [],
                {
                    "description": "Healthy.",
                    "content": {"application/json": {"schema": _envelope(_ref("Health"))}},
                },
                secured=False,
            )
        },
    }
    paths["/healthz"]["get"]["responses"]["503"] = _error("The database does not answer.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "christmas_spiders price API",
            "version": API_VERSION,
            "description": (
                "Read-only prices, price history and cross-shop comparisons of Hallmark "
                "Keepsake ornaments. Every response is an envelope: `{data, meta, next}` or "
                "`{error: {status, code, message, parameter?}}`. Prices are decimal strings "
                f'("24.95"). CSV exports stream in batches of {CSV_BATCH_ROWS} rows.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
