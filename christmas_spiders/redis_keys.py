"""Every Redis key the project uses, in one place.

A crawl *session* is one ``crawl_id``: all workers started with the same
``-a crawl_id=X`` share its queue, its dedupe set and its in-flight table, and a
new ``crawl_id`` starts from nothing, so each scheduled re-crawl visits every
product again. Templates are %-formatted with ``prefix``, ``spider`` and
``crawl_id`` (scrapy-redis itself only knows ``spider``); the prefix is config
``distributed.key_prefix`` (setting ``CHRISTMAS_REDIS_KEY_PREFIX``).
"""

from __future__ import annotations

# Per-session keys (a session is (spider, crawl_id)).
SESSION_KEY = "%(prefix)s:%(spider)s:%(crawl_id)s"
# Sorted set of serialised requests waiting to be fetched (score = -priority).
QUEUE_KEY = SESSION_KEY + ":requests"
# Set of request fingerprints already scheduled in this session.
DUPEFILTER_KEY = SESSION_KEY + ":dupefilter"
# Hash token -> serialised request: popped by a worker, not yet fully processed.
INFLIGHT_KEY = SESSION_KEY + ":inflight"
# Set of in-flight fields whose pages are fully processed, their items awaiting storage:
# such pages make no more requests, so they do not keep other workers from closing.
PARKED_KEY = SESSION_KEY + ":awaiting_storage"
# String with a TTL per live worker; its absence marks the worker's in-flight requests orphaned.
WORKER_KEY = SESSION_KEY + ":worker:%(worker_id)s"
# Set of the worker ids that ever joined the session (to find their heartbeats).
WORKERS_KEY = SESSION_KEY + ":workers"
# Set once the session's queue and in-flight table were found empty.
FINISHED_KEY = SESSION_KEY + ":finished"

# Per-spider, per-origin cache of the links read from the JS-built year index.
YEAR_LINKS_KEY = "%(prefix)s:%(spider)s:year_links:%(origin)s"


def session_keys(spider: str, crawl_id: str, prefix: str) -> dict[str, str]:
    """The formatted key names of one session (without the per-worker heartbeat keys)."""
    values = {"prefix": prefix, "spider": spider, "crawl_id": crawl_id}
    return {
        "queue": QUEUE_KEY % values,
        "dupefilter": DUPEFILTER_KEY % values,
        "inflight": INFLIGHT_KEY % values,
        "parked": PARKED_KEY % values,
        "workers": WORKERS_KEY % values,
        "finished": FINISHED_KEY % values,
    }


def worker_key(spider: str, crawl_id: str, worker_id: str, prefix: str) -> str:
    return WORKER_KEY % {
        "prefix": prefix,
        "spider": spider,
        "crawl_id": crawl_id,
        "worker_id": worker_id,
    }


def year_links_key(spider: str, origin: str, prefix: str) -> str:
    return YEAR_LINKS_KEY % {"prefix": prefix, "spider": spider, "origin": origin}
