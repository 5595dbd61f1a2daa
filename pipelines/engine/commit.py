"""One run's transaction: the rows it landed compared with the tables, committed with its
bookkeeping.

The same for every way records arrive — a poll's listing (the Parquet files dlt landed),
a provider's webhook or an action's answer (Arrow tables, ``pipelines.engine.apply``) — so change events, record
metadata, the records due again, cursors and the run's rows are written one way, in one
transaction: they commit together or not at all.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pipelines.engine.bookkeeping import store_rejected, store_requests, store_run
from pipelines.engine.compare import apply_snapshot
from pipelines.engine.results import SyncResult
from pipelines.engine.state import store_cursors, store_due
from pipelines.engine.warehouse import quote
from sources.cursors import ModelCursor
from sources.http import RequestLog
from sources.spec import DeletionLimit, IntegrationSpec, SyncSpec


@dataclass(frozen=True)
class Landed:
    """Where DuckDB reads what a run brought: per model, tombstones and rejected records
    (each a relation, or ``None`` when the run brought none)."""

    models: Mapping[str, str | None]
    tombstones: str | None = None
    rejected: str | None = None


@dataclass
class Commit:
    """Everything one run's transaction writes."""

    spec: IntegrationSpec
    sync: SyncSpec
    result: SyncResult
    landed: Landed
    full_listing: Mapping[str, bool]
    request_log: RequestLog
    max_deletions: DeletionLimit
    confirm_deletions: bool = False
    cursors: Mapping[str, ModelCursor] | None = None
    drop_schema: str | None = None


def commit(con: duckdb.DuckDBPyConnection, job: Commit) -> None:
    """Compare and write everything ``job`` brought, in one transaction of ``con``.

    A failed statement may have ended the transaction already (DuckDB then answers
    ROLLBACK with "no transaction is active"): the error raised is what failed, never the
    cleanup after it."""
    result, spec, sync, landed = job.result, job.spec, job.sync, job.landed
    clock = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        if job.drop_schema is not None:
            con.execute(f"DROP SCHEMA IF EXISTS {quote(job.drop_schema)} CASCADE")
        now = datetime.now(UTC)
        for model_name in sync.models:
            model = spec.model(model_name)
            fresh = landed.models.get(model_name)
            full_listing = job.full_listing.get(model_name, False)
            result.models[model_name] = apply_snapshot(
                con,
                integration=spec.name,
                sync=sync.name,
                model=model,
                connection_id=result.connection_id,
                run_id=result.run_id,
                fresh=fresh,
                tombstones=landed.tombstones,
                full_listing=full_listing,
                now=now,
                timings=result.timings,
                max_deletions=job.max_deletions,
                confirm_deletions=job.confirm_deletions,
                rejected=landed.rejected,
                sync_type=result.sync_type,
            )
            result.models[model_name].table_rows = _live_rows(con, spec.name, model_name)
            store_due(
                con,
                connection_id=result.connection_id,
                integration=spec.name,
                sync=sync.name,
                model=model,
                run_id=result.run_id,
                fresh=fresh,
                tombstones=landed.tombstones,
                rejected=landed.rejected,
                full_listing=full_listing,
                now=now,
            )
        store_rejected(con, result, landed.rejected)
        if job.cursors is not None:
            store_cursors(
                con,
                connection_id=result.connection_id,
                integration=spec.name,
                sync=sync.name,
                run_id=result.run_id,
                cursors=job.cursors,
                landed=dict(landed.models),
                started=result.started_at,
                now=now,
            )
        result.finished_at = datetime.now(UTC)
        result.api_requests = len(job.request_log)
        store_requests(con, result, job.request_log)
        store_run(con, result)
        result.timings["bookkeeping"] = (
            time.perf_counter()
            - clock
            - result.timings.get("compare", 0.0)
            - result.timings.get("apply", 0.0)
        )
        clock = time.perf_counter()
        con.execute("COMMIT")
        result.timings["commit"] = time.perf_counter() - clock
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def _live_rows(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    """Live rows of a record table, every connection's: what Dagster shows as its row count."""
    row = con.execute(
        f"SELECT count(*) FROM {quote(schema)}.{quote(table)} WHERE _syncs_deleted_at IS NULL"
    ).fetchone()
    return int(row[0]) if row else 0
