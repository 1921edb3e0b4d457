"""gunicorn settings for the read API: `gunicorn -c deploy/gunicorn.conf.py`.

Threaded workers (gthread): a request mostly waits on Postgres, so threads share a
worker's connection pool while the GIL is free. Bound to loopback: put a TLS
reverse proxy in front for anything but local use.

Environment: CHRISTMAS_API_BIND (default 127.0.0.1:8000), CHRISTMAS_API_WORKERS
(default 2 x cores), CHRISTMAS_API_THREADS (default 4); the app reads the project
config (ENV / CONFIG_PATH, DATABASE_URL, DATABASE_URL_READONLY, REDIS_URL, ...).
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "christmas_spiders.api:create_app()"
bind = os.environ.get("CHRISTMAS_API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CHRISTMAS_API_WORKERS", 2 * multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("CHRISTMAS_API_THREADS", 4))
# Keep-alive lets scripts and dashboards reuse connections.
keepalive = 5
timeout = 30
graceful_timeout = 10
# Recycle workers now and then, so a slow leak never grows unbounded.
max_requests = 20000
max_requests_jitter = 2000
# Per-request access logs cost throughput; turn on with --access-logfile - when wanted.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "christmas-api"
