"""The read-only database role the API connects as (config ``api.readonly_role``).

It may connect and SELECT (tables and views, including ones created later by
migrations run as the owner) except the tables listed in :data:`PRIVATE_TABLES`,
and call the key check ``christmas_api_key(hash)``; nothing else. Its sessions are
read-only by default and every statement is cut at ``api.statement_timeout_ms`` by a
setting on the role itself, so any session of the role has it, whatever the client.

Privileges PostgreSQL grants to PUBLIC are taken back in this database: temporary
tables (TEMP on the database) and the large-object functions (``lo_create``,
``lo_from_bytea``, ``lo_import``...: a large object is a write that no table privilege
governs). Nothing in the project uses either. NOTIFY needs no privilege and cannot be
revoked: listeners take a notification as a wake-up only and read ``product_audit``.
Created by ``python -m christmas_spiders.db create-readonly-role``, as a superuser
(only one may revoke functions of ``pg_catalog``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

# Tables the role may not read: key hashes are checked through KEY_CHECK_FUNCTION.
PRIVATE_TABLES = ("api_keys",)
KEY_CHECK_FUNCTION = "christmas_api_key(text)"
# pg_catalog's large-object functions (lo_*, loread, lowrite), by signature.
LARGE_OBJECT_FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc AS p
WHERE p.pronamespace = 'pg_catalog'::regnamespace
  AND (p.proname LIKE 'lo\\_%' OR p.proname IN ('loread', 'lowrite'))
ORDER BY 1
"""


class RoleError(ValueError):
    """The role name is not usable, or the role cannot be restricted as it must be."""


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
            "REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC, {role}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}",
        ):
            cur.execute(sql.SQL(statement).format(role=ident, database=database))
        for table in PRIVATE_TABLES:
            cur.execute(
                sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(sql.Identifier(table), ident)
            )
        cur.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(KEY_CHECK_FUNCTION), ident)
        )
        _revoke_large_objects(cur)
        cur.execute(
            sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                ident, sql.Literal(int(statement_timeout_ms))
            )
        )
        raw.commit()
    finally:
        raw.close()


def _revoke_large_objects(cur: Any) -> None:
    cur.execute(LARGE_OBJECT_FUNCTIONS)
    functions = [row[0] for row in cur.fetchall()]
    try:
        for function in functions:
            cur.execute(
                sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(sql.SQL(function))
            )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RoleError(
            "revoking the large-object functions needs a superuser: "
            "run create-readonly-role with a superuser's database URL"
        ) from exc


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
