"""The read API as served: the app each server worker builds, for gunicorn
(deploy/gunicorn.conf.py) and granian (``granian --interface wsgi --factory
christmas_spiders.api.wsgi:served_app``) alike.

Rate limits need one counter per key for all workers: with REDIS_URL (or
``api.rate_limit_storage``) configured the app uses that; otherwise the workers share a
SQLite file, CHRISTMAS_API_RATE_LIMIT_FILE (default var/api-rate-limit.sqlite3), instead
of each counting in its own memory (a key would get the limit once per worker).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from christmas_spiders.api.ratelimit import SQLITE_SCHEME


def app_overrides(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The app's config overrides: a rate-limit store every worker shares."""
    if config["api"]["rate_limit_storage"] or config["redis_url"]:
        return {}
    path = os.path.abspath(
        environ.get("CHRISTMAS_API_RATE_LIMIT_FILE", "var/api-rate-limit.sqlite3")
    )
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
