"""Scrapy settings, mapped from the project configuration (christmas_spiders.config).

Every tunable value and its default is a field of the configuration model (set in
config/*.json or an environment variable; docs/configuration.md lists them); this
module only maps it onto Scrapy's setting names, and wires the project's components.
``scrapy crawl ... -s NAME=VALUE`` overrides any of them for one crawl.
"""

from __future__ import annotations

import sys

from christmas_spiders.config import ConfigError, get_model
from christmas_spiders.items import REQUIRED_FIELDS, ProductItem

try:
    _config = get_model()
except ConfigError as error:
    # Scrapy imports this module before any of the project's code runs, so nothing
    # else can catch the error: one line naming the key, not a traceback around it.
    sys.stderr.write(f"configuration error: {error}\n")
    raise SystemExit(2) from None
_crawl = _config.crawl
_selenium = _config.selenium
_pipeline = _config.pipeline
_distributed = _config.distributed

BOT_NAME = "christmas_spiders"
SPIDER_MODULES = ["christmas_spiders.spiders"]
NEWSPIDER_MODULE = "christmas_spiders.spiders"
# The project's `scrapy crawl`: exits non-zero unless the crawl's verdict is a pass.
COMMANDS_MODULE = "christmas_spiders.commands"

# --- Politeness (real shops by default; the "replica" profile lifts these) ---
USER_AGENT = f"christmas_spiders/1.0 (+mailto:{_crawl.contact})"
ROBOTSTXT_OBEY = _crawl.obey_robots_txt
CONCURRENT_REQUESTS = _crawl.concurrent_requests
CONCURRENT_REQUESTS_PER_DOMAIN = _crawl.concurrent_requests_per_domain
DOWNLOAD_DELAY = _crawl.download_delay
AUTOTHROTTLE_ENABLED = _crawl.autothrottle
AUTOTHROTTLE_START_DELAY = max(DOWNLOAD_DELAY, 1.0)
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
COOKIES_ENABLED = False
# Scrapy (asyncio reactor) starts CONCURRENT_ITEMS worker tasks for every callback's
# output; ours yield one item or one page of links, so 100 workers per page only burn
# CPU (about a quarter of a crawl's CPU time, measured by bench/bench_crawl.py). The
# work per output is synchronous (scheduling a request, the item pipelines), so one
# worker loses no parallelism: 1 instead of 8 saves another ~8% of the CPU.
CONCURRENT_ITEMS = 1
# Spider middlewares whose per-request work the crawls do not use: depth tracking (no
# DEPTH_LIMIT), the URL length guard (shop URLs are short) and Referer headers (the
# User-Agent names us). Off, they save ~7% of the crawler's CPU (bench/bench_crawl.py).
# MetaCopyDetectionMiddleware (Scrapy 2.19) wraps every callback's output to warn about
# response.meta copied into new requests; ours build each request's meta afresh.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# No consoles into a running crawl: the telnet console, and Scrapy 2.19's remote control
# (an HTTP server that runs any Python code sent to it, its token in a file under $HOME).
# scrapyd and the progress log are how crawls are watched here.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# --- Robustness: 5xx and dropped connections are retried, then counted ---
RETRY_ENABLED = True
RETRY_TIMES = _crawl.retry_times
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DOWNLOAD_TIMEOUT = _crawl.download_timeout_seconds

# --- JS pages: the project's Selenium pool (scrapy-selenium's setting names) ---
SELENIUM_DRIVER_NAME = _selenium.driver_name
SELENIUM_DRIVER_EXECUTABLE_PATH = _selenium.driver_executable_path
SELENIUM_BROWSER_EXECUTABLE_PATH = _selenium.browser_executable_path
SELENIUM_DRIVER_ARGUMENTS = list(_selenium.driver_arguments)
SELENIUM_POOL_SIZE = _selenium.pool_size
SELENIUM_PAGE_TIMEOUT = _selenium.page_timeout_seconds
SELENIUM_WAIT_TIME = _selenium.wait_seconds
SELENIUM_WAIT_POLL = _selenium.wait_poll_seconds
SELENIUM_FAIL_ON_WAIT_TIMEOUT = _selenium.fail_on_wait_timeout
SELENIUM_RETRY_TIMES = _selenium.retry_times
SELENIUM_LOAD_IMAGES = _selenium.load_images
# None: DOWNLOAD_DELAY (read at crawl time, so -s DOWNLOAD_DELAY=... applies to browsers too).
SELENIUM_DOWNLOAD_DELAY = _selenium.download_delay
SELENIUM_WATCHDOG_GRACE = _selenium.watchdog_grace_seconds
# Where scrapy-selenium's own middleware sat (800); the guard right after it fails
# SeleniumRequests loudly when the pool is off (no browser configured). Scrapy's
# redirect middlewares expect RefererMiddleware (off above); these send no Referer.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "christmas_spiders.middlewares.redirect.MetaRefreshWithoutRefererMiddleware": 580,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "christmas_spiders.middlewares.redirect.RedirectWithoutRefererMiddleware": 600,
    "christmas_spiders.middlewares.selenium.SeleniumMiddleware": 800,
    "christmas_spiders.middlewares.selenium.SeleniumRequiredMiddleware": 801,
}

# --- Project settings read by our components ---
CHRISTMAS_PROGRESS_INTERVAL = _crawl.progress_interval_seconds
# None: no stats file (christmas_spiders.crawl.stats_file).
CHRISTMAS_STATS_FILE = _crawl.stats_file
CHRISTMAS_YEAR_LINKS_TTL = _crawl.year_links_ttl_seconds
CHRISTMAS_YEAR_LINKS_FILE = _crawl.year_links_cache_file
# {spider name: {"in_stock": [phrases], "out_of_stock": [phrases]}}, added to the built-in
# stock phrases (christmas_spiders.parsing.availability); -s takes it as JSON.
CHRISTMAS_STOCK_WORDING = {
    shop: phrases.model_dump() for shop, phrases in _crawl.stock_wording.items()
}
CHRISTMAS_REFRESH_YEAR_LINKS = _crawl.refresh_year_links
# -a mode=refresh: listed products not read for this long are read again, oldest first,
# at most CHRISTMAS_MAX_STALE_READS per refresh (christmas_spiders.platforms.refresh).
CHRISTMAS_MAX_PRODUCT_AGE_HOURS = _crawl.max_product_age_hours
CHRISTMAS_MAX_STALE_READS = _crawl.max_stale_reads_per_refresh

# --- Storage (christmas_spiders.pipelines.upsert, crawl.lifecycle) ---
# False: items are not stored (crawls without a database, e.g. parsing tests).
CHRISTMAS_STORE_ITEMS = _pipeline.store_items
# None: christmas_spiders.db.engine.database_url() (DATABASE_URL, else the embedded Postgres).
CHRISTMAS_DATABASE_URL = _config.database_url
CHRISTMAS_UPSERT_BATCH_SIZE = _pipeline.batch_size
CHRISTMAS_UPSERT_BATCH_SECONDS = _pipeline.batch_seconds
CHRISTMAS_DB_RETRIES = _pipeline.db_retries
CHRISTMAS_DB_RETRY_BASE_SECONDS = _pipeline.retry_base_seconds
CHRISTMAS_DEAD_LETTER_DIR = _crawl.dead_letter_dir
CHRISTMAS_MAX_ITEM_DROP_RATIO = _config.monitors.max_item_drop_ratio
CHRISTMAS_MIN_FIELD_COVERAGE = _config.monitors.min_field_coverage
CHRISTMAS_MAX_FAILED_PRODUCT_PAGE_RATIO = _config.monitors.max_failed_product_page_ratio
CHRISTMAS_MAX_FAILED_YEAR_INDEXES = _config.monitors.max_failed_year_indexes
CHRISTMAS_MAX_DROPPED_RATIO = _config.monitors.max_dropped_ratio
CHRISTMAS_MAX_DROP_REASON_RATIO = _config.monitors.max_drop_reason_ratio
CHRISTMAS_MAX_PRICE_CONFLICT_RATIO = _config.monitors.max_price_conflict_ratio
CHRISTMAS_MAX_UNKNOWN_AVAILABILITY_RATIO = _config.monitors.max_unknown_availability_ratio
CHRISTMAS_MAX_DELIST_RATIO = _config.monitors.max_delist_ratio

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = _crawl.log_level
# Scrapy's per-response/per-item DEBUG lines are not even built above DEBUG (~3% CPU).
LOG_FORMATTER = "christmas_spiders.logformatter.DebugOnlyLogFormatter"

# --- Items: one not built as a ProductItem is built through it, then the store's upsert ---
ITEM_PIPELINES = {
    "christmas_spiders.pipelines.validate.ValidateProductPipeline": 100,
    "christmas_spiders.pipelines.upsert.UpsertProductPipeline": 300,
}

# --- Extensions: progress line every CHRISTMAS_PROGRESS_INTERVAL seconds; final stats
# as JSON where -s CHRISTMAS_STATS_FILE=path is given ---
EXTENSIONS = {
    "christmas_spiders.crawl.progress.LogProgress": 500,
    "christmas_spiders.crawl.stats_file.WriteStatsFile": 510,
    "christmas_spiders.crawl.lifecycle.CrawlLifecycle": 520,
}
# The run's verdict (christmas_spiders.crawl.judge): Spidermon's own monitors read their
# thresholds here; the item-count drop monitor reads CHRISTMAS_MAX_ITEM_DROP_RATIO.
SPIDERMON_EXPECTED_FINISH_REASONS = ["finished"]
# ERROR lines no counted request failure explains (failed requests are judged as shares).
SPIDERMON_MAX_ERRORS = 0
# The coverage is counted by CrawlLifecycle (christmas/coverage/<field>), not by
# Spidermon's extension; a run without items has no coverage to judge.
SPIDERMON_ADD_FIELD_COVERAGE = True
SPIDERMON_FIELD_COVERAGE_SKIP_IF_NO_ITEM = True
# Nullable fields (was_price) are left out: empty by right where a page shows none.
SPIDERMON_FIELD_COVERAGE_RULES = {
    f"{ProductItem.__name__}/{field}": CHRISTMAS_MIN_FIELD_COVERAGE for field in REQUIRED_FIELDS
}
# --- Several workers per crawl through Redis (scrapy-redis), switched on by REDIS_URL ---
# Queue, dedupe set and in-flight table belong to one crawl session (-a crawl_id=...);
# key names live in christmas_spiders/redis_keys.py. The settings are defined either
# way; only the scheduler and the dupefilter switch on with REDIS_URL.
REDIS_URL = _config.redis_url
SCHEDULER_PERSIST = True
SCHEDULER_SERIALIZER = "scrapy_redis.picklecompat"
CHRISTMAS_REDIS_KEY_PREFIX = _distributed.key_prefix
CHRISTMAS_WORKER_HEARTBEAT = _distributed.heartbeat_seconds
CHRISTMAS_WORKER_TIMEOUT = _distributed.worker_timeout_seconds
CHRISTMAS_IDLE_POLL = _distributed.idle_poll_seconds
CHRISTMAS_ACK_INTERVAL = _distributed.ack_interval_seconds
CHRISTMAS_POP_BATCH = _distributed.pop_batch
CHRISTMAS_SESSION_TTL = _distributed.session_ttl_seconds
CHRISTMAS_FINISHED_SESSION_TTL = _distributed.finished_session_ttl_seconds
CHRISTMAS_REDIS_OUTAGE_LIMIT = _distributed.redis_outage_limit_seconds
if REDIS_URL:
    SCHEDULER = "christmas_spiders.distributed.scheduler.SessionScheduler"
    DUPEFILTER_CLASS = "christmas_spiders.distributed.dupefilter.SessionDupeFilter"
    SPIDER_MIDDLEWARES["christmas_spiders.distributed.pages.PageOutputMiddleware"] = 1
