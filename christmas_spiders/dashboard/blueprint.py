"""The dashboard's blueprint: its session cookie, the login gate, headers and errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from christmas_spiders.api.auth import SELF_AUTHENTICATED
from christmas_spiders.api.envelope import ApiError

logger = logging.getLogger(__name__)

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SESSION_COOKIE = "christmas_dashboard"
# Session entry: the SHA-256 hash of the API key the session was opened with.
SESSION_KEY_HASH = "key_hash"
# Endpoints a visitor without a session may reach.
OPEN_ENDPOINTS = frozenset({"dashboard.login", "dashboard.login_submit", "dashboard.static"})
# Pages are computed from the database at each request and may not be framed; the only
# script is our own file (the chart's data is a JSON block, which is not run).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECRET_BYTES = 48
_SECRET_LOCK = threading.Lock()


class DashboardConfigError(ValueError):
    """The dashboard's secret cannot be read or made (the message says where)."""


def installation_secret(path: Path) -> str:
    """The secret kept in ``path``: made once (mode 0600), then read by every process.

    Written aside and hard-linked into place, so two workers starting at once agree on
    one secret and neither reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
            # Another process made it first: use theirs.
            with contextlib.suppress(FileExistsError):
                os.link(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardConfigError(f"cannot read the dashboard secret {path}: {exc}") from exc
    if len(secret) < 32:
        raise DashboardConfigError(
            f"the dashboard secret in {path} is shorter than 32 characters; "
            "delete the file to have a new one made"
        )
    return secret


def configured_secret(config: dict[str, Any]) -> str:
    """``dashboard.secret_key``, else the installation's kept secret."""
    dashboard = config["dashboard"]
    if dashboard["secret_key"]:
        return str(dashboard["secret_key"])
    return installation_secret(Path(dashboard["secret_key_file"]).expanduser())


class VerifiedCookies:
    """Session cookies whose signature this process verified: value -> (data, valid until).

    Verifying a cookie (key derivation, HMAC, base64, tagged JSON) cost about a tenth of
    a page; a signed value never changes meaning, so it is verified once and then looked
    up. An entry lasts the ``seconds`` it was put with and never past the login's own
    expiry (the signed timestamp plus the session lifetime); a logout forgets it. Only
    verified values are kept, at most ``size`` of them (the oldest go first).
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    def get(self, value: str, now: float) -> dict[str, Any] | None:
        entry = self._entries.get(value)
        if entry is None:
            return None
        if now >= entry[1]:
            self.forget(value)
            return None
        # A copy: the request's session may change its own (values are strings).
        return dict(entry[0])

    def put(
        self, value: str, data: dict[str, Any], signed_at: float, lifetime: float, seconds: float
    ) -> None:
        if seconds <= 0:
            return
        until = min(time.time() + seconds, signed_at + lifetime)
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[value] = (dict(data), until)

    def forget(self, value: str | None) -> None:
        if value:
            with self._lock:
                self._entries.pop(value, None)


class DashboardSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, whose secret is resolved on the first request
    (lazily, so building the app, say for ``christmas keys ...``, never writes a secret
    file), and whose cookies are verified once per process (:class:`VerifiedCookies`).

    Never opened under ``sessionless_prefix`` (the API's routes: a key authenticates
    those, and reading the cookie cost every API request about a twentieth of its CPU);
    Flask gives such a request its null session and saves nothing after.
    """

    def __init__(self, sessionless_prefix: str | None = None) -> None:
        self.verified = VerifiedCookies()
        self.sessionless_prefix = sessionless_prefix

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            with _SECRET_LOCK:
                if not app.secret_key:
                    app.secret_key = configured_secret(app.config["CHRISTMAS"])
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.sessionless_prefix and request.path.startswith(self.sessionless_prefix):
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        data = self.verified.get(value, time.time())
        if data is not None:
            return self.session_class(data)
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        lifetime = app.permanent_session_lifetime.total_seconds()
        try:
            data, signed_at = serializer.loads(value, max_age=int(lifetime), return_timestamp=True)
        except BadSignature:
            return self.session_class()
        # Read per cookie verified: the setting takes effect without a new app.
        seconds = float(app.config["CHRISTMAS"]["dashboard"]["session_cache_seconds"])
        self.verified.put(value, data, signed_at.timestamp(), lifetime, seconds)
        return self.session_class(data)


def forget_session_cookie() -> None:
    """The request's session cookie is no longer a login (a logout, a new login)."""
    interface = current_app.session_interface
    if isinstance(interface, DashboardSessions):
        interface.verified.forget(request.cookies.get(SESSION_COOKIE))


def init_dashboard(app: Flask, sessionless_prefix: str | None = None) -> None:
    """Session cookie settings and the API's key check left to this blueprint; no
    session is opened for paths under ``sessionless_prefix``."""
    dashboard = app.config["CHRISTMAS"]["dashboard"]
    app.session_interface = DashboardSessions(sessionless_prefix)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(dashboard["secure_cookie"]),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=float(dashboard["session_hours"])),
        # A login lasts session_hours from the login: no new cookie signed on every page.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.extensions.setdefault(SELF_AUTHENTICATED, set()).add(bp.name)


def key_is_active(key_hash: str) -> bool:
    """Whether the key with this hash exists and is not revoked (the API's own check)."""
    return current_app.extensions["christmas_active_keys"].match(key_hash) is not None


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.before_request
def require_session() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    key_hash = flask_session.get(SESSION_KEY_HASH)
    if isinstance(key_hash, str) and key_is_active(key_hash):
        return None
    # No session, or its key was revoked since.
    forget_session_cookie()
    flask_session.pop(SESSION_KEY_HASH, None)
    wanted = request.full_path if request.query_string else request.path
    return redirect(url_for("dashboard.login", next=wanted))


@bp.after_request
def page_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "dashboard.static":
        # Pages show what a key may read: no shared or browser cache keeps them.
        headers["Cache-Control"] = "private, no-store"
    return response


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    return render_template(
        "dashboard/error.html", status=status, title=exc.name, message=exc.description
    ), status


@bp.errorhandler(DBAPIError)
def database_error(exc: DBAPIError) -> tuple[str, int]:
    logger.error("dashboard database error: %s", exc)
    return render_template(
        "dashboard/error.html", status=503, title="database unavailable",
        message="The database did not answer in time; try again shortly.",
    ), 503  # fmt: skip


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> tuple[str, int]:
    # The query helpers raise the API's errors (a bad cursor, an unknown sku).
    return render_template(
        "dashboard/error.html", status=exc.status, title=exc.code.replace("_", " "),
        message=exc.message,
    ), exc.status  # fmt: skip


# (endpoint, label) of the pages built on the collectors' listings, in the menu's order.
EXTRA_PAGES: list[tuple[str, str]] = []


# What a table cell shows where there is no value.
NO_VALUE = "\u2013"

# The pages every page links (menu, search form, login form) and the static files.
LINKED_PAGES = (
    "dashboard.index",
    "dashboard.shops",
    "dashboard.changes",
    "dashboard.login",
    "dashboard.login_submit",
    "dashboard.logout",
)
STATIC_FILES = ("dashboard.css", "dashboard.js", "vendor/chart.umd.js")
# app.extensions entry: script root -> the links of a page served under it (page_links).
LINKS = "christmas_dashboard_links"


def page_links() -> dict[str, Any]:
    """The menu's and static files' addresses, the menu's HTML and each ornament link's
    prefix.

    Built once per script root (the path the app is mounted at) instead of a dozen
    ``url_for`` calls and a dozen escapes per page: they depend on nothing else of the
    request.
    """
    known: dict[str, dict[str, Any]] = current_app.extensions.setdefault(LINKS, {})
    root = request.script_root
    links = known.get(root)
    if links is None:
        pages = {endpoint: url_for(endpoint) for endpoint, _ in EXTRA_PAGES}
        pages.update({endpoint: url_for(endpoint) for endpoint in LINKED_PAGES})
        nav = current_app.jinja_env.get_template("dashboard/nav.html")
        links = {
            "links": pages,
            "nav": Markup(nav.render(links=pages, extra_pages=EXTRA_PAGES)),
            "static": {name: url_for("dashboard.static", filename=name) for name in STATIC_FILES},
            # Each table row links its ornament: the route with the sku appended.
            "ornament_prefix": url_for("dashboard.ornament", sku="_")[:-1],
        }
        known[root] = links
    return links


def ornament_link(prefix: str, sku: str) -> str:
    """An ornament page's address, the sku quoted as Jinja's ``urlencode`` does."""
    return prefix + quote(sku, safe="/")


@bp.context_processor
def menu() -> dict[str, Any]:
    return {"extra_pages": EXTRA_PAGES, **page_links()}


def html(value: Any) -> str:
    """``value`` escaped as markupsafe escapes it, without a Markup object per cell.

    A chain of ``str.replace``: each is one fast scan when the text has nothing to
    replace (the usual case); ``str.translate`` with these multi-character escapes
    looks every character up in a dict, which cost about a third of a spreads page.
    """
    return (
        str(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


@bp.app_template_filter("money")
def money(value: Any) -> str:
    """A price as shown: $24.95, or a dash for none (a filter: cheaper than a macro per
    cell of a long table)."""
    return "\u2013" if value is None else f"${value:.2f}"
