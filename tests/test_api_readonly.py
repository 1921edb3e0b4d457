"""Read only by construction: the API's own connection cannot write, and has a timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from christmas_spiders.api.db import readonly_engine

WRITES = [
    "INSERT INTO products (id, vendor, vendor_id, sku, name, price, brand, availability,"
    " release_year, link) VALUES ('x', 'v', 'v1', 'S', 'n', 1, 'b', 'in_stock', 2020, 'l')",
    "UPDATE products SET price = 0.01",
    "DELETE FROM products",
    "DELETE FROM product_audit",
    "INSERT INTO api_keys (name, key_hash, prefix) VALUES ('evil', 'h', 'p')",
    "UPDATE api_keys SET revoked_at = NULL",
    "TRUNCATE crawl_runs",
    "CREATE TABLE scratch (id int)",
]


@pytest.mark.parametrize("statement", WRITES)
def test_the_api_connection_cannot_write(api_app, statement):
    engine = readonly_engine(api_app)
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text(statement))
        conn.rollback()
    # 25006: read-only transaction; 42501: insufficient privilege.
    assert caught.value.orig.sqlstate in ("25006", "42501")


@pytest.mark.parametrize("statement", WRITES[:3])
def test_the_role_itself_lacks_write_privileges(api_app, statement):
    # Even after lifting the session's read-only default, the role may only SELECT.
    engine = readonly_engine(api_app)
    with engine.connect() as conn:
        conn.execute(text("SET default_transaction_read_only = off"))
        conn.rollback()
        conn.execute(text("SET TRANSACTION READ WRITE"))
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text(statement))
        conn.rollback()
    assert caught.value.orig.sqlstate == "42501"


def test_the_api_connects_as_the_readonly_role_with_a_timeout(make_app, api_db):
    app = make_app(statement_timeout_ms=1234)
    with readonly_engine(app).connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == api_db.role
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
        assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
        assert (
            conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
            is False
        )


def test_readonly_url_defaults_to_the_role_on_the_owner_database(api_db):
    from sqlalchemy.engine import make_url

    from christmas_spiders.api import create_app
    from christmas_spiders.api.db import readonly_url

    app = create_app({"database_url": api_db.owner_url, "api": {"readonly_role": "reader_x"}})
    url = make_url(readonly_url(app))
    assert url.username == "reader_x"
    assert url.database == make_url(api_db.owner_url).database
    assert url.drivername == "postgresql+psycopg"
