"""Sending through Apprise, and the outbox it works from (``alert_deliveries``).

The service writes each message as a ``pending`` row in the same transaction that
moves its position, so a message is never lost between "matched" and "sent". The
``Sender`` then delivers due rows on a small thread pool: one slow or failing
destination never holds up the others. A failed attempt is logged and retried after
``retry_base_seconds * 2 ** (attempt - 1)`` (at most ``retry_max_seconds``), until
``retry_attempts`` attempts; then the row is marked ``failed``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apprise
from sqlalchemy import Connection, Engine, func, insert, select, update

from christmas_spiders.alerts.settings import AlertSettings
from christmas_spiders.db.models import AlertDelivery

logger = logging.getLogger(__name__)


def is_valid_url(url: str) -> bool:
    """Whether Apprise knows how to send to ``url``."""
    return apprise.Apprise.instantiate(url) is not None


def shown_url(url: str) -> str:
    """``url`` with its secrets masked (Apprise's privacy form)."""
    plugin = apprise.Apprise.instantiate(url)
    return plugin.url(privacy=True) if plugin is not None else url


def _level(entry: Any) -> int:
    level = getattr(entry, "level", logging.WARNING)
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level).upper())
    return number if isinstance(number, int) else logging.WARNING


def send(url: str, title: str, body: str) -> str | None:
    """Send one message to one Apprise URL now: None when delivered, else why not."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "not a usable Apprise URL"
    result = notifier.notify(title=title, body=body)
    if result:
        return None
    logs = getattr(result, "logs", None)
    problems = [e.message for e in logs() if _level(e) >= logging.WARNING] if logs else []
    return "; ".join(problems) or "Apprise reported a failed delivery"


def enqueue(
    conn: Connection,
    kind: str,
    destinations: Iterable[str],
    title: str,
    body: str,
    crawl_id: str | None = None,
    alerts: Sequence[dict[str, Any]] = (),
) -> list[int]:
    """Write one pending message per destination (in the caller's transaction)."""
    ids = []
    for destination in destinations:
        ids.append(
            conn.execute(
                insert(AlertDelivery)
                .values(
                    kind=kind,
                    crawl_id=crawl_id,
                    destination=destination,
                    title=title,
                    body=body,
                    alerts=list(alerts),
                )
                .returning(AlertDelivery.id)
            ).scalar_one()
        )
    return ids


class Sender:
    """Delivers due outbox rows on a thread pool; ``submit_due()`` from the service loop."""

    def __init__(self, engine: Engine, settings: AlertSettings):
        self.engine = engine
        self.settings = settings
        self._pool = ThreadPoolExecutor(
            max_workers=settings.delivery_workers, thread_name_prefix="alert-delivery"
        )
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        # Called after each attempt (the service wakes to plan the next one).
        self.on_done: Callable[[], None] | None = None

    def next_due_in(self) -> float | None:
        """Seconds until the next pending row is due (0: now), None when none waits."""
        with self.engine.connect() as conn:
            wait = conn.execute(
                select(
                    func.extract("epoch", func.min(AlertDelivery.next_attempt_at) - func.now())
                ).where(AlertDelivery.status == "pending")
            ).scalar()
        return None if wait is None else max(0.0, float(wait))

    def submit_due(self) -> list[Future[bool]]:
        """Start delivering every due row not already on its way."""
        with self.engine.connect() as conn:
            due = (
                conn.execute(
                    select(AlertDelivery.id)
                    .where(
                        AlertDelivery.status == "pending",
                        AlertDelivery.next_attempt_at <= func.now(),
                    )
                    .order_by(AlertDelivery.id)
                )
                .scalars()
                .all()
            )
        futures = []
        with self._lock:
            fresh = [delivery_id for delivery_id in due if delivery_id not in self._in_flight]
            self._in_flight.update(fresh)
        for delivery_id in fresh:
            futures.append(self._pool.submit(self._deliver_and_release, delivery_id))
        return futures

    def busy(self) -> bool:
        with self._lock:
            return bool(self._in_flight)

    def _deliver_and_release(self, delivery_id: int) -> bool:
        try:
            return self.deliver(delivery_id)
        except Exception:
            logger.exception("alert delivery %s: unexpected error", delivery_id)
            return False
        finally:
            with self._lock:
                self._in_flight.discard(delivery_id)
            if self.on_done is not None:
                self.on_done()

    def deliver(self, delivery_id: int) -> bool:
        """One attempt at one pending row; True when it was delivered."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    AlertDelivery.destination,
                    AlertDelivery.title,
                    AlertDelivery.body,
                    AlertDelivery.attempts,
                    AlertDelivery.status,
                ).where(AlertDelivery.id == delivery_id)
            ).one_or_none()
        if row is None or row.status != "pending":
            return False
        error = send(row.destination, row.title, row.body)
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        if error is None:
            values |= {"status": "sent", "sent_at": func.now(), "last_error": None}
        elif attempts >= self.settings.retry_attempts:
            values |= {"status": "failed", "last_error": error}
            logger.error(
                "alert delivery %s to %s failed for good after %d attempt(s): %s",
                delivery_id,
                shown_url(row.destination),
                attempts,
                error,
            )
        else:
            wait = self.settings.backoff_seconds(attempts)
            values |= {
                "last_error": error,
                "next_attempt_at": func.now() + func.make_interval(0, 0, 0, 0, 0, 0, wait),
            }
            logger.warning(
                "alert delivery %s to %s failed (attempt %d of %d), retrying in %.1f s: %s",
                delivery_id,
                shown_url(row.destination),
                attempts,
                self.settings.retry_attempts,
                wait,
                error,
            )
        with self.engine.begin() as conn:
            conn.execute(
                update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(**values)
            )
        return error is None

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
