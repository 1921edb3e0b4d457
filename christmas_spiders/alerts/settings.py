"""The ``alerts`` section of the configuration, as one typed value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from christmas_spiders.config import DEFAULTS


def url_list(value: Any) -> tuple[str, ...]:
    """Apprise URLs from a list, or one string (several separated by commas or spaces)."""
    if not value:
        return ()
    parts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(str(part).strip() for part in parts if str(part).strip())


@dataclass(frozen=True)
class AlertSettings:
    operator_notify: tuple[str, ...]
    dashboard_url: str | None
    retry_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    delivery_workers: int
    poll_seconds: float
    verdict_poll_seconds: float
    batch_rows: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AlertSettings:
        section = {**DEFAULTS["alerts"], **(config.get("alerts") or {})}
        dashboard = section["dashboard_url"]
        return cls(
            operator_notify=url_list(section["operator_notify"]),
            dashboard_url=str(dashboard).rstrip("/") if dashboard else None,
            retry_attempts=max(1, int(section["retry_attempts"])),
            retry_base_seconds=float(section["retry_base_seconds"]),
            retry_max_seconds=float(section["retry_max_seconds"]),
            delivery_workers=max(1, int(section["delivery_workers"])),
            poll_seconds=float(section["poll_seconds"]),
            verdict_poll_seconds=float(section["verdict_poll_seconds"]),
            batch_rows=max(1, int(section["batch_rows"])),
        )

    def backoff_seconds(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt."""
        return min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempts - 1))
