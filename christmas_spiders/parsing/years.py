"""Years: from year-index entries, and from the ``-a years=`` spider argument."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from christmas_spiders.parsing.errors import ParseError

# Hallmark Keepsake ornaments start in 1973; anything outside this range is not a year page.
FIRST_YEAR = 1900
LAST_YEAR = 2100

_TEXT_START = re.compile(r"\s*(\d{4})(?!\d)")
_FOUR_DIGITS = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# A 3dcart category id (``_c_245``) is never the year.
_CATEGORY_ID = re.compile(r"_c_\d+", re.IGNORECASE)


def _plausible(year: int) -> int | None:
    return year if FIRST_YEAR <= year <= LAST_YEAR else None


def _path(url_or_path: str) -> str:
    return urlsplit(url_or_path).path


def year_from_text_start(text: str | None) -> int | None:
    """``"1995 Hallmark Ornaments"`` -> 1995; ``"Vintage"`` / ``"Pre-1973"`` -> None."""
    match = _TEXT_START.match(text or "")
    return _plausible(int(match.group(1))) if match else None


def year_from_first_path_segment(url_or_path: str | None) -> int | None:
    """``/1995-hallmark-ornaments/`` -> 1995: the first path segment up to its first ``-``."""
    segments = [segment for segment in _path(url_or_path or "").split("/") if segment]
    if not segments:
        return None
    head = segments[0].split("-", 1)[0]
    return _plausible(int(head)) if re.fullmatch(r"\d{4}", head) else None


def year_from_path_number(url_or_path: str | None) -> int | None:
    """``/1995-Hallmark-Ornaments_c_245.html`` -> 1995: the first four-digit number of the
    path, not counting the category id."""
    match = _FOUR_DIGITS.search(_CATEGORY_ID.sub("", _path(url_or_path or "")))
    return _plausible(int(match.group(1))) if match else None


def parse_year_list(value: str) -> set[int]:
    """``"1995,2001-2003"`` -> ``{1995, 2001, 2002, 2003}``; raises :class:`ParseError` with
    the offending part for anything else (empty list, ``abc``, ``2003-2001``, ``95``)."""
    years: set[int] = set()
    parts = [part.strip() for part in str(value).split(",")]
    if not any(parts):
        raise ParseError(f"years={value!r}: give years like 1995,2001-2003")
    for part in parts:
        match = re.fullmatch(r"(\d{4})(?:\s*-\s*(\d{4}))?", part)
        if not match:
            raise ParseError(
                f"years={value!r}: {part!r} is not a four-digit year or a range like 2001-2003"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ParseError(f"years={value!r}: range {part!r} runs backwards")
        for year in (first, last):
            if _plausible(year) is None:
                raise ParseError(f"years={value!r}: {year} is outside {FIRST_YEAR}-{LAST_YEAR}")
        years.update(range(first, last + 1))
    return years
