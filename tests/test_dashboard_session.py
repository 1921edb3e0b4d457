"""The dashboard's login gate (Flask test client): CSRF, the cookie, revocation, the secret."""

from __future__ import annotations

import datetime as dt
import re
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from christmas_spiders.dashboard.blueprint import installation_secret, safe_next
from tests.fixtures.api import ApiDatabase, add_key

pytestmark = pytest.mark.postgres


@pytest.fixture
def dashboard_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    app = make_app()
    app.config["CHRISTMAS"]["dashboard"]["secret_key_file"] = str(tmp_path / "secret")
    return app


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(client: FlaskClient, key: str, next_path: str = "/") -> object:
    return client.post(
        "/login", data={"csrf_token": csrf_token(client), "api_key": key, "next": next_path}
    )


def test_pages_need_a_session_and_the_api_still_needs_a_key(dashboard_app: Flask) -> None:
    client = dashboard_app.test_client()
    for path in ("/", "/search?q=x", "/ornaments/QX0001", "/shops", "/changes"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/login").status_code == 200
    with client.get("/static/vendor/chart.umd.js") as script:
        assert script.status_code == 200
        assert script.get_data().startswith(b"/*!\n * Chart.js v4")
    assert client.get("/api/v1/vendors").status_code == 401


def test_login_sets_a_signed_httponly_lax_cookie(dashboard_app: Flask, api_key: str) -> None:
    client = dashboard_app.test_client()
    response = log_in(client, api_key, "/shops")
    assert response.status_code == 302
    assert response.headers["Location"] == "/shops"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("christmas_dashboard=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # lasts dashboard.session_hours, not just the browser's life
    assert api_key not in cookie
    page = client.get("/shops")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # A cookie changed by hand is not a session.
    other = dashboard_app.test_client()
    value = cookie.split(";")[0].split("=", 1)[1]
    other.set_cookie("christmas_dashboard", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert other.get("/shops").status_code == 302


def test_the_form_needs_its_csrf_token(dashboard_app: Flask, api_key: str) -> None:
    client = dashboard_app.test_client()
    client.get("/login")
    missing = client.post("/login", data={"api_key": api_key})
    assert missing.status_code == 400
    assert "form expired" in missing.get_data(as_text=True)
    wrong = client.post("/login", data={"api_key": api_key, "csrf_token": "x" * 43})
    assert wrong.status_code == 400
    assert client.get("/shops").status_code == 302


def test_a_wrong_key_is_a_401_and_no_session(dashboard_app: Flask) -> None:
    client = dashboard_app.test_client()
    for key in ("cs_unknown", "", "x" * 10_000):
        response = log_in(client, key)
        assert response.status_code == 401
        assert "unknown or revoked" in response.get_data(as_text=True)
        assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "shops", "javascript:x"],
)
def test_login_never_redirects_off_site(dashboard_app: Flask, api_key: str, target: str) -> None:
    client = dashboard_app.test_client()
    response = log_in(client, api_key, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert safe_next(target) is None
    assert safe_next("/ornaments/QX1?x=1") == "/ornaments/QX1?x=1"


def test_logout_and_revoking_the_key_end_the_session(
    dashboard_app: Flask, api_db: ApiDatabase
) -> None:
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    key = add_key(api_db.owner_url, name)
    client = dashboard_app.test_client()
    log_in(client, key)
    assert client.get("/shops").status_code == 200
    client.get("/logout")
    assert client.get("/shops").status_code == 302
    log_in(client, key)
    assert client.get("/shops").status_code == 200
    engine = create_engine(api_db.owner_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE api_keys SET revoked_at = now() WHERE name = :name"), {"name": name}
            )
    finally:
        engine.dispose()
    # key_cache_seconds is 0 in the test apps: the next page sees the revocation.
    response = client.get("/shops")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_unknown_sku_and_bad_cursor_are_html_errors(dashboard_app: Flask, api_key: str) -> None:
    client = dashboard_app.test_client()
    log_in(client, api_key)
    missing = client.get("/ornaments/NO-SUCH-SKU")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    assert "NO-SUCH-SKU" in missing.get_data(as_text=True)
    cursor = client.get("/changes?cursor=abc.def")
    assert cursor.status_code == 400
    assert cursor.mimetype == "text/html"
    assert client.get("/changes?kind=nonsense").status_code == 400


def test_the_installation_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "secret"
    first = installation_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert installation_secret(path) == first
    assert list(path.parent.iterdir()) == [path]  # no scratch file left behind


def test_two_apps_on_one_secret_file_share_sessions(
    make_app: Callable[..., Flask], api_key: str, tmp_path: Path
) -> None:
    apps = [make_app(), make_app()]
    for app in apps:
        app.config["CHRISTMAS"]["dashboard"]["secret_key_file"] = str(tmp_path / "shared")
    first, second = (app.test_client() for app in apps)
    cookie = log_in(first, api_key).headers["Set-Cookie"]
    second.set_cookie("christmas_dashboard", cookie.split(";")[0].split("=", 1)[1])
    assert second.get("/shops").status_code == 200
    # A configured dashboard.secret_key wins over the file.
    third = make_app()
    third.config["CHRISTMAS"]["dashboard"]["secret_key"] = "k" * 40
    client = third.test_client()
    client.set_cookie("christmas_dashboard", cookie.split(";")[0].split("=", 1)[1])
    assert client.get("/shops").status_code == 302


def test_a_remembered_cookie_still_expires_with_its_login(
    make_app: Callable[..., Flask], api_key: str, tmp_path: Path
) -> None:
    app = make_app()
    dashboard = app.config["CHRISTMAS"]["dashboard"]
    dashboard["secret_key_file"] = str(tmp_path / "secret")
    # Remembered for longer than the login lasts: one second.
    dashboard["session_cache_seconds"] = 300.0
    app.permanent_session_lifetime = dt.timedelta(seconds=1)
    client = app.test_client()
    cookie = log_in(client, api_key).headers["Set-Cookie"]
    value = cookie.split(";")[0].split("=", 1)[1]
    assert client.get("/shops").status_code == 200
    assert client.get("/shops").status_code == 200  # the remembered verification
    time.sleep(3.2)  # the signed timestamp counts whole seconds
    # The browser would drop the cookie by now; a client sending it anyway is refused.
    replay = app.test_client()
    replay.set_cookie("christmas_dashboard", value)
    response = replay.get("/shops")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_forgets_the_remembered_cookie(dashboard_app: Flask, api_key: str) -> None:
    client = dashboard_app.test_client()
    first = log_in(client, api_key).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert client.get("/shops").status_code == 200
    verified = dashboard_app.session_interface.verified  # type: ignore[attr-defined]
    assert verified.get(first, time.time()) is not None
    client.get("/logout")
    assert verified.get(first, time.time()) is None
    assert client.get("/shops").status_code == 302
