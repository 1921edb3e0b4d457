"""The Flask app factory: ``flask --app christmas_spiders.api run``, or served (api/wsgi.py)."""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask, Response, request

from christmas_spiders.api import (
    changes,
    collection,
    health,
    meta,
    ornaments,
    products,
    stats,
    vendors,
)
from christmas_spiders.api.auth import PUBLIC_ENDPOINTS, init_auth
from christmas_spiders.api.cli import keys_cli
from christmas_spiders.api.db import init_db
from christmas_spiders.api.envelope import register_error_handlers
from christmas_spiders.api.jsonprovider import OrjsonProvider
from christmas_spiders.config import DEFAULTS, get_config
from christmas_spiders.dashboard import bp as dashboard_bp
from christmas_spiders.dashboard import init_dashboard

API_PREFIX = "/api/v1"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ApiFlask(Flask):
    """Flask, with each handler's sync form looked up once.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every request
    (seven per API request); the answer for a function never changes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_handlers: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        handler = self._sync_handlers.get(func)
        if handler is None:
            handler = self._sync_handlers[func] = super().ensure_sync(func)
        return handler


def create_app(config_overrides: dict[str, Any] | None = None) -> Flask:
    """Build the API.

    ``config_overrides``: keys of the project config (``api``, ``database_url``,
    ``redis_url``...; dicts merge into it) and Flask settings in upper case, e.g.
    ``DATABASE_URL_READONLY`` (the read-only role's URL; default: the project's
    database URL with ``api.readonly_role``) and ``DATABASE_URL`` (the owner's, for
    the keys CLI).
    """
    overrides = dict(config_overrides or {})
    project = {key: value for key, value in overrides.items() if key in DEFAULTS}
    flask_settings = {key: value for key, value in overrides.items() if key not in DEFAULTS}

    app = ApiFlask(__name__, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config.update(flask_settings)
    app.config["CHRISTMAS"] = _merge(get_config(), project)

    register_error_handlers(app)
    init_db(app)
    init_auth(app)
    for blueprint in (
        products.bp,
        ornaments.bp,
        collection.bp,
        vendors.bp,
        changes.bp,
        stats.bp,
        meta.bp,
    ):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(health.bp)
    # The dashboard's pages (at /) check a session cookie, not a key header.
    init_dashboard(app, sessionless_prefix=API_PREFIX + "/")
    app.register_blueprint(dashboard_bp)
    app.cli.add_command(keys_cli)
    app.after_request(_conditional)
    app.after_request(_protective_headers)
    return app


def _protective_headers(response: Response) -> Response:
    """Every answer: no MIME sniffing. A keyed answer (any route but the public ones) is
    for its key's holder alone: no shared or browser cache may keep it."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if request.endpoint not in PUBLIC_ENDPOINTS:
        headers["Cache-Control"] = "private, no-store"
    return response


# Request headers that can make a JSON answer conditional (no Last-Modified is sent).
CONDITIONAL_HEADERS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)


def _conditional(response: Response) -> Response:
    """A strong ETag on every JSON 200: a client sending If-None-Match gets a bodiless 304."""
    if (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and not response.is_streamed
        and response.mimetype == "application/json"
    ):
        response.add_etag()
        # make_conditional costs ~10% of a small request; it can only change the answer
        # when the client sent one of these headers.
        environ = request.environ
        if any(name in environ for name in CONDITIONAL_HEADERS):
            response.make_conditional(request)
    return response
