"""API keys (stored only as SHA-256 hashes) and the per-key rate limit.

A request carries ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The key's hash
is looked up by the database function ``christmas_api_key(hash)`` (migration 0005): it
runs as the table's owner and answers for that one hash, so the read-only role never
reads ``api_keys``. Keys found are remembered for ``api.key_cache_seconds`` (a revoked
key stops working within that time; 0 asks on every request); a key not found is never
remembered, so a key created a moment ago works at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, text

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import ApiError
from christmas_spiders.api.ratelimit import init_rate_limit

KEY_PREFIX = "cs_"
# Characters of the key kept in clear (with the hash) so `keys list` can tell keys apart.
SHOWN_PREFIX_LENGTH = 10
# Endpoints anyone may call without a key.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "meta.openapi", "static"})
# Longer than any key this project makes: such a header is not a key (and is not hashed).
MAX_PRESENTED_LENGTH = 256
KEY_CHECK = text("SELECT id, name FROM christmas_api_key(:key_hash)").bindparams(
    bindparam("key_hash")
)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyOwner:
    """The key a request presented: its id (the rate limit's key) and name."""

    id: int
    name: str


class KnownKeys:
    """Keys found by hash, each remembered for ``ttl`` seconds; misses are never cached."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        # hash -> (owner, time it was read)
        self._found: dict[str, tuple[KeyOwner, float]] = {}
        self._lock = threading.Lock()

    def match(self, key_hash: str) -> KeyOwner | None:
        entry = self._found.get(key_hash)
        now = time.monotonic()
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        row = request_connection().execute(KEY_CHECK, {"key_hash": key_hash}).first()
        with self._lock:
            if row is None:
                self._found.pop(key_hash, None)
                return None
            owner = KeyOwner(row.id, row.name)
            self._found[key_hash] = (owner, now)
            return owner


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def authenticate() -> None:
    """before_request: a valid key or a 401 (public endpoints excepted)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    key = presented_key()
    if key is None:
        raise ApiError(
            401,
            "missing_api_key",
            "an API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        )
    owner = None
    if len(key) <= MAX_PRESENTED_LENGTH:
        owner = current_app.extensions["christmas_active_keys"].match(hash_key(key))
    if owner is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown or revoked")
    g.api_key = owner


def request_key_id() -> int | None:
    """The id of the key this request presented (None before or without one)."""
    owner: KeyOwner | None = g.get("api_key")
    return None if owner is None else owner.id


def init_auth(app: Flask) -> None:
    """Register the key check, then the limiter: the key check runs first."""
    api = app.config["CHRISTMAS"]["api"]
    app.extensions["christmas_active_keys"] = KnownKeys(float(api["key_cache_seconds"]))
    app.before_request(authenticate)
    init_rate_limit(app, request_key_id, PUBLIC_ENDPOINTS)
