"""The API's database connections.

Requests use a read-only engine: it logs in as the SELECT-only role
(config ``api.readonly_role``), every session is ``default_transaction_read_only``
and has a ``statement_timeout`` (config ``api.statement_timeout_ms``). Only the
``keys`` command writes, through the owner's URL.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

_LOCK = threading.Lock()


def _with_driver(url: str) -> str:
    from christmas_spiders.db.engine import with_driver

    return with_driver(url)


def owner_url(app: Flask) -> str:
    """The URL the keys CLI writes through: config ``database_url``, else the project's."""
    config: dict[str, Any] = app.config["CHRISTMAS"]
    explicit = app.config.get("DATABASE_URL") or config["database_url"]
    if explicit:
        return _with_driver(explicit)
    # Imported here: the engine helper may start the embedded Postgres.
    from christmas_spiders.db.engine import database_url

    return _with_driver(database_url(config))


def readonly_url(app: Flask) -> str:
    """``DATABASE_URL_READONLY`` (Flask setting or env/config ``api.database_url_readonly``),
    else the owner's URL with ``api.readonly_role`` and ``api.readonly_password``."""
    api = app.config["CHRISTMAS"]["api"]
    explicit = app.config.get("DATABASE_URL_READONLY") or api["database_url_readonly"]
    if explicit:
        return _with_driver(explicit)
    url = make_url(owner_url(app)).set(
        username=api["readonly_role"], password=api["readonly_password"]
    )
    return url.render_as_string(hide_password=False)


def _build_readonly_engine(app: Flask) -> Engine:
    api = app.config["CHRISTMAS"]["api"]
    timeout_ms = int(api["statement_timeout_ms"])
    # random_page_cost: what the API reads is in Postgres's buffers, where a page out of
    # order costs about what the next one does (the default, 4, is a disk's ratio). At 4
    # the planner sorts a release year's ornaments for the biggest spreads rather than
    # walk the year's spread index for the first page, at twice the CPU.
    options = (
        f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on -c TimeZone=UTC"
        " -c random_page_cost=1.1"
    )
    return create_engine(
        readonly_url(app),
        pool_size=int(api["pool_size"]),
        max_overflow=4,
        # No pool_pre_ping: it would cost a round trip per request. After a database
        # restart the first request on a dead connection answers 503 and SQLAlchemy
        # invalidates the pool, so the next one reconnects.
        # Each read is its own (read-only) transaction: no BEGIN/ROLLBACK round trips.
        isolation_level="AUTOCOMMIT",
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


def request_connection() -> Connection:
    """The request's read-only connection: checked out once, returned at teardown."""
    conn = g.get("christmas_connection")
    if conn is None:
        conn = readonly_engine().connect()
        g.christmas_connection = conn
    return conn


# The dialect every API statement is compiled for (the engines' driver).
DIALECT = psycopg_dialect.dialect()


def compiled_sql(statement: Any) -> str:
    """``statement`` as the SQL text psycopg runs (named ``%(name)s`` placeholders).

    For the hot listings, built once per statement shape: run by :func:`fetch_rows`, it
    skips SQLAlchemy's per-execution work (cache lookup, parameter processing, result
    metadata), which cost about a sixth of a page request's CPU.
    """
    return str(statement.compile(dialect=DIALECT))


def compiled_query(statement: Any) -> tuple[str, dict[str, Any]]:
    """:func:`compiled_sql` and the values the statement binds itself (its constants,
    such as a compared field's name), to be sent with each request's own values."""
    compiled = statement.compile(dialect=DIALECT)
    constants = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), constants


def fetch_rows(sql: str, parameters: dict[str, Any], prepare: bool = True) -> list[tuple[Any, ...]]:
    """Every row of ``sql`` (from :func:`compiled_sql`) on the request's connection, as
    plain tuples, as a prepared statement (``prepare``; else planned for its values).

    A driver error is raised as SQLAlchemy's (the same error handlers answer it). A
    connection found dead is not reused: the pool's reset when the request returns it
    fails, and the pool replaces it.
    """
    raw = request_connection().connection.dbapi_connection
    try:
        with raw.cursor() as cursor:
            cursor.execute(sql, parameters, prepare=prepare)
            return cursor.fetchall()
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, psycopg.Error) from exc


def _return_connection(_exc: BaseException | None) -> None:
    conn = g.pop("christmas_connection", None)
    if conn is not None:
        conn.close()


def init_db(app: Flask) -> None:
    app.teardown_appcontext(_return_connection)


def owner_engine(app: Flask) -> Engine:
    return create_engine(owner_url(app), pool_size=1, max_overflow=0)


def dispose(app: Flask) -> None:
    engine = app.extensions.pop("christmas_readonly_engine", None)
    if engine is not None:
        engine.dispose()
