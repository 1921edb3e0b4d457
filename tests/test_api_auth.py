"""API keys (header forms, wrong, revoked), the keys CLI, and the per-key rate limit."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
import redis
from sqlalchemy import create_engine, select

from christmas_spiders.db.models import ApiKey
from tests.fixtures.api import add_key


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_both_header_forms_are_accepted(api_app, api_key):
    client = api_app.test_client()
    assert (
        client.get("/api/v1/vendors", headers={"Authorization": f"Bearer {api_key}"}).status_code
        == 200
    )
    assert (
        client.get("/api/v1/vendors", headers={"Authorization": f"bearer {api_key}"}).status_code
        == 200
    )
    assert client.get("/api/v1/vendors", headers={"X-API-Key": api_key}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer "}, "missing_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_api_key"),
        ({"Authorization": "Bearer cs_not-a-real-key"}, "invalid_api_key"),
        ({"X-API-Key": "cs_not-a-real-key"}, "invalid_api_key"),
        ({"X-API-Key": "' OR 1=1 --"}, "invalid_api_key"),
    ],
)
def test_missing_or_wrong_key_is_401_with_the_envelope(api_app, headers, code):
    client = api_app.test_client()
    for url in ("/api/v1/products", "/api/v1/ornaments/QX0001", "/api/v1/nothing"):
        response = client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["status"] == 401
        assert error_code(response) == code


def test_a_keys_hash_is_not_a_key(api_app, api_db, api_key):
    stored = hashlib.sha256(api_key.encode()).hexdigest()
    response = api_app.test_client().get("/api/v1/products", headers={"X-API-Key": stored})
    assert response.status_code == 401


def test_keys_cli_create_list_revoke(make_app, api_db):
    app = make_app()
    runner = app.test_cli_runner()
    name = f"reseller-{uuid.uuid4().hex[:6]}"
    created = runner.invoke(args=["keys", "create", name])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", key)
    assert "not shown again" in created.stderr

    # Only the hash and a short prefix are stored.
    engine = create_engine(api_db.owner_url)
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey.key_hash, ApiKey.prefix).where(ApiKey.name == name)).one()
    engine.dispose()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(row.prefix) and len(row.prefix) < 16

    client = app.test_client()
    assert client.get("/api/v1/vendors", headers={"X-API-Key": key}).status_code == 200

    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0
    line = next(line for line in listed.output.splitlines() if line.startswith(name))
    assert row.prefix in line and "active" in line and key not in listed.output

    again = runner.invoke(args=["keys", "create", name])
    assert again.exit_code != 0 and "exists already" in again.output

    revoked = runner.invoke(args=["keys", "revoke", name])
    assert revoked.exit_code == 0, revoked.output
    response = client.get("/api/v1/vendors", headers={"X-API-Key": key})
    assert response.status_code == 401 and error_code(response) == "invalid_api_key"
    listed = runner.invoke(args=["keys", "list"])
    assert "revoked" in next(line for line in listed.output.splitlines() if line.startswith(name))

    missing = runner.invoke(args=["keys", "revoke", name])
    assert missing.exit_code != 0 and "no active key" in missing.output


def test_revocation_is_seen_within_the_key_cache_time(make_app, api_db):
    app = make_app(key_cache_seconds=3600)
    name = f"cached-{uuid.uuid4().hex[:6]}"
    key = add_key(api_db.owner_url, name)
    client = app.test_client()
    # The first request reads the active keys ...
    assert client.get("/api/v1/vendors", headers={"X-API-Key": key}).status_code == 200
    assert app.test_cli_runner().invoke(args=["keys", "revoke", name]).exit_code == 0
    # ... and the cache keeps them: documented, and why the default TTL is short.
    assert client.get("/api/v1/vendors", headers={"X-API-Key": key}).status_code == 200
    app.extensions["christmas_active_keys"].ttl = 0
    assert client.get("/api/v1/vendors", headers={"X-API-Key": key}).status_code == 401


def _exhaust(client, headers, limit: int):
    for _ in range(limit):
        response = client.get("/api/v1/vendors", headers=headers)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" in response.headers
        assert "Retry-After" not in response.headers
    return client.get("/api/v1/vendors", headers=headers)


def _assert_limited(response) -> None:
    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert response.get_json()["error"]["status"] == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_rate_limit_per_key_in_memory(make_app, api_db, api_key):
    app = make_app(rate_limit="3/minute")
    client = app.test_client()
    _assert_limited(_exhaust(client, {"X-API-Key": api_key}, 3))
    # Another key has its own budget; the health check has none.
    other = add_key(api_db.owner_url, f"other-{uuid.uuid4().hex[:6]}")
    assert client.get("/api/v1/vendors", headers={"X-API-Key": other}).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))
    # The same key by the other header form is the same key.
    _assert_limited(client.get("/api/v1/vendors", headers={"Authorization": f"Bearer {api_key}"}))


def test_rate_limit_in_redis_is_shared_between_app_instances(make_app, api_db, redis_url):
    prefix = f"cs_test_api_{uuid.uuid4().hex[:8]}"
    key = add_key(api_db.owner_url, f"redis-{uuid.uuid4().hex[:6]}")
    first = make_app(rate_limit="4/minute", redis_url=redis_url, rate_limit_prefix=prefix)
    second = make_app(rate_limit="4/minute", redis_url=redis_url, rate_limit_prefix=prefix)
    headers = {"X-API-Key": key}
    connection = redis.Redis.from_url(redis_url)
    try:
        # Two workers (two apps) draw on one budget kept in Redis.
        for app in (first, second, first, second):
            assert app.test_client().get("/api/v1/vendors", headers=headers).status_code == 200
        _assert_limited(second.test_client().get("/api/v1/vendors", headers=headers))
        stored = list(connection.scan_iter(f"*{prefix}*"))
        assert stored, "the limiter must keep its counters in Redis"
    finally:
        for name in connection.scan_iter(f"*{prefix}*"):
            connection.delete(name)
        connection.close()


def test_rate_limit_survives_redis_going_away(make_app, api_key):
    # A Redis that does not answer (a free port): limits fall back to memory, no 500s.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(rate_limit="2/minute", redis_url=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    statuses = [
        client.get("/api/v1/vendors", headers={"X-API-Key": api_key}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
