"""The one JSON envelope for data and for errors, and the error handlers.

Data: ``{"data": ..., "meta": {...}, "next": token | null}``.
Errors: ``{"error": {"status": 400, "code": "bad_parameter", "parameter": "limit",
"message": "..."}}`` (``parameter`` only where one parameter is to blame).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered with the envelope; raise it anywhere in a request."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter


class BadParameter(ApiError):
    """A malformed query parameter: 400 naming it."""

    def __init__(self, parameter: str, message: str, code: str = "bad_parameter") -> None:
        super().__init__(400, code, message, parameter)


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(404, "not_found", message)


def error_response(status: int, code: str, message: str, parameter: str | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if parameter is not None:
        body["parameter"] = parameter
    response = jsonify({"error": body})
    response.status_code = status
    return response


def data_response(
    data: Any,
    meta: dict[str, Any] | None = None,
    next_token: str | None = None,
    next_url: str | None = None,
) -> Response:
    response = jsonify({"data": data, "meta": meta or {}, "next": next_token})
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def _is_query_canceled(exc: DBAPIError) -> bool:
    # psycopg raises QueryCanceled (SQLSTATE 57014) when statement_timeout fires.
    return getattr(exc.orig, "sqlstate", None) == "57014"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.parameter)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(
            exc.code or 500, _code_for(exc), exc.description or exc.name or "error"
        )
        if exc.code == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if _is_query_canceled(exc):
            logger.warning("API query cancelled by statement_timeout: %s", exc.statement)
            return error_response(
                503, "query_timeout", "the query took too long; narrow the filters"
            )
        if isinstance(exc, OperationalError):
            logger.error("API database unavailable: %s", exc)
            return error_response(503, "database_unavailable", "the database is unavailable")
        logger.exception("API database error")
        return error_response(500, "internal_error", "internal error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("API unexpected error")
        return error_response(500, "internal_error", "internal error")
