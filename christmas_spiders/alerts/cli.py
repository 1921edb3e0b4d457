"""The ``alerts`` command group: add, list, remove, test rules; run the service.

``python -m christmas_spiders.alerts add NAME --sku SKU [--vendor V]
(--at-or-below PRICE | --drop-percent N | --back-in-stock | --new-offer)
--notify URL [--notify URL]``, ``list``, ``remove NAME``, ``test NAME``, ``run``.

These commands write, so they use the owner's URL (config ``database_url``, or
``--database-url``), never the API's read-only role.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import click
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from christmas_spiders.alerts import messages
from christmas_spiders.alerts.delivery import is_valid_url, send, shown_url
from christmas_spiders.alerts.rules import (
    RuleError,
    add_rule,
    current_cheapest,
    get_rule,
    load_rules,
    remove_rule,
)
from christmas_spiders.alerts.service import AlertService
from christmas_spiders.alerts.settings import AlertSettings
from christmas_spiders.config import get_config
from christmas_spiders.db.engine import database_url, make_engine
from christmas_spiders.db.models import AlertDelivery


@contextmanager
def _engine(ctx: click.Context) -> Iterator[Engine]:
    url = ctx.obj.get("database_url") or database_url()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _settings() -> AlertSettings:
    return AlertSettings.from_config(get_config())


def _amount(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.strip().lstrip("$").replace(",", ""))
    except InvalidOperation as exc:
        raise click.BadParameter(f"not a number: {value!r}", param_hint=option) from exc
    if not amount.is_finite():
        raise click.BadParameter(f"not a number: {value!r}", param_hint=option)
    return amount


@click.group("alerts", help="Price alerts: rules on a sku, sent through Apprise.")
@click.option(
    "--database-url",
    default=None,
    help="The database (default: config database_url / DATABASE_URL, else the embedded one).",
)
@click.pass_context
def alerts(ctx: click.Context, database_url: str | None) -> None:
    ctx.ensure_object(dict)
    ctx.obj["database_url"] = database_url


@alerts.command("add")
@click.argument("name")
@click.option("--sku", required=True, help="The ornament's sku (QX5257).")
@click.option("--vendor", default=None, help="Watch this shop only (default: every shop).")
@click.option(
    "--at-or-below",
    "at_or_below",
    metavar="PRICE",
    default=None,
    help="The cheapest in-stock offer crosses to at or below PRICE.",
)
@click.option(
    "--drop-percent",
    "drop_percent",
    metavar="N",
    default=None,
    help="One offer's price falls by N% or more.",
)
@click.option("--back-in-stock", is_flag=True, help="An offer goes back in stock.")
@click.option("--new-offer", is_flag=True, help="A shop lists the sku for the first time.")
@click.option(
    "--notify",
    "notify",
    multiple=True,
    required=True,
    metavar="URL",
    help="An Apprise URL (repeat for several).",
)
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    sku: str,
    vendor: str | None,
    at_or_below: str | None,
    drop_percent: str | None,
    back_in_stock: bool,
    new_offer: bool,
    notify: tuple[str, ...],
) -> None:
    """Add the rule NAME (it judges changes from now on)."""
    chosen = [
        kind
        for kind, given in (
            ("at_or_below", at_or_below is not None),
            ("drop_percent", drop_percent is not None),
            ("back_in_stock", back_in_stock),
            ("new_offer", new_offer),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --at-or-below, --drop-percent, --back-in-stock, --new-offer"
        )
    kind = chosen[0]
    threshold = _amount(at_or_below, "--at-or-below") if kind == "at_or_below" else None
    if kind == "drop_percent":
        threshold = _amount(drop_percent, "--drop-percent")
    bad = [url for url in notify if not is_valid_url(url)]
    if bad:
        raise click.BadParameter(
            f"not an Apprise URL Apprise can send to: {', '.join(bad)}", param_hint="--notify"
        )
    with _engine(ctx) as engine:
        try:
            with engine.begin() as conn:
                rule = add_rule(conn, name, sku.strip(), kind, notify, vendor, threshold)
                cheapest = current_cheapest(conn, rule.sku, rule.vendor)
        except RuleError as exc:
            raise click.ClickException(str(exc)) from exc
        except IntegrityError as exc:
            raise click.ClickException(f"a rule named {name!r} exists already") from exc
    click.echo(f"rule {rule.name} added: {rule.sku}, {rule.describe()}")
    click.echo(f"  notify: {', '.join(shown_url(url) for url in rule.notify)}")
    if cheapest is None:
        click.echo(f"  no offer of {rule.sku} is in stock now")
    else:
        click.echo(f"  cheapest in stock now: {messages.money(cheapest)}")
    if rule.kind == "at_or_below" and not rule.armed:
        click.echo("  already at or below: it fires after the price goes back above")


@alerts.command("list")
@click.pass_context
def list_rules(ctx: click.Context) -> None:
    """Print every rule."""
    with _engine(ctx) as engine, engine.connect() as conn:
        rules = load_rules(conn)
    if not rules:
        click.echo("no alert rules")
        return
    click.echo(f"{'NAME':<24} {'SKU':<10} {'RULE':<48} NOTIFY")
    for rule in rules:
        state = "" if rule.kind != "at_or_below" or rule.armed else " [fired]"
        click.echo(
            f"{rule.name:<24} {rule.sku:<10} {rule.describe() + state:<48} "
            f"{', '.join(shown_url(url) for url in rule.notify)}"
        )


@alerts.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove the rule NAME."""
    with _engine(ctx) as engine, engine.begin() as conn:
        if not remove_rule(conn, name):
            raise click.ClickException(f"no rule named {name!r}")
    click.echo(f"rule {name} removed")


@alerts.command("test")
@click.argument("name")
@click.pass_context
def test(ctx: click.Context, name: str) -> None:
    """Send a test message to each destination of the rule NAME, now."""
    settings = _settings()
    with _engine(ctx) as engine:
        with engine.connect() as conn:
            rule = get_rule(conn, name)
        if rule is None:
            raise click.ClickException(f"no rule named {name!r}")
        title, body = messages.test_message(rule, settings.dashboard_url)
        failures = 0
        for url in rule.notify:
            error = send(url, title, body)
            values: dict[str, Any] = {
                "kind": "test",
                "destination": url,
                "title": title,
                "body": body,
                "attempts": 1,
                "status": "sent" if error is None else "failed",
                "last_error": error,
            }
            with engine.begin() as conn:
                conn.execute(insert(AlertDelivery).values(**values))
            click.echo(f"{shown_url(url)}: {'sent' if error is None else 'FAILED: ' + error}")
            failures += error is not None
    if failures:
        raise click.ClickException(f"{failures} of {len(rule.notify)} destination(s) failed")


@alerts.command("run")
@click.option("--log-level", default="INFO", show_default=True)
@click.pass_context
def run(ctx: click.Context, log_level: str) -> None:
    """Run the alert service until SIGTERM or Ctrl-C."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with _engine(ctx) as engine:
        AlertService(engine, _settings()).run(stop)
