"""Storing items with retries, and the dead-letter file for what could not be stored.

No Scrapy here: the pipeline (christmas_spiders.pipelines.upsert) drives a
``ProductWriter`` from a thread, and ``replay_dead_letter`` reuses it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from christmas_spiders.db.store import (
    UnstorableItem,
    UpsertCounts,
    row_from_item,
    set_crawl_id,
    upsert_rows,
)

logger = logging.getLogger(__name__)
REPLAY_COMMAND = "christmas db replay-dead-letter"


class DatabaseUnavailable(RuntimeError):
    """The database did not answer after every retry."""


@dataclass
class WriteResult:
    inserted: int = 0
    #: Rows whose fields changed, and rows of which only last_synced_at was refreshed.
    changed: int = 0
    unchanged: int = 0
    retries: int = 0
    # (item, reason) for items the database refused (a CHECK, a too-long value...).
    rejected: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)

    @property
    def updated(self) -> int:
        """Stored rows written again, changed or not."""
        return self.changed + self.unchanged


@dataclass
class PendingItem:
    item: dict[str, Any]
    scraped_at: dt.datetime


def _transient(exc: DBAPIError) -> bool:
    # Connection refused/lost, admin shutdown, deadlock, serialization failure: all
    # OperationalError in psycopg 3. Data errors are not retried: they fail again.
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


class ProductWriter:
    """Upserts batches for one crawl, retrying with exponential backoff."""

    def __init__(
        self,
        engine: Engine,
        crawl_id: str | None,
        retries: int = 5,
        retry_base_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.crawl_id = crawl_id
        self.retries = retries
        self.retry_base_seconds = retry_base_seconds
        self.sleep = sleep

    def write(
        self,
        items: Sequence[Mapping[str, Any]],
        synced_at: Sequence[dt.datetime | None] | None = None,
        crawl_id: str | None = None,
    ) -> WriteResult:
        """Store ``items`` in one transaction; raises DatabaseUnavailable after the retries."""
        result = WriteResult()
        rows: list[dict[str, Any]] = []
        originals: list[Mapping[str, Any]] = []
        times: list[dt.datetime | None] = []
        for index, item in enumerate(items):
            try:
                rows.append(row_from_item(item))
            except UnstorableItem as exc:
                result.rejected.append((item, str(exc)))
                continue
            originals.append(item)
            times.append(synced_at[index] if synced_at is not None else None)
        if not rows:
            return result
        crawl = crawl_id if crawl_id is not None else self.crawl_id
        try:
            counts = self._with_retries(rows, times, crawl, result)
        except DBAPIError:
            # One bad row fails the whole statement: store the others one by one.
            counts = UpsertCounts()
            for row, original, when in zip(rows, originals, times, strict=True):
                try:
                    counts += self._with_retries([row], [when], crawl, result)
                except DBAPIError as exc:
                    result.rejected.append((original, str(exc.orig or exc).splitlines()[0]))
        result.inserted, result.changed, result.unchanged = (
            counts.inserted,
            counts.changed,
            counts.unchanged,
        )
        return result

    def _with_retries(
        self,
        rows: list[dict[str, Any]],
        times: list[dt.datetime | None],
        crawl_id: str | None,
        result: WriteResult,
    ) -> UpsertCounts:
        attempt = 0
        while True:
            try:
                with self.engine.begin() as conn:
                    set_crawl_id(conn, crawl_id)
                    return upsert_rows(conn, rows, times)
            except DBAPIError as exc:
                if not _transient(exc):
                    raise
                if attempt >= self.retries:
                    reason = str(exc.orig or exc).strip().splitlines()[0]
                    raise DatabaseUnavailable(
                        f"database unavailable after {attempt + 1} attempts: {reason}"
                    ) from exc
                delay = min(self.retry_base_seconds * 2**attempt, 30.0)
                logger.warning(
                    "database write failed (%s); retry %d/%d in %.1fs",
                    str(exc.orig or exc).strip().splitlines()[0],
                    attempt + 1,
                    self.retries,
                    delay,
                )
                attempt += 1
                result.retries += 1
                self.sleep(delay)


def dead_letter_line(item: Mapping[str, Any], crawl_id: str | None, scraped_at: dt.datetime) -> str:
    return json.dumps(
        {"crawl_id": crawl_id, "scraped_at": scraped_at.isoformat(), "item": dict(item)},
        ensure_ascii=False,
        default=str,
    )


def append_dead_letters(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()


@dataclass
class ReplayResult:
    lines: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped_newer: int = 0
    rejected: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)

    @property
    def updated(self) -> int:
        """Stored rows written again, changed or not."""
        return self.changed + self.unchanged


def _read_dead_letters(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a dead-letter line ({exc})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("item"), dict):
                raise ValueError(f"{path}:{number}: not a dead-letter line (no item object)")
            yield number, record


def replay_dead_letter(engine: Engine, path: Path, batch_size: int = 500) -> ReplayResult:
    """Store every item of a dead-letter file (idempotent: a second replay changes nothing).

    Each item keeps its crawl id (audit rows name the crawl that saw the change) and
    its scrape time as ``last_synced_at``; a product a later crawl already refreshed
    is left alone.
    """
    result = ReplayResult()
    writer = ProductWriter(engine, None, retries=0)
    records = [record for _, record in _read_dead_letters(path)]
    result.lines = len(records)
    by_crawl: dict[str | None, list[dict[str, Any]]] = {}
    for record in records:
        by_crawl.setdefault(record.get("crawl_id"), []).append(record)
    for crawl_id, group in by_crawl.items():
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            items = [record["item"] for record in chunk]
            times = [dt.datetime.fromisoformat(record["scraped_at"]) for record in chunk]
            written = writer.write(items, times, crawl_id=crawl_id)
            result.inserted += written.inserted
            result.changed += written.changed
            result.unchanged += written.unchanged
            result.rejected.extend(written.rejected)
            result.skipped_newer += (
                len(items)
                - written.inserted
                - written.changed
                - written.unchanged
                - len(written.rejected)
            )
    return result
