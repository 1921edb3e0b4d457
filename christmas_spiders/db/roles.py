"""The read-only database role the API connects as (config ``api.readonly_role``).

It may connect and SELECT (tables and views, including ones created later by
migrations run as the owner), nothing else: its sessions are read-only by default
and every statement is cut at ``api.statement_timeout_ms``.
Created by ``python -m christmas_spiders.db create-readonly-role``.
"""

from __future__ import annotations

from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url


class RoleError(ValueError):
    """The role name is not usable."""


def _check_name(role: str) -> None:
    if not role or not role.replace("_", "a").isalnum() or not role[0].isalpha():
        raise RoleError(f"role name must be letters, digits and underscores: {role!r}")


def create_readonly_role(
    engine: Engine,
    role: str,
    password: str | None,
    statement_timeout_ms: int = 5000,
) -> None:
    """Create (or update) ``role``: LOGIN, SELECT only, read-only sessions, a statement timeout.

    Idempotent; the engine must connect as the owner of the schema (or a superuser).
    """
    _check_name(role)
    ident = sql.Identifier(role)
    database = sql.Identifier(str(make_url(str(engine.url)).database))
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        if password is None:
            cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD NULL").format(ident))
        else:
            cur.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password))
            )
        for statement in (
            "ALTER ROLE {role} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT",
            "ALTER ROLE {role} SET default_transaction_read_only = on",
            "GRANT CONNECT ON DATABASE {database} TO {role}",
            "GRANT USAGE ON SCHEMA public TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}",
        ):
            cur.execute(sql.SQL(statement).format(role=ident, database=database))
        cur.execute(
            sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                ident, sql.Literal(int(statement_timeout_ms))
            )
        )
        raw.commit()
    finally:
        raw.close()


def drop_readonly_role(engine: Engine, role: str) -> None:
    """Remove ``role``'s grants in this database and drop it (when no other database uses it)."""
    _check_name(role)
    ident = sql.Identifier(role)
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is not None:
            cur.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            cur.execute(sql.SQL("DROP ROLE {}").format(ident))
        raw.commit()
    finally:
        raw.close()
