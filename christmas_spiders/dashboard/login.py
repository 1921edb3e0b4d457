"""``/login`` (an API key in the form field ``api_key``) and ``/logout``.

The key is checked as the API checks a header (its hash against the active keys);
the session keeps that hash, and every page checks it again, so revoking the key
ends its dashboard sessions too. The form is the dashboard's only POST and carries
a token tied to the visitor's session (CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, redirect, render_template, request, session, url_for

from christmas_spiders.api.auth import hash_key
from christmas_spiders.dashboard.blueprint import (
    SESSION_KEY_HASH,
    bp,
    forget_session_cookie,
    key_is_active,
    safe_next,
)

CSRF_SESSION_KEY = "csrf"
# No key this project makes is longer; a longer field is not hashed at all.
MAX_KEY_LENGTH = 256


def _form(status: int = 200, error: str | None = None) -> tuple[str, int]:
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    page = render_template(
        "dashboard/login.html",
        csrf_token=token,
        next=safe_next(request.values.get("next")) or "",
        error=error,
    )
    return page, status


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    key_hash = session.get(SESSION_KEY_HASH)
    if isinstance(key_hash, str) and key_is_active(key_hash):
        return redirect(safe_next(request.args.get("next")) or url_for("dashboard.index"))
    return _form()


@bp.post("/login")
def login_submit() -> Response | tuple[str, int]:
    expected = session.get(CSRF_SESSION_KEY)
    given = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        session.pop(CSRF_SESSION_KEY, None)
        return _form(400, "The form expired; please enter the key again.")
    key = request.form.get("api_key", "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key_is_active(hash_key(key)):
        return _form(401, "That API key is unknown or revoked.")
    target = safe_next(request.form.get("next")) or url_for("dashboard.index")
    # A new session on login: nothing from before it (its CSRF token) carries over.
    forget_session_cookie()
    session.clear()
    session[SESSION_KEY_HASH] = hash_key(key)
    session.permanent = True
    return redirect(target)


@bp.get("/logout")
def logout() -> Response:
    forget_session_cookie()
    session.clear()
    return redirect(url_for("dashboard.login"))
