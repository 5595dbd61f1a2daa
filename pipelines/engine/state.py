"""What a connection's runs hand on to the next: cursors and the records due again.

Both are read before the run (briefly, read-only) and written inside the run's compare
transaction, so they move with the change events or not at all.

* ``syncs.sync_state``: per (connection, sync, model) its cursor, as readable JSON
  (``sources.cursors``). A timestamp cursor moves to the newest value of its declared field
  among the records the run landed, taken here in SQL (per key for a keyed cursor), with
  what the extract saw but did not land; a token cursor to what the extract set.
* ``syncs.due_records``: the ids whose last fetched version was rejected. The next run
  reads them again by id (the integration's ``fetch``), so a cursor that moved past a
  rejected record loses nothing; an id leaves the table when a good version lands, the API
  says it is gone, or a full listing did not reject it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from pipelines.engine.warehouse import literal, quote, read_connection, table_exists
from pipelines.home import Home
from sources.cursors import SAFETY_MARGIN, CursorSpec, ModelCursor
from sources.records import RUN_ID, SEQ
from sources.spec import ModelSpec, RecordRef

# Due records read again per model and run; the rest wait for a later run (the ones
# waiting longest first) or the next full listing.
DUE_PER_RUN = 1000


@dataclass
class RunState:
    """The stored JSON cursor per model, and the records due again per model."""

    cursors: dict[str, Any] = field(default_factory=dict)
    due: dict[str, list[RecordRef]] = field(default_factory=dict)


def read_state(
    home: Home,
    connection_id: str,
    sync: str,
    reading: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection | None]] | None = None,
) -> RunState:
    """``reading``: where to read from (the process's writer, when it holds the warehouse
    open); a brief read-only connection otherwise."""
    with (reading or (lambda: read_connection(home)))() as con:
        return RunState() if con is None else read_state_from(con, connection_id, sync)


def read_state_from(con: duckdb.DuckDBPyConnection, connection_id: str, sync: str) -> RunState:
    """``read_state`` through a connection the caller holds (the writer's, say)."""
    state = RunState()
    if table_exists(con, "syncs", "sync_state"):
        rows = con.execute(
            "SELECT model, cursor FROM syncs.sync_state WHERE connection_id = ? AND sync = ?",
            [connection_id, sync],
        ).fetchall()
        state.cursors = {model: json.loads(c) if c else None for model, c in rows}
    if table_exists(con, "syncs", "due_records"):
        due = con.execute(
            """
            SELECT model, record_id, locator FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY model ORDER BY last_rejected_at, record_id) AS n
                FROM syncs.due_records WHERE connection_id = ? AND sync = ?
            ) WHERE n <= ? ORDER BY model, n
            """,
            [connection_id, sync, DUE_PER_RUN],
        ).fetchall()
        for model, record_id, locator in due:
            state.due.setdefault(model, []).append(
                RecordRef(record_id, json.loads(locator) if locator else {})
            )
    return state


def store_cursors(
    con: duckdb.DuckDBPyConnection,
    *,
    connection_id: str,
    integration: str,
    sync: str,
    run_id: str,
    cursors: Mapping[str, ModelCursor],
    landed: Mapping[str, str | None],
    started: datetime,
    now: datetime,
) -> None:
    """Each model's next cursor, from what the run landed (``landed``: its relation per
    model) and what the extract recorded; never later than the run's start less the
    safety margin."""
    ceiling = started - SAFETY_MARGIN
    for model, cursor in cursors.items():
        owner = cursor.leader or cursor
        newest = _newest(con, owner.spec, landed.get(owner.model), run_id)
        stored = cursor.next_stored(newest, ceiling)
        con.execute(
            """
            INSERT INTO syncs.sync_state
                (connection_id, integration, sync, model, cursor, last_run_id, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (connection_id, sync, model) DO UPDATE SET
                cursor = coalesce(excluded.cursor, sync_state.cursor),
                last_run_id = excluded.last_run_id, updated_at = excluded.updated_at
            """,
            [
                connection_id,
                integration,
                sync,
                model,
                None if stored is None else json.dumps(stored),
                run_id,
                now,
            ],
        )


def _newest(
    con: duckdb.DuckDBPyConnection, spec: CursorSpec, relation: str | None, run_id: str
) -> dict[str | None, datetime | None]:
    """The newest value of a timestamp cursor's field among the run's landed records, per
    key (None for an unkeyed cursor)."""
    if spec.kind != "timestamp" or spec.field is None or relation is None:
        return {}
    if spec.key is None:
        slot = "NULL"
    elif spec.key_ignores_case:
        slot = f"lower(CAST({quote(spec.key)} AS VARCHAR))"
    else:
        slot = f"CAST({quote(spec.key)} AS VARCHAR)"
    rows = con.execute(
        f"SELECT {slot}, max(CAST({quote(spec.field)} AS TIMESTAMPTZ)) FROM {relation} "
        f"WHERE {quote(RUN_ID)} = ? GROUP BY 1",
        [run_id],
    ).fetchall()
    return {k: None if at is None else at.astimezone(UTC) for k, at in rows}


def store_due(
    con: duckdb.DuckDBPyConnection,
    *,
    connection_id: str,
    integration: str,
    sync: str,
    model: ModelSpec,
    run_id: str,
    fresh: str | None,
    tombstones: str | None,
    rejected: str | None,
    full_listing: bool,
    now: datetime,
) -> None:
    """Settle the model's due records and add the ones this run rejected.

    A due id is settled when a good version of it landed, the API said it is gone, or the
    run listed the model whole (a record still there and still invalid is rejected again).
    """
    where = "connection_id = ? AND model = ?"
    params: list[Any] = [connection_id, model.name]
    row = con.execute(f"SELECT count(*) FROM syncs.due_records WHERE {where}", params).fetchone()
    if row and row[0]:
        if full_listing:
            con.execute(f"DELETE FROM syncs.due_records WHERE {where}", params)
        else:
            for relation, column, extra in (
                (fresh, "id", ""),
                (tombstones, "record_id", f" AND model = {literal(model.name)}"),
            ):
                if relation is None:
                    continue
                con.execute(
                    f"DELETE FROM syncs.due_records WHERE {where} AND record_id IN ("
                    f"SELECT CAST({column} AS VARCHAR) FROM {relation} "
                    f"WHERE {quote(RUN_ID)} = ?{extra})",
                    [*params, run_id],
                )
    if rejected is None:
        return
    locator = (
        "json_object("
        + ", ".join(
            f"{literal(n)}, json_extract(payload, {literal('$.' + n)})" for n in model.locator
        )
        + ")"
        if model.locator
        else "NULL"
    )
    this_run = (
        f"SELECT * FROM {rejected} "
        f"WHERE {quote(RUN_ID)} = ? AND model = ? AND record_id IS NOT NULL"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _due AS
        SELECT record_id, arg_max(reason, {quote(SEQ)}) AS reason,
               arg_max({locator}, {quote(SEQ)}) AS locator
        FROM ({this_run}) GROUP BY record_id
        """,
        [run_id, model.name],
    )
    con.execute(
        f"""
        INSERT INTO syncs.due_records
        SELECT ?, ?, ?, ?, n.record_id, n.locator, n.reason,
               coalesce(o.first_rejected_at, CAST(? AS TIMESTAMPTZ)), CAST(? AS TIMESTAMPTZ), ?
        FROM _due n
        LEFT JOIN (SELECT record_id, first_rejected_at FROM syncs.due_records WHERE {where}) o
          ON o.record_id = n.record_id
        """,
        [connection_id, integration, sync, model.name, now, now, run_id, *params],
    )
    con.execute(
        f"DELETE FROM syncs.due_records WHERE {where} AND last_run_id <> ? "
        "AND record_id IN (SELECT record_id FROM _due)",
        [*params, run_id],
    )
    con.execute("DROP TABLE _due")
