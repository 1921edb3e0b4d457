"""The API's read-only role: it can read everything and change nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from christmas_spiders.db.engine import libpq_url
from christmas_spiders.db.roles import RoleError, create_readonly_role, drop_readonly_role
from christmas_spiders.db.writer import ProductWriter
from tests.fixtures.storage import sample_items


@pytest.fixture
def readonly_role(storage_engine):
    role = f"cs_test_reader_{uuid.uuid4().hex[:8]}"
    yield role
    drop_readonly_role(storage_engine, role)


def test_readonly_role_selects_and_cannot_write(
    storage_engine, migrated_database_url, readonly_role
):
    ProductWriter(storage_engine, "c1").write(sample_items(3))
    create_readonly_role(storage_engine, readonly_role, "s3cret-pw", statement_timeout_ms=1234)
    create_readonly_role(storage_engine, readonly_role, "s3cret-pw", 1234)  # idempotent
    url = make_url(libpq_url(migrated_database_url)).set(
        username=readonly_role, password="s3cret-pw"
    )
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM price_history").fetchone() == (3,)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
        for statement in (
            "UPDATE products SET price = 1",
            "INSERT INTO api_keys (name, key_hash, prefix) VALUES ('x', 'y', 'z')",
            "DELETE FROM crawl_runs",
            "CREATE TABLE sneaky (id int)",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)


def test_role_names_are_checked(storage_engine):
    with pytest.raises(RoleError):
        create_readonly_role(storage_engine, 'x"; DROP TABLE products; --', None)


def _role_connection(
    storage_engine, migrated_database_url, role: str, timeout_ms: int = 1234
) -> psycopg.Connection:
    """The role's own session, as any client of it would open one (no options of ours)."""
    create_readonly_role(storage_engine, role, "s3cret-pw", statement_timeout_ms=timeout_ms)
    url = make_url(libpq_url(migrated_database_url)).set(username=role, password="s3cret-pw")
    conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
    # Lift the read-only default: what is refused below is refused by privilege.
    conn.execute("SET default_transaction_read_only = off")
    return conn


# Each is refused to the role even in a read-write transaction (42501: no privilege).
REFUSED = [
    "CREATE TEMP TABLE scratch (id int)",
    "CREATE TABLE public.scratch (id int)",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'payload')",
    "SELECT lo_creat(-1)",
    "SELECT lo_import('/etc/hostname')",
    "SELECT count(*) FROM api_keys",
    "SELECT key_hash FROM api_keys",
    "UPDATE products SET price = 1",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_roles_own_connection_is_refused(
    storage_engine, migrated_database_url, readonly_role, statement
):
    with _role_connection(storage_engine, migrated_database_url, readonly_role) as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_role_checks_one_key_hash_through_the_function(
    storage_engine, migrated_database_url, readonly_role
):
    from tests.fixtures.api import add_key

    add_key(migrated_database_url, "known")
    add_key(migrated_database_url, "other")
    with storage_engine.connect() as owner:
        stored = owner.exec_driver_sql(
            "SELECT id, key_hash FROM api_keys WHERE name = 'known'"
        ).one()
    with _role_connection(storage_engine, migrated_database_url, readonly_role) as conn:
        found = conn.execute("SELECT id, name FROM christmas_api_key(%s)", (stored.key_hash,))
        assert found.fetchall() == [(stored.id, "known")]
        assert (
            conn.execute("SELECT * FROM christmas_api_key('0' || %s)", ("f" * 63,)).fetchall() == []
        )
        assert conn.execute("SELECT * FROM christmas_api_key(NULL)").fetchall() == []
        # Nothing else about the keys leaks through it: a LIKE is not a hash.
        assert conn.execute("SELECT * FROM christmas_api_key('%')").fetchall() == []


def test_the_statement_timeout_is_the_roles_own(
    storage_engine, migrated_database_url, readonly_role
):
    with _role_connection(
        storage_engine, migrated_database_url, readonly_role, timeout_ms=200
    ) as conn:
        # A session that set nothing itself has the timeout, and it fires.
        assert conn.execute("SHOW statement_timeout").fetchone() == ("200ms",)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(2)")


def test_the_role_reads_the_installation_cursor_secret(
    storage_engine, migrated_database_url, readonly_role
):
    with _role_connection(storage_engine, migrated_database_url, readonly_role) as conn:
        (secret,) = conn.execute("SELECT cursor_secret FROM api_settings").fetchone()
    assert len(secret) == 64 and int(secret, 16)
    with storage_engine.connect() as owner:
        assert owner.exec_driver_sql("SELECT count(*) FROM api_settings").scalar_one() == 1


def test_another_installation_has_another_cursor_secret(pg_admin_url, storage_engine):
    from christmas_spiders.db.engine import upgrade
    from tests.fixtures.postgres import create_database, drop_database

    other = create_database(pg_admin_url)
    try:
        upgrade(other)
        secrets = set()
        for url in (other, str(storage_engine.url.render_as_string(hide_password=False))):
            with psycopg.connect(libpq_url(url)) as conn:
                secrets.add(conn.execute("SELECT cursor_secret FROM api_settings").fetchone())
        assert len(secrets) == 2
    finally:
        drop_database(pg_admin_url, other)
