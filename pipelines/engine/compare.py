"""Snapshot compare: the rows a run fetched against what the table held, as change events.

The record table itself is the previous snapshot. Fresh rows (deduplicated, the last
fetched wins) are joined to it on ``(connection_id, id)``: a new id is ADDED (also a
deleted one that came back), a changed non-volatile column is UPDATED (with the names and
values that changed), a change in volatile columns alone refreshes the row without an
event. A live id missing from a complete full listing, or tombstoned by the API, is
DELETED and stays, soft-deleted. A record the run fetched but rejected (it failed
validation) is neither: its row keeps its last good version, marked with the reason
(``_syncs_rejected_reason`` and ``_syncs_rejected_at``) until a good version arrives. Into
a table holding no rows of the connection (its first run) every record is ADDED, and the
rows are written without a join.

A full listing is believed only so far: one that would delete more of the model's live rows
than its ``DeletionLimit`` allows (a page the API dropped looks like records gone), or that
returned nothing where the table had rows, or that held records without an id (any stored
record it did not list may be one of them), is applied without those deletions. They are
held — counted, noted, the model marked suspicious — until a full listing runs with
``confirm_deletions``.

The provider's version decides first: for a model that declares one (``ModelSpec.version``,
a last-modified time or a growing number), a fresh row whose version is older than the
stored row's is no change at all, neither an update nor a refresh, so neither a late
webhook nor a poll that read before one can put an older version back; a tombstone dated
before the stored version does not delete. Equal versions compare by content.

Rows are compared by two hashes of their columns (the non-volatile ones and the volatile
ones), stored with each row when it is written, so the join reads two integers per stored
row instead of every column. DuckDB's ``hash()`` may change between versions, and the
hash covers the table's columns in order, so ``syncs.row_hashes`` records what each
table's hashes were computed with; when the DuckDB version or the columns differ, the
table's hashes are computed again before the compare, and a new DuckDB never turns
records into updates. Columns are named, so key order in the API's answer cannot look
like a change. The names and values of what changed are computed only for the rows that
did. DuckDB does the whole compare as set operations in SQL, never row by row in Python.

A refreshed row is written as a new row and the old one deleted, not updated in place:
DuckDB updates a column store one vector at a time, and measured at 10,000 rows of a
1M-row table the update cost twice the delete and insert.

Before a stored row is replaced or marked deleted by an event, it is copied into the
model's past versions (``pipelines.engine.history``), so every record keeps its history.

Everything here runs inside the caller's transaction, so events, record metadata, cursor
and run bookkeeping commit together or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

import duckdb

from pipelines.engine.history import ensure_history, keep_replaced
from pipelines.engine.warehouse import literal, quote, table_exists
from sources.records import RUN_ID, SEQ
from sources.spec import DEFAULT_DELETION_LIMIT, DeletionLimit, ModelSpec

META_COLUMNS = [
    ("_syncs_first_seen_at", "TIMESTAMPTZ"),
    ("_syncs_last_modified_at", "TIMESTAMPTZ"),
    ("_syncs_last_action", "VARCHAR"),
    ("_syncs_deleted_at", "TIMESTAMPTZ"),
    ("_syncs_cursor", "BIGINT"),
    ("_syncs_run_id", "VARCHAR"),
    ("_syncs_sync_type", "VARCHAR"),
]
HASH = "_syncs_hash"
VOLATILE_HASH = "_syncs_volatile_hash"
HASH_COLUMNS = [(HASH, "UBIGINT"), (VOLATILE_HASH, "UBIGINT")]
REJECTED_REASON = "_syncs_rejected_reason"
REJECTED_AT = "_syncs_rejected_at"
# Left out of every insert: a row written for a good version starts with them cleared.
REJECTION_COLUMNS = [(REJECTED_REASON, "VARCHAR"), (REJECTED_AT, "TIMESTAMPTZ")]
RESERVED = (
    {RUN_ID, SEQ, "_dlt_load_id", "_dlt_id", "connection_id"}
    | {n for n, _ in META_COLUMNS}
    | {n for n, _ in HASH_COLUMNS}
    | {n for n, _ in REJECTION_COLUMNS}
)


@dataclass
class ModelResult:
    """One model's outcome. ``fetched`` counts the records the API returned, a record
    returned twice counting twice; ``unchanged`` is those that changed nothing;
    ``deletions_held`` the deletions a full listing inferred but did not apply, and
    ``note`` why (both only on a suspicious run)."""

    model: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    fetched: int = 0
    rows_total: int = 0
    table_rows: int = 0
    suspicious: bool = False
    first_cursor: int | None = None
    last_cursor: int | None = None
    rejected: int = 0
    deletions_held: int = 0
    note: str | None = None


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """Names and types of a relation's columns (a table, or files read in place)."""
    return [
        (name, dtype)
        for name, dtype, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
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
        meta = ", ".join(
            f"{quote(n)} {t}" for n, t in META_COLUMNS + HASH_COLUMNS + REJECTION_COLUMNS
        )
        con.execute(f"CREATE TABLE {target} (connection_id VARCHAR NOT NULL, {defs}, {meta})")
    else:
        existing = {n for n, _ in relation_columns(con, target)}
        for name, dtype in data_columns + META_COLUMNS + HASH_COLUMNS + REJECTION_COLUMNS:
            if name not in existing:
                con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {dtype}")
    return [(n, t) for n, t in relation_columns(con, target) if n not in RESERVED]


def hashed(names: list[str], side: str) -> str:
    """One hash of the columns ``names`` of each row of ``side``."""
    if not names:
        return "CAST(0 AS UBIGINT)"
    return "hash(" + ", ".join(f"{side}.{quote(n)}" for n in names) + ")"


def ensure_row_hashes(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, stable: list[str], volatile: list[str]
) -> None:
    """The table's stored hashes, computed again unless this DuckDB computed them over
    these columns."""
    hashed_with = json.dumps({"duckdb": duckdb.__version__, "stable": stable, "volatile": volatile})
    row = con.execute(
        "SELECT hashed_with FROM syncs.row_hashes WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    if row and row[0] == hashed_with:
        return
    con.execute(
        f"UPDATE {quote(schema)}.{quote(table)} t "
        f"SET {HASH} = {hashed(stable, 't')}, {VOLATILE_HASH} = {hashed(volatile, 't')}"
    )
    con.execute(
        "INSERT INTO syncs.row_hashes VALUES (?, ?, ?) "
        "ON CONFLICT (table_schema, table_name) DO UPDATE SET hashed_with = excluded.hashed_with",
        [schema, table, hashed_with],
    )


DIFF_ROW = "_syncs_diff_row"
DIFF_ACTION = "_syncs_diff_action"
DIFF_IS_NEW = "_syncs_diff_is_new"
DIFF_CURSOR = "_syncs_diff_cursor"
DIFF_FIELDS = "_syncs_diff_fields"
DIFF_CHANGES = "_syncs_diff_changes"
DIFF_GONE_AT = "_syncs_diff_gone_at"
DIFF_HASH = "_syncs_diff_hash"
DIFF_VOLATILE_HASH = "_syncs_diff_volatile_hash"
RESERVED |= {
    DIFF_ROW,
    DIFF_ACTION,
    DIFF_IS_NEW,
    DIFF_CURSOR,
    DIFF_FIELDS,
    DIFF_CHANGES,
    DIFF_GONE_AT,
    DIFF_HASH,
    DIFF_VOLATILE_HASH,
}


def _build_diff(
    con: duckdb.DuckDBPyConnection,
    target: str,
    connection_id: str,
    stable: list[str],
    volatile: list[str],
    join: str,
    held: str = "false",
    version: str | None = None,
) -> None:
    """``_diff``: one row per changed id, with its cursor, the stored row's rowid, the
    fresh row's hashes and its values of every column. The stored side brings
    only ids, hashes and the deletion mark into the join, so its hash table stays small
    however wide the rows are; the fresh values ride along the same read of the listing,
    and only the changed rows' are kept. A stored row for which ``held`` (SQL over ``t``)
    is true is never a deletion; a fresh row whose ``version`` column is older than the
    stored row's is no change."""
    values = "".join(f", f.{quote(n)}" for n in stable + volatile)
    older = (
        f"WHEN t.id IS NOT NULL AND f.{quote(version)} < t.version THEN NULL"
        if version is not None
        else ""
    )
    stored_version = f", t.{quote(version)} AS version" if version is not None else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _diff AS
        SELECT *,
               CASE WHEN {DIFF_ACTION} IN ('ADDED', 'UPDATED', 'DELETED')
                    THEN nextval('syncs.change_cursor') END AS {DIFF_CURSOR}
        FROM (
            SELECT coalesce(f.id, t.id) AS id,
                   t.row_id AS {DIFF_ROW},
                   t.id IS NULL AS {DIFF_IS_NEW},
                   CASE
                       WHEN f.id IS NULL THEN
                           CASE WHEN t.deleted_at IS NULL AND NOT t.held THEN 'DELETED' END
                       {older}
                       WHEN t.id IS NULL OR t.deleted_at IS NOT NULL THEN 'ADDED'
                       WHEN f.{DIFF_HASH} IS DISTINCT FROM t.stable THEN 'UPDATED'
                       WHEN f.{DIFF_VOLATILE_HASH} IS DISTINCT FROM t.volatile THEN 'TOUCHED'
                   END AS {DIFF_ACTION},
                   CAST(NULL AS VARCHAR[]) AS {DIFF_FIELDS},
                   CAST(NULL AS JSON) AS {DIFF_CHANGES},
                   CAST(NULL AS TIMESTAMPTZ) AS {DIFF_GONE_AT},
                   f.{DIFF_HASH}, f.{DIFF_VOLATILE_HASH}{values}
            FROM (
                SELECT f.id{values}, {hashed(stable, "f")} AS {DIFF_HASH},
                       {hashed(volatile, "f")} AS {DIFF_VOLATILE_HASH}
                FROM _fresh f
            ) f
            {join} (
                SELECT t.rowid AS row_id, t.id, t._syncs_deleted_at AS deleted_at,
                       t.{HASH} AS stable, t.{VOLATILE_HASH} AS volatile, {held} AS held
                       {stored_version}
                FROM {target} t WHERE t.connection_id = ?
            ) t ON t.id = f.id
        ) WHERE {DIFF_ACTION} IS NOT NULL
        """,
        [connection_id],
    )


def _repeats(con: duckdb.DuckDBPyConnection, among_changed: bool) -> bool:
    """Whether the API returned a record more than once this run; ``among_changed``:
    one of the records in ``_diff``.

    Against stored rows only the changed ids are checked, not the whole listing: a record
    all of whose copies match the table leaves nothing to write. Their copies are counted
    in the listing, not in ``_diff``, because a copy that matches the table is not in
    ``_diff`` and may be the last one fetched, which wins."""
    where = " WHERE id IN (SELECT id FROM _diff)" if among_changed else ""
    row = con.execute(f"SELECT count(*) > count(DISTINCT id) FROM _fresh{where}").fetchone()
    return bool(row and row[0])


def apply_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    integration: str,
    sync: str,
    model: ModelSpec,
    connection_id: str,
    run_id: str,
    fresh: str | None,
    tombstones: str | None,
    full_listing: bool,
    now: datetime,
    timings: dict[str, float] | None = None,
    max_deletions: DeletionLimit = DEFAULT_DELETION_LIMIT,
    confirm_deletions: bool = False,
    rejected: str | None = None,
    sync_type: str = "INCREMENTAL",
) -> ModelResult:
    """Compare this run's fresh rows of one model with the table and apply the changes.

    ``rejected`` holds the run's rejected records (``sources.records``): their ids are
    kept out of the deletions, and their rows are marked with the reason. ``sync_type``
    (INITIAL, INCREMENTAL, FULL, WEBHOOK, ACTION) is written on every change event and
    changed row: where the change came from.

    One join of ids and hashes finds every change and gives each event its cursor
    (``_diff``: the ids that changed, with the stored row's rowid, the fresh hashes and
    the fresh values); the stored values are read after it only for the rows that
    changed. A table holding no rows of the connection needs no join: every record is
    added. ``timings`` gets ``compare`` (finding and describing the changes) and
    ``apply`` (writing them; ``history`` the part of it that keeps replaced versions).
    ``max_deletions`` bounds what a full listing deletes unless ``confirm_deletions``.
    """
    clock = time.perf_counter()
    result = ModelResult(model.name)
    target = f"{quote(integration)}.{quote(model.name)}"
    landing_cols = (
        [(n, t) for n, t in relation_columns(con, fresh) if n not in RESERVED]
        if fresh is not None
        else [("id", "VARCHAR")]
    )
    data_cols = ensure_record_table(con, integration, model.name, landing_cols)
    ensure_history(con, integration, model.name, data_cols)
    names = [n for n, _ in data_cols]
    stable = [n for n in names if n != "id" and n not in model.volatile_fields]
    volatile = [n for n in names if n in model.volatile_fields]
    ensure_row_hashes(con, integration, model.name, stable, volatile)
    types = dict(data_cols)
    version = model.version if model.version in types else None
    fresh_names = {n for n, _ in landing_cols}
    select_cols = ", ".join(
        f"CAST({quote(n)} AS {types[n]}) AS {quote(n)}"
        if n in fresh_names
        else f"CAST(NULL AS {types[n]}) AS {quote(n)}"
        for n in names
    )
    con.execute("DROP VIEW IF EXISTS _fresh")
    con.execute("DROP TABLE IF EXISTS _fresh_rows")
    this_run = f"SELECT * FROM {fresh} WHERE {quote(RUN_ID)} = {literal(run_id)}"
    if fresh is not None:
        con.execute(f"CREATE TEMP VIEW _fresh AS SELECT {select_cols} FROM ({this_run})")
        result.fetched = con.execute("SELECT count(*) FROM _fresh").fetchone()[0]  # type: ignore[index]
    else:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {quote(n)}" for n, t in data_cols)
        con.execute(f"CREATE TEMP VIEW _fresh AS SELECT {nulls} LIMIT 0")

    def keep_last_copies() -> None:
        newest = f"{quote(version)} DESC NULLS LAST, " if version is not None else ""
        last_fetched = (
            f" QUALIFY row_number() OVER (PARTITION BY id ORDER BY {newest}{quote(SEQ)} DESC) = 1"
        )
        con.execute(
            f"CREATE TEMP TABLE _fresh_rows AS SELECT {select_cols} FROM ({this_run}{last_fetched})"
        )
        con.execute("CREATE OR REPLACE TEMP VIEW _fresh AS SELECT * FROM _fresh_rows")

    # What every event of this run says besides its record, action and changes.
    events = (connection_id, integration, sync, model.name, run_id, now, sync_type)
    if fresh is not None and not _stored_rows(con, target, connection_id):
        if _repeats(con, among_changed=False):
            keep_last_copies()
        compared_at = time.perf_counter()
        _add_all(con, result, target, names, stable, volatile, events)
        result.unchanged = result.fetched - result.added
        result.rows_total = result.added
        _finish(con, timings, clock, compared_at)
        return result

    held = _rejected_ids(con, rejected, run_id, model.name)
    deletes_missing = full_listing
    if full_listing and result.fetched == 0 and not confirm_deletions:
        live = _live_rows(con, target, connection_id)
        if live > 0:
            deletes_missing = False
            _hold(
                result,
                live,
                f"the full listing returned no {model.name} where the table had {live}",
                integration,
                connection_id,
            )
    # A complete listing also finds the deletions: live rows the listing no longer has.
    join = "FULL JOIN" if deletes_missing else "LEFT JOIN"
    _build_diff(con, target, connection_id, stable, volatile, join, held, version)
    if fresh is not None and _repeats(con, among_changed=True):
        keep_last_copies()
        _build_diff(con, target, connection_id, stable, volatile, join, held, version)
    if deletes_missing and not confirm_deletions:
        missing = _count(con, f"SELECT count(*) FROM _diff WHERE {DIFF_ACTION} = 'DELETED'")
        live = _live_rows(con, target, connection_id) if missing else 0
        unnamed = _unnamed_rejections(con, rejected, run_id, model.name) if missing else 0
        why = None
        if max_deletions.holds(missing, live):
            why = (
                f"the full listing would delete {missing} of {live} live {model.name}, over "
                f"the limit ({max_deletions.describe()})"
            )
        elif unnamed:
            why = (
                f"the full listing rejected {unnamed} {model.name} that had no id, so the "
                f"{missing} it no longer lists may be among them"
            )
        if why is not None:
            _hold(result, missing, why, integration, connection_id)
            _build_diff(con, target, connection_id, stable, volatile, "LEFT JOIN", held, version)
    if tombstones is not None:
        # A deletion the provider dated before the stored version is older than that version.
        newer = (
            f" AND NOT coalesce(g.deleted_at < t.{quote(version)}, false)"
            if version is not None and "TIMESTAMP" in types[version].upper()
            else ""
        )
        con.execute(
            f"""
            INSERT INTO _diff (id, {DIFF_ROW}, {DIFF_IS_NEW}, {DIFF_ACTION}, {DIFF_GONE_AT},
                               {DIFF_CURSOR})
            SELECT id, row_id, false, 'DELETED', deleted_at, nextval('syncs.change_cursor')
            FROM (
                SELECT t.id, any_value(t.rowid) AS row_id, max(g.deleted_at) AS deleted_at
                FROM {tombstones} g
                JOIN {target} t ON t.connection_id = ? AND t.id = g.record_id
                WHERE g.{quote(RUN_ID)} = ? AND g.model = ? AND t._syncs_deleted_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM _diff d WHERE d.id = t.id)
                  AND NOT EXISTS (SELECT 1 FROM _fresh f WHERE f.id = t.id)
                  AND NOT {held}{newer}
                GROUP BY t.id
            )
            """,
            [connection_id, run_id, model.name],
        )
    counts = {
        (action, is_new): count
        for action, is_new, count in con.execute(
            f"SELECT {DIFF_ACTION}, {DIFF_IS_NEW}, count(*) FROM _diff GROUP BY 1, 2"
        ).fetchall()
    }
    replaces = any(action != "TOUCHED" and not is_new for action, is_new in counts)
    if replaces:
        _read_replaced(con, target)
    if any(action == "UPDATED" for action, _ in counts):
        _describe_updates(con, stable)
    compared_at = time.perf_counter()

    con.execute(
        f"""
        INSERT INTO syncs.change_events
            (cursor, connection_id, integration, sync, model, record_id, action, run_id,
             changed_fields, changes, occurred_at, sync_type)
        SELECT {DIFF_CURSOR}, ?, ?, ?, ?, id, {DIFF_ACTION}, ?, {DIFF_FIELDS}, {DIFF_CHANGES}, ?,
               ?
        FROM _diff WHERE {DIFF_CURSOR} IS NOT NULL ORDER BY {DIFF_CURSOR}
        """,
        list(events),
    )
    if replaces:
        kept_at = time.perf_counter()
        keep_replaced(
            con, integration=integration, model=model.name, names=names, rows=REPLACED, now=now
        )
        if timings is not None:
            timings["history"] = timings.get("history", 0.0) + time.perf_counter() - kept_at
    insert_cols = _insert_columns(names)
    fresh_values = ", ".join(f"d.{quote(n)}" for n in names)
    if counts.get(("ADDED", True)):
        con.execute(
            f"""
            INSERT INTO {target} ({insert_cols})
            SELECT ?, {fresh_values}, CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), 'ADDED',
                   CAST(NULL AS TIMESTAMPTZ), d.{DIFF_CURSOR}, ?, ?, d.{DIFF_HASH},
                   d.{DIFF_VOLATILE_HASH}
            FROM _diff d
            WHERE d.{DIFF_IS_NEW} AND d.{DIFF_ACTION} = 'ADDED'
            """,
            [connection_id, now, now, run_id, sync_type],
        )
    refreshed = sum(
        n for (action, is_new), n in counts.items() if action != "DELETED" and not is_new
    )
    if refreshed:

        def kept(column: str, value: str) -> str:
            """The new value for a row that changed, the stored one for a touched row."""
            return (
                f"CASE WHEN d.{DIFF_ACTION} IN ('ADDED', 'UPDATED') THEN {value} "
                f"ELSE o.{column} END"
            )

        con.execute(
            f"""
            INSERT INTO {target} ({insert_cols})
            SELECT ?, {fresh_values}, o._syncs_first_seen_at,
                   {kept("_syncs_last_modified_at", "CAST(? AS TIMESTAMPTZ)")},
                   {kept("_syncs_last_action", f"d.{DIFF_ACTION}")},
                   CAST(NULL AS TIMESTAMPTZ),
                   {kept("_syncs_cursor", f"d.{DIFF_CURSOR}")},
                   {kept("_syncs_run_id", "?")},
                   {kept("_syncs_sync_type", "?")},
                   d.{DIFF_HASH}, d.{DIFF_VOLATILE_HASH}
            FROM _diff d
            JOIN (
                SELECT id, {", ".join(n for n, _ in META_COLUMNS)}
                FROM {target} WHERE connection_id = ?
            ) o ON o.id = d.id
            WHERE NOT d.{DIFF_IS_NEW} AND d.{DIFF_ACTION} <> 'DELETED'
            """,
            [connection_id, now, run_id, sync_type, connection_id],
        )
        con.execute(
            f"""
            DELETE FROM {target} WHERE rowid IN (
                SELECT {DIFF_ROW} FROM _diff
                WHERE NOT {DIFF_IS_NEW} AND {DIFF_ACTION} <> 'DELETED'
            )
            """
        )
    if any(action == "DELETED" for action, _ in counts):
        con.execute(
            f"""
            UPDATE {target} SET
                _syncs_deleted_at = coalesce(d.{DIFF_GONE_AT}, CAST(? AS TIMESTAMPTZ)),
                _syncs_last_modified_at = CAST(? AS TIMESTAMPTZ),
                _syncs_last_action = 'DELETED',
                _syncs_cursor = d.{DIFF_CURSOR},
                _syncs_run_id = ?,
                _syncs_sync_type = ?
            FROM _diff d
            WHERE d.{DIFF_ACTION} = 'DELETED' AND {target}.connection_id = ?
              AND {target}.id = d.id
            """,
            [now, now, run_id, sync_type, connection_id],
        )

    for action, count, low, high in con.execute(
        f"SELECT {DIFF_ACTION}, count(*), min({DIFF_CURSOR}), max({DIFF_CURSOR}) "
        "FROM _diff GROUP BY 1"
    ).fetchall():
        if action == "ADDED":
            result.added = count
        elif action == "UPDATED":
            result.updated = count
        elif action == "DELETED":
            result.deleted = count
        if low is not None:
            result.first_cursor = (
                low if result.first_cursor is None else min(result.first_cursor, low)
            )
            result.last_cursor = (
                high if result.last_cursor is None else max(result.last_cursor, high)
            )
    result.unchanged = result.fetched - result.added - result.updated
    result.rows_total = _live_rows(con, target, connection_id)
    _mark_rejected(con, target, connection_id, held != "false", now)
    _finish(con, timings, clock, compared_at)
    return result


def _unnamed_rejections(
    con: duckdb.DuckDBPyConnection, rejected: str | None, run_id: str, model: str
) -> int:
    """How many of the model's records this run rejected without an id: a listing that held
    them cannot tell which stored records it did not list."""
    if rejected is None:
        return 0
    return _count(
        con,
        f"SELECT count(*) FROM {rejected} WHERE {quote(RUN_ID)} = ? AND model = ? "
        "AND record_id IS NULL",
        [run_id, model],
    )


def _rejected_ids(
    con: duckdb.DuckDBPyConnection, rejected: str | None, run_id: str, model: str
) -> str:
    """``_rejected``: the ids (and last reason) of the model's records this run rejected;
    the SQL that says whether a stored row ``t`` is one of them."""
    con.execute("DROP TABLE IF EXISTS _rejected")
    if rejected is None:
        return "false"
    con.execute(
        f"""
        CREATE TEMP TABLE _rejected AS
        SELECT record_id AS id, arg_max(reason, {quote(SEQ)}) AS reason
        FROM {rejected}
        WHERE {quote(RUN_ID)} = ? AND model = ? AND record_id IS NOT NULL
        GROUP BY record_id
        """,
        [run_id, model],
    )
    row = con.execute("SELECT count(*) FROM _rejected").fetchone()
    if not (row and row[0]):
        return "false"
    return "t.id IN (SELECT id FROM _rejected)"


def _mark_rejected(
    con: duckdb.DuckDBPyConnection,
    target: str,
    connection_id: str,
    any_rejected: bool,
    now: datetime,
) -> None:
    """Clear the mark of rows a good version of arrived for (a new row starts without
    one, an unchanged one is cleared here), and mark the rows of the records this run
    rejected without a good version, keeping when they were first rejected."""
    marked = con.execute(
        f"SELECT count(*) FROM {target} WHERE connection_id = ? AND {REJECTED_REASON} IS NOT NULL",
        [connection_id],
    ).fetchone()
    if marked and marked[0]:
        con.execute(
            f"""
            UPDATE {target} SET {REJECTED_REASON} = NULL, {REJECTED_AT} = NULL
            WHERE connection_id = ? AND {REJECTED_REASON} IS NOT NULL
              AND id IN (SELECT id FROM _fresh)
            """,
            [connection_id],
        )
    if any_rejected:
        con.execute(
            f"""
            UPDATE {target}
            SET {REJECTED_REASON} = r.reason,
                {REJECTED_AT} = coalesce({target}.{REJECTED_AT}, CAST(? AS TIMESTAMPTZ))
            FROM _rejected r
            WHERE {target}.connection_id = ? AND {target}.id = r.id
              AND r.id NOT IN (SELECT id FROM _fresh)
            """,
            [now, connection_id],
        )


def _add_all(
    con: duckdb.DuckDBPyConnection,
    result: ModelResult,
    target: str,
    names: list[str],
    stable: list[str],
    volatile: list[str],
    events: tuple[str, str, str, str, str, datetime, str],
) -> None:
    """Into a table holding no rows of the connection every record is new: the rows are
    written as they are read, each taking its event's cursor, and the events are read back
    from them. No join, and no ``_diff`` of a million ids (0.9 s of a 1M initial run).
    ``events``: connection, integration, sync, model, run id, time and sync type of the
    events.

    The rows are written in no particular order: kept in the order they were fetched,
    DuckDB writes them on one thread (5.5 s instead of 2 s for 1M rows). The events are
    still written in the order of their cursors."""
    connection_id, _, _, _, run_id, now, sync_type = events
    insert_cols = _insert_columns(names)
    ordered = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(
            f"""
            INSERT INTO {target} ({insert_cols})
            SELECT ?, {", ".join(f"f.{quote(n)}" for n in names)},
                   CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), 'ADDED',
                   CAST(NULL AS TIMESTAMPTZ), nextval('syncs.change_cursor'), ?, ?,
                   {hashed(stable, "f")}, {hashed(volatile, "f")}
            FROM _fresh f
            """,
            [connection_id, now, now, run_id, sync_type],
        )
    finally:
        con.execute(f"SET preserve_insertion_order = {bool(ordered and ordered[0])}")
    con.execute(
        f"""
        INSERT INTO syncs.change_events
            (cursor, connection_id, integration, sync, model, record_id, action, run_id,
             changed_fields, changes, occurred_at, sync_type)
        SELECT _syncs_cursor, ?, ?, ?, ?, id, 'ADDED', ?, NULL, NULL, ?, ?
        FROM {target} WHERE connection_id = ? ORDER BY _syncs_cursor
        """,
        [*events, connection_id],
    )
    added, first, last = con.execute(
        f"SELECT count(*), min(_syncs_cursor), max(_syncs_cursor) FROM {target} "
        "WHERE connection_id = ?",
        [connection_id],
    ).fetchone()  # type: ignore[misc]
    result.added, result.first_cursor, result.last_cursor = added, first, last


def _insert_columns(names: list[str]) -> str:
    """A record table's columns in the order its inserts list them."""
    return ", ".join(
        ["connection_id", *map(quote, names), *(n for n, _ in META_COLUMNS + HASH_COLUMNS)]
    )


def _finish(
    con: duckdb.DuckDBPyConnection,
    timings: dict[str, float] | None,
    clock: float,
    compared_at: float,
) -> None:
    con.execute("DROP VIEW IF EXISTS _fresh")
    for temp in ("_fresh_rows", "_diff", "_rejected", REPLACED):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    if timings is not None:
        timings["compare"] = timings.get("compare", 0.0) + compared_at - clock
        timings["apply"] = timings.get("apply", 0.0) + time.perf_counter() - compared_at


REPLACED = "_replaced"


def _read_replaced(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """``_replaced``: the stored rows this run's events replace or mark deleted, read in one
    pass of the table, for describing the updates and keeping the past versions."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {REPLACED} AS
        SELECT * FROM {target} WHERE rowid IN (
            SELECT {DIFF_ROW} FROM _diff WHERE {DIFF_CURSOR} IS NOT NULL AND NOT {DIFF_IS_NEW}
        )
        """
    )


def _describe_updates(con: duckdb.DuckDBPyConnection, stable: list[str]) -> None:
    """The names of the columns each UPDATED row changed, with their old and new values
    (the old ones in ``_replaced``, the new ones carried in ``_diff``)."""

    changes = (
        "list_filter(["
        + ", ".join(
            f"CASE WHEN f.{quote(n)} IS DISTINCT FROM t.{quote(n)} THEN "
            f"{{'field': '{n}', 'old': CAST(t.{quote(n)} AS VARCHAR), "
            f"'new': CAST(f.{quote(n)} AS VARCHAR)}} END"
            for n in stable
        )
        + "], x -> x IS NOT NULL)"
    )
    con.execute(
        f"""
        UPDATE _diff SET {DIFF_FIELDS} = list_transform(c.changes, x -> x.field),
                         {DIFF_CHANGES} = to_json(c.changes)
        FROM (
            SELECT f.id, {changes} AS changes
            FROM _diff f JOIN {REPLACED} t ON t.id = f.id
            WHERE f.{DIFF_ACTION} = 'UPDATED'
        ) c
        WHERE _diff.id = c.id
        """
    )


def _hold(result: ModelResult, count: int, why: str, integration: str, connection_id: str) -> None:
    result.suspicious = True
    result.deletions_held = count
    result.note = (
        f"{why}; {count} deletions held: if the records are gone, confirm with "
        f"`syncs run {integration} {connection_id} --full-refresh --confirm-deletions`"
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[str] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row else 0


def _stored_rows(con: duckdb.DuckDBPyConnection, target: str, connection_id: str) -> int:
    row = con.execute(
        f"SELECT count(*) FROM {target} WHERE connection_id = ?", [connection_id]
    ).fetchone()
    return int(row[0]) if row else 0


def _live_rows(con: duckdb.DuckDBPyConnection, target: str, connection_id: str) -> int:
    row = con.execute(
        f"SELECT count(*) FROM {target} WHERE connection_id = ? AND _syncs_deleted_at IS NULL",
        [connection_id],
    ).fetchone()
    return int(row[0]) if row else 0
