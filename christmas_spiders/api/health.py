"""/healthz: for load balancers and monitors; needs no key."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from christmas_spiders.api.db import readonly_engine
from christmas_spiders.api.envelope import data_response, error_response
from christmas_spiders.api.openapi import documented
from christmas_spiders.api.params import Query

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@documented(
    "Liveness and database check (no key needed)",
    # Takes no parameters, and ignores any it is given.
    Query(),
    one="Health",
    description="Healthy.",
    public=True,
    errors=(("503", "The database does not answer."),),
)
def healthz() -> Response:
    try:
        with readonly_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return error_response(503, "database_unavailable", "the database does not answer")
    return data_response({"status": "ok", "database": "ok"})
