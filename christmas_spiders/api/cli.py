"""API keys: ``christmas keys create|list|revoke`` (or ``flask --app christmas_spiders.api keys``).

These commands write, so they connect with the owner's URL (config
``database_url``), never with the API's read-only role.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from christmas_spiders.api.auth import SHOWN_PREFIX_LENGTH, hash_key, new_key
from christmas_spiders.api.db import owner_engine
from christmas_spiders.db.models import ApiKey

keys_cli = AppGroup("keys", help="Create, list and revoke API keys.")


@keys_cli.command("create")
@click.argument("name")
def create_key(name: str) -> None:
    """Create a key called NAME and print it (once: only its hash is stored)."""
    if not 1 <= len(name) <= 64:
        raise click.BadParameter("NAME must be 1 to 64 characters", param_hint="NAME")
    key = new_key()
    engine = owner_engine(current_app)
    try:
        with engine.begin() as conn:
            conn.execute(
                ApiKey.__table__.insert().values(
                    name=name, key_hash=hash_key(key), prefix=key[:SHOWN_PREFIX_LENGTH]
                )
            )
    except IntegrityError as exc:
        raise click.ClickException(f"a key named {name!r} exists already") from exc
    finally:
        engine.dispose()
    click.echo(key)
    click.echo(
        f"API key {name!r} created. Store it now: it is not shown again "
        "(the database keeps only its SHA-256 hash).",
        err=True,
    )


@keys_cli.command("list")
def list_keys() -> None:
    """Print every key: name, prefix, created, revoked."""
    engine = owner_engine(current_app)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(ApiKey.name, ApiKey.prefix, ApiKey.created_at, ApiKey.revoked_at).order_by(
                    ApiKey.created_at, ApiKey.id
                )
            ).all()
    finally:
        engine.dispose()
    click.echo(f"{'NAME':<24} {'PREFIX':<12} {'CREATED':<26} STATUS")
    for key in rows:
        status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        created = f"{key.created_at:%Y-%m-%d %H:%M:%S%z}"
        click.echo(f"{key.name:<24} {key.prefix:<12} {created:<26} {status}")


@keys_cli.command("revoke")
@click.argument("name")
def revoke_key(name: str) -> None:
    """Revoke the key called NAME (it stops working at once, or within key_cache_seconds)."""
    engine = owner_engine(current_app)
    try:
        with engine.begin() as conn:
            done = conn.execute(
                update(ApiKey)
                .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                .values(revoked_at=func.now())
            ).rowcount
    finally:
        engine.dispose()
    if not done:
        raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"API key {name!r} revoked.")


@click.group("keys", commands=keys_cli.commands, help=keys_cli.help)
@click.pass_context
def keys_command(ctx: click.Context) -> None:
    # ``christmas keys``: the same commands outside ``flask --app``; Flask's
    # with_appcontext loads the app from this ScriptInfo when a command runs.
    from christmas_spiders.api.app import create_app

    ctx.obj = ScriptInfo(create_app=create_app)
