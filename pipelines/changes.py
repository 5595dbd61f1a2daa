"""Snapshot compare: the rows a run fetched against what the table held, as change events.

The record table itself is the previous snapshot. Fresh rows (deduplicated, the last
fetched wins) are joined to it on ``(connection_id, id)`` and compared column by column
with ``IS DISTINCT FROM``: a new id is ADDED (also a deleted one that came back), a
changed non-volatile column is UPDATED (with the names and values that changed), a change
in volatile columns alone refreshes the row without an event. A live id missing from a
complete full listing, or tombstoned by the API, is DELETED and stays, soft-deleted.

Rows are compared by a hash of their columns computed on both sides during the run, never
stored: a stored fingerprint would turn every record into an update the day DuckDB's
``hash()`` changes. Columns are named, so key order in the API's answer cannot look like a
change. The names and values of what changed are computed only for the rows that did.
DuckDB does the whole compare as set operations in SQL, never row by row in Python.

Everything here runs inside the caller's transaction, so events, record metadata, cursor
and run bookkeeping commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.warehouse import literal, quote, table_exists
from sources.records import RUN_ID, SEQ, TOMBSTONES_TABLE
from sources.spec import ModelSpec

META_COLUMNS = [
    ("_syncs_first_seen_at", "TIMESTAMPTZ"),
    ("_syncs_last_modified_at", "TIMESTAMPTZ"),
    ("_syncs_last_action", "VARCHAR"),
    ("_syncs_deleted_at", "TIMESTAMPTZ"),
    ("_syncs_cursor", "BIGINT"),
    ("_syncs_run_id", "VARCHAR"),
]
RESERVED = {RUN_ID, SEQ, "_dlt_load_id", "_dlt_id", "connection_id"} | {n for n, _ in META_COLUMNS}


@dataclass
class ModelResult:
    model: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    fetched: int = 0
    rows_total: int = 0
    suspicious: bool = False
    first_cursor: int | None = None
    last_cursor: int | None = None
    rejected: int = 0


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (name, dtype)
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def ensure_record_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, data_columns: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Create ``schema.table`` or add the columns it lacks; returns its data columns."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    target = f"{quote(schema)}.{quote(table)}"
    if not table_exists(con, schema, table):
        ordered = [("id", "VARCHAR")] + [c for c in data_columns if c[0] != "id"]
        defs = ", ".join(f"{quote(n)} {t}{' NOT NULL' if n == 'id' else ''}" for n, t in ordered)
        meta = ", ".join(f"{quote(n)} {t}" for n, t in META_COLUMNS)
        con.execute(
            f"CREATE TABLE {target} (connection_id VARCHAR NOT NULL, {defs}, {meta}, "
            "PRIMARY KEY (connection_id, id))"
        )
    else:
        existing = {n for n, _ in columns(con, schema, table)}
        for name, dtype in data_columns:
            if name not in existing:
                con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {dtype}")
    return [(n, t) for n, t in columns(con, schema, table) if n not in RESERVED]


def apply_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    integration: str,
    sync: str,
    model: ModelSpec,
    connection_id: str,
    run_id: str,
    landing_schema: str,
    full_listing: bool,
    now: datetime,
) -> ModelResult:
    """Compare this run's fresh rows of one model with the table and apply the changes."""
    result = ModelResult(model.name)
    target = f"{quote(integration)}.{quote(model.name)}"
    landing = f"{quote(landing_schema)}.{quote(model.name)}"
    has_landing = table_exists(con, landing_schema, model.name)
    landing_cols = (
        [(n, t) for n, t in columns(con, landing_schema, model.name) if n not in RESERVED]
        if has_landing
        else [(name, "VARCHAR") for name in ("id",)]
    )
    data_cols = ensure_record_table(con, integration, model.name, landing_cols)
    types = dict(data_cols)
    fresh_names = {n for n, _ in landing_cols}
    select_cols = ", ".join(
        f"CAST({quote(n)} AS {types[n]}) AS {quote(n)}"
        if n in fresh_names
        else f"CAST(NULL AS {types[n]}) AS {quote(n)}"
        for n, _ in data_cols
    )
    con.execute("DROP VIEW IF EXISTS _fresh")
    con.execute("DROP TABLE IF EXISTS _fresh_rows")
    if has_landing:
        this_run = f"SELECT * FROM {landing} WHERE {quote(RUN_ID)} = {literal(run_id)}"
        duplicates = con.execute(
            f"SELECT count(*) - count(DISTINCT id) FROM ({this_run})"
        ).fetchone()[0]  # type: ignore[index]
        if duplicates:
            this_run += (
                f" QUALIFY row_number() OVER (PARTITION BY id ORDER BY {quote(SEQ)} DESC) = 1"
            )
            con.execute(f"CREATE TEMP TABLE _fresh_rows AS SELECT {select_cols} FROM ({this_run})")
            con.execute("CREATE TEMP VIEW _fresh AS SELECT * FROM _fresh_rows")
        else:
            con.execute(f"CREATE TEMP VIEW _fresh AS SELECT {select_cols} FROM ({this_run})")
    else:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {quote(n)}" for n, t in data_cols)
        con.execute(f"CREATE TEMP VIEW _fresh AS SELECT {nulls} LIMIT 0")

    compared = [n for n, _ in data_cols if n != "id" and n in fresh_names]
    stable = [n for n in compared if n not in model.volatile_fields]
    volatile = [n for n in compared if n in model.volatile_fields]

    def distinct(n: str) -> str:
        return f"f.{quote(n)} IS DISTINCT FROM t.{quote(n)}"

    changed_list = (
        "list_filter(["
        + ", ".join(f"CASE WHEN {distinct(n)} THEN '{n}' END" for n in stable)
        + "], x -> x IS NOT NULL)"
        if stable
        else "CAST([] AS VARCHAR[])"
    )

    def differs(names: list[str]) -> str:
        """Rows differ on ``names``: one hash per side, computed now, never stored."""
        if not names:
            return "false"
        left = ", ".join(f"f.{quote(n)}" for n in names)
        right = ", ".join(f"t.{quote(n)}" for n in names)
        return f"hash({left}) <> hash({right})"

    stable_changed = differs(stable)
    volatile_changed = differs(volatile)
    change_values = (
        "to_json(list_filter(["
        + ", ".join(
            f"{{'field': '{n}', 'old': CAST(t.{quote(n)} AS VARCHAR), "
            f"'new': CAST(f.{quote(n)} AS VARCHAR)}}"
            for n in stable
        )
        + "], x -> list_contains(changed_fields, x.field)))"
        if stable
        else "NULL"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _diff AS
        SELECT * FROM (
        SELECT f.id,
               t.id IS NULL AS is_new,
               CASE
                   WHEN t.id IS NULL OR t._syncs_deleted_at IS NOT NULL THEN 'ADDED'
                   WHEN {stable_changed} THEN 'UPDATED'
                   WHEN {volatile_changed} THEN 'TOUCHED'
                   ELSE 'UNCHANGED'
               END AS action,
               CASE WHEN action = 'UPDATED' THEN {changed_list} END AS changed_fields,
               CASE WHEN action = 'UPDATED' THEN {change_values} END AS changes
        FROM _fresh f
        LEFT JOIN (SELECT * FROM {target} WHERE connection_id = ?) t ON t.id = f.id
        ) WHERE action <> 'UNCHANGED'
        """,
        [connection_id],
    )

    fetched = con.execute("SELECT count(*) FROM _fresh").fetchone()[0]  # type: ignore[index]
    live_before = con.execute(
        f"SELECT count(*) FROM {target} WHERE connection_id = ? AND _syncs_deleted_at IS NULL",
        [connection_id],
    ).fetchone()[0]  # type: ignore[index]
    result.fetched = fetched

    gone_sources = []
    params: list[object] = []
    if full_listing:
        if fetched == 0 and live_before > 0:
            result.suspicious = True
        else:
            gone_sources.append(
                f"SELECT t.id, CAST(NULL AS TIMESTAMPTZ) AS deleted_at FROM {target} t "
                "WHERE t.connection_id = ? AND t._syncs_deleted_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM _fresh f WHERE f.id = t.id)"
            )
            params.append(connection_id)
    if table_exists(con, landing_schema, TOMBSTONES_TABLE):
        gone_sources.append(
            f"SELECT t.id, max(g.deleted_at) AS deleted_at FROM "
            f"{quote(landing_schema)}.{quote(TOMBSTONES_TABLE)} g "
            f"JOIN {target} t ON t.connection_id = ? AND t.id = g.record_id "
            f"WHERE g.{quote(RUN_ID)} = ? AND g.model = ? AND t._syncs_deleted_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM _fresh f WHERE f.id = t.id) GROUP BY t.id"
        )
        params.extend([connection_id, run_id, model.name])
    if gone_sources:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _gone AS SELECT id, max(deleted_at) AS deleted_at "
            f"FROM ({' UNION ALL '.join(gone_sources)}) GROUP BY id",
            params,
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _gone AS "
            "SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS TIMESTAMPTZ) AS deleted_at LIMIT 0"
        )

    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _events AS
        SELECT nextval('syncs.change_cursor') AS cursor, record_id, action, changed_fields, changes
        FROM (
            SELECT id AS record_id, action,
                   CASE WHEN action = 'UPDATED' THEN changed_fields END AS changed_fields,
                   changes
            FROM _diff WHERE action IN ('ADDED', 'UPDATED')
            UNION ALL
            SELECT id, 'DELETED', NULL, NULL FROM _gone
            ORDER BY record_id
        )
        """
    )
    con.execute(
        """
        INSERT INTO syncs.change_events
            (cursor, connection_id, integration, sync, model, record_id, action, run_id,
             changed_fields, changes, occurred_at)
        SELECT cursor, ?, ?, ?, ?, record_id, action, ?, changed_fields, changes, ?
        FROM _events ORDER BY cursor
        """,
        [connection_id, integration, sync, model.name, run_id, now],
    )

    names = [n for n, _ in data_cols]
    insert_cols = ", ".join(["connection_id", *map(quote, names), *(n for n, _ in META_COLUMNS)])
    fresh_select = ", ".join(f"f.{quote(n)}" for n in names)
    con.execute(
        f"""
        INSERT INTO {target} ({insert_cols})
        SELECT ?, {fresh_select}, CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), 'ADDED',
               CAST(NULL AS TIMESTAMPTZ), e.cursor, ?
        FROM _diff d
        JOIN _fresh f ON f.id = d.id
        JOIN _events e ON e.record_id = d.id AND e.action = 'ADDED'
        WHERE d.is_new
        """,
        [connection_id, now, now, run_id],
    )
    changed = "d.action IN ('ADDED', 'UPDATED')"
    assignments = ", ".join(f"{quote(n)} = f.{quote(n)}" for n in names if n != "id")
    con.execute(
        f"""
        UPDATE {target} SET
            {assignments}{"," if assignments else ""}
            _syncs_last_modified_at = CASE WHEN {changed} THEN CAST(? AS TIMESTAMPTZ)
                                           ELSE {target}._syncs_last_modified_at END,
            _syncs_last_action = CASE WHEN {changed} THEN d.action
                                      ELSE {target}._syncs_last_action END,
            _syncs_deleted_at = CAST(NULL AS TIMESTAMPTZ),
            _syncs_cursor = CASE WHEN {changed} THEN e.cursor ELSE {target}._syncs_cursor END,
            _syncs_run_id = CASE WHEN {changed} THEN ? ELSE {target}._syncs_run_id END
        FROM _diff d
        JOIN _fresh f ON f.id = d.id
        LEFT JOIN _events e ON e.record_id = d.id AND e.action <> 'DELETED'
        WHERE NOT d.is_new AND {target}.connection_id = ? AND {target}.id = d.id
        """,
        [now, run_id, connection_id],
    )
    con.execute(
        f"""
        UPDATE {target} SET
            _syncs_deleted_at = coalesce(g.deleted_at, CAST(? AS TIMESTAMPTZ)),
            _syncs_last_modified_at = CAST(? AS TIMESTAMPTZ),
            _syncs_last_action = 'DELETED',
            _syncs_cursor = e.cursor,
            _syncs_run_id = ?
        FROM _gone g JOIN _events e ON e.record_id = g.id AND e.action = 'DELETED'
        WHERE {target}.connection_id = ? AND {target}.id = g.id
        """,
        [now, now, run_id, connection_id],
    )

    counts = dict(con.execute("SELECT action, count(*) FROM _diff GROUP BY 1").fetchall())
    result.added = counts.get("ADDED", 0)
    result.updated = counts.get("UPDATED", 0)
    result.unchanged = fetched - result.added - result.updated
    result.deleted = con.execute("SELECT count(*) FROM _gone").fetchone()[0]  # type: ignore[index]
    low, high = con.execute("SELECT min(cursor), max(cursor) FROM _events").fetchone()  # type: ignore[misc]
    result.first_cursor, result.last_cursor = low, high
    result.rows_total = con.execute(
        f"SELECT count(*) FROM {target} WHERE connection_id = ? AND _syncs_deleted_at IS NULL",
        [connection_id],
    ).fetchone()[0]  # type: ignore[index]
    con.execute("DROP VIEW IF EXISTS _fresh")
    for temp in ("_fresh_rows", "_diff", "_gone", "_events"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return result
