"""Stable product ids."""

from __future__ import annotations

import hashlib

PRODUCT_ID_LENGTH = 24


def product_id(vendor: str, vendor_id: str) -> str:
    """A stable 24-character id for (vendor, vendor_id): the same product keeps its id."""
    digest = hashlib.sha256(f"{vendor}\x1f{vendor_id}".encode()).hexdigest()
    return digest[:PRODUCT_ID_LENGTH]
