"""gunicorn settings for the read API: `gunicorn -c deploy/gunicorn.conf.py`.

`christmas api serve` serves the API with granian; this runs gunicorn in the same shape
for a deployment that already runs gunicorn: threaded (gthread) workers, as many and
with as many threads as christmas_spiders/api/wsgi.py's ServeSettings (the
CHRISTMAS_API_BIND, CHRISTMAS_API_WORKERS, CHRISTMAS_API_THREADS and
CHRISTMAS_API_RATE_LIMIT_FILE environment variables, defaults there). Bound to
loopback: put a TLS reverse proxy in front for anything but local use. The app reads the
project config (ENV / CONFIG_PATH, DATABASE_URL, DATABASE_URL_READONLY, REDIS_URL, ...).

Rate limits: see christmas_spiders/api/wsgi.py (one counter per key for all workers).
"""

from __future__ import annotations

import os

from christmas_spiders.api.wsgi import ServeSettings, app_overrides, freeze_startup_objects
from christmas_spiders.config import get_config

serve = ServeSettings.from_environ(os.environ)
# gunicorn calls the factory with these literal arguments in each worker.
wsgi_app = f"christmas_spiders.api:create_app({app_overrides(get_config(), dict(os.environ))!r})"
bind = serve.bind
workers = serve.workers
worker_class = "gthread"
threads = serve.threads
# Keep-alive lets scripts and dashboards reuse connections.
keepalive = 5
# GET /api/v1/collection names up to 500 skus in its query string (gunicorn's most).
limit_request_line = 8190
timeout = 30
graceful_timeout = 10
# Recycle workers now and then, so a slow leak never grows unbounded. Not too often:
# a new worker costs ~0.5 s of CPU to boot plus cold caches and fresh Postgres
# connections (a latency spike for the requests it takes first, and clients of the
# old worker reconnect). At 1,000 requests/s over 4 workers, 20,000 meant a restart
# every ~20 s; 200,000 means one every ~3 minutes, and none at ordinary traffic.
max_requests = 200_000
max_requests_jitter = 20_000
# Per-request access logs cost throughput; turn on with --access-logfile - when wanted.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "christmas-api"


def post_worker_init(worker: object) -> None:
    """After the worker has imported and built the app: freeze what exists now."""
    freeze_startup_objects()
