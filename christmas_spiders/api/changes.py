"""/api/v1/changes: recent changes across all products (price drops and rises)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select

from christmas_spiders.api.db import readonly_engine, request_connection
from christmas_spiders.api.envelope import BadParameter
from christmas_spiders.api.ornaments import audit_numeric
from christmas_spiders.api.output import json_record, stream_csv, wants_csv
from christmas_spiders.api.params import QueryArgs
from christmas_spiders.api.products import (
    AUDIT_COLUMNS,
    AUDIT_SELECT,
    AUDIT_SORTS,
    audit_filters,
    page_response,
    paginate,
)
from christmas_spiders.db.models import Product, ProductAudit

bp = Blueprint("changes", __name__)

CHANGE_COLUMNS = (*AUDIT_COLUMNS, "vendor", "sku", "name")
CHANGE_PARAMETERS = (
    "field",
    "since",
    "until",
    "vendor",
    "direction",
    "sort",
    "limit",
    "cursor",
)


@bp.get("/changes")
def list_changes() -> Response:
    args = QueryArgs(CHANGE_PARAMETERS)
    csv = wants_csv()
    sort = args.choice("sort", AUDIT_SORTS, default="-changed_at") or "-changed_at"
    conditions, filters = audit_filters(args)
    direction = args.choice("direction", ("down", "up"))
    if direction is not None:
        if filters.get("field") not in (None, ["price"]):
            raise BadParameter("direction", "'direction' applies to field=price only")
        old = audit_numeric(ProductAudit.old_value)
        new = audit_numeric(ProductAudit.new_value)
        conditions.append(ProductAudit.field == "price")
        # Numeric, not text, comparison: "9.99" < "10.00".
        conditions.append(new < old if direction == "down" else new > old)
        filters["direction"] = direction
    vendors = args.string_list("vendor")
    if vendors:
        conditions.append(Product.vendor.in_(vendors))
        filters["vendor"] = vendors
    # Outer join: the audit outlives a deleted product.
    statement = (
        select(
            *AUDIT_SELECT,
            Product.vendor,
            Product.sku,
            Product.name,
        )
        .select_from(ProductAudit)
        .outerjoin(Product, Product.id == ProductAudit.product_id)
        .where(*conditions)
    )
    statement, scope, limit = paginate(
        statement,
        "changes",
        sort,
        filters,
        ProductAudit.changed_at,
        ProductAudit.id,
        (dt.datetime.fromisoformat, int),
        args,
        csv,
    )
    if csv:
        return stream_csv(
            readonly_engine(),
            statement,
            "changes.csv",
        )
    rows = request_connection().execute(statement).all()
    assert limit is not None

    def record(row: Any) -> dict[str, Any]:
        return json_record({column: getattr(row, column) for column in CHANGE_COLUMNS})

    return page_response(
        rows,
        limit,
        scope,
        lambda row: [row.changed_at, row.id],
        [record(row) for row in rows[:limit]],
        {"sort": sort, "filters": json_record(filters)},
    )
