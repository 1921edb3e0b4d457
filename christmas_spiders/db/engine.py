"""Where the database is, and how to connect to it.

``database_url()`` is the one answer for every process (crawl, API, scheduler,
tests): the configured ``database_url`` / ``DATABASE_URL`` when set (never starting
anything), else the embedded Postgres (started or reused, its app database created
and migrated to Alembic head).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from christmas_spiders.config import PROJECT_ROOT, get_config
from christmas_spiders.db import embedded

DRIVER = "postgresql+psycopg"
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
# Alembic owns the schema from the project's top-level alembic/ folder.
MIGRATIONS_DIR = PROJECT_ROOT / "alembic"
# Any constant: serialises "create the database and migrate it" across processes.
_MIGRATE_LOCK_KEY = 0x43485253  # "CHRS"

_embedded_urls: dict[tuple[Path, str], str] = {}
_embedded_lock = threading.Lock()


class DatabaseConfigError(RuntimeError):
    """The configured database cannot be used (the message says why)."""


def with_driver(url: str) -> str:
    """The same URL with the psycopg 3 driver SQLAlchemy needs (``postgresql://`` accepted)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseConfigError(f"database_url must be a PostgreSQL URL, got {parsed!r}")
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver part, for psycopg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(config: dict[str, Any] | None = None) -> str:
    """The SQLAlchemy URL of the project's database (see module docstring)."""
    config = get_config() if config is None else config
    if config.get("database_url"):
        return with_driver(str(config["database_url"]))
    settings = config["embedded_postgres"]
    data_dir = embedded.data_dir_from_config(config)
    database = str(settings["database"])
    key = (data_dir, database)
    with _embedded_lock:
        cached = _embedded_urls.get(key)
        if cached and embedded.running_server_uri(data_dir) is not None:
            return cached
        server = embedded.start_server(data_dir, bool(settings["allow_open_parents"]))
        url = _embedded_url(server.get_uri(database))
        ensure_database(_embedded_url(server.get_uri("postgres")), database, url)
        _embedded_urls[key] = url
        return url


def _embedded_url(uri: str) -> str:
    # embedded-postgres writes "postgres:@"; no password is clearer (trust auth on a socket).
    parsed = make_url(uri)
    return URL.create(
        DRIVER, username=parsed.username, database=parsed.database, query=dict(parsed.query)
    ).render_as_string(hide_password=False)


def ensure_database(admin_url: str, database: str, url: str) -> None:
    """Create ``database`` when missing and migrate it to head (safe across processes)."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK_KEY,))
        try:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{database}"')
            if MIGRATIONS_DIR.is_dir():
                upgrade(url)
            else:
                _require_migrated(url)
        finally:
            admin.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK_KEY,))


def _require_migrated(url: str) -> None:
    # Run from an installed egg (a scrapyd job), there are no migration scripts at hand:
    # use the schema if a checkout already migrated it, else say how to.
    with psycopg.connect(libpq_url(url)) as conn:
        migrated = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
        version = (
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if migrated and migrated[0]
            else None
        )
    if version is None:
        raise DatabaseConfigError(
            f"the embedded database is not migrated and this installation cannot read the "
            f"migrations ({MIGRATIONS_DIR} is not a folder); run "
            "`christmas db upgrade` once from the project checkout"
        )


def alembic_config(url: str) -> Any:
    """An Alembic Config for this project's migrations, aimed at ``url``."""
    from alembic.config import Config

    cfg = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = with_driver(url)
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def make_engine(url: str, **kw: Any) -> Engine:
    """A SQLAlchemy engine on ``url`` with the psycopg 3 driver; ``kw`` go to create_engine."""
    kw.setdefault("pool_pre_ping", True)
    return create_engine(with_driver(url), **kw)
