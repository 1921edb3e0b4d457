"""The orjson provider writes times as the API documents them: ISO 8601, UTC, "Z"."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import orjson

from christmas_spiders.api.jsonprovider import OPTIONS, _default
from christmas_spiders.api.output import timestamp_text


def _dumped(value: object) -> str:
    return orjson.loads(orjson.dumps(value, default=_default, option=OPTIONS))


def test_utc_times_are_written_like_timestamp_text():
    for value in (
        dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 26, 12, 0, 0, 500000, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 26, 12, 0, 0, 1, tzinfo=zoneinfo.ZoneInfo("UTC")),
        dt.datetime(1973, 1, 1, tzinfo=dt.timezone(dt.timedelta(0))),
    ):
        assert _dumped(value) == timestamp_text(value)
        assert _dumped(value).endswith("Z")


def test_naive_times_are_utc_and_decimals_strings():
    assert _dumped(dt.datetime(2026, 11, 26, 12, 0)) == "2026-11-26T12:00:00Z"
    assert _dumped(dt.date(2026, 11, 26)) == "2026-11-26"
    assert _dumped(Decimal("24.90")) == "24.90"
