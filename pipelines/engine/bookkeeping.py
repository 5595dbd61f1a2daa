"""A run's own rows in the warehouse: the run, its models, its requests, its rejected records."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pyarrow as pa

from pipelines.engine.results import SyncResult
from pipelines.engine.warehouse import quote
from sources.http import RequestLog, RequestRecord
from sources.records import RUN_ID

REQUEST_COLUMNS = [f.name for f in fields(RequestRecord)]


def store_rejected(con: Any, result: SyncResult, rejected: str | None) -> None:
    """The run's rejected records, and their count per model on the result."""
    for model in result.models.values():
        model.rejected = 0
    if rejected is None:
        return
    con.execute(
        f"""
        INSERT INTO syncs.rejected_records
        SELECT ?, ?, ?, model, record_id, reason, payload, ?
        FROM {rejected} WHERE {quote(RUN_ID)} = ?
        """,
        [
            result.run_id,
            result.connection_id,
            result.integration,
            result.finished_at,
            result.run_id,
        ],
    )
    for model, count in con.execute(
        f"SELECT model, count(*) FROM {rejected} WHERE {quote(RUN_ID)} = ? GROUP BY 1",
        [result.run_id],
    ).fetchall():
        if model in result.models:
            result.models[model].rejected = count


def store_requests(con: Any, result: SyncResult, log: RequestLog) -> None:
    if not log.records:
        return
    table = pa.table({name: [getattr(r, name) for r in log.records] for name in REQUEST_COLUMNS})
    con.register("_requests", table)
    try:
        con.execute(
            """
            INSERT INTO syncs.api_requests
            SELECT ?, ?, ?, method, url, status, duration_ms, attempt, waited_ms, error,
                   requested_at
            FROM _requests
            """,
            [result.run_id, result.connection_id, result.integration],
        )
    finally:
        con.unregister("_requests")


def store_run(con: Any, result: SyncResult) -> None:
    cursors = [c for m in result.models.values() for c in (m.first_cursor, m.last_cursor) if c]
    con.execute(
        """
        INSERT INTO syncs.sync_runs (run_id, connection_id, integration, sync, mode,
            sync_type, started_at, finished_at, status, suspicious, note, added, updated,
            deleted, unchanged, rejected, api_requests, first_cursor, last_cursor,
            error_type, error, deletions_held)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            result.run_id,
            result.connection_id,
            result.integration,
            result.sync,
            result.mode,
            result.sync_type,
            result.started_at,
            result.finished_at,
            result.status,
            result.suspicious,
            result.note,
            result.total("added"),
            result.total("updated"),
            result.total("deleted"),
            result.total("unchanged"),
            result.total("rejected"),
            result.api_requests,
            min(cursors) if cursors else None,
            max(cursors) if cursors else None,
            result.error_type,
            result.error,
            result.total("deletions_held"),
        ],
    )
    if not result.models:
        return
    con.executemany(
        """
        INSERT INTO syncs.sync_run_models (run_id, connection_id, integration, model,
            added, updated, deleted, unchanged, rejected, fetched, rows_total,
            suspicious, first_cursor, last_cursor, deletions_held, note)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            [
                result.run_id,
                result.connection_id,
                result.integration,
                m.model,
                m.added,
                m.updated,
                m.deleted,
                m.unchanged,
                m.rejected,
                m.fetched,
                m.rows_total,
                m.suspicious,
                m.first_cursor,
                m.last_cursor,
                m.deletions_held,
                m.note,
            ]
            for m in result.models.values()
        ],
    )
