"""Data that shop pages set in inline scripts: ``var NAME = {...};`` read as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from christmas_spiders.parsing.errors import ParseError


class ScriptDataError(ParseError):
    """A script sets the variable, but not to a JSON object."""


@lru_cache(maxsize=32)
def _assignment(name: str) -> re.Pattern[str]:
    return re.compile(rf"\bvar\s+{re.escape(name)}\s*=\s*")


def script_object(script_texts: Iterable[str], name: str) -> dict[str, Any] | None:
    """The object of the first script (in page order) that sets ``var NAME = {...}``,
    with JSON numbers as :class:`~decimal.Decimal` (exact prices); ``None`` where no
    script sets it. Raises :class:`ScriptDataError` where its value does not parse or
    is not an object."""
    pattern = _assignment(name)
    for text in script_texts:
        match = pattern.search(text)
        if not match:
            continue
        decoder = json.JSONDecoder(parse_float=Decimal)
        try:
            value, _ = decoder.raw_decode(text, match.end())
        except json.JSONDecodeError as exc:
            raise ScriptDataError(f"{name} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ScriptDataError(f"{name} is not an object")
        return value
    return None
