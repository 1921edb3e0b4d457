"""API keys (stored only as SHA-256 hashes) and the per-key rate limit.

A request carries ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The key's
hash is compared with every active hash using :func:`hmac.compare_digest`, all
of them every time, so the answer takes the same time whichever key is near.
The active hashes are cached for ``api.key_cache_seconds`` (a revoked key stops
working within that time; 0 reads them on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import select

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import ApiError
from christmas_spiders.api.ratelimit import SCHEME as MEMORY_SCHEME
from christmas_spiders.db.models import ApiKey

KEY_PREFIX = "cs_"
# Characters of the key kept in clear (with the hash) so `keys list` can tell keys apart.
SHOWN_PREFIX_LENGTH = 10
# Endpoints anyone may call without a key.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "meta.openapi", "static"})
# app.extensions entry: names of blueprints that check their own credentials (the
# dashboard's session cookie) instead of an API key header.
SELF_AUTHENTICATED = "christmas_self_authenticated_blueprints"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ActiveKeys:
    """The hashes of the keys not revoked, re-read at most every ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._hashes: list[tuple[str, str]] = []
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _current(self) -> list[tuple[str, str]]:
        if time.monotonic() - self._read_at < self.ttl:
            return self._hashes
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl:
                rows = (
                    request_connection()
                    .execute(
                        select(ApiKey.key_hash, ApiKey.name).where(ApiKey.revoked_at.is_(None))
                    )
                    .all()
                )
                self._hashes = [(row.key_hash, row.name) for row in rows]
                self._read_at = time.monotonic()
            return self._hashes

    def match(self, key_hash: str) -> str | None:
        """The name of the active key with this hash, compared in constant time."""
        found: str | None = None
        given = key_hash.encode()
        for stored, name in self._current():
            if hmac.compare_digest(stored.encode(), given):
                found = name
        return found


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
    if request.blueprint in current_app.extensions.get(SELF_AUTHENTICATED, ()):
        return
    key = presented_key()
    if key is None:
        raise ApiError(
            401,
            "missing_api_key",
            "an API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        )
    key_hash = hash_key(key)
    name = current_app.extensions["christmas_active_keys"].match(key_hash)
    if name is None:
        raise ApiError(401, "invalid_api_key", "the API key is unknown or revoked")
    g.api_key_hash = key_hash
    g.api_key_name = name


def _rate_limit_key() -> str:
    return g.get("api_key_hash") or get_remote_address() or "anonymous"


def init_auth(app: Flask) -> Limiter:
    """Register the key check, then the limiter: the key check runs first."""
    api = app.config["CHRISTMAS"]["api"]
    app.extensions["christmas_active_keys"] = ActiveKeys(float(api["key_cache_seconds"]))
    app.before_request(authenticate)
    redis_url = app.config["CHRISTMAS"]["redis_url"]
    limiter = Limiter(
        key_func=_rate_limit_key,
        default_limits=[api["rate_limit"]],
        default_limits_exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS,
        # Without Redis: our fixed-window memory store (limits' memory:// starts a
        # timer thread per request or so; see christmas_spiders.api.ratelimit).
        storage_uri=redis_url or f"{MEMORY_SCHEME}://",
        key_prefix=api["rate_limit_prefix"],
        headers_enabled=True,
        # Redis down: count in each worker's memory until it is back, rather than fail.
        in_memory_fallback_enabled=bool(redis_url),
        # A counter per window: O(1) per request (a moving window keeps every hit).
        strategy="fixed-window",
    )
    limiter.init_app(app)
    return limiter
