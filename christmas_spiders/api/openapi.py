"""The OpenAPI 3.1 document served at /api/v1/openapi.json: response schemas and assembly.

Each route is marked with :func:`documented` (summary, its parameters' ``Query``, the
schema of its data; its blueprint names its tag). The document walks the app's URL map,
so a served route cannot be left out, and its parameters come from the declarations
that also parse them. tests/test_api_schema.py runs schemathesis against it: every
response must conform.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flask import Flask

from christmas_spiders.api.output import CSV_BATCH_ROWS
from christmas_spiders.api.params import ApiConfig, Query
from christmas_spiders.items import ITEM_FIELDS, field_json_schemas

API_VERSION = "1.0.0"
# Served but not described: the document itself, and the dashboard's HTML pages
# (docs/dashboard.md), which are not part of the API.
UNDOCUMENTED_ENDPOINTS = frozenset({"meta.openapi"})
UNDOCUMENTED_BLUEPRINTS = frozenset({"dashboard"})

FIELDS = field_json_schemas()
PRICE = {
    **FIELDS["price"],
    "description": 'A decimal string such as "24.95" (exact; never a binary float).',
}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_NUMBER = {"type": ["number", "null"]}


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


def _fields(*names: str) -> dict[str, Any]:
    return {name: FIELDS[name] for name in names}


SCHEMAS: dict[str, Any] = {
    "Product": _object(
        {
            "id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
            **_fields(*ITEM_FIELDS),
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
            **_fields("vendor", "vendor_id", "name", "price", "currency", "availability", "link"),
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
            "rarity": _ref("Rarity"),
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
            "retail_known": {
                "type": "integer",
                "description": "Products whose original retail price is known.",
            },
            "median_multiple": {
                **NULLABLE_NUMBER,
                "description": "Median of price / retail price; null: no retail price known.",
            },
            "basket_multiple": {
                **NULLABLE_NUMBER,
                "description": "The year's offers together against their retail prices.",
            },
            "basket_growth": {
                **NULLABLE_NUMBER,
                "description": "basket_multiple as compound yearly growth since January 1 of "
                "the release year (0.05: 5 % a year); null under a year.",
            },
            "index_growth": {
                **NULLABLE_NUMBER,
                "description": "The index's compound yearly growth from its first close of the "
                "release year to its latest close; null without closes that year.",
            },
        }
    ),
    "OrnamentSummary": _object(
        {
            "sku": {"type": "string"},
            "names": {"type": "array", "items": {"type": "string"}},
            "release_year": {"type": ["integer", "null"]},
            "offers": {"type": "integer", "description": "Every stored offer, delisted too."},
            "in_stock_offers": {"type": "integer"},
            "cheapest": {
                "oneOf": [{"type": "null"}, _ref("SpreadEnd")],
                "description": "The cheapest offer in stock.",
            },
            "dearest": {
                "oneOf": [{"type": "null"}, _ref("SpreadEnd")],
                "description": "The dearest offer in stock.",
            },
            "spread": {
                "oneOf": [
                    {"type": "null"},
                    _object({"amount": PRICE, "percent": {"type": ["string", "null"]}}),
                ],
                "description": "dearest - cheapest, as on /ornaments/<sku>; null with fewer "
                "than two offers in stock.",
            },
            "lowest_price_seen": {**PRICE, "type": ["string", "null"]},
            "rarity": _ref("Rarity"),
        }
    ),
    "Rarity": _object(
        {
            "carried_by": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The shops listing it (in stock or sold out).",
            },
            "in_stock_at": {"type": "array", "items": {"type": "string"}},
            "in_stock_share_90d": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Share of the last 90 days some shop had it in stock.",
            },
        }
    ),
    "CollectionItem": _object(
        {
            "sku": {"type": "string"},
            "vendor": {"type": "string"},
            "product_id": {"type": "string"},
            "name": {"type": "string"},
            "price": PRICE,
        }
    ),
    "Collection": _object(
        {
            "skus": {"type": "integer"},
            "shops": {
                "type": "array",
                "items": _object(
                    {
                        "vendor": {"type": "string"},
                        "listed": {"type": "integer"},
                        "in_stock": {"type": "integer"},
                        "total": PRICE,
                        "in_stock_total": PRICE,
                    }
                ),
            },
            "buy": _object(
                {
                    "total": PRICE,
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": _ref("CollectionItem")},
                    "not_in_stock": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "sell": _object(
                {
                    "total": PRICE,
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": _ref("CollectionItem")},
                }
            ),
            "not_carried": {"type": "array", "items": {"type": "string"}},
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

# page: a keyset-paginated list; rows: every row at once; one: a single object.
Shape = Literal["page", "rows", "one"]


@dataclass(frozen=True)
class Operation:
    """What the document says of one route besides its parameters' declarations."""

    summary: str
    query: Query
    shape: Shape
    # The components schema of the data (of each item, for lists).
    schema: str
    # For "one": what the 200 is, and whether it is offered as CSV too.
    description: str = ""
    csv: bool = False
    not_found: bool = False
    # Needs no API key: no 4xx of its own, only the errors listed in ``errors``.
    public: bool = False
    errors: tuple[tuple[str, str], ...] = ()

    def ok(self) -> dict[str, Any]:
        if self.shape == "one":
            content: dict[str, Any] = {"application/json": {"schema": _envelope(_ref(self.schema))}}
            if self.csv:
                content["text/csv"] = {"schema": {"type": "string"}}
            return {"description": self.description, "content": content}
        paginated = self.shape == "page"
        response: dict[str, Any] = {
            "description": "The list in the envelope; with `format=csv` or `Accept: text/csv` "
            "a CSV file (streamed"
            + (", every matching row from the cursor on" if paginated else "")
            + ").",
            "content": {
                "application/json": {
                    "schema": _envelope({"type": "array", "items": _ref(self.schema)})
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
        if paginated:
            response["headers"] = LINK_HEADER
        return response

    def openapi(self, tag: str, api: ApiConfig) -> dict[str, Any]:
        ok = self.ok()
        responses: dict[str, Any] = {
            "200": {**ok, "headers": {**ok.get("headers", {}), **ETAG_HEADER}},
            "304": {"description": "Not modified: `If-None-Match` named the current ETag."},
        }
        if not self.public:
            responses.update(ERROR_RESPONSES)
        if self.not_found:
            responses["404"] = _error("No such product or ornament.")
        for status, description in self.errors:
            responses[status] = _error(description)
        operation: dict[str, Any] = {
            "summary": self.summary,
            "tags": [tag],
            "parameters": self.query.openapi(api),
            "responses": responses,
        }
        if self.public:
            operation["security"] = []
        return operation


View = TypeVar("View", bound=Callable[..., Any])
OPERATIONS: dict[Callable[..., Any], Operation] = {}


def documented(
    summary: str,
    query: Query,
    *,
    page: str | None = None,
    rows: str | None = None,
    one: str | None = None,
    **details: Any,
) -> Callable[[View], View]:
    """Describe a view (put it under ``@bp.get``): its parameters, and the schema of its
    data as a keyset-paginated ``page``, all its ``rows``, or ``one`` object.

    ``details``: the other :class:`Operation` fields. The tag is the blueprint's name.
    """
    shapes: dict[Shape, str | None] = {"page": page, "rows": rows, "one": one}
    ((shape, schema),) = ((key, value) for key, value in shapes.items() if value is not None)
    operation = Operation(summary, query, shape, schema, **details)

    def record(view: View) -> View:
        OPERATIONS[view] = operation
        return view

    return record


RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_document(app: Flask) -> dict[str, Any]:
    api: ApiConfig = app.config["CHRISTMAS"]["api"]
    paths: dict[str, Any] = {}
    for rule in app.url_map.iter_rules():
        if (
            rule.endpoint in UNDOCUMENTED_ENDPOINTS
            or rule.endpoint.partition(".")[0] in UNDOCUMENTED_BLUEPRINTS
        ):
            continue
        operation = OPERATIONS.get(app.view_functions[rule.endpoint])
        if operation is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) is not @documented")
        path = RULE_ARGUMENT.sub(r"{\1}", rule.rule)
        tag = rule.endpoint.partition(".")[0]
        paths.setdefault(path, {})["get"] = operation.openapi(tag, api)
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
