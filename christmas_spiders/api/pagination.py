"""Keyset pagination for every list route: an opaque ``next`` token holding the last row's
sort key and id.

The token is base64url(JSON) plus an HMAC, bound to the route, the sort and the
filters it was issued for: a changed, truncated or foreign token is a 400 on
``cursor``. The HMAC's secret is the installation's own (``api.cursor_secret``, else
the one migration 0005 generated in ``api_settings``), so a token cannot be forged
from the code; its readable payload is not secret. Each key value is checked against
its column (type, range, text without NUL or lone surrogates) before any query, so even
a token signed with a leaked secret is a 400, never a database error.

A listing's statement is built once per shape (see :meth:`Keyset.statement`): the
cursor's key and the row limit are bound parameters, filled per request by
:meth:`Keyset.page`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, request
from sqlalchemy import ColumnElement, Integer, bindparam, cast, literal_column, text, tuple_
from sqlalchemy import types as sqltypes

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import BadParameter, data_response
from christmas_spiders.api.output import json_record
from christmas_spiders.api.params import Choice, text_problem

SIGNATURE_BYTES = 12
# Bound-parameter names of the keyset and the limit in a page statement.
AFTER_KEY = "after_key"
AFTER_ID = "after_id"
ROW_LIMIT = "row_limit"

MAX_TOKEN_LENGTH = 2048
# A text key without a declared length (names): no longer than a token can carry.
MAX_KEY_TEXT = MAX_TOKEN_LENGTH
# The largest magnitude of each integer column type.
INTEGER_LIMITS: tuple[tuple[type[sqltypes.Integer], int], ...] = (
    (sqltypes.SmallInteger, 2**15),
    (sqltypes.BigInteger, 2**63),
    (sqltypes.Integer, 2**31),
)
# A query string of unreserved characters, valid escapes and the separators only: safe in
# a Link header as it is.
SAFE_QUERY_RE = re.compile(r"[A-Za-z0-9_.~+,:=&-]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9_.~+,:=&-]*)*")
SECRET_QUERY = text("SELECT cursor_secret FROM api_settings")

Converter = Callable[[Any], Any]


def installation_secret(app: Flask) -> bytes:
    """``api.cursor_secret``, else the installation's generated one (read once per app)."""
    secret = app.extensions.get("christmas_cursor_secret")
    if secret is None:
        configured = app.config["CHRISTMAS"]["api"]["cursor_secret"]
        if configured:
            secret = str(configured).encode()
        else:
            stored = request_connection().execute(SECRET_QUERY).scalar_one_or_none()
            if not stored:
                raise RuntimeError(
                    "no cursor secret: set api.cursor_secret or run the migrations "
                    "(0005 generates one in api_settings)"
                )
            secret = stored.encode()
        app.extensions["christmas_cursor_secret"] = secret
    return bytes(secret)


def _secret() -> bytes:
    return installation_secret(current_app._get_current_object())  # type: ignore[attr-defined]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def query_scope(route: str, sort: str, filters: dict[str, Any]) -> str:
    """A short digest of what a token belongs to: the route, sort and filter values."""
    canonical = json.dumps([route, sort, filters], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(scope: str, key: Sequence[Any]) -> str:
    payload = json.dumps({"s": scope, "k": list(key)}, separators=(",", ":"), default=str)
    body = _b64encode(payload.encode())
    signature = hmac.new(_secret(), body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return f"{body}.{_b64encode(signature)}"


def decode_cursor(token: str, scope: str, key_length: int) -> list[Any]:
    """The key a token holds, or a 400 on ``cursor``."""
    bad = BadParameter("cursor", "invalid cursor token; use the `next` value of a response")
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise bad
    body, signature = token.split(".")
    expected = hmac.new(_secret(), body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    try:
        given = _b64decode(signature)
        payload = json.loads(_b64decode(body))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    if not hmac.compare_digest(given, expected):
        raise bad
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), list):
        raise bad
    if payload.get("s") != scope:
        raise BadParameter(
            "cursor", "this cursor belongs to a different query (route, sort or filters changed)"
        )
    if len(payload["k"]) != key_length:
        raise bad
    return payload["k"]


def convert_key(
    raw: list[Any], converters: Sequence[Converter], columns: Sequence[Any] = ()
) -> list[Any]:
    """Turn a decoded key back into typed values, each checked against its column (when
    given); any mismatch is a bad cursor."""
    try:
        # A token of ours holds text and integers only (decimals and times as text).
        if any(isinstance(value, bool) or not isinstance(value, str | int) for value in raw):
            raise TypeError("a key value that no token holds")
        values = [convert(value) for convert, value in zip(converters, raw, strict=True)]
        for column, value in zip(columns, values, strict=False):
            check_key_value(column, value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise BadParameter("cursor", "invalid cursor token") from exc
    return values


def check_key_value(column: Any, value: Any) -> None:
    """Raise ValueError unless ``value`` fits ``column``'s type: what Postgres would refuse
    (out of range, NUL, invalid UTF-8) must never reach it."""
    type_ = column.type
    if isinstance(value, str):
        if not isinstance(type_, sqltypes.String):
            raise ValueError("text for a non-text column")
        problem = text_problem(value)
        if problem is not None or len(value) > (type_.length or MAX_KEY_TEXT):
            raise ValueError(problem or "too long")
    elif isinstance(value, bool):
        raise ValueError("a boolean key")
    elif isinstance(value, int):
        limit = next((bound for kind, bound in INTEGER_LIMITS if isinstance(type_, kind)), None)
        if limit is None or not -limit <= value < limit:
            raise ValueError("integer out of range")
    elif isinstance(value, Decimal):
        if not isinstance(type_, sqltypes.Numeric) or not value.is_finite():
            raise ValueError("not a finite decimal")
        precision, scale = type_.precision, type_.scale
        if precision is not None and abs(value) >= Decimal(10) ** (precision - (scale or 0)):
            raise ValueError("decimal out of range")
    elif isinstance(value, dt.datetime):
        if not isinstance(type_, sqltypes.DateTime):
            raise ValueError("a time for a non-time column")
        if value.tzinfo is None:
            raise ValueError("a time without a zone")
        # Raises OverflowError for a time that leaves the calendar once in UTC.
        value.astimezone(dt.UTC)
    else:
        raise ValueError(f"unexpected key type {type(value).__name__}")


def keyset_condition(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in (columns...) order; a row comparison Postgres indexes."""
    left = tuple_(*columns)
    right = tuple_(*values)
    return left < right if descending else left > right


def next_link(token: str) -> str:
    """The next page's URL: this request's parameters with ``cursor`` replaced.

    Relative to the request's path, or under ``api.public_base_url`` when configured;
    never built from the ``Host`` header. The parameters are encoded again from their
    parsed values, so the header is plain ASCII whatever the client sent.
    """
    path = f"{request.script_root}{request.path}"
    base = current_app.config["CHRISTMAS"]["api"]["public_base_url"]
    if base:
        path = str(base).rstrip("/") + path
    raw = request.environ.get("QUERY_STRING", "")
    if SAFE_QUERY_RE.fullmatch(raw):
        # Already plain encoded ASCII: kept as sent, without decoding and encoding every
        # value again (a tenth of a page's CPU). A name with an escape might spell
        # "cursor": only the slow way below can tell.
        parts = [part for part in raw.split("&") if part]
        names = [part.partition("=")[0] for part in parts]
        if not any("%" in name for name in names):
            kept = [part for part, name in zip(parts, names, strict=True) if name != "cursor"]
            return f"{path}?{'&'.join([*kept, 'cursor=' + token])}"
    pairs = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    pairs.append(("cursor", token))
    return f"{path}?{urlencode(pairs)}"


def key_text(column: Any) -> Any:
    """A sort key as a JSON page selects it for its next cursor: a NUMERIC as Postgres's
    text ("24.95", the cursor's form, no Decimal built per row), anything else as is."""
    if isinstance(column.type, sqltypes.Numeric):
        return cast(column, sqltypes.Text).label(column.key)
    return column


@dataclass(frozen=True)
class Page:
    """One request's place in a listing: the values of the page statement's parameters."""

    sort: str
    scope: str
    # Rows asked for; None: a CSV export of every row from the cursor on.
    limit: int | None
    csv: bool
    filters: dict[str, Any]
    parameters: dict[str, Any]

    @property
    def after(self) -> bool:
        return AFTER_ID in self.parameters

    @property
    def limited(self) -> bool:
        return ROW_LIMIT in self.parameters


@dataclass(frozen=True)
class Keyset:
    """The orders a listing pages in: ``sort`` name -> (column, the token value's type).

    Ties are broken by ``id_column``; sorting by the id itself is a one-column key.
    """

    sorts: Mapping[str, tuple[Any, Converter]]
    id_column: Any
    id_type: Converter

    def sort_param(self, default: str, description: str) -> Choice:
        choices = tuple(prefix + name for name in self.sorts for prefix in ("", "-"))
        return Choice(
            name="sort", choices=choices, fallback=default, description=description, filter=False
        )

    def column(self, sort: str) -> Any:
        return self.sorts[sort.lstrip("-")][0]

    def statement(
        self, statement: Any, sort: str, after: bool, limited: bool, written: int | None = None
    ) -> Any:
        """``statement`` in ``sort`` order, after the bound key (``after``), limited to the
        bound row count (``limited``), or to ``written`` rows written into the SQL."""
        sort_column = self.column(sort)
        descending = sort.startswith("-")
        single_key = sort_column is self.id_column
        columns = [sort_column] if single_key else [sort_column, self.id_column]
        if after:
            bound = [bindparam(AFTER_ID, type_=self.id_column.type)]
            if not single_key:
                bound.insert(0, bindparam(AFTER_KEY, type_=sort_column.type))
            statement = statement.where(keyset_condition(columns, bound, descending))
        statement = statement.order_by(*(c.desc() if descending else c for c in columns))
        if written is not None:
            statement = statement.limit(literal_column(str(int(written)), Integer))
        elif limited:
            statement = statement.limit(bindparam(ROW_LIMIT, type_=Integer))
        return statement

    def page(self, route: str, args: Mapping[str, Any], filters: dict[str, Any]) -> Page:
        """The page ``args`` ask for (``sort``, ``cursor``, ``limit``, ``format``).

        JSON pages fetch one row more than the limit: it tells whether a next page exists.
        """
        sort: str = args["sort"]
        csv = args["format"] == "csv"
        scope = query_scope(route, sort, filters)
        parameters: dict[str, Any] = {}
        token = args["cursor"]
        if token is not None:
            sort_column, sort_type = self.sorts[sort.lstrip("-")]
            key, parameters[AFTER_ID] = convert_key(
                decode_cursor(token, scope, 2),
                (sort_type, self.id_type),
                (sort_column, self.id_column),
            )
            if sort_column is not self.id_column:
                parameters[AFTER_KEY] = key
        limit: int | None = args["limit"]
        if limit is not None:
            parameters[ROW_LIMIT] = limit if csv else limit + 1
        return Page(sort, scope, limit, csv, filters, parameters)

    def response(
        self,
        rows: Sequence[Any],
        page: Page,
        record: Callable[[Any], Any],
        meta: dict[str, Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> Response:
        """The JSON page of ``rows`` (fetched by a statement with ``page.parameters``):
        SQLAlchemy rows, or plain tuples of ``columns``."""
        limit = page.limit
        assert limit is not None, "a JSON page always has a limit"
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            names = (self.column(page.sort).key, self.id_column.key)
            if columns is None:
                key = [getattr(last, name) for name in names]
            else:
                key = [last[columns.index(name)] for name in names]
            token = encode_cursor(page.scope, key)
        records = [record(row) for row in rows[:limit]]
        meta = {
            **(meta or {}),
            "sort": page.sort,
            "filters": json_record(page.filters),
            "limit": limit,
            "count": len(records),
        }
        return data_response(records, meta, token, next_link(token) if token else None)
