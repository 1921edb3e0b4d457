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
