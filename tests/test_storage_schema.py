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
                        # The project's own: an extension's functions (pg_trgm's) are not.
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n "
                        "ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND NOT EXISTS "
                        "(SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
                        "AND d.objid = p.oid AND d.deptype = 'e')"
                    )
                ).scalars()
            ),
            "extensions": sorted(
                conn.execute(
                    text("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")
                ).scalars()
            ),
        }


def test_upgrade_from_empty_then_downgrade_to_empty(empty_database_url):
    engine = make_engine(empty_database_url)
    try:
        assert _objects(engine) == {
            "tables": [],
            "views": [],
            "functions": [],
            "extensions": [],
        }

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
            "index_closes",
            "ornament_summary",
            "product_audit",
            "products",
            "retail_prices",
        ]
        assert after_up["views"] == ["price_history"]
        assert after_up["extensions"] == ["pg_trgm"]  # name search (migration 0009)
        assert after_up["functions"] == [
            "christmas_api_key",
            "christmas_audit_product",
            "christmas_json_text",  # the listing's stored JSON (migration 0013)
            "christmas_json_texts",
            "christmas_json_time",  # the product's stored JSON (migration 0014)
            "christmas_ornament_summary_changed",
            "christmas_ornament_summary_refresh",
            "christmas_product_audit_append_only",
            "christmas_share_of_days",
            "christmas_spans_seconds",
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
            "ornament_summary_delete",
            "ornament_summary_insert",
            "ornament_summary_truncate",
            "ornament_summary_update",
            "product_audit_append_only",
            "product_audit_no_truncate",
            "products_audit_delete",
            "products_audit_insert",
            "products_audit_update",
        ]

        downgrade(empty_database_url)
        # The downgrade drops pg_trgm too: the upgrade created it.
        assert _objects(engine) == {
            "tables": ["alembic_version"],
            "views": [],
            "functions": [],
            "extensions": [],
        }
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 0

        # And up again: the downgrade left nothing behind that would collide.
        upgrade(empty_database_url)
        assert _objects(engine) == after_up
    finally:
        engine.dispose()


def test_name_search_can_use_the_trigram_index_and_a_prior_pg_trgm_is_kept(
    empty_database_url,
):
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            # Installed before the project's migrations: theirs to keep on a downgrade.
            conn.execute(text("CREATE EXTENSION pg_trgm"))
        upgrade(empty_database_url)
        with engine.begin() as conn:
            # Enough names for the planner to weigh its plans (triggers off: no audit).
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text(
                    "INSERT INTO products (id, vendor, vendor_id, sku, name, price, currency, "
                    "brand, availability, release_year, link, last_synced_at, created_at) "
                    "SELECT 'p' || g, 'shop', 'v' || g, 'QX' || g, "
                    "'Ornament ' || md5(g::text), 10, 'USD', 'Hallmark', "
                    "'in_stock', 2020, 'https://shop.example/' || g, now(), now() "
                    "FROM generate_series(1, 5000) AS g"
                )
            )
            conn.execute(text("ANALYZE products"))
            search = text(
                "EXPLAIN SELECT id FROM products WHERE name ILIKE :pattern "
                "ORDER BY name, id LIMIT 300"
            )
            # A common word: the names in order, up to the limit.
            common = "\n".join(conn.execute(search, {"pattern": "%ornament%"}).scalars())
            assert "Scan using ix_products_name_id" in common
            # A rare one can be looked up by trigrams (5,000 rows are still few enough
            # for a sequential scan to cost less: 100,000 are not, see the benchmark).
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            rare = "\n".join(conn.execute(search, {"pattern": "%d93591bdf7%"}).scalars())
            assert "ix_products_name_trgm" in rare
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("DELETE FROM products"))
        downgrade(empty_database_url)
        assert _objects(engine)["extensions"] == ["pg_trgm"]
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
