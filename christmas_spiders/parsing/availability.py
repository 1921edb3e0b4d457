"""Stock status: each shop's wording mapped onto ``in_stock`` / ``out_of_stock`` / ``unknown``.

Shops word stock loosely (``In Stock - Ships Next Business Day``, ``SOLD OUT``), so the
cleaned text is matched, case-insensitive, on its leading phrase (shared/vendor-sites.md,
"Stock wording"). A phrase is plain words; the word ``N`` stands for a number
(``only N left`` matches ``Only 3 left!``). The longest phrase that the text starts with
decides; text that starts with none of them is ``unknown``: the product's price is still
good, and the spider reports the new wording so that it can be mapped in the
configuration (``stock_wording``) without a code change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from christmas_spiders.parsing.errors import ParseError
from christmas_spiders.parsing.text import clean_text

IN_STOCK = "in_stock"
OUT_OF_STOCK = "out_of_stock"
UNKNOWN = "unknown"

# The phrases every shop's wording starts with (vendor-sites.md, "Stock wording").
IN_STOCK_PHRASES: tuple[str, ...] = ("in stock", "only N left")
OUT_OF_STOCK_PHRASES: tuple[str, ...] = ("out of stock", "sold out")
#: The keys of one shop's entry in the ``stock_wording`` configuration.
WORDING_KEYS: tuple[str, ...] = (IN_STOCK, OUT_OF_STOCK)

_NUMBER_WORD = "N"


class AvailabilityError(ParseError):
    """Stock wording configuration that cannot be used (not a list of phrases, a phrase
    that is empty or listed as both in and out of stock)."""


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """The compiled match of ``phrase`` at the start of lower-cased, cleaned text, ending
    at a word boundary (``in stock`` matches ``in stock - ships today``, not ``in stockings``)."""
    words = clean_text(phrase).split(" ")
    if words == [""]:
        raise AvailabilityError(f"empty stock phrase {phrase!r}")
    parts = [r"\d+" if word == _NUMBER_WORD else re.escape(word.lower()) for word in words]
    return re.compile("(?:" + " ".join(parts) + r")(?![\w])")


def _phrases(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise AvailabilityError(f"{where} must be a list of phrases, got {value!r}")
    phrases = []
    for phrase in value:
        if not isinstance(phrase, str) or not clean_text(phrase):
            raise AvailabilityError(f"{where}: {phrase!r} is not a phrase")
        phrases.append(clean_text(phrase))
    return tuple(phrases)


@dataclass(frozen=True)
class StockWording:
    """The phrases one shop's stock text is read with."""

    in_stock: tuple[str, ...] = IN_STOCK_PHRASES
    out_of_stock: tuple[str, ...] = OUT_OF_STOCK_PHRASES
    _patterns: tuple[tuple[re.Pattern[str], str], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        both = {p.lower() for p in self.in_stock} & {p.lower() for p in self.out_of_stock}
        if both:
            raise AvailabilityError(
                f"stock phrases listed as both in and out of stock: {', '.join(sorted(both))}"
            )
        patterns = [(phrase_pattern(p), IN_STOCK) for p in self.in_stock]
        patterns += [(phrase_pattern(p), OUT_OF_STOCK) for p in self.out_of_stock]
        object.__setattr__(self, "_patterns", tuple(patterns))

    @classmethod
    def configured(
        cls, extra: Mapping[str, object] | None, where: str = "stock_wording"
    ) -> StockWording:
        """The built-in phrases plus a shop's configured ones: ``{"in_stock": [...],
        "out_of_stock": [...]}`` (either key may be absent)."""
        extra = extra or {}
        if not isinstance(extra, Mapping):
            raise AvailabilityError(f"{where} must map in_stock / out_of_stock to phrases")
        unknown = sorted(set(extra) - set(WORDING_KEYS))
        if unknown:
            raise AvailabilityError(
                f"{where}: unknown keys {', '.join(map(str, unknown))} "
                f"(known: {', '.join(WORDING_KEYS)})"
            )
        in_stock = _phrases(extra.get(IN_STOCK), f"{where}.{IN_STOCK}")
        out_of_stock = _phrases(extra.get(OUT_OF_STOCK), f"{where}.{OUT_OF_STOCK}")
        try:
            return cls((*IN_STOCK_PHRASES, *in_stock), (*OUT_OF_STOCK_PHRASES, *out_of_stock))
        except AvailabilityError as exc:
            raise AvailabilityError(f"{where}: {exc}") from None

    def classify(self, value: object) -> str:
        """``in_stock`` / ``out_of_stock`` for text that starts with one of the phrases
        (the longest one wins), else ``unknown`` (no text at all included)."""
        text = clean_text(value).lower()
        best, length = UNKNOWN, 0
        for pattern, availability in self._patterns:
            match = pattern.match(text)
            if match and match.end() > length:
                best, length = availability, match.end()
        return best


DEFAULT_WORDING = StockWording()


def availability_from_text(value: object, wording: StockWording = DEFAULT_WORDING) -> str:
    """``In Stock - Ships Next Business Day`` / ``Only 3 left`` -> ``in_stock``;
    ``Out of Stock`` / ``SOLD OUT`` -> ``out_of_stock``; any other text -> ``unknown``."""
    return wording.classify(value)


def availability_from_flag(value: object) -> str:
    """A stock flag (3dcart ``_3d_item.availability``, BigCommerce ``instock``): ``1`` /
    true -> ``in_stock``, ``0`` / false -> ``out_of_stock``, anything else -> ``unknown``."""
    if isinstance(value, bool):
        return IN_STOCK if value else OUT_OF_STOCK
    text = str(value).strip() if value is not None else ""
    if text == "1":
        return IN_STOCK
    if text == "0":
        return OUT_OF_STOCK
    return UNKNOWN
