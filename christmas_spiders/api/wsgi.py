"""The read API as served: the app each server worker builds, and how it is served.

``christmas api serve`` runs granian (a Rust HTTP server) with :func:`granian_command`;
``gunicorn -c deploy/gunicorn.conf.py`` runs gunicorn in the same shape. Both read
:class:`ServeSettings` from the ``CHRISTMAS_API_*`` environment variables, whose defaults
are written here only.

Rate limits need one counter per key for all workers: with REDIS_URL (or
``api.rate_limit_storage``) configured the app uses that; otherwise the workers share a
SQLite file, CHRISTMAS_API_RATE_LIMIT_FILE (default var/api-rate-limit.sqlite3), instead
of each counting in its own memory (a key would get the limit once per worker).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from christmas_spiders.api.ratelimit import SQLITE_SCHEME
from christmas_spiders.config import ConfigError

# What granian imports in each worker (a factory: each worker builds its own app).
SERVED_APP = "christmas_spiders.api.wsgi:served_app"
# A worker past this resident size is replaced, so a slow leak never grows unbounded
# (a worker serving the benchmark's 100,000 products stays near 90 MiB).
WORKER_MAX_RSS_MIB = 1024


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServeSettings:
    """How the API is served, from the environment (:meth:`from_environ`).

    The shape is ``workers`` processes (default one per core) of ``threads`` request
    threads each (default 2), measured best of the shapes tried (``python -m bench
    api``; docs/performance.md). A connection stays with the worker that accepted it,
    and workers accept unevenly (16 connections over 4 workers were seen as 7/3/2/4), so
    with more workers than cores the busiest one's requests waited longest; and threads
    of one worker take turns on its interpreter lock, so many of them wait on each
    other. Two threads let one run Python while the other waits on Postgres. A long
    request (a whole CSV export) holds a thread: raise ``CHRISTMAS_API_THREADS`` where
    many run at once.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=_cores)
    threads: int = 2
    rate_limit_file: str = "var/api-rate-limit.sqlite3"

    @property
    def bind(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ServeSettings:
        """CHRISTMAS_API_BIND (host:port), CHRISTMAS_API_WORKERS, CHRISTMAS_API_THREADS,
        CHRISTMAS_API_RATE_LIMIT_FILE; a malformed one is a ConfigError naming it."""
        defaults = cls()
        host, port = defaults.host, defaults.port
        bind = environ.get("CHRISTMAS_API_BIND")
        if bind:
            host, sep, port_text = bind.rpartition(":")
            if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"CHRISTMAS_API_BIND: expected host:port, got {bind!r}")
            port = int(port_text)
        return cls(
            host=host,
            port=port,
            workers=_count(environ, "CHRISTMAS_API_WORKERS", defaults.workers),
            threads=_count(environ, "CHRISTMAS_API_THREADS", defaults.threads),
            rate_limit_file=environ.get("CHRISTMAS_API_RATE_LIMIT_FILE")
            or defaults.rate_limit_file,
        )


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}: expected a whole number of at least 1, got {text!r}")
    return int(text)


def granian_command(settings: ServeSettings, extra: Sequence[str] = ()) -> list[str]:
    """The command that serves the API with granian in ``settings``' shape; ``extra``
    options go to granian (``python -m granian --help``)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--blocking-threads",
        str(settings.threads),
        "--respawn-failed-workers",
        "--workers-max-rss",
        str(WORKER_MAX_RSS_MIB),
        "--no-access-log",
        *extra,
        SERVED_APP,
    ]


def app_overrides(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The app's config overrides: a rate-limit store every worker shares."""
    if config["api"]["rate_limit_storage"] or config["redis_url"]:
        return {}
    path = os.path.abspath(ServeSettings.from_environ(environ).rate_limit_file)
    return {"api": {"rate_limit_storage": f"{SQLITE_SCHEME}://{path}"}}


def freeze_startup_objects() -> None:
    """After the worker has imported and built the app: freeze what exists now.

    Those objects (modules, Flask, SQLAlchemy metadata: ~87,000) live as long as the
    worker; frozen, the cyclic garbage collector never traverses them again. Otherwise
    each full collection walks them all with every thread of the worker stopped: 25-50
    ms on this machine, a latency spike for every request in flight.
    """
    gc.freeze()


def served_app() -> Flask:
    """The app one worker serves (granian's factory; gunicorn builds it from
    ``app_overrides`` itself and freezes in ``post_worker_init``)."""
    from christmas_spiders.api import create_app
    from christmas_spiders.config import get_config

    app = create_app(app_overrides(get_config(), os.environ))
    freeze_startup_objects()
    return app
