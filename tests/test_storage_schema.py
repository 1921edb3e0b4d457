"""Alembic owns the schema: up from empty, down to empty, models and migration agree."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from christmas_spiders.db.engine import alembic_config, downgrade, make_engine, upgrade
from christmas_spiders.db.models import Base


def _objects(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {
            "tables": sorted(inspect(conn).get_table_names()),
            "views": sorted(inspect(conn).get_view_names()),
            "functions": sorted(
                conn.execute(
                    text(
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n "
                        "ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                    )
                ).scalars()
            ),
        }


def test_upgrade_from_empty_then_downgrade_to_empty(empty_database_url):
    engine = make_engine(empty_database_url)
    try:
        assert _objects(engine) == {"tables": [], "views": [], "functions": []}

        upgrade(empty_database_url)
        after_up = _objects(engine)
        assert after_up["tables"] == [
            "alembic_version",
            "alert_crawls",
            "alert_cursor",
            "alert_deliveries",
            "alert_offers",
            "alert_rules",
            "api_keys",
            "api_settings",
            "audit_settings",
            "crawl_runs",
            "product_audit",
            "products",
        ]
        assert after_up["views"] == ["price_history"]
        assert after_up["functions"] == [
            "christmas_api_key",
            "christmas_audit_product",
            "christmas_product_audit_append_only",
        ]
        with engine.connect() as conn:
            # The schema the migration built is the one the models describe.
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
            triggers = (
                conn.execute(
                    text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
                )
                .scalars()
                .all()
            )
        assert triggers == [
            "product_audit_append_only",
            "product_audit_no_truncate",
            "products_audit_delete",
            "products_audit_insert",
            "products_audit_update",
        ]

        downgrade(empty_database_url)
        assert _objects(engine) == {"tables": ["alembic_version"], "views": [], "functions": []}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 0

        # And up again: the downgrade left nothing behind that would collide.
        upgrade(empty_database_url)
        assert _objects(engine) == after_up
    finally:
        engine.dispose()


def _newest_revision(config: object) -> str:
    """The one head of alembic/versions/ (migrations form a single line)."""
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def test_alembic_command_line_config_points_at_the_project_migrations(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == _newest_revision(config)
    finally:
        engine.dispose()


def test_products_refuse_values_validation_should_have_refused(storage_engine):
    from sqlalchemy.exc import IntegrityError

    from christmas_spiders.db.store import row_from_item, upsert_rows
    from tests.fixtures.storage import sample_items

    bad = row_from_item(sample_items(1)[0]) | {"availability": "maybe"}
    with (
        pytest.raises(IntegrityError, match="ck_products_availability_known"),
        storage_engine.begin() as conn,
    ):
        upsert_rows(conn, [bad])
