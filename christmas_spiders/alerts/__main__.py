"""``python -m christmas_spiders.alerts ...``: the ``alerts`` command group."""

from __future__ import annotations

from christmas_spiders.alerts.cli import alerts

if __name__ == "__main__":
    alerts(prog_name="python -m christmas_spiders.alerts")
