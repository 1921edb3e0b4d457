"""JSON values and streamed CSV.

Prices (and every other NUMERIC) are strings such as ``"24.95"``: a JSON number
would be read as a binary float by most clients and lose exactness. Times are
ISO 8601 in UTC.

CSV text cells are neutralised as OWASP advises against formula injection: a cell
that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'``, so a spreadsheet shows a scraped name such as ``=HYPERLINK(...)`` as text
instead of running it. Numbers, decimals and times are written as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from flask import Response
from sqlalchemy import Engine, Select

CSV_BATCH_ROWS = 1000
# A text cell starting with one of these is read as a formula by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A CSV text cell a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def timestamp_text(value: dt.datetime) -> str:
    # Sessions run with TimeZone=UTC, so values arrive in UTC already.
    if value.tzinfo is not dt.UTC and value.utcoffset() != ZERO:
        value = value.astimezone(dt.UTC)
    return value.isoformat().replace("+00:00", "Z")


ZERO = dt.timedelta(0)
# Exact type -> converter; the hot path of every response (one call per value).
_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    Decimal: str,
    dt.datetime: timestamp_text,
    dt.date: dt.date.isoformat,
}


_COLUMN_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    Decimal: str,
    dt.datetime: timestamp_text,
}


def json_value(value: Any) -> Any:
    convert = _CONVERTERS.get(type(value))
    return value if convert is None else convert(value)


def json_record(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: json_value(value) for key, value in mapping.items()}


def csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise(value)
    return json_value(value)


def _chunk(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_converter(columns: Sequence[Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """A row -> CSV values function for these selected columns (decimals and times as
    text, text neutralised).

    Positional and typed once per route, not per value: exports run to 100,000s of rows.
    (The csv module writes None as an empty field.)
    """
    conversions = [
        (index, converter)
        for index, column in enumerate(columns)
        if (converter := _column_converter(column.type.python_type)) is not None
    ]

    def convert(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, converter in conversions:
            value = values[index]
            if value is not None:
                values[index] = converter(value)
        return values

    return convert


def _column_converter(python_type: type) -> Callable[[Any], Any] | None:
    if issubclass(python_type, str):
        return neutralise
    return _COLUMN_CONVERTERS.get(python_type)


def stream_csv(
    engine: Engine,
    statement: Select[Any],
    filename: str,
    parameters: dict[str, Any] | None = None,
) -> Response:
    """Stream a query as CSV through a server-side cursor, ``CSV_BATCH_ROWS`` at a time.

    The header is the statement's column names. The query runs before the response
    starts, so a database error still gets a proper error response; after that rows
    are fetched as the client reads.
    """
    columns = list(statement.selected_columns)
    convert = csv_converter(columns)
    # A server-side cursor lives in a transaction: one snapshot for the whole export.
    conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    try:
        result = conn.execution_options(stream_results=True, yield_per=CSV_BATCH_ROWS).execute(
            statement, parameters
        )
        partitions = result.partitions()
        first = next(partitions, [])
    except BaseException:
        conn.close()
        raise

    def generate() -> Iterator[str]:
        try:
            yield _chunk([[column.key for column in columns]])
            if first:
                yield _chunk([convert(row) for row in first])
            for partition in partitions:
                yield _chunk([convert(row) for row in partition])
        finally:
            result.close()
            conn.close()

    return Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], filename: str) -> Response:
    """A small in-memory list as CSV (vendors, ornament offers, year stats)."""
    body = _chunk([list(columns)]) + _chunk(
        [[csv_value(row.get(column)) for column in columns] for row in rows]
    )
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
