"""Project configuration: built-in defaults, a JSON file per environment, env vars on top.

Resolution order (later wins):

1. ``DEFAULTS`` below: the documented defaults, safe for crawling the real shops.
2. The JSON file ``CONFIG_PATH`` (default ``./config/$ENV.json``, ``ENV`` defaulting
   to ``default``); a relative path is tried against the working directory first,
   then against the project root, so scrapyd jobs started elsewhere find it too.
   A file may name another with ``"extends": "default.json"``.
3. Environment variables listed in ``ENV_OVERRIDES`` (``DATABASE_URL``, ``REDIS_URL``...).

Every part of the project (spiders, pipelines, API, scheduler) reads the same
merged mapping through :func:`get_config`.
"""

from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # None: start (or reuse) the embedded Postgres in ``embedded_postgres.data_dir``.
    "database_url": None,
    "embedded_postgres": {
        # None: a per-user default chosen by christmas_spiders.db.embedded.
        "data_dir": None,
        "port": 54329,
    },
    # None: no scrapy-redis; the crawl runs alone with Scrapy's own scheduler.
    "redis_url": None,
    "crawl": {
        # Polite defaults for the real shops; the replica profile lifts them.
        "obey_robots_txt": True,
        "autothrottle": True,
        "concurrent_requests": 16,
        "concurrent_requests_per_domain": 2,
        "download_delay": 1.0,
        "contact": "christmas-spiders@example.org",
        "progress_interval_seconds": 5,
        # Year-index links kept this long (seconds) before the index is rendered again.
        "year_links_ttl_seconds": 86400,
        "dead_letter_dir": None,
    },
    "selenium": {
        "driver_name": "chrome",
        "driver_executable_path": "/usr/bin/chromedriver",
        "browser_executable_path": "/usr/bin/chromium",
        "driver_arguments": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
        "pool_size": 2,
        "page_timeout_seconds": 30,
    },
    "audit": {
        # Fields of ``products`` whose changes the trigger records.
        "tracked_fields": ["price", "availability"],
        "notify_channel": "product_changes",
    },
    "pipeline": {
        "batch_size": 500,
        "batch_seconds": 2.0,
        "db_retries": 5,
    },
    "monitors": {
        "max_item_drop_ratio": 0.2,
        "min_field_coverage": 1.0,
    },
    "api": {
        "max_limit": 500,
        "default_limit": 100,
        "rate_limit": "600/minute",
        "statement_timeout_ms": 5000,
        "readonly_role": "christmas_reader",
        "readonly_password": None,
        # None: database_url with readonly_role/readonly_password.
        "database_url_readonly": None,
        "pool_size": 8,
        # Active key hashes are re-read this often (seconds): a revocation's delay.
        "key_cache_seconds": 5,
        "rate_limit_prefix": "christmas_api",
        # Signs pagination tokens; None: a built-in constant (tokens are not secrets).
        "cursor_secret": None,
    },
    "scrapyd": {
        "url": "http://127.0.0.1:6800",
        "project": "christmas_spiders",
        "username": None,
        "password": None,
    },
    "schedules": [],
}

# Environment variable -> dotted config key.
ENV_OVERRIDES: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "CHRISTMAS_PGDATA": "embedded_postgres.data_dir",
    "CHRISTMAS_PGPORT": "embedded_postgres.port",
    "CHRISTMAS_CONTACT": "crawl.contact",
    "CHRISTMAS_DEAD_LETTER_DIR": "crawl.dead_letter_dir",
    "SCRAPYD_URL": "scrapyd.url",
    "SCRAPYD_USERNAME": "scrapyd.username",
    "SCRAPYD_PASSWORD": "scrapyd.password",
    "CHRISTMAS_READONLY_PASSWORD": "api.readonly_password",
    "DATABASE_URL_READONLY": "api.database_url_readonly",
    "CHRISTMAS_API_RATE_LIMIT": "api.rate_limit",
}


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or malformed."""


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _set_dotted(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    current = node.get(leaf)
    if isinstance(current, int) and not isinstance(current, bool):
        value = int(value)
    node[leaf] = value


def resolve_config_path(env: str | None = None, config_path: str | None = None) -> Path:
    env = env or os.environ.get("ENV") or "default"
    raw = config_path or os.environ.get("CONFIG_PATH") or f"./config/{env}.json"
    path = Path(raw)
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path


def _read_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ConfigError(f"config files extend each other in a loop: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path} (set ENV or CONFIG_PATH)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    parent = data.pop("extends", None)
    if parent:
        return _deep_merge(_read_file(path.parent / parent, (*seen, path)), data)
    return data


def load_config(
    env: str | None = None,
    config_path: str | None = None,
    environ: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, the environment's JSON file and env var overrides."""
    environ = os.environ if environ is None else environ
    path = resolve_config_path(env, config_path)
    explicit = bool(config_path or environ.get("CONFIG_PATH") or env or environ.get("ENV"))
    if path.exists() or explicit:
        config = _deep_merge(DEFAULTS, _read_file(path))
    else:
        config = copy.deepcopy(DEFAULTS)
    config["env"] = env or environ.get("ENV") or "default"
    config["config_path"] = str(path)
    for variable, dotted in ENV_OVERRIDES.items():
        if environ.get(variable):
            _set_dotted(config, dotted, environ[variable])
    return config


@lru_cache(maxsize=1)
def get_config() -> dict[str, Any]:
    """The process-wide configuration (read once)."""
    return load_config()
