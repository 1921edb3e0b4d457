"""The one error family raised by the parsing functions."""

from __future__ import annotations


class ParseError(ValueError):
    """A value from a shop page (or a spider argument) does not parse."""
