"""Prices: exact decimals from shop text, never floats."""

from __future__ import annotations

import html
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from christmas_spiders.parsing.errors import ParseError

CENTS = Decimal("0.01")

# A struck "was" price inside sale markup: <s>$29.95</s>, <del>..</del>, <strike>..</strike>.
_STRUCK = re.compile(r"<(s|del|strike)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")


class PriceError(ParseError):
    """No usable price: empty, no amount ("Call for price"), several amounts, or not positive."""


def parse_price(value: object) -> Decimal:
    """The price a buyer pays, as an exact :class:`~decimal.Decimal`.

    Accepts shop text (``"$1,299.00"`` -> ``Decimal("1299.00")``), sale markup where a
    struck amount stands beside the price (``"<s>$29.95</s> $24.95"`` -> ``24.95``), or a
    JSON number / numeric string (``24.95``, ``"24.95"``). Floats are converted through
    their shortest repr so ``24.95`` stays ``24.95``. Raises :class:`PriceError` for text
    without an amount (``"Call for price"``), with several amounts, or a price <= 0.
    """
    if value is None or isinstance(value, bool):
        raise PriceError("no price")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        amount = _amount_from_text(str(value))
    if not amount.is_finite():
        raise PriceError(f"price is not a finite number: {value!r}")
    if amount <= 0:
        raise PriceError(f"price is not positive: {value!r}")
    return amount


def unstruck_text(markup: str) -> str:
    """The text of price markup without struck amounts or tags, entities decoded.

    ``'<span id="price"><s>$29.95</s> $24.95</span>'`` -> ``"$24.95"``.
    """
    text = _TAG.sub(" ", _STRUCK.sub(" ", markup))
    return " ".join(html.unescape(text).split())


def struck_text(markup: str) -> str | None:
    """The text of the first struck amount in price markup (the "was" price of a sale),
    entities decoded; ``None`` where nothing is struck.

    ``'<span id="price"><s>$29.95</s> $24.95</span>'`` -> ``"$29.95"``.
    """
    match = _STRUCK.search(markup)
    if match is None:
        return None
    text = _TAG.sub(" ", match.group(0))
    return " ".join(html.unescape(text).split()) or None


def _amount_from_text(raw: str) -> Decimal:
    text = unstruck_text(raw)
    if not text:
        raise PriceError("no price")
    amounts = _NUMBER.findall(text)
    if not amounts:
        raise PriceError(f"no amount in price text {text!r}")
    if len(amounts) > 1:
        raise PriceError(f"several amounts in price text {text!r}")
    try:
        return Decimal(amounts[0].replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern only matches numbers
        raise PriceError(f"bad amount in price text {text!r}") from exc


def format_price(value: object) -> str:
    """A price as the 2-place decimal string items carry (``Decimal("24.9")`` -> ``"24.90"``)."""
    return str(parse_price(value).quantize(CENTS, rounding=ROUND_HALF_UP))
