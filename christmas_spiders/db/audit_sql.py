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

from christmas_spiders.items import AUDITABLE_FIELDS

# Columns a user may track (items.AUDITABLE_FIELDS): everything that describes the
# product; not the bookkeeping, nor the stock wording a page was read from.
FUNCTION_NAME = "christmas_audit_product"
# An audit value is read as a price only when it looks like one.
NUMERIC_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
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


# The ornament summary (table ornament_summary, migration 0007): one row per sku across
# the shops, recomputed for the skus a statement on products touched. Statement-level
# triggers see the whole batch of an upsert at once (transition tables), so a batch of
# 500 offers is one recomputation, and an unchanged re-crawl (only last_synced_at
# moves) recomputes nothing. ENABLE ALWAYS: a bulk load with session_replication_role =
# replica skips the audit, not this derived table.
#
# Two columns carry history, so a listing never reads the audit: lowest_price_seen (the
# lowest of every price an offer of the sku was stored at) and in_stock_spans (when some
# offer of the sku was in stock: a multirange, its last span open while it still is).
# The trigger extends them as prices and stock move; rebuild_ornament_summary() derives
# them from the audit instead, for data loaded around the trigger.
SUMMARY_REFRESH_FUNCTION = "christmas_ornament_summary_refresh"
SUMMARY_TRIGGER_FUNCTION = "christmas_ornament_summary_changed"
SHARE_FUNCTION = "christmas_share_of_days"
SPANS_LENGTH_FUNCTION = "christmas_spans_seconds"
# The products columns the summary is made of (besides the id).
_SUMMARY_SOURCE = ("vendor", "sku", "name", "price", "availability", "release_year")
_OLD_SOURCE = ", ".join(f"o.{column}" for column in _SUMMARY_SOURCE)
_NEW_SOURCE = ", ".join(f"n.{column}" for column in _SUMMARY_SOURCE)

# The summary columns taken as computed from the offers.
SUMMARY_FRESH_COLUMNS = (
    "names",
    "release_year",
    "offers",
    "in_stock_offers",
    "vendors",
    "in_stock_vendors",
    "cheapest_vendor",
    "cheapest_product_id",
    "cheapest_price",
    "dearest_vendor",
    "dearest_product_id",
    "dearest_price",
)
_COPIED = ",\n        ".join(f"{column} = fresh.{column}" for column in SUMMARY_FRESH_COLUMNS)

CREATE_SUMMARY_REFRESH = f"""
CREATE OR REPLACE FUNCTION {SUMMARY_REFRESH_FUNCTION}(changed text[]) RETURNS void
LANGUAGE plpgsql AS $function$
BEGIN
    -- A row to lock for every sku, locked in sku order: two writers of one sku then
    -- recompute it one after the other, the second seeing the first's committed offers.
    INSERT INTO ornament_summary (sku)
    SELECT DISTINCT wanted FROM unnest(changed) AS wanted ORDER BY wanted
    ON CONFLICT (sku) DO NOTHING;
    PERFORM 1 FROM ornament_summary WHERE sku IN (SELECT unnest(changed))
    ORDER BY sku FOR UPDATE;
    -- On the right of SET, summary.* are the values before this update.
    UPDATE ornament_summary AS summary SET
        {_COPIED},
        spread_amount = CASE WHEN fresh.in_stock_offers >= 2
            THEN fresh.dearest_price - fresh.cheapest_price END,
        spread_percent = CASE WHEN fresh.in_stock_offers >= 2 AND fresh.cheapest_price > 0
            THEN (fresh.dearest_price - fresh.cheapest_price) / fresh.cheapest_price * 100 END,
        lowest_price_seen = least(summary.lowest_price_seen, fresh.lowest_price),
        -- now(): the transaction's time, the changed_at of the audit rows it writes.
        in_stock_spans = CASE
            WHEN summary.in_stock_offers = 0 AND fresh.in_stock_offers > 0
                THEN summary.in_stock_spans + tstzmultirange(tstzrange(now(), NULL))
            WHEN summary.in_stock_offers > 0 AND fresh.in_stock_offers = 0
                THEN summary.in_stock_spans * tstzmultirange(tstzrange(NULL, now()))
            ELSE summary.in_stock_spans END,
        updated_at = now()
    FROM (
        SELECT p.sku,
               array_agg(DISTINCT p.name ORDER BY p.name) AS names,
               mode() WITHIN GROUP (ORDER BY p.release_year) AS release_year,
               count(*) AS offers,
               count(*) FILTER (WHERE p.availability = 'in_stock') AS in_stock_offers,
               coalesce(array_agg(DISTINCT p.vendor ORDER BY p.vendor)
                   FILTER (WHERE p.availability <> 'delisted'), '{{}}') AS vendors,
               coalesce(array_agg(DISTINCT p.vendor ORDER BY p.vendor)
                   FILTER (WHERE p.availability = 'in_stock'), '{{}}') AS in_stock_vendors,
               -- Ties as on /ornaments/<sku>: by vendor, then product id.
               (array_agg(p.vendor ORDER BY p.price, p.vendor, p.id)
                   FILTER (WHERE p.availability = 'in_stock'))[1] AS cheapest_vendor,
               (array_agg(p.id ORDER BY p.price, p.vendor, p.id)
                   FILTER (WHERE p.availability = 'in_stock'))[1] AS cheapest_product_id,
               min(p.price) FILTER (WHERE p.availability = 'in_stock') AS cheapest_price,
               (array_agg(p.vendor ORDER BY p.price DESC, p.vendor, p.id)
                   FILTER (WHERE p.availability = 'in_stock'))[1] AS dearest_vendor,
               (array_agg(p.id ORDER BY p.price DESC, p.vendor, p.id)
                   FILTER (WHERE p.availability = 'in_stock'))[1] AS dearest_product_id,
               max(p.price) FILTER (WHERE p.availability = 'in_stock') AS dearest_price,
               min(p.price) AS lowest_price
        FROM products AS p
        WHERE p.sku IN (SELECT unnest(changed))
        GROUP BY p.sku
    ) AS fresh
    WHERE summary.sku = fresh.sku;
    DELETE FROM ornament_summary AS summary
    WHERE summary.sku IN (SELECT unnest(changed))
      AND NOT EXISTS (SELECT FROM products AS p WHERE p.sku = summary.sku);
END
$function$
"""

CREATE_SUMMARY_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {SUMMARY_TRIGGER_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $function$
DECLARE
    changed text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM ornament_summary;
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT sku) INTO changed FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT sku) INTO changed FROM old_rows;
    ELSE
        -- Both skus of every row whose summarised columns changed (a sku corrected
        -- by hand touches two).
        SELECT array_agg(DISTINCT moved.sku) INTO changed
        FROM old_rows AS o
        FULL JOIN new_rows AS n ON n.id = o.id,
        LATERAL (VALUES (o.sku), (n.sku)) AS moved(sku)
        WHERE moved.sku IS NOT NULL
          AND (o.id IS NULL OR n.id IS NULL
               OR ({_OLD_SOURCE}) IS DISTINCT FROM ({_NEW_SOURCE}));
    END IF;
    IF changed IS NOT NULL THEN
        PERFORM {SUMMARY_REFRESH_FUNCTION}(changed);
    END IF;
    RETURN NULL;
END
$function$
"""

# (trigger, event, its transition tables)
SUMMARY_TRIGGERS: tuple[tuple[str, str, str], ...] = (
    ("ornament_summary_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    (
        "ornament_summary_update",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("ornament_summary_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("ornament_summary_truncate", "TRUNCATE", ""),
)

# The share of the ``days`` before ``at`` that ``spans`` cover. A listing computes it
# per row: written as one expression, which PostgreSQL inlines into the query (a
# function with a sub-SELECT is a call per row, ten times dearer), for the usual case
# of none or one span; several spans go through the general function.
CREATE_SHARE_FUNCTIONS = (
    f"""
CREATE OR REPLACE FUNCTION {SPANS_LENGTH_FUNCTION}(spans tstzmultirange) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $function$
SELECT coalesce(
    (SELECT extract(epoch FROM sum(upper(span) - lower(span))) FROM unnest(spans) AS span),
    0)::double precision
$function$
""",
    f"""
CREATE OR REPLACE FUNCTION {SHARE_FUNCTION}(spans tstzmultirange, at timestamptz, days integer)
RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $function$
SELECT CASE
    WHEN isempty(spans) THEN 0
    -- One span (its upper bound NULL while open: least() then takes at).
    WHEN spans = tstzmultirange(range_merge(spans)) THEN greatest(0, extract(epoch FROM
        least(upper(spans), at) - greatest(lower(spans), at - make_interval(days => days))
    ))::double precision
    ELSE {SPANS_LENGTH_FUNCTION}(
        spans * tstzmultirange(tstzrange(at - make_interval(days => days), at)))
END / extract(epoch FROM make_interval(days => days))::double precision
$function$
""",
)

# JSON of a text and of a text array, NULL as null: IMMUTABLE, as a generated column
# requires. to_json and array_to_json are only STABLE because some types' text depends
# on settings (a timestamp's on TimeZone); a text's JSON string depends on nothing.
JSON_TEXT_FUNCTION = "christmas_json_text"
JSON_TEXTS_FUNCTION = "christmas_json_texts"
CREATE_JSON_FUNCTIONS = (
    f"""
CREATE OR REPLACE FUNCTION {JSON_TEXT_FUNCTION}(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $function$
SELECT coalesce(to_json(value)::text, 'null')
$function$
""",
    f"""
CREATE OR REPLACE FUNCTION {JSON_TEXTS_FUNCTION}(value text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $function$
SELECT coalesce(array_to_json(value)::text, 'null')
$function$
""",
)
DROP_JSON_FUNCTIONS = tuple(
    f"DROP FUNCTION IF EXISTS {name}({argument})"
    for name, argument in ((JSON_TEXT_FUNCTION, "text"), (JSON_TEXTS_FUNCTION, "text[]"))
)


def _json_money(value: str) -> str:
    # A price (or percent) as the API writes it: its NUMERIC text in quotes ("24.95").
    return f"""coalesce('"' || ({value})::text || '"', 'null')"""


def _json_end(side: str) -> str:
    return (
        f"CASE WHEN {side}_vendor IS NULL THEN 'null' ELSE "
        f"""'{{"vendor":' || {JSON_TEXT_FUNCTION}({side}_vendor) """
        f"""|| ',"product_id":' || {JSON_TEXT_FUNCTION}({side}_product_id) """
        f"""|| ',"price":' || {_json_money(f"{side}_price")} || '}}' END"""
    )


# A summary row as the ornament listing answers it (api.ornament_queries), up to the one
# value that depends on when it is asked: the share of the last 90 days in stock, which
# the page appends with the closing braces. The ornament_summary table keeps it as a
# generated column (models.OrnamentSummary.listing_json, migration 0013): a page then
# reads one text per sku, not twenty values to convert and encode. Only text casts and
# concatenation (IMMUTABLE, as the text || text operator is; anything || text is not).
LISTING_JSON = " || ".join(
    (
        f"""'{{"sku":' || {JSON_TEXT_FUNCTION}(sku)""",
        f"""',"names":' || {JSON_TEXTS_FUNCTION}(names)""",
        """',"release_year":' || coalesce(release_year::text, 'null')""",
        """',"offers":' || offers::text""",
        """',"in_stock_offers":' || in_stock_offers::text""",
        f"""',"cheapest":' || {_json_end("cheapest")}""",
        f"""',"dearest":' || {_json_end("dearest")}""",
        """',"spread":' || CASE WHEN spread_amount IS NULL THEN 'null' ELSE """
        f"""'{{"amount":' || {_json_money("spread_amount")} """
        f"""|| ',"percent":' || {_json_money("round(spread_percent, 1)")} || '}}' END""",
        f"""',"lowest_price_seen":' || {_json_money("lowest_price_seen")}""",
        f"""',"rarity":{{"carried_by":' || {JSON_TEXTS_FUNCTION}(vendors)""",
        f"""',"in_stock_at":' || {JSON_TEXTS_FUNCTION}(in_stock_vendors)""",
        """',"in_stock_share_90d":'""",
    )
)

# A time as the API writes it (orjson with OPT_UTC_Z): UTC, the microseconds only when
# there are some, then "Z". IMMUTABLE: the text depends on the value alone, the UTC
# conversion being fixed; to_char is only STABLE for patterns this one does not use
# (month and day names in the session's locale).
JSON_TIME_FUNCTION = "christmas_json_time"
CREATE_JSON_TIME_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {JSON_TIME_FUNCTION}(value timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $function$
SELECT CASE WHEN value IS NULL THEN 'null'
    WHEN to_char(value AT TIME ZONE 'UTC', 'US') = '000000'
        THEN '"' || to_char(value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || 'Z"'
    ELSE '"' || to_char(value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || 'Z"'
END
$function$
"""
DROP_JSON_TIME_FUNCTION = f"DROP FUNCTION IF EXISTS {JSON_TIME_FUNCTION}(timestamptz)"

# How each kind of products column is written in the record's JSON.
_JSON_VALUES = {
    "text": lambda column: f"{JSON_TEXT_FUNCTION}({column})",
    "money": _json_money,
    "integer": lambda column: f"coalesce({column}::text, 'null')",
    "time": lambda column: f"{JSON_TIME_FUNCTION}({column})",
}
JSON_KINDS = tuple(_JSON_VALUES)


def product_json(columns: Sequence[tuple[str, str]]) -> str:
    """The expression of a products row as the API answers it (``api.product_queries``):
    an object of ``columns``, each ``(name, kind)`` with kind one of :data:`JSON_KINDS`,
    in order. ``products.record_json`` keeps it as a generated column (models.Product,
    migration 0014): a page of products reads one text per row, not fifteen values to
    convert and encode again.
    """
    if not columns:
        raise ValueError("a product record has at least one column")
    parts = []
    for index, (name, kind) in enumerate(columns):
        if kind not in _JSON_VALUES:
            raise ValueError(f"column {name!r}: no JSON for kind {kind!r} (one of {JSON_KINDS})")
        opening = "{" if index == 0 else ","
        parts.append(f"""'{opening}"{name}":' || {_JSON_VALUES[kind](name)}""")
    return " || ".join(parts) + " || '}'"


# The history columns from the audit, for every sku. An offer's state at a time is the
# one its latest availability change set; the latest change's state is its current one
# (products.availability), and an offer with no audited change has had its current
# state since it was stored. Before an offer's first change its state is unknown: never
# in stock. The lowest price: the current ones and both sides of each price change.
REBUILD_SUMMARY_HISTORY = f"""
WITH states AS (
    SELECT p.sku,
           a.changed_at AS since,
           lead(a.changed_at) OVER later AS until,
           CASE WHEN lead(a.changed_at) OVER later IS NULL THEN p.availability
                ELSE a.new_value END AS state
    FROM products AS p
    JOIN product_audit AS a ON a.product_id = p.id AND a.field = 'availability'
    WINDOW later AS (PARTITION BY a.product_id ORDER BY a.changed_at, a.id)
    UNION ALL
    SELECT p.sku, p.created_at, NULL, p.availability
    FROM products AS p
    WHERE NOT EXISTS (
        SELECT FROM product_audit AS a WHERE a.product_id = p.id AND a.field = 'availability'
    )
), stocked AS (
    SELECT sku, range_agg(tstzrange(since, until)) AS spans
    FROM states
    WHERE state = 'in_stock'
    GROUP BY sku
), audited AS (
    SELECT p.sku, min(CASE WHEN value ~ '{NUMERIC_TEXT}' THEN value::numeric(12, 2) END) AS low
    FROM products AS p
    JOIN product_audit AS a ON a.product_id = p.id AND a.field = 'price',
    LATERAL (VALUES (a.old_value), (a.new_value)) AS sides(value)
    GROUP BY p.sku
), current AS (
    SELECT sku, min(price) AS low FROM products GROUP BY sku
)
UPDATE ornament_summary AS summary
SET lowest_price_seen = least(current.low, audited.low),
    in_stock_spans = coalesce(stocked.spans, '{{}}')
FROM current
LEFT JOIN audited ON audited.sku = current.sku
LEFT JOIN stocked ON stocked.sku = current.sku
WHERE summary.sku = current.sku
"""


def install_ornament_summary(conn: Connection) -> None:
    """Create the summary's functions and triggers (the table comes from the migration)
    and fill it from the products and audit there are."""
    for statement in (
        CREATE_SUMMARY_REFRESH,
        CREATE_SUMMARY_TRIGGER_FUNCTION,
        *CREATE_SHARE_FUNCTIONS,
    ):
        conn.execute(text(statement))
    for name, event, tables in SUMMARY_TRIGGERS:
        conn.execute(
            text(
                f"CREATE TRIGGER {name} AFTER {event} ON products {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {SUMMARY_TRIGGER_FUNCTION}()"
            )
        )
        conn.execute(text(f"ALTER TABLE products ENABLE ALWAYS TRIGGER {name}"))
    rebuild_ornament_summary(conn)


def rebuild_ornament_summary(conn: Connection) -> None:
    """Recompute every sku's summary, its history from the audit: after products or
    audit rows were loaded around the triggers (a bulk load, a restore)."""
    conn.execute(text(f"SELECT {SUMMARY_REFRESH_FUNCTION}(array_agg(DISTINCT sku)) FROM products"))
    conn.execute(
        text(
            "DELETE FROM ornament_summary AS summary "
            "WHERE NOT EXISTS (SELECT FROM products AS p WHERE p.sku = summary.sku)"
        )
    )
    conn.execute(text(REBUILD_SUMMARY_HISTORY))


def uninstall_ornament_summary(conn: Connection) -> None:
    for name, _, _ in SUMMARY_TRIGGERS:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON products"))
    for function in (
        f"{SUMMARY_TRIGGER_FUNCTION}()",
        f"{SUMMARY_REFRESH_FUNCTION}(text[])",
        f"{SHARE_FUNCTION}(tstzmultirange, timestamptz, integer)",
        f"{SPANS_LENGTH_FUNCTION}(tstzmultirange)",
    ):
        conn.execute(text(f"DROP FUNCTION IF EXISTS {function}"))
