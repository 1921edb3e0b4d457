"""Reference data from CSV files: original retail prices and a market index's closes.

Both imports are all or nothing: every line is checked before anything is written, the
first bad one is an :class:`ImportFileError` naming the file and line, and the rows go
in one transaction. Re-importing a row replaces it (a corrected price, a revised close).
Columns are found by header, in any case and order; others (an index file's open, high,
low, volume) are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, literal_column
from sqlalchemy.dialects.postgresql import insert

from christmas_spiders.db.models import IndexClose, RetailPrice

MAX_SKU_LENGTH = 32
DECIMAL_RE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,4})?$")
BATCH_ROWS = 1000


class ImportFileError(ValueError):
    """A file that cannot be imported; the message names the file and line."""


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    updated: int


Row = dict[str, Any]
# header (lower case) -> parse its cell, or raise ValueError saying why
Columns = dict[str, Callable[[str], Any]]


def _sku(cell: str) -> str:
    # As the spiders store it: upper case, no white space.
    sku = "".join(cell.split()).upper()
    if not sku or len(sku) > MAX_SKU_LENGTH:
        raise ValueError(f"a sku has 1 to {MAX_SKU_LENGTH} characters, got {cell!r}")
    return sku


def _year(cell: str) -> int:
    if not re.fullmatch(r"[0-9]{4}", cell.strip()):
        raise ValueError(f"a release year has four digits, got {cell!r}")
    return int(cell)


def _positive(places: int) -> Callable[[str], Decimal]:
    def parse(cell: str) -> Decimal:
        text = cell.strip().lstrip("$")
        if not DECIMAL_RE.match(text):
            raise ValueError(f"not a positive decimal: {cell!r}")
        value = Decimal(text)
        if value <= 0:
            raise ValueError(f"must be more than 0, got {cell!r}")
        if value != value.quantize(Decimal(1).scaleb(-places)):
            raise ValueError(f"has more than {places} decimal places: {cell!r}")
        return value

    return parse


def _date(cell: str) -> dt.date:
    try:
        return dt.date.fromisoformat(cell.strip())
    except ValueError as exc:
        raise ValueError(f"not a date such as 2024-12-31: {cell!r}") from exc


RETAIL_COLUMNS: Columns = {
    "sku": _sku,
    "release_year": _year,
    "retail_price": _positive(2),
}
INDEX_COLUMNS: Columns = {"date": _date, "close": _positive(4)}


def read_rows(path: Path, columns: Columns, key: str) -> list[Row]:
    """Every row of ``path``, parsed; an ImportFileError at the first bad line."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        return list(_parse(path, csv.reader(handle), columns, key))


def _parse(path: Path, lines: Iterator[list[str]], columns: Columns, key: str) -> Iterator[Row]:
    try:
        header = next(lines)
    except StopIteration:
        raise ImportFileError(f"{path}: empty file; expected a header line") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}:1: not CSV text ({exc})") from exc
    names = [name.strip().lower() for name in header]
    missing = [name for name in columns if name not in names]
    if missing:
        raise ImportFileError(
            f"{path}:1: the header has no {', '.join(missing)} column "
            f"(it needs {', '.join(columns)})"
        )
    where = {name: names.index(name) for name in columns}
    first_line: dict[Any, int] = {}
    number = 1
    try:
        for number, cells in enumerate(lines, 2):
            if not any(cell.strip() for cell in cells):
                continue
            row: Row = {}
            for name, parse in columns.items():
                index = where[name]
                cell = cells[index] if index < len(cells) else ""
                try:
                    row[name] = parse(cell)
                except ValueError as exc:
                    raise ImportFileError(f"{path}:{number}: {name}: {exc}") from exc
            seen = first_line.setdefault(row[key], number)
            if seen != number:
                raise ImportFileError(
                    f"{path}:{number}: {key} {row[key]} is on line {seen} already"
                )
            yield row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}:{number + 1}: not CSV text ({exc})") from exc


def _store(engine: Engine, table: Table, key: str, rows: list[Row]) -> ImportResult:
    inserted = 0
    with engine.begin() as conn:
        for start in range(0, len(rows), BATCH_ROWS):
            statement = insert(table).values(rows[start : start + BATCH_ROWS])
            updates = {name: statement.excluded[name] for name in rows[0] if name != key}
            if "imported_at" in table.c:
                updates["imported_at"] = statement.excluded["imported_at"]
            statement = statement.on_conflict_do_update(index_elements=[key], set_=updates)
            # xmax is 0 on a row this statement inserted, its own id on one it replaced.
            flags = conn.execute(statement.returning(literal_column("xmax") == 0)).scalars()
            inserted += sum(1 for flag in flags if flag)
    return ImportResult(len(rows), inserted, len(rows) - inserted)


def import_retail_prices(engine: Engine, path: Path) -> ImportResult:
    """Store ``path``'s original retail prices (sku, release_year, retail_price)."""
    rows = read_rows(path, RETAIL_COLUMNS, "sku")
    if not rows:
        return ImportResult(0, 0, 0)
    return _store(engine, RetailPrice.__table__, "sku", rows)


def import_index_closes(engine: Engine, path: Path) -> ImportResult:
    """Store ``path``'s daily closes of an index (date, close)."""
    rows = read_rows(path, INDEX_COLUMNS, "date")
    if not rows:
        return ImportResult(0, 0, 0)
    return _store(engine, IndexClose.__table__, "date", rows)
