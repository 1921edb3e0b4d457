"""Database commands: the schema, the audit settings, dead letters, roles, the embedded Postgres.

``christmas db COMMAND``; ``python -m christmas_spiders.db COMMAND`` runs the same commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from christmas_spiders.config import get_config
from christmas_spiders.db import audit_sql, embedded
from christmas_spiders.db.engine import database_url, make_engine, upgrade
from christmas_spiders.db.roles import create_readonly_role
from christmas_spiders.db.verdicts import close_abandoned_runs
from christmas_spiders.db.writer import replay_dead_letter

_DATABASE_URL = "christmas_spiders.db.database_url"


class _DatabaseCommands(click.Group):
    """Known failures end as one ``error: ...`` line: 2 for a wrong setup, 1 for the database."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except (embedded.EmbeddedPostgresError, audit_sql.AuditConfigError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except DBAPIError as exc:
            click.echo(f"error: database: {str(exc.orig or exc).strip()}", err=True)
            ctx.exit(1)


def _url(ctx: click.Context) -> str:
    return ctx.meta.get(_DATABASE_URL) or database_url()


def _show(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.group("db", cls=_DatabaseCommands, help=__doc__)
@click.option("--database-url", help="use this database instead of the configured one")
@click.pass_context
def db(ctx: click.Context, database_url: str | None) -> None:
    ctx.meta[_DATABASE_URL] = database_url


@db.command("url")
@click.pass_context
def url_command(ctx: click.Context) -> None:
    """Print the database URL (starts/migrates the embedded Postgres if used)."""
    click.echo(_show(_url(ctx)))


@db.command("upgrade")
@click.pass_context
def upgrade_command(ctx: click.Context) -> None:
    """Migrate to the latest schema (same as `alembic upgrade head`)."""
    url = _url(ctx)
    upgrade(url)
    click.echo(f"migrated {_show(url)} to head")


@db.command("sync-audit")
@click.pass_context
def sync_audit(ctx: click.Context) -> None:
    """Copy audit.tracked_fields / audit.notify_channel from the config."""
    engine = make_engine(_url(ctx))
    try:
        with engine.begin() as conn:
            fields, channel = audit_sql.sync(conn, get_config()["audit"])
    finally:
        engine.dispose()
    click.echo(f"audit now tracks {', '.join(fields) or 'nothing'}; NOTIFY channel {channel}")


@db.command("replay-dead-letter")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def replay_dead_letter_command(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Store the items of dead-letter FILES (idempotent)."""
    engine = make_engine(_url(ctx))
    try:
        for path in files:
            result = replay_dead_letter(engine, path)
            click.echo(
                f"{path}: {result.lines} items: {result.inserted} inserted, "
                f"{result.changed} changed, {result.unchanged} unchanged, "
                f"{result.skipped_newer} already newer or repeated, "
                f"{len(result.rejected)} refused"
            )
            for item, reason in result.rejected:
                click.echo(f"  refused {item.get('link')}: {reason}", err=True)
    finally:
        engine.dispose()


@db.command("create-readonly-role")
@click.option("--role", help="default: config api.readonly_role")
@click.option(
    "--password",
    help="default: config api.readonly_password (env CHRISTMAS_READONLY_PASSWORD); "
    "none: no password login",
)
@click.pass_context
def create_readonly_role_command(
    ctx: click.Context, role: str | None, password: str | None
) -> None:
    """Create the API's read-only role (api.readonly_role)."""
    api = get_config()["api"]
    role_name = role or api["readonly_role"]
    engine = make_engine(_url(ctx))
    try:
        create_readonly_role(
            engine, role_name, password or api.get("readonly_password"), api["statement_timeout_ms"]
        )
    finally:
        engine.dispose()
    click.echo(
        f"role {role_name}: SELECT only, read-only sessions, "
        f"statement_timeout {api['statement_timeout_ms']} ms"
    )


@db.command("housekeeping")
@click.option(
    "--worker-timeout",
    type=float,
    help="seconds without a heartbeat (default: distributed.worker_timeout_seconds)",
)
@click.pass_context
def housekeeping(ctx: click.Context, worker_timeout: float | None) -> None:
    """Close crawl runs left running by processes that are gone (abandoned)."""
    engine = make_engine(_url(ctx))
    try:
        with engine.begin() as conn:
            closed = close_abandoned_runs(conn, worker_timeout)
    finally:
        engine.dispose()
    click.echo(
        f"closed {len(closed)} crawl run(s) left running by processes that are gone"
        + (f": ids {', '.join(map(str, closed))}" if closed else "")
    )


@db.command("embedded-status")
def embedded_status() -> None:
    """The embedded Postgres: its data folder, running or not."""
    data_dir = embedded.data_dir_from_config(get_config())
    uri = embedded.running_server_uri(data_dir)
    click.echo(f"data folder {data_dir}: " + (f"running, {uri}" if uri else "not running"))


@db.command("embedded-stop")
def embedded_stop() -> None:
    """Stop the embedded Postgres."""
    data_dir = embedded.data_dir_from_config(get_config())
    stopped = embedded.stop_server(data_dir)
    click.echo(f"data folder {data_dir}: " + ("stopped" if stopped else "was not running"))


def main(argv: list[str] | None = None) -> int:
    """Run ``db`` with ``argv`` in this process and return its exit status."""
    result = db.main(args=argv, prog_name="python -m christmas_spiders.db", standalone_mode=False)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    db.main(prog_name="python -m christmas_spiders.db")
