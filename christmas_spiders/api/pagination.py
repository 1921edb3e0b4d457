"""Keyset pagination: an opaque ``next`` token holding the last row's sort key and id.

The token is base64url(JSON) plus an HMAC, bound to the route, the sort and the
filters it was issued for: a changed, truncated or foreign token is a 400 on
``cursor``. It is integrity-checked, not secret: forging one would only let a
client start a listing at a key it could ask for with filters anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app, request
from sqlalchemy import ColumnElement, tuple_

from christmas_spiders.api.envelope import BadParameter

DEFAULT_CURSOR_SECRET = "christmas-spiders-cursor-v1"
SIGNATURE_BYTES = 12


def _secret() -> bytes:
    secret = current_app.config["CHRISTMAS"]["api"].get("cursor_secret") or DEFAULT_CURSOR_SECRET
    return str(secret).encode()


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
    if len(token) > 2048 or token.count(".") != 1:
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


def keyset_condition(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in (columns...) order; a row comparison Postgres indexes."""
    left = tuple_(*columns)
    right = tuple_(*values)
    return left < right if descending else left > right


def next_link(token: str) -> str:
    """The absolute URL of the next page: this request's query with ``cursor`` replaced.

    Built from the raw query string (already encoded); the token is URL-safe as is.
    """
    kept = [
        part
        for part in request.query_string.decode("ascii", "replace").split("&")
        if part and not part.startswith("cursor=")
    ]
    kept.append(f"cursor={token}")
    return f"{request.base_url}?{'&'.join(kept)}"


Converter = Callable[[Any], Any]


def convert_key(raw: list[Any], converters: Sequence[Converter]) -> list[Any]:
    """Turn a decoded key back into typed values; any mismatch is a bad cursor."""
    try:
        return [convert(value) for convert, value in zip(converters, raw, strict=True)]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise BadParameter("cursor", "invalid cursor token") from exc
