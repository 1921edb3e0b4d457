"""The API's database connections.

Requests use a read-only engine: it logs in as the SELECT-only role
(config ``api.readonly_role``), every session is ``default_transaction_read_only``
and has a ``statement_timeout`` (config ``api.statement_timeout_ms``). Only the
``keys`` command writes, through the owner's URL.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

_LOCK = threading.Lock()


def _with_driver(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def owner_url(app: Flask) -> str:
    """The URL the keys CLI writes through: config ``database_url``, else the project's."""
    config: dict[str, Any] = app.config["CHRISTMAS"]
    explicit = app.config.get("DATABASE_URL") or config.get("database_url")
    if explicit:
        return _with_driver(explicit)
    # Imported here: the engine helper may start the embedded Postgres.
    from christmas_spiders.db.engine import database_url

    return _with_driver(database_url(config))


def readonly_url(app: Flask) -> str:
    """``DATABASE_URL_READONLY`` (Flask setting or env/config ``api.database_url_readonly``),
    else the owner's URL with ``api.readonly_role`` and ``api.readonly_password``."""
    explicit = app.config.get("DATABASE_URL_READONLY") or app.config["CHRISTMAS"]["api"].get(
        "database_url_readonly"
    )
    if explicit:
        return _with_driver(explicit)
    api = app.config["CHRISTMAS"]["api"]
    url = make_url(owner_url(app)).set(
        username=api["readonly_role"], password=api.get("readonly_password")
    )
    return url.render_as_string(hide_password=False)


def _build_readonly_engine(app: Flask) -> Engine:
    api = app.config["CHRISTMAS"]["api"]
    timeout_ms = int(api["statement_timeout_ms"])
    options = f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on"
    return create_engine(
        readonly_url(app),
        pool_size=int(api.get("pool_size", 8)),
        max_overflow=4,
        pool_pre_ping=True,
        connect_args={"options": options, "application_name": "christmas_api"},
    )


def readonly_engine(app: Flask | None = None) -> Engine:
    """The app's read-only engine, created on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions.get("christmas_readonly_engine")
    if engine is None:
        with _LOCK:
            engine = app.extensions.get("christmas_readonly_engine")
            if engine is None:
                engine = _build_readonly_engine(app)
                app.extensions["christmas_readonly_engine"] = engine
    return engine


def owner_engine(app: Flask) -> Engine:
    return create_engine(owner_url(app), pool_size=1, max_overflow=0)


def dispose(app: Flask) -> None:
    engine = app.extensions.pop("christmas_readonly_engine", None)
    if engine is not None:
        engine.dispose()
