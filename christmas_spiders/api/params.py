"""Query parameter parsing: every malformed value is a 400 naming the parameter.

Values are parsed strictly (ASCII digits only, no ``1_000``, no NaN) and passed to
SQLAlchemy as bound parameters, never into SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from flask import request

from christmas_spiders.api.envelope import BadParameter

INTEGER_RE = re.compile(r"^-?[0-9]{1,9}$")
DECIMAL_RE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,6})?$")
MAX_STRING_LENGTH = 200
# Parameters every list route takes.
COMMON_LIST_PARAMETERS = frozenset({"format"})


class QueryArgs:
    """The request's query string, checked against the parameters a route accepts."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(allowed) | COMMON_LIST_PARAMETERS
        for name in request.args:
            if name not in self.allowed:
                raise BadParameter(
                    name,
                    f"unknown parameter {name!r}; this route accepts: "
                    + ", ".join(sorted(self.allowed)),
                    code="unknown_parameter",
                )
            if len(request.args.getlist(name)) > 1:
                raise BadParameter(name, f"{name!r} is given more than once")

    def raw(self, name: str) -> str | None:
        value = request.args.get(name)
        if value is None:
            return None
        if "\x00" in value:
            raise BadParameter(name, f"{name!r} must not contain NUL characters")
        return value

    def string(self, name: str, max_length: int = MAX_STRING_LENGTH) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if value == "":
            raise BadParameter(name, f"{name!r} must not be empty")
        if len(value) > max_length:
            raise BadParameter(name, f"{name!r} is longer than {max_length} characters")
        return value

    def string_list(self, name: str, max_items: int = 50) -> list[str] | None:
        """A comma-separated list (``vendor=a,b``)."""
        value = self.string(name, max_length=MAX_STRING_LENGTH * 4)
        if value is None:
            return None
        items = [item.strip() for item in value.split(",")]
        if any(not item for item in items) or len(items) > max_items:
            raise BadParameter(name, f"{name!r} must be a comma-separated list of values")
        return items

    def choice_list(self, name: str, choices: Iterable[str]) -> list[str] | None:
        allowed = tuple(choices)
        items = self.string_list(name)
        if items is None:
            return None
        for item in items:
            if item not in allowed:
                raise BadParameter(
                    name, f"{name!r} must be one or more of {', '.join(allowed)} (comma-separated)"
                )
        return items

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str | None:
        allowed = tuple(choices)
        value = self.raw(name)
        if value is None:
            return default
        if value not in allowed:
            raise BadParameter(name, f"{name!r} must be one of {', '.join(allowed)}")
        return value

    def integer(
        self, name: str, minimum: int, maximum: int, default: int | None = None
    ) -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        if not INTEGER_RE.match(value):
            raise BadParameter(name, f"{name!r} must be an integer")
        number = int(value)
        if not minimum <= number <= maximum:
            raise BadParameter(name, f"{name!r} must be between {minimum} and {maximum}")
        return number

    def decimal(self, name: str) -> Decimal | None:
        value = self.raw(name)
        if value is None:
            return None
        if not DECIMAL_RE.match(value):
            raise BadParameter(name, f"{name!r} must be a non-negative decimal such as 24.95")
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern rules it out
            raise BadParameter(name, f"{name!r} must be a decimal") from exc

    def timestamp(self, name: str) -> dt.datetime | None:
        """An ISO 8601 date or date-time; without a zone it is taken as UTC."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadParameter(
                name, f"{name!r} must be an ISO 8601 date or date-time (2026-11-26T12:00:00Z)"
            ) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        try:
            # Reject what Postgres or Python cannot hold once moved to UTC.
            parsed = parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise BadParameter(name, f"{name!r} is out of range") from exc
        return parsed
