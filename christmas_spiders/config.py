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
from importlib.resources import files
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # None: start (or reuse) the embedded Postgres in ``embedded_postgres.data_dir``.
    "database_url": None,
    "embedded_postgres": {
        # None: a per-user default chosen by christmas_spiders.db.embedded
        # (root: /var/lib/christmas_spiders/pgdata;
        # others: ~/.local/share/christmas_spiders/pgdata).
        # The server listens on a Unix socket in this folder only (no TCP port).
        "data_dir": None,
        "database": "christmas",
        # Run as root, embedded-postgres opens (chmod g+rx,o+rx) every parent folder of
        # the data folder; we refuse unless this is true. See README "Storage".
        "allow_open_parents": False,
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
        # Where the year-link cache lives when there is no Redis (relative: to the cwd).
        "year_links_cache_file": "var/year-links-cache.json",
        # None: ./var/dead-letter (items the database could not take; see README "Storage").
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
        # Pages are parsed, never looked at: spare the shops the image downloads.
        "load_images": False,
        "pool_size": 2,
        "page_timeout_seconds": 30,
        # Default wait for a SeleniumRequest's wait_until when it sets no wait_time.
        "wait_seconds": 10,
        # Attempts after a browser crash or hang, each with a fresh driver.
        "retry_times": 2,
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
        # Backoff between retries: this, doubled each time (0.5, 1, 2, 4, 8 s).
        "retry_base_seconds": 0.5,
    },
    "monitors": {
        # Items of a full crawl (or a refresh) against the previous session of its kind.
        "max_item_drop_ratio": 0.2,
        "min_field_coverage": 1.0,
        # Shares of product pages asked for / answered; of items for unknown availability.
        "max_failed_product_page_ratio": 0.01,
        "max_failed_year_indexes": 0,
        "max_dropped_ratio": 0.1,
        "max_drop_reason_ratio": 0.05,
        "max_price_conflict_ratio": 0.01,
        "max_unknown_availability_ratio": 0.05,
        # A complete crawl delisting more than this share of the vendor's products
        # delists nothing and fails instead.
        "max_delist_ratio": 0.1,
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
        # Signs pagination tokens (integrity-checked, not secret: any constant will do).
        "cursor_secret": "christmas-spiders-cursor-v1",
    },
    # Several workers per crawl session through Redis (used when redis_url is set).
    "distributed": {
        "key_prefix": "christmas",
        "heartbeat_seconds": 5,
        # A worker silent this long is taken for dead; its in-flight pages are fetched again.
        "worker_timeout_seconds": 20,
        "idle_poll_seconds": 1,
        # Requests a worker claims per Redis round trip.
        "pop_batch": 4,
        # Keys of an abandoned session expire after this; of a finished one after the next.
        "session_ttl_seconds": 604800,
        "finished_session_ttl_seconds": 86400,
    },
    "scrapyd": {
        "url": "http://127.0.0.1:6800",
        "project": "christmas_spiders",
        "username": None,
        "password": None,
    },
    # Cron entries for python -m christmas_spiders.scheduler (times in scheduler.timezone):
    # each shop fully once a day, staggered; the current and previous year every 6 hours.
    "schedules": [
        {"name": "hookedonhallmark-full", "spider": "hookedonhallmark", "cron": "0 1 * * *"},
        {"name": "ornament_shop-full", "spider": "ornament_shop", "cron": "0 2 * * *"},
        {"name": "hallmark_ornaments-full", "spider": "hallmark_ornaments", "cron": "0 3 * * *"},
        {
            "name": "hookedonhallmark-recent",
            "spider": "hookedonhallmark",
            "cron": "20 */6 * * *",
            "args": {"years": "{previous_year}-{year}"},
        },
        {
            "name": "ornament_shop-recent",
            "spider": "ornament_shop",
            "cron": "30 */6 * * *",
            "args": {"years": "{previous_year}-{year}"},
        },
        {
            "name": "hallmark_ornaments-recent",
            "spider": "hallmark_ornaments",
            "cron": "40 */6 * * *",
            "args": {"years": "{previous_year}-{year}"},
        },
    ],
    "scheduler": {
        # Last slot handled per entry (relative: to the working directory).
        "state_file": "var/scheduler-state.json",
        "timezone": "UTC",
        "poll_seconds": 30,
        "request_timeout_seconds": 10,
        "retry_initial_seconds": 5,
        "retry_max_seconds": 300,
    },
}

# Environment variable -> dotted config key.
ENV_OVERRIDES: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "CHRISTMAS_PGDATA": "embedded_postgres.data_dir",
    "CHRISTMAS_BATCH_SIZE": "pipeline.batch_size",
    "CHRISTMAS_CONTACT": "crawl.contact",
    "CHRISTMAS_CHROMEDRIVER": "selenium.driver_executable_path",
    "CHRISTMAS_CHROMIUM": "selenium.browser_executable_path",
    "CHRISTMAS_SELENIUM_POOL_SIZE": "selenium.pool_size",
    "CHRISTMAS_DEAD_LETTER_DIR": "crawl.dead_letter_dir",
    "SCRAPYD_URL": "scrapyd.url",
    "SCRAPYD_USERNAME": "scrapyd.username",
    "SCRAPYD_PASSWORD": "scrapyd.password",
    "CHRISTMAS_SCHEDULER_STATE": "scheduler.state_file",
    "CHRISTMAS_REDIS_PREFIX": "distributed.key_prefix",
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
    if (PROJECT_ROOT / path).exists():
        return PROJECT_ROOT / path
    # A scrapyd job runs from the egg, with no config/ folder at hand: use the copies
    # that setup.py packs into the egg (christmas_spiders/_config/).
    packaged = files("christmas_spiders").joinpath("_config", path.name)
    if path.parent.name == "config" and packaged.is_file():
        return packaged  # type: ignore[return-value]
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
        sibling = (
            path.parent / parent
            if isinstance(path, Path)
            else files("christmas_spiders").joinpath("_config", parent)
        )
        return _deep_merge(_read_file(sibling, (*seen, path)), data)
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
    exists = path.exists() if isinstance(path, Path) else path.is_file()
    if exists or explicit:
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
