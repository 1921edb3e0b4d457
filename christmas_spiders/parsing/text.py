"""Text clean-up: names, skus and other short strings from shop pages."""

from __future__ import annotations

import html
import re

# \s on str patterns covers Unicode white space too (no-break space, thin space...).
_WHITESPACE_RUN = re.compile(r"\s+")


def clean_text(value: object) -> str:
    """Decode HTML entities, fold white space runs to one space, strip; keep Unicode.

    ``None`` gives ``""`` so callers can test the result for emptiness.
    """
    if value is None:
        return ""
    text = html.unescape(str(value))
    return _WHITESPACE_RUN.sub(" ", text).strip()


def normalise_sku(value: object) -> str:
    """A Hallmark product code: entities decoded, upper-cased, all white space removed.

    ``"qx 5257"`` -> ``"QX5257"``.
    """
    if value is None:
        return ""
    return _WHITESPACE_RUN.sub("", html.unescape(str(value))).upper()
