"""Database commands: ``python -m christmas_spiders.db COMMAND``.

url                      print the database URL (starts/migrates the embedded Postgres if used)
upgrade                  migrate to the latest schema (same as `alembic upgrade head`)
sync-audit               copy audit.tracked_fields / audit.notify_channel from the config
replay-dead-letter FILE  store the items of a dead-letter file (idempotent)
create-readonly-role     create the API's read-only role (api.readonly_role)
housekeeping             close crawl runs left running by processes that are gone (abandoned)
embedded-status | embedded-stop   the embedded Postgres (data folder, running or not)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from christmas_spiders.config import get_config
from christmas_spiders.db import audit_sql, embedded
from christmas_spiders.db.engine import database_url, make_engine, upgrade
from christmas_spiders.db.roles import create_readonly_role
from christmas_spiders.db.verdicts import close_abandoned_runs
from christmas_spiders.db.writer import replay_dead_letter


def _url(args: argparse.Namespace) -> str:
    return args.database_url or database_url()


def _show(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m christmas_spiders.db",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help="use this database instead of the configured one")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("url")
    commands.add_parser("upgrade")
    commands.add_parser("sync-audit")
    replay = commands.add_parser("replay-dead-letter")
    replay.add_argument("files", nargs="+", type=Path)
    role = commands.add_parser("create-readonly-role")
    role.add_argument("--role", help="default: config api.readonly_role")
    role.add_argument(
        "--password",
        help="default: config api.readonly_password (env "
        "CHRISTMAS_READONLY_PASSWORD); none: no password login",
    )
    housekeeping = commands.add_parser("housekeeping")
    housekeeping.add_argument(
        "--worker-timeout",
        type=float,
        help="seconds without a heartbeat (default: distributed.worker_timeout_seconds)",
    )
    commands.add_parser("embedded-status")
    commands.add_parser("embedded-stop")
    args = parser.parse_args(argv)
    config = get_config()

    try:
        if args.command == "url":
            print(_show(_url(args)))
        elif args.command == "upgrade":
            url = _url(args)
            upgrade(url)
            print(f"migrated {_show(url)} to head")
        elif args.command == "sync-audit":
            engine = make_engine(_url(args))
            with engine.begin() as conn:
                fields, channel = audit_sql.sync(conn, config["audit"])
            engine.dispose()
            print(f"audit now tracks {', '.join(fields) or 'nothing'}; NOTIFY channel {channel}")
        elif args.command == "replay-dead-letter":
            engine = make_engine(_url(args))
            for path in args.files:
                result = replay_dead_letter(engine, path)
                print(
                    f"{path}: {result.lines} items: {result.inserted} inserted, "
                    f"{result.changed} changed, {result.unchanged} unchanged, "
                    f"{result.skipped_newer} already newer or repeated, "
                    f"{len(result.rejected)} refused"
                )
                for item, reason in result.rejected:
                    print(f"  refused {item.get('link')}: {reason}", file=sys.stderr)
            engine.dispose()
        elif args.command == "create-readonly-role":
            role_name = args.role or config["api"]["readonly_role"]
            password = args.password or config["api"].get("readonly_password")
            engine = make_engine(_url(args))
            create_readonly_role(engine, role_name, password, config["api"]["statement_timeout_ms"])
            engine.dispose()
            print(
                f"role {role_name}: SELECT only, read-only sessions, "
                f"statement_timeout {config['api']['statement_timeout_ms']} ms"
            )
        elif args.command == "housekeeping":
            engine = make_engine(_url(args))
            with engine.begin() as conn:
                closed = close_abandoned_runs(conn, args.worker_timeout)
            engine.dispose()
            print(
                f"closed {len(closed)} crawl run(s) left running by processes that are gone"
                + (f": ids {', '.join(map(str, closed))}" if closed else "")
            )
        elif args.command == "embedded-status":
            data_dir = embedded.data_dir_from_config(config)
            uri = embedded.running_server_uri(data_dir)
            print(f"data folder {data_dir}: " + (f"running, {uri}" if uri else "not running"))
        elif args.command == "embedded-stop":
            data_dir = embedded.data_dir_from_config(config)
            stopped = embedded.stop_server(data_dir)
            print(f"data folder {data_dir}: " + ("stopped" if stopped else "was not running"))
    except (embedded.EmbeddedPostgresError, audit_sql.AuditConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError):
            print(f"error: database: {str(exc.orig or exc).strip()}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
