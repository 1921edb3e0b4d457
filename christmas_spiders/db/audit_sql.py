"""The audit trigger: the ONE definition, used by the migration, the sync command and tests.

``products`` rows are audited by PostgreSQL itself, whoever changes them (the crawl,
the replay command, someone in psql): after every INSERT, UPDATE and DELETE the
trigger function writes one ``product_audit`` row per TRACKED field whose value
changed (``IS DISTINCT FROM``, so an unchanged re-crawl writes nothing), tagged with
the crawl that made the change (``SET LOCAL christmas.crawl_id``; NULL by hand), and
sends each audit row as JSON with ``pg_notify`` on the configured channel.

Which fields are tracked is data, not code: the one-row table ``audit_settings``
(model ``AuditSettings``)
holds ``tracked_fields`` and ``notify_channel``; ``python -m christmas_spiders.db
sync-audit`` copies them from the config (``audit.tracked_fields``,
``audit.notify_channel``).

The UPDATE trigger has a ``WHEN`` clause comparing every column except
``last_synced_at``: a re-crawl that only refreshes ``last_synced_at`` never even
enters the PL/pgSQL function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from christmas_spiders.items import ITEM_FIELDS

# Columns a user may track (everything that describes the product; not the bookkeeping).
AUDITABLE_FIELDS: tuple[str, ...] = ITEM_FIELDS
FUNCTION_NAME = "christmas_audit_product"
APPEND_ONLY_FUNCTION_NAME = "christmas_product_audit_append_only"

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}() RETURNS trigger
LANGUAGE plpgsql AS $function$
DECLARE
    old_row jsonb;
    new_row jsonb;
    settings audit_settings;
    tracked text;
    crawl text := nullif(current_setting('christmas.crawl_id', true), '');
    audit product_audit;
    payload text;
BEGIN
    SELECT * INTO settings FROM audit_settings WHERE id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    FOREACH tracked IN ARRAY settings.tracked_fields LOOP
        IF (old_row ->> tracked) IS DISTINCT FROM (new_row ->> tracked) THEN
            INSERT INTO product_audit
                (product_id, operation, field, old_value, new_value, crawl_id)
            VALUES (
                coalesce(new_row ->> 'id', old_row ->> 'id'), TG_OP, tracked,
                old_row ->> tracked, new_row ->> tracked, crawl
            )
            RETURNING * INTO audit;
            payload := row_to_json(audit)::text;
            -- NOTIFY payloads are limited to 8000 bytes: a long value is left out
            -- (the listener reads it from product_audit by id) rather than failing the write.
            IF octet_length(payload) > 7900 THEN
                payload := json_build_object(
                    'id', audit.id, 'product_id', audit.product_id,
                    'operation', audit.operation, 'field', audit.field,
                    'changed_at', audit.changed_at, 'crawl_id', audit.crawl_id,
                    'truncated', true)::text;
            END IF;
            PERFORM pg_notify(settings.notify_channel, payload);
        END IF;
    END LOOP;
    RETURN NULL;
END
$function$
"""


def create_update_trigger(fields: Sequence[str]) -> str:
    """The UPDATE trigger, entered only when the id or one of ``fields`` changed."""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in ("id", *fields))
    return f"""CREATE TRIGGER products_audit_update AFTER UPDATE ON products
        FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {FUNCTION_NAME}()"""


def install_update_trigger(conn: Connection) -> None:
    """(Re)create the UPDATE trigger over the auditable columns ``products`` has now.

    Its condition names columns, so a migration that adds an item field's column (or
    drops one) calls this after (or before) the change; the initial migration, run when
    later fields have no column yet, gets the columns of its time.
    """
    columns = set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'products'"
            )
        ).scalars()
    )
    conn.execute(text("DROP TRIGGER IF EXISTS products_audit_update ON products"))
    fields = [field for field in AUDITABLE_FIELDS if field in columns]
    conn.execute(text(create_update_trigger(fields)))


CREATE_TRIGGERS: tuple[str, ...] = (
    f"""CREATE TRIGGER products_audit_insert AFTER INSERT ON products
        FOR EACH ROW EXECUTE FUNCTION {FUNCTION_NAME}()""",
    f"""CREATE TRIGGER products_audit_delete AFTER DELETE ON products
        FOR EACH ROW EXECUTE FUNCTION {FUNCTION_NAME}()""",
)

# The audit is a record of what happened: nobody rewrites it (the owner would have
# to drop these triggers first, which is itself visible in the schema).
CREATE_APPEND_ONLY = (
    f"""
CREATE OR REPLACE FUNCTION {APPEND_ONLY_FUNCTION_NAME}() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    RAISE EXCEPTION 'product_audit is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$function$
""",
    f"""CREATE TRIGGER product_audit_append_only BEFORE UPDATE OR DELETE ON product_audit
        FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY_FUNCTION_NAME}()""",
    f"""CREATE TRIGGER product_audit_no_truncate BEFORE TRUNCATE ON product_audit
        FOR EACH STATEMENT EXECUTE FUNCTION {APPEND_ONLY_FUNCTION_NAME}()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON product_audit FROM PUBLIC",
)

# Price history as intervals: each price is valid from the change that set it until
# the next change of that product's price (NULL: still current). A DELETE closes
# the last interval.
CREATE_PRICE_HISTORY_VIEW = """
CREATE VIEW price_history AS
SELECT product_id, price, valid_from, valid_to, crawl_id
FROM (
    SELECT product_id,
           new_value::numeric(12, 2) AS price,
           changed_at AS valid_from,
           lead(changed_at) OVER (PARTITION BY product_id ORDER BY changed_at, id) AS valid_to,
           crawl_id
    FROM product_audit
    WHERE field = 'price'
) AS intervals
WHERE price IS NOT NULL
"""

DROP_ALL: tuple[str, ...] = (
    "DROP VIEW IF EXISTS price_history",
    "DROP TRIGGER IF EXISTS products_audit_insert ON products",
    "DROP TRIGGER IF EXISTS products_audit_update ON products",
    "DROP TRIGGER IF EXISTS products_audit_delete ON products",
    "DROP TRIGGER IF EXISTS product_audit_append_only ON product_audit",
    "DROP TRIGGER IF EXISTS product_audit_no_truncate ON product_audit",
    f"DROP FUNCTION IF EXISTS {FUNCTION_NAME}()",
    f"DROP FUNCTION IF EXISTS {APPEND_ONLY_FUNCTION_NAME}()",
)


class AuditConfigError(ValueError):
    """audit.tracked_fields / audit.notify_channel in the config are not usable."""


def validated_settings(audit_config: dict[str, Any]) -> tuple[list[str], str]:
    fields = audit_config.get("tracked_fields") or []
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",") if f.strip()]
    unknown = [f for f in fields if f not in AUDITABLE_FIELDS]
    if unknown:
        raise AuditConfigError(
            f"audit.tracked_fields names unknown fields {unknown}; "
            f"trackable fields: {', '.join(AUDITABLE_FIELDS)}"
        )
    channel = str(audit_config.get("notify_channel") or "")
    if not channel.isidentifier():
        raise AuditConfigError(f"audit.notify_channel must be a plain identifier, got {channel!r}")
    return list(dict.fromkeys(fields)), channel


def install(conn: Connection, audit_config: dict[str, Any]) -> None:
    """Fill audit_settings (created by the migration), create the functions, triggers, view."""
    fields, channel = validated_settings(audit_config)
    write_settings(conn, fields, channel)
    conn.execute(text(CREATE_FUNCTION))
    for statement in CREATE_TRIGGERS:
        conn.execute(text(statement))
    install_update_trigger(conn)
    for statement in (*CREATE_APPEND_ONLY, CREATE_PRICE_HISTORY_VIEW):
        conn.execute(text(statement))


def uninstall(conn: Connection) -> None:
    for statement in DROP_ALL:
        conn.execute(text(statement))


def write_settings(conn: Connection, fields: Sequence[str], channel: str) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_settings (id, tracked_fields, notify_channel) "
            "VALUES (true, :fields, :channel) ON CONFLICT (id) DO UPDATE "
            "SET tracked_fields = EXCLUDED.tracked_fields, notify_channel = EXCLUDED.notify_channel"
        ),
        {"fields": list(fields), "channel": channel},
    )


def sync(conn: Connection, audit_config: dict[str, Any]) -> tuple[list[str], str]:
    """Copy the config's tracked fields and channel into the database; returns them.

    Also (re)creates the function, so a database migrated by an older version
    gets the current definition.
    """
    fields, channel = validated_settings(audit_config)
    write_settings(conn, fields, channel)
    conn.execute(text(CREATE_FUNCTION))
    return fields, channel


def current_settings(conn: Connection) -> tuple[list[str], str]:
    row = conn.execute(
        text("SELECT tracked_fields, notify_channel FROM audit_settings WHERE id")
    ).one()
    return list(row[0]), str(row[1])
