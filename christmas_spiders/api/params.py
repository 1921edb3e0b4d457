"""API parameters, each declared once: its parsing (a 400 naming it) and its OpenAPI entry.

A route declares its parameters as a :class:`Query` of :class:`Param` values; ``parse()``
checks the request against them and ``openapi()`` describes them in the document.
Values are parsed strictly (ASCII digits only, no ``1_000``, no NaN), checked for what
the database would refuse (NUL, lone surrogates, text that was not UTF-8, numbers out of
their column's range, over-long values) before any query, and passed to SQLAlchemy as
bound parameters, never into SQL text. A lower bound declares its upper one
(``upper=``): an inverted range is a 400 too, not an empty answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from flask import current_app, request
from sqlalchemy import TextClause, text

from christmas_spiders.api.db import request_connection
from christmas_spiders.api.envelope import BadParameter, NotFound
from christmas_spiders.db.audit_sql import AUDITABLE_FIELDS
from christmas_spiders.items import STORED_AVAILABILITIES

INTEGER_RE = re.compile(r"^-?[0-9]{1,9}$")
DECIMAL_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,6})?$"
DECIMAL_RE = re.compile(DECIMAL_PATTERN)
MAX_STRING_LENGTH = 200
MAX_LIST_LENGTH = MAX_STRING_LENGTH * 4
MAX_LIST_ITEMS = 50
MAX_SKU_LENGTH = 64
# A CSV export has no page size: a limit only caps it.
MAX_EXPORT_LIMIT = 2_000_000_000
# A path value that cannot exist is quoted this far in its 404.
QUOTED_PATH_LENGTH = 64
# No value of any parameter is longer (the longest are cursors).
MAX_VALUE_LENGTH = 2048
# What werkzeug puts where the client's bytes were not UTF-8.
REPLACEMENT_CHARACTER = "\ufffd"
SURROGATES_RE = re.compile("[\ud800-\udfff]")
# "2026-11-26T12:00:00 01:00": a zone whose '+' arrived as a space.
PLUS_AS_SPACE_RE = re.compile(r"[0-9] [0-9]{2}(:?[0-9]{2})?$")

Where = Literal["query", "path"]
ApiConfig = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Param:
    """One parameter: ``parse`` turns its text into a value or raises a 400 naming it
    (``csv``: whether the request asks for CSV); ``default`` is its value when absent;
    ``schema`` and ``describe`` make its OpenAPI entry."""

    name: str
    description: str
    where: Where = "query"
    # A filter narrows the rows: it belongs to a cursor's scope and to ``meta.filters``.
    filter: bool = True
    # May be given more than once: the values are joined with commas before parsing.
    repeatable: bool = False
    # The longest value taken as sent (repeats joined), before its own checks.
    max_raw_length: int = MAX_VALUE_LENGTH
    # The name of the parameter this one is the lower bound of (year_min: year_max).
    upper: str | None = None

    def parse(self, raw: str, csv: bool) -> Any:
        return raw

    def default(self, csv: bool) -> Any:
        return None

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string"}

    def describe(self, api: ApiConfig) -> str:
        return self.description

    def openapi(self, api: ApiConfig) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.where == "path",
            "schema": self.schema(api),
            "description": self.describe(api),
        }

    def bad(self, message: str) -> BadParameter:
        return BadParameter(self.name, f"{self.name!r} {message}")


def text_problem(value: str) -> str | None:
    """What makes ``value`` unstorable text for Postgres (NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if SURROGATES_RE.search(value):
        return "must not contain lone surrogates (not valid Unicode)"
    return None


def raw_problem(value: str, max_length: int = MAX_VALUE_LENGTH) -> str | None:
    """What is wrong with a value as the client sent it, before its own parsing."""
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if REPLACEMENT_CHARACTER in value:
        return "is not valid UTF-8 (percent-encode text as UTF-8)"
    return text_problem(value)


def parse_integer(param: Param, raw: str, minimum: int, maximum: int) -> int:
    if not INTEGER_RE.match(raw):
        raise param.bad("must be an integer")
    number = int(raw)
    if not minimum <= number <= maximum:
        raise param.bad(f"must be between {minimum} and {maximum}")
    return number


@dataclass(frozen=True, kw_only=True)
class Integer(Param):
    minimum: int
    maximum: int

    def parse(self, raw: str, csv: bool) -> int:
        return parse_integer(self, raw, self.minimum, self.maximum)

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True, kw_only=True)
class Money(Param):
    """A non-negative decimal (a price bound)."""

    def parse(self, raw: str, csv: bool) -> Decimal:
        if not DECIMAL_RE.match(raw):
            raise self.bad("must be a non-negative decimal such as 24.95")
        return Decimal(raw)

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "pattern": DECIMAL_PATTERN}


def parse_text(param: Param, raw: str, max_length: int) -> str:
    if raw == "":
        raise param.bad("must not be empty")
    if len(raw) > max_length:
        raise param.bad(f"is longer than {max_length} characters")
    return raw


def text_schema(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


@dataclass(frozen=True, kw_only=True)
class Text(Param):
    max_length: int = MAX_STRING_LENGTH
    # Applied after the checks (the sku's spelling as the spiders store it).
    normalise: Callable[[str], str] | None = None

    def parse(self, raw: str, csv: bool) -> str:
        text = parse_text(self, raw, self.max_length)
        return text if self.normalise is None else self.normalise(text)

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return text_schema(self.max_length)


@dataclass(frozen=True)
class KnownValues:
    """The values a parameter may take, read from the database (one text column) and
    remembered per app: re-read when a value is not among them (at most every
    ``MISS_REFRESH_SECONDS``, so a new vendor is known within seconds) and at least every
    ``MAX_AGE_SECONDS``."""

    # What the values are ("vendor"): the 400 says "no vendor 'x'".
    thing: str
    query: TextClause

    MISS_REFRESH_SECONDS = 2.0
    MAX_AGE_SECONDS = 300.0

    def check(self, param: Param, wanted: Iterable[str]) -> None:
        cache: dict[str, tuple[frozenset[str], float]] = current_app.extensions.setdefault(
            "christmas_known_values", {}
        )
        now = time.monotonic()
        values, read_at = cache.get(self.thing, (frozenset(), float("-inf")))
        missing = [item for item in wanted if item not in values]
        age = now - read_at
        if age >= self.MAX_AGE_SECONDS or (missing and age >= self.MISS_REFRESH_SECONDS):
            values = frozenset(request_connection().execute(self.query).scalars())
            cache[self.thing] = (values, now)
            missing = [item for item in wanted if item not in values]
        if missing:
            known = ", ".join(sorted(values)) or "none yet"
            raise param.bad(
                f"names no known {self.thing} {missing[0][:QUOTED_PATH_LENGTH]!r} (known: {known})"
            )


@dataclass(frozen=True, kw_only=True)
class TextList(Param):
    """Comma-separated values (``vendor=a,b``), each one of ``known`` when given."""

    known: KnownValues | None = None

    def parse(self, raw: str, csv: bool) -> list[str]:
        items = [item.strip() for item in parse_text(self, raw, MAX_LIST_LENGTH).split(",")]
        if any(not item for item in items) or len(items) > MAX_LIST_ITEMS:
            raise self.bad("must be a comma-separated list of values")
        if self.known is not None:
            self.known.check(self, items)
        return items

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return text_schema(MAX_LIST_LENGTH)


@dataclass(frozen=True, kw_only=True)
class Choice(Param):
    choices: tuple[str, ...]
    fallback: str | None = None

    def parse(self, raw: str, csv: bool) -> str:
        if raw not in self.choices:
            raise self.bad(f"must be one of {', '.join(self.choices)}")
        return raw

    def default(self, csv: bool) -> str | None:
        return self.fallback

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "enum": list(self.choices)}
        if self.fallback is not None:
            schema["default"] = self.fallback
        return schema


@dataclass(frozen=True, kw_only=True)
class ChoiceList(TextList):
    """One or more of ``choices``, comma-separated (documented as one value of the enum)."""

    choices: tuple[str, ...]

    def parse(self, raw: str, csv: bool) -> list[str]:
        items = super().parse(raw, csv)
        if any(item not in self.choices for item in items):
            raise self.bad(f"must be one or more of {', '.join(self.choices)} (comma-separated)")
        return items

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True, kw_only=True)
class Flag(Param):
    """``true`` or ``false`` (nothing else: no ``1``, no ``yes``)."""

    def parse(self, raw: str, csv: bool) -> bool:
        if raw not in ("true", "false"):
            raise self.bad("must be true or false")
        return raw == "true"

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "enum": ["true", "false"]}


@dataclass(frozen=True, kw_only=True)
class Timestamp(Param):
    """An ISO 8601 date or date-time; without a zone it is taken as UTC."""

    def parse(self, raw: str, csv: bool) -> dt.datetime:
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError as exc:
            if PLUS_AS_SPACE_RE.search(raw):
                raise self.bad(
                    "has a space where its zone's '+' was: a '+' in a query string means a "
                    "space, so encode it as %2B (2026-11-26T12:00:00%2B01:00)"
                ) from exc
            raise self.bad("must be an ISO 8601 date or date-time (2026-11-26T12:00:00Z)") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        try:
            # Reject what Postgres or Python cannot hold once moved to UTC.
            return parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise self.bad("is out of range") from exc

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True, kw_only=True)
class Cursor(Param):
    """The ``next`` token of the previous page; the pagination module checks it."""

    name: str = "cursor"
    description: str = "The `next` token of the previous page."
    filter: bool = False


@dataclass(frozen=True, kw_only=True)
class Limit(Param):
    """Rows per page (config ``api.default_limit`` / ``api.max_limit``); for CSV a cap."""

    name: str = "limit"
    description: str = ""
    filter: bool = False

    def parse(self, raw: str, csv: bool) -> int:
        if csv:
            return parse_integer(self, raw, 1, MAX_EXPORT_LIMIT)
        return parse_integer(self, raw, 1, current_app.config["CHRISTMAS"]["api"]["max_limit"])

    def default(self, csv: bool) -> int | None:
        # A CSV export streams every matching row unless a limit is asked for.
        return None if csv else current_app.config["CHRISTMAS"]["api"]["default_limit"]

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": api["max_limit"]}

    def describe(self, api: ApiConfig) -> str:
        return (
            f"Rows per page (default {api['default_limit']}, at most {api['max_limit']}: "
            "config api.max_limit); for CSV: caps the export (default all rows)."
        )


@dataclass(frozen=True, kw_only=True)
class Format(Param):
    """``format=csv`` / ``format=json`` wins; else the Accept header (JSON by default)."""

    name: str = "format"
    description: str = "Overrides Accept."
    filter: bool = False
    # CSV is offered for lists; a single object is JSON only.
    offers_csv: bool = True

    def parse(self, raw: str, csv: bool) -> str:
        if not self.offers_csv and raw != "json":
            raise BadParameter("format", "this route answers JSON only; CSV is offered for lists")
        if raw not in ("json", "csv"):
            raise BadParameter("format", "'format' must be json or csv")
        return raw

    def default(self, csv: bool) -> str:
        if not self.offers_csv:
            return "json"
        accept = request.accept_mimetypes
        best = accept.best_match(["application/json", "text/csv"])
        chosen = best == "text/csv" and accept["text/csv"] > accept["application/json"]
        return "csv" if chosen else "json"

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "enum": ["json", "csv"] if self.offers_csv else ["json"]}


@dataclass(frozen=True, kw_only=True)
class PathKey(Param):
    """A path segment naming a thing: one that cannot exist is a 404 (never reaches SQL)."""

    where: Where = "path"
    filter: bool = False
    # Said in the 404: "no {thing} {value!r}".
    thing: str
    pattern: re.Pattern[str]
    normalise: Callable[[str], str] | None = None

    def parse(self, raw: str, csv: bool) -> str:
        # Text no column could hold (NUL, lone surrogates, bytes that were not UTF-8, an
        # over-long value) is a bad request naming the segment; well-formed text of the
        # wrong shape names nothing that can exist: a 404. Neither reaches SQL.
        problem = raw_problem(raw)
        if problem is not None:
            raise self.bad(problem)
        value = raw if self.normalise is None else self.normalise(raw)
        if not self.pattern.fullmatch(value):
            raise NotFound(f"no {self.thing} {raw[:QUOTED_PATH_LENGTH]!r}")
        return value


def normalise_sku(sku: str) -> str:
    """As the spiders store it: upper-cased, white space removed."""
    return "".join(sku.split()).upper()


@dataclass(frozen=True, kw_only=True)
class SkuList(Param):
    """Skus, comma-separated, the parameter repeated, or both (``skus=QX1,QX2&skus=QX3``);
    each normalised as stored, repeats dropped, at most ``max_items``."""

    max_items: int
    repeatable: bool = True

    def parse(self, raw: str, csv: bool) -> list[str]:
        # normalise_sku of each item, done once: neither removing white space nor upper
        # case adds or takes a comma.
        skus = normalise_sku(raw).split(",")
        if any(not sku or len(sku) > MAX_SKU_LENGTH for sku in skus):
            raise self.bad(f"must be skus of 1 to {MAX_SKU_LENGTH} characters, comma-separated")
        unique = list(dict.fromkeys(skus))
        if len(unique) > self.max_items:
            raise self.bad(f"names {len(unique)} skus; at most {self.max_items}")
        return unique

    def default(self, csv: bool) -> list[str]:
        raise self.bad("is required")

    def schema(self, api: ApiConfig) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "pattern": "^[^,]+(,[^,]+)*$"}

    def openapi(self, api: ApiConfig) -> dict[str, Any]:
        return {**super().openapi(api), "required": True}


class Query:
    """The parameters of one route: the query string is checked against them all."""

    def __init__(self, *params: Param) -> None:
        self.path = tuple(param for param in params if param.where == "path")
        self.query = tuple(param for param in params if param.where == "query")
        self.names = frozenset(param.name for param in self.query)
        self.repeatable = frozenset(param.name for param in self.query if param.repeatable)
        self.format = next((param for param in self.query if isinstance(param, Format)), None)
        # The format decides the limit's range, so it is read first.
        self.rest = tuple(param for param in self.query if param is not self.format)
        self.filter_names = tuple(param.name for param in self.query if param.filter)
        self._accepts = ", ".join(sorted(self.names))
        # (lower, upper) bounds both declared here.
        self.ranges = tuple(
            (param.name, param.upper)
            for param in self.query
            if param.upper is not None and param.upper in self.names
        )

    def parse(self, **path: str) -> dict[str, Any]:
        """Every declared parameter's value (None, or its default, when absent)."""
        args = request.args
        # Each given parameter's value (a repeated one's joined by commas), in a plain
        # dict: MultiDict.get raises and catches a KeyError per absent name, most of
        # a route's declared parameters on most requests.
        given: dict[str, str] = {}
        for name, items in args.lists():
            if name not in self.names:
                raise BadParameter(
                    name,
                    f"unknown parameter {name!r}; this route accepts: {self._accepts}",
                    code="unknown_parameter",
                )
            if len(items) > 1 and name not in self.repeatable:
                raise BadParameter(name, f"{name!r} is given more than once")
            given[name] = ",".join(items) if name in self.repeatable else items[0]
        values: dict[str, Any] = {}
        csv = False
        if self.format is not None:
            values["format"] = fmt = self._value(self.format, given.get("format"), csv)
            csv = fmt == "csv"
        for param in self.rest:
            values[param.name] = self._value(param, given.get(param.name), csv)
        for param in self.path:
            values[param.name] = param.parse(path[param.name], csv)
        for lower, upper in self.ranges:
            low, high = values[lower], values[upper]
            if low is not None and high is not None and low > high:
                raise BadParameter(
                    lower,
                    f"{lower!r} ({args[lower]}) is above {upper!r} ({args[upper]}): "
                    "the range is empty",
                )
        return values

    @staticmethod
    def _value(param: Param, raw: str | None, csv: bool) -> Any:
        if raw is None:
            return param.default(csv)
        problem = raw_problem(raw, param.max_raw_length)
        if problem is not None:
            raise param.bad(problem)
        return param.parse(raw, csv)

    def filters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The filters given (as parsed), in declaration order."""
        return {name: values[name] for name in self.filter_names if values[name] is not None}

    def openapi(self, api: ApiConfig) -> list[dict[str, Any]]:
        return [param.openapi(api) for param in (*self.path, *self.query)]


def described(param: Param, description: str) -> Param:
    """The same parameter, said differently where a route gives it another meaning."""
    return dataclasses.replace(param, description=description)


# Every vendor with products or crawl runs. The products part walks the vendor-led index
# one vendor at a time (a loose index scan) instead of reading every row.
VENDORS = KnownValues(
    thing="vendor",
    query=text(
        """
        WITH RECURSIVE shops(vendor) AS (
            (SELECT vendor FROM products ORDER BY vendor LIMIT 1)
            UNION ALL
            SELECT (SELECT p.vendor FROM products AS p WHERE p.vendor > shops.vendor
                    ORDER BY p.vendor LIMIT 1)
            FROM shops WHERE shops.vendor IS NOT NULL
        )
        SELECT vendor FROM shops WHERE vendor IS NOT NULL
        UNION SELECT vendor FROM crawl_runs
        """
    ),
)

# Parameters several routes take.
VENDOR = TextList(name="vendor", known=VENDORS, description="Vendor name(s), comma-separated.")
YEAR_MIN = Integer(
    name="year_min",
    minimum=1,
    maximum=9999,
    upper="year_max",
    description="release_year >= year_min.",
)
YEAR_MAX = Integer(
    name="year_max", minimum=1, maximum=9999, description="release_year <= year_max."
)
FORMAT = Format()
JSON_ONLY = Format(offers_csv=False, description="JSON only.")
LIMIT = Limit()
CURSOR = Cursor()
AVAILABILITY = ChoiceList(
    name="availability",
    choices=STORED_AVAILABILITIES,
    description=f"{', '.join(STORED_AVAILABILITIES)} (several: comma-separated); unknown: "
    "stock wording the crawler did not know (never counted as in stock).",
)
ON_SALE = Flag(
    name="on_sale",
    description="true: products whose page shows a was_price above the price; false: the rest.",
)
FIELD = ChoiceList(
    name="field",
    choices=AUDITABLE_FIELDS,
    description="Only changes of this field (several: comma-separated).",
)
SINCE = Timestamp(name="since", upper="until", description="changed_at >= since (UTC).")
UNTIL = Timestamp(name="until", description="changed_at < until (UTC).")
PRODUCT_ID = PathKey(
    name="product_id",
    description="A product id (24 hex).",
    thing="product with id",
    pattern=re.compile(r"[0-9a-f]{24}"),
)
