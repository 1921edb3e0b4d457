"""/api/v1/changes: recent changes across all products (price drops and rises)."""

from __future__ import annotations

from flask import Blueprint, Response

from christmas_spiders.api.audit_queries import (
    AUDIT_ORDER,
    audit_values,
    change_record,
    changes_statement,
)
from christmas_spiders.api.db import readonly_engine, request_connection
from christmas_spiders.api.envelope import BadParameter
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.output import stream_csv
from christmas_spiders.api.params import (
    CURSOR,
    FIELD,
    FORMAT,
    LIMIT,
    SINCE,
    UNTIL,
    VENDOR,
    Choice,
    Query,
)

bp = Blueprint("changes", __name__)

CHANGES = Query(
    FIELD,
    SINCE,
    UNTIL,
    VENDOR,
    Choice(
        name="direction",
        choices=("down", "up"),
        description="Price drops or rises (numeric comparison; implies field=price).",
    ),
    AUDIT_ORDER.sort_param("-changed_at", "'-' for newest first."),
    LIMIT,
    CURSOR,
    FORMAT,
)


@bp.get("/changes")
@documented(
    "Recent changes across all products; direction=down for price drops", CHANGES, page="Change"
)
def list_changes() -> Response:
    args = CHANGES.parse()
    filters = CHANGES.filters(args)
    direction = args["direction"]
    if direction is not None and filters.get("field") not in (None, ["price"]):
        raise BadParameter("direction", "'direction' applies to field=price only")
    page = AUDIT_ORDER.page("changes", args, filters)
    statement = changes_statement(
        len(filters.get("field", ())),
        "since" in filters,
        "until" in filters,
        direction,
        len(filters.get("vendor", ())),
        page.sort,
        page.after,
        page.limited,
    )
    parameters = {**audit_values(filters), **page.parameters}
    if page.csv:
        return stream_csv(readonly_engine(), statement, "changes.csv", parameters)
    rows = request_connection().execute(statement, parameters).all()
    return AUDIT_ORDER.response(rows, page, change_record)
