"""The alert service: from the audit stream to the outbox, exactly once.

``AlertService.run()`` LISTENs on the audit channel (``audit_settings.notify_channel``);
a NOTIFY only wakes it: what changed is always read from ``product_audit``, from the
position kept in ``alert_cursor``. One ``step()`` is one transaction that

1. reads the audit rows after the position, up to a safe horizon (below);
2. sorts them: changes by hand are handled at once; a crawl's changes wait for
   ``crawl_verdict()``. A pending crawl is recorded in ``alert_crawls`` and only its
   rows are held back; the others keep flowing. When a verdict comes, ALL of that
   crawl's rows are read at once (one digest per destination), or, for a failed
   crawl, skipped, with one message to ``alerts.operator_notify``;
3. applies the accepted changes to ``alert_offers``, matches the rules, and writes
   one outbox row per (crawl, destination) into ``alert_deliveries``;
4. moves the position: so after a crash or restart nothing is lost (the outbox
   rows are committed with the position) and nothing is matched twice.

Sending happens after the commit (``delivery.Sender``). A message whose delivery
was under way when the process was killed is sent again on restart; nothing else is.

Safe horizon: audit ids are handed out when a row is written, not when its
transaction commits, so a transaction still open may commit a row below an id
already visible. The service reads the highest id handed out *before* taking a
snapshot; once every transaction of this database open in that snapshot has ended,
every row up to that id is final. Until then the position stays below it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from christmas_spiders.alerts import messages
from christmas_spiders.alerts.delivery import Sender, enqueue
from christmas_spiders.alerts.matcher import (
    Alert,
    AuditChange,
    Cheapest,
    CheapestKey,
    OfferInfo,
    cheapest_by_key,
    crossing_keys,
    match_crossings,
    match_offer_changes,
    price,
)
from christmas_spiders.alerts.rules import load_rules
from christmas_spiders.alerts.settings import AlertSettings
from christmas_spiders.alerts.verdict import crawl_verdict
from christmas_spiders.db import audit_sql
from christmas_spiders.db.engine import libpq_url

logger = logging.getLogger(__name__)

# Any constant: one alert service per database.
SERVICE_LOCK_KEY = 0x414C5254  # "ALRT"
# How often an unresolved horizon is looked at again (a concurrent write is short).
HORIZON_RECHECK_SECONDS = 0.05
WAIT_SLICE_SECONDS = 0.25
# A transaction open this long holds the position back: say so (once per period).
SLOW_TRANSACTION_WARN_SECONDS = 60.0

_ALLOCATED = text(
    "SELECT coalesce(pg_sequence_last_value("
    "CAST(pg_get_serial_sequence('product_audit', 'id') AS regclass)), 0)"
)
# The transactions that may still commit an audit row at or below the id just read: the
# snapshot's in-progress list covers only ids below its xmax (the newest *ended* xid +
# 1), so the ones assigned since are added as the range up to this step's own xid (taken
# after the id was read: a writer gets its xid before its audit id). A snapshot also
# lists every database's transactions; only this database's can write here, so a long
# transaction elsewhere (another project's crawl on a shared server) is left out. One
# whose backend is not found (it just ended, a prepared or a sub-transaction) is kept:
# waiting on it is safe, skipping it is not.
_OPEN_TRANSACTIONS = text(
    """
WITH now AS (SELECT pg_current_snapshot() AS snap, pg_current_xact_id() AS me),
maybe_open AS (
    SELECT x FROM now, pg_snapshot_xip(now.snap) AS x
    UNION
    SELECT CAST(CAST(n AS text) AS xid8) FROM now, generate_series(
        CAST(CAST(pg_snapshot_xmax(now.snap) AS text) AS bigint),
        CAST(CAST(now.me AS text) AS bigint) - 1) AS n
)
SELECT coalesce(array_agg(CAST(o.x AS text)), CAST(ARRAY[] AS text[]))
FROM maybe_open AS o
WHERE NOT EXISTS (
    SELECT 1 FROM pg_stat_activity AS a
    WHERE a.backend_xid = xid(o.x) AND a.datname <> current_database())
"""
)
# Ended means ended for snapshots, not in the commit log: a committing transaction is
# marked committed a moment before new snapshots see its rows.
_STILL_OPEN = text(
    "SELECT count(*) FROM unnest(CAST(:xids AS text[])) AS x "
    "WHERE NOT pg_visible_in_snapshot(CAST(x AS xid8), pg_current_snapshot())"
)
_AUDIT_COLUMNS = "id, product_id, operation, field, old_value, new_value, crawl_id"
_AFTER_CURSOR = text(
    f"SELECT {_AUDIT_COLUMNS} FROM product_audit "
    "WHERE id > :after AND id <= :horizon ORDER BY id LIMIT :limit"
)
_OF_CRAWL = text(
    f"SELECT {_AUDIT_COLUMNS} FROM product_audit "
    "WHERE crawl_id = :crawl_id AND id > :after AND id <= :horizon ORDER BY id"
)
_OFFERS = text(
    "SELECT i.id AS product_id, coalesce(p.sku, o.sku) AS sku, "
    "coalesce(p.vendor, o.vendor) AS vendor, coalesce(p.name, i.id) AS name, "
    "coalesce(p.link, '') AS link, p.price, p.availability "
    "FROM unnest(CAST(:ids AS text[])) AS i(id) "
    "LEFT JOIN products p ON p.id = i.id LEFT JOIN alert_offers o ON o.product_id = i.id"
)
_APPLY_OFFERS = text(
    """
INSERT INTO alert_offers
    (product_id, sku, vendor, price, availability, price_audit_id, availability_audit_id)
SELECT * FROM unnest(
    CAST(:product_id AS text[]), CAST(:sku AS text[]), CAST(:vendor AS text[]),
    CAST(:price AS numeric[]), CAST(:availability AS text[]),
    CAST(:price_audit_id AS bigint[]), CAST(:availability_audit_id AS bigint[]))
ON CONFLICT (product_id) DO UPDATE SET
    sku = EXCLUDED.sku,
    vendor = EXCLUDED.vendor,
    price = CASE WHEN EXCLUDED.price_audit_id > alert_offers.price_audit_id
                 THEN EXCLUDED.price ELSE alert_offers.price END,
    price_audit_id = greatest(alert_offers.price_audit_id, EXCLUDED.price_audit_id),
    availability = CASE WHEN EXCLUDED.availability_audit_id > alert_offers.availability_audit_id
                        THEN EXCLUDED.availability ELSE alert_offers.availability END,
    availability_audit_id = greatest(
        alert_offers.availability_audit_id, EXCLUDED.availability_audit_id)
"""
)
_OFFERS_OF_SKUS = text(
    "SELECT product_id, sku, vendor, price, availability FROM alert_offers "
    "WHERE sku = ANY(CAST(:skus AS text[]))"
)


def _changes(conn: Connection, statement: Any, **params: Any) -> list[AuditChange]:
    return [AuditChange(*row) for row in conn.execute(statement, params)]


class AlertService:
    def __init__(self, engine: Engine, settings: AlertSettings):
        self.engine = engine
        self.settings = settings
        self.sender = Sender(engine, settings)
        # Highest audit id known to be final, and a candidate waiting on open transactions.
        self._safe = 0
        self._candidate: tuple[int, list[str]] | None = None
        self._candidate_since = 0.0
        self._pending_crawls = False
        self._wake = threading.Event()

    # --- one step -------------------------------------------------------------------

    def _horizon(self, conn: Connection) -> int:
        allocated = int(conn.execute(_ALLOCATED).scalar_one())
        open_now = list(conn.execute(_OPEN_TRANSACTIONS).scalar_one())
        if self._candidate is not None:
            candidate, xids = self._candidate
            if not conn.execute(_STILL_OPEN, {"xids": xids}).scalar_one():
                self._safe = max(self._safe, candidate)
                self._candidate = None
            elif time.monotonic() - self._candidate_since > SLOW_TRANSACTION_WARN_SECONDS:
                logger.warning(
                    "audit rows above id %d wait for transaction(s) %s to end "
                    "(see pg_stat_activity.backend_xid)",
                    self._safe,
                    ", ".join(xids),
                )
                self._candidate_since = time.monotonic()
        if not open_now:
            self._safe = max(self._safe, allocated)
            self._candidate = None
        elif self._candidate is None and allocated > self._safe:
            self._candidate = (allocated, open_now)
            self._candidate_since = time.monotonic()
        return self._safe

    @property
    def horizon_pending(self) -> bool:
        return self._candidate is not None

    def step(self) -> bool:
        """Handle the next batch of audit rows; True when more may be waiting already."""
        with self.engine.begin() as conn:
            horizon = self._horizon(conn)
            cursor = int(
                conn.execute(
                    text("SELECT last_audit_id FROM alert_cursor WHERE id FOR UPDATE")
                ).scalar_one()
            )
            horizon = max(horizon, cursor)
            rows = _changes(
                conn, _AFTER_CURSOR, after=cursor, horizon=horizon, limit=self.settings.batch_rows
            )
            full = len(rows) == self.settings.batch_rows
            position = rows[-1].id if full else horizon
            groups = self._sort_out(conn, rows, cursor, horizon)
            for crawl_id, changes in sorted(groups, key=lambda group: group[1][0].id):
                self._handle(conn, crawl_id, changes)
            if position != cursor:
                conn.execute(
                    text(
                        "UPDATE alert_cursor SET last_audit_id = :position, updated_at = now() "
                        "WHERE id"
                    ),
                    {"position": position},
                )
            self._pending_crawls = bool(
                conn.execute(text("SELECT 1 FROM alert_crawls WHERE status = 'pending' LIMIT 1"))
                .scalars()
                .first()
            )
        return full

    def _sort_out(
        self, conn: Connection, rows: Sequence[AuditChange], cursor: int, horizon: int
    ) -> list[tuple[str | None, list[AuditChange]]]:
        """The groups to handle now: (crawl id or None for changes by hand, its rows)."""
        groups: list[tuple[str | None, list[AuditChange]]] = []
        by_hand = [row for row in rows if row.crawl_id is None]
        if by_hand:
            groups.append((None, by_hand))
        in_batch: dict[str, list[AuditChange]] = {}
        for row in rows:
            if row.crawl_id is not None:
                in_batch.setdefault(row.crawl_id, []).append(row)
        known = {
            row.crawl_id: (row.status, int(row.handled_through))
            for row in conn.execute(
                text(
                    "SELECT crawl_id, status, handled_through FROM alert_crawls "
                    "WHERE status = 'pending' OR crawl_id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": sorted(in_batch)},
            )
        }
        for crawl_id in sorted(set(in_batch) | set(known)):
            status, through = known.get(crawl_id, (None, cursor))
            if status in ("passed", "failed"):
                # Rows written under a decided crawl's id after its verdict.
                late = [row for row in in_batch.get(crawl_id, ()) if row.id > through]
                if late:
                    if status == "passed":
                        groups.append((crawl_id, late))
                    else:
                        logger.warning(
                            "%d change(s) of failed crawl %s not alerted", len(late), crawl_id
                        )
                    self._record_crawl(conn, crawl_id, status, late[-1].id, None)
                continue
            verdict = crawl_verdict(conn, crawl_id)
            if not verdict.decided:
                if status is None:
                    self._record_crawl(conn, crawl_id, "pending", through, None)
                continue
            changes = _changes(conn, _OF_CRAWL, crawl_id=crawl_id, after=through, horizon=horizon)
            self._record_crawl(conn, crawl_id, verdict.status, horizon, verdict.reason or None)
            if verdict.status == "passed":
                if changes:
                    groups.append((crawl_id, changes))
            else:
                self._report_failed(conn, crawl_id, verdict.reason, len(changes))
        return groups

    @staticmethod
    def _record_crawl(
        conn: Connection, crawl_id: str, status: str, through: int, reason: str | None
    ) -> None:
        conn.execute(
            text(
                "INSERT INTO alert_crawls (crawl_id, status, handled_through, reason, decided_at) "
                "VALUES (:crawl_id, :status, :through, :reason, "
                "CASE WHEN :decided THEN now() END) "
                "ON CONFLICT (crawl_id) DO UPDATE SET status = EXCLUDED.status, "
                "handled_through = "
                "greatest(alert_crawls.handled_through, EXCLUDED.handled_through), "
                "reason = coalesce(EXCLUDED.reason, alert_crawls.reason), "
                "decided_at = coalesce(alert_crawls.decided_at, EXCLUDED.decided_at)"
            ),
            {
                "crawl_id": crawl_id,
                "status": status,
                "decided": status != "pending",
                "through": through,
                "reason": reason,
            },
        )

    def _report_failed(self, conn: Connection, crawl_id: str, reason: str, changes: int) -> None:
        logger.error(
            "crawl %s failed its verdict (%s): its %d change(s) are not alerted",
            crawl_id,
            reason,
            changes,
        )
        if not self.settings.operator_notify:
            logger.warning(
                "alerts.operator_notify is not set: nobody is told of crawl %s", crawl_id
            )
            return
        title, body = messages.failed_crawl(crawl_id, reason, changes)
        enqueue(conn, "operator", self.settings.operator_notify, title, body, crawl_id=crawl_id)

    # --- one group: apply, match, enqueue -------------------------------------------------

    @staticmethod
    def _offers(conn: Connection, product_ids: Sequence[str]) -> dict[str, OfferInfo]:
        offers = {}
        for row in conn.execute(_OFFERS, {"ids": list(product_ids)}).mappings():
            if row["sku"] is None:
                continue
            offers[row["product_id"]] = OfferInfo(**row)
        return offers

    @staticmethod
    def _apply(
        conn: Connection, changes: Sequence[AuditChange], offers: dict[str, OfferInfo]
    ) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for change in changes:
            offer = offers.get(change.product_id)
            if offer is None or change.field not in ("price", "availability"):
                continue
            entry = latest.setdefault(
                change.product_id,
                {
                    "price": offer.price,
                    "availability": offer.availability,
                    "price_audit_id": 0,
                    "availability_audit_id": 0,
                },
            )
            if change.id > entry[f"{change.field}_audit_id"]:
                value: Any = (
                    price(change.new_value) if change.field == "price" else change.new_value
                )
                entry[change.field] = value
                entry[f"{change.field}_audit_id"] = change.id
        if not latest:
            return
        ids = sorted(latest)
        conn.execute(
            _APPLY_OFFERS,
            {
                "product_id": ids,
                "sku": [offers[i].sku for i in ids],
                "vendor": [offers[i].vendor for i in ids],
                **{
                    column: [latest[i][column] for i in ids]
                    for column in (
                        "price",
                        "availability",
                        "price_audit_id",
                        "availability_audit_id",
                    )
                },
            },
        )

    @staticmethod
    def _cheapest(conn: Connection, keys: set[CheapestKey]) -> dict[CheapestKey, Cheapest | None]:
        if not keys:
            return {}
        skus = sorted({sku for sku, _ in keys})
        return cheapest_by_key(conn.execute(_OFFERS_OF_SKUS, {"skus": skus}).all(), keys)  # type: ignore[arg-type]

    def _handle(self, conn: Connection, crawl_id: str | None, changes: list[AuditChange]) -> None:
        offers = self._offers(conn, sorted({change.product_id for change in changes}))
        rules = load_rules(conn, {offer.sku for offer in offers.values()})
        keys = crossing_keys(rules)
        before = self._cheapest(conn, keys)
        self._apply(conn, changes, offers)
        if not rules:
            return
        after = self._cheapest(conn, keys)
        missing = [c.product_id for c in after.values() if c and c.product_id not in offers]
        if missing:
            offers |= self._offers(conn, sorted(set(missing)))
        alerts = match_offer_changes(rules, changes, offers)
        crossings, arming = match_crossings(rules, changes, offers, before, after)
        for rule_id, armed in arming.items():
            conn.execute(
                text("UPDATE alert_rules SET armed = :armed WHERE id = :id"),
                {"armed": armed, "id": rule_id},
            )
        self._enqueue_digests(conn, crawl_id, [*alerts, *crossings])

    def _enqueue_digests(
        self, conn: Connection, crawl_id: str | None, alerts: Sequence[Alert]
    ) -> None:
        by_destination: dict[str, list[Alert]] = {}
        for alert in sorted(alerts, key=lambda a: (a.audit_ids[0], a.rule.id)):
            for destination in dict.fromkeys(alert.rule.notify):
                by_destination.setdefault(destination, []).append(alert)
        for destination, chosen in by_destination.items():
            title, body = messages.digest(chosen, crawl_id, self.settings.dashboard_url)
            enqueue(
                conn,
                "alert",
                [destination],
                title,
                body,
                crawl_id=crawl_id,
                alerts=[alert.as_json() for alert in chosen],
            )
        if alerts:
            logger.info(
                "%d alert(s) from %s into %d message(s)",
                len(alerts),
                f"crawl {crawl_id}" if crawl_id else "changes by hand",
                len(by_destination),
            )

    # --- running ----------------------------------------------------------------------

    def catch_up(self) -> None:
        while self.step():
            pass

    def drain(self, timeout: float = 30.0) -> None:
        """Handle everything visible and deliver every due message, then return (tests, CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.catch_up()
            if self.horizon_pending:
                time.sleep(HORIZON_RECHECK_SECONDS)
                continue
            futures = self.sender.submit_due()
            for future in futures:
                future.result(timeout=max(0.1, deadline - time.monotonic()))
            if not futures:
                return
        raise TimeoutError(f"alert service did not settle within {timeout} s")

    def _next_wait(self) -> float:
        if self.horizon_pending:
            return HORIZON_RECHECK_SECONDS
        wait = self.settings.poll_seconds
        if self._pending_crawls:
            wait = min(wait, self.settings.verdict_poll_seconds)
        due = self.sender.next_due_in()
        if due is not None:
            wait = min(wait, due)
        return wait

    @contextmanager
    def _listener(self, stop: threading.Event) -> Iterator[psycopg.Connection[Any] | None]:
        url = libpq_url(self.engine.url.render_as_string(hide_password=False))
        with psycopg.connect(url, autocommit=True) as listener:
            while not listener.execute(
                "SELECT pg_try_advisory_lock(%s)", (SERVICE_LOCK_KEY,)
            ).fetchone()[0]:  # type: ignore[index]
                logger.warning("another alert service runs on this database; waiting")
                if stop.wait(self.settings.poll_seconds):
                    yield None
                    return
            with self.engine.connect() as conn:
                _, channel = audit_sql.current_settings(conn)
            listener.execute(f'LISTEN "{channel}"')
            logger.info("alert service listening on %s", channel)
            yield listener

    def _wait(self, listener: psycopg.Connection[Any], stop: threading.Event, wait: float) -> None:
        deadline = time.monotonic() + wait
        while not stop.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            woke = False
            for _ in listener.notifies(timeout=min(left, WAIT_SLICE_SECONDS), stop_after=1):
                woke = True
            if woke:
                # Several NOTIFYs (one per audit row) make one step.
                for _ in listener.notifies(timeout=0):
                    pass
                return

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set: catch up, then step whenever woken."""
        previous_done = self.sender.on_done
        self.sender.on_done = self._wake.set
        try:
            while not stop.is_set():
                try:
                    with self._listener(stop) as listener:
                        if listener is None:
                            continue
                        while not stop.is_set():
                            self._wake.clear()
                            self.catch_up()
                            self.sender.submit_due()
                            self._wait(listener, stop, self._next_wait())
                except (psycopg.OperationalError, OperationalError) as exc:
                    logger.error("alert service lost the database (%s); retrying in 5 s", exc)
                    stop.wait(5)
        finally:
            self.sender.on_done = previous_done
            self.sender.close(wait=True)
