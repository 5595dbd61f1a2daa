"""Run one sync for one connection: extract with dlt, load, compare, commit.

0. The run takes its lock (``pipelines.engine.run_lock``): one run per connection and sync
   at a time, whatever process started it; a second one is refused at once.
1. The connection's config is validated and its credentials decrypted.
2. The cursors and the records due again are read (``pipelines.engine.state``; briefly,
   read-only), and each model's cursor is opened as its declaration says.
3. dlt extracts page by page and normalizes to Parquet, holding no warehouse lock.
4. Under the exclusive warehouse lock, dlt loads the run's rows as Parquet files to the
   connection's landing folder (``pipelines.engine.landing``), and one transaction reads them in
   place, compares them with the record tables, writes change events, record metadata,
   rejected records and the ids due again, the request log, the run's row and the new
   cursors. A failure anywhere before the commit leaves data, cursor and snapshot as they
   were; the next run starts over from the last good cursor.

Every run that starts is recorded: a failure at any step above, the lock included, still
writes the run's row (status failed, the error) and goes to ``on_result``, so the app gets
its failure webhook. The error reported is what failed, never a cleanup that failed after
it, and running out of disk is reported as that (``pipelines.engine.disk``).

The cursor is ours, not dlt's incremental state: dlt stores its state when the load
succeeds, before our compare, so a run killed in between would move the cursor past
changes that were never compared. Keeping it in the same transaction as the compare
makes that impossible.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import dlt
import duckdb
import pyarrow as pa
from dlt.common.storages import LoadStorage, LoadStorageConfiguration

from pipelines.engine.compare import apply_snapshot
from pipelines.engine.disk import out_of_disk
from pipelines.engine.landing import Landing, destination, landing_dataset, legacy_names, run_name
from pipelines.engine.results import SyncResult
from pipelines.engine.run_lock import RunLock
from pipelines.engine.state import read_state, store_cursors, store_due
from pipelines.engine.warehouse import (
    ensure_platform_tables,
    open_duckdb,
    quote,
    table_exists,
    warehouse_lock,
    write_connection,
)
from pipelines.home import Home
from pipelines.store.connections import Connection, Connections
from sources.cursors import open_cursors
from sources.errors import ConfigError, SyncsError, WarehouseBusyError
from sources.http import RequestLog, RequestRecord
from sources.records import REJECTED_TABLE, RUN_ID, TOMBSTONES_TABLE
from sources.source import build_source
from sources.spec import ExtractContext, IntegrationSpec, Progress, SyncMode, SyncSpec

REQUEST_COLUMNS = [f.name for f in fields(RequestRecord)]
log = logging.getLogger(__name__)


class SyncFailed(SyncsError):
    def __init__(self, result: SyncResult, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.result = result
        self.cause = cause
        self.retryable = bool(getattr(cause, "retryable", False))


def pipeline_name(integration: str, connection_id: str, sync: str) -> str:
    return run_name(integration, connection_id, sync)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def drop_loaded_packages(pipeline: dlt.Pipeline) -> None:
    """Delete the files of the packages dlt has loaded; the committed compare consumed them.

    dlt keeps every loaded package under the pipeline's folder, which would grow by a copy
    of each run's rows (70 MB for a million contacts) for as long as the connection syncs.
    """
    storage = LoadStorage(
        False,
        [],
        LoadStorageConfiguration(load_volume_path=os.path.join(pipeline.working_dir, "load")),
    )
    for load_id in storage.list_loaded_packages():
        storage.loaded_packages.delete_package(load_id, not_exists_ok=True)


def _root_cause(error: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SyncsError):
            return current
        nested = getattr(current, "exception", None)
        current = (
            nested
            if isinstance(nested, BaseException)
            else current.__cause__ or current.__context__
        )
    return error


class SyncRunner:
    """Runs syncs for connections stored under one ``SYNCS_HOME``.

    A run's ``SyncResult`` is built here only, and leaves by one way: returned (or carried
    by ``SyncFailed``) after ``on_result`` has seen it, which is where the caller hangs the
    step that follows every run (``pipelines.runs`` hangs the app's notifications there).
    """

    def __init__(
        self,
        home: Home | None = None,
        *,
        on_result: Callable[[SyncResult], None] | None = None,
    ) -> None:
        self.home = home or Home.from_env()
        self.connections = Connections(self.home)
        self.on_result = on_result

    def run(
        self,
        connection_id: str,
        *,
        sync: str | None = None,
        mode: SyncMode = "incremental",
        progress: Progress | None = None,
        confirm_deletions: bool = False,
    ) -> list[SyncResult]:
        """Every sync of the connection (or the one named), one after the other."""
        connection = self.connections.get(connection_id)
        spec = connection.spec
        if sync is not None and sync not in spec.syncs:
            raise ConfigError(
                f"{spec.name} has no sync {sync!r}; its syncs: {', '.join(spec.syncs)}"
            )
        names = [sync] if sync else list(spec.syncs)
        return [
            self.run_one(
                connection,
                spec.syncs[name],
                mode=mode,
                progress=progress,
                confirm_deletions=confirm_deletions,
            )
            for name in names
        ]

    def run_one(
        self,
        connection: Connection,
        sync: SyncSpec,
        *,
        mode: SyncMode = "incremental",
        progress: Progress | None = None,
        confirm_deletions: bool = False,
        lock: RunLock | None = None,
    ) -> SyncResult:
        """One run of one sync. A run that starts is always recorded: a failure anywhere —
        the run's lock, the config, the credentials, the cursors included — gives a failed
        row in ``syncs.sync_runs`` (when the warehouse can take it) and goes through
        ``on_result`` before ``SyncFailed`` is raised.

        ``confirm_deletions`` applies every deletion a full listing infers, past the
        connection's or the sync's limit. ``lock`` is the run's lock when the caller took it
        already (the API trigger does, to refuse a busy connection at once); else it is
        taken here, and a run of the same connection and sync going on refuses this one.
        """
        started = datetime.now(UTC)
        result = SyncResult(
            run_id=new_run_id(),
            connection_id=connection.connection_id,
            integration=connection.integration,
            sync=sync.name,
            mode=mode,
            sync_type="FULL" if mode == "full" else "INCREMENTAL",
            status="success",
            started_at=started,
            finished_at=started,
        )
        run_id = result.run_id
        request_log = RequestLog()
        run_lock = lock or RunLock(
            self.home, connection.integration, connection.connection_id, sync.name
        )
        try:
            run_lock.acquire()
            spec = connection.spec
            config = connection.validated_config()
            credentials = self.connections.credentials(connection)
            state = read_state(self.home, connection.connection_id, sync.name)
            result.sync_type = (
                "INITIAL" if not state.cursors else "FULL" if mode == "full" else "INCREMENTAL"
            )
            ctx = ExtractContext(
                connection_id=connection.connection_id,
                sync=sync,
                mode=mode,
                config=config,
                credentials=credentials,
                request_log=request_log,
                cursors=open_cursors(spec, sync, mode, config, state.cursors),
                on_credentials=lambda updates: self.connections.save_credentials(
                    connection.connection_id, updates
                ),
            )
            dataset = landing_dataset(spec.name, connection.connection_id, sync.name)
            landing = Landing(self.home, dataset)
            pipeline = dlt.pipeline(
                pipeline_name=pipeline_name(spec.name, connection.connection_id, sync.name),
                pipelines_dir=str(self.home.dlt_dir),
                destination=destination(self.home),
                dataset_name=dataset,
            )
            pipeline.config.restore_from_destination = False
            pipeline.abort_packages()
            source = build_source(spec, ctx, run_id, progress, state.due)
            clock = time.perf_counter()
            pipeline.extract(source, loader_file_format="parquet")
            result.timings["extract"] = time.perf_counter() - clock
            clock = time.perf_counter()
            pipeline.normalize()
            result.timings["normalize"] = time.perf_counter() - clock
            clock = time.perf_counter()
            with warehouse_lock(self.home, exclusive=True):
                result.timings["lock_wait"] = time.perf_counter() - clock
                clock = time.perf_counter()
                landing.drop()
                pipeline.load()
                result.timings["load"] = time.perf_counter() - clock
                clock = time.perf_counter()
                con = open_duckdb(self.home, read_only=False)
                in_transaction = False
                try:
                    ensure_platform_tables(con)
                    con.execute("BEGIN TRANSACTION")
                    in_transaction = True
                    # Warehouses from before the landing moved out kept it as a schema.
                    legacy = legacy_names(spec.name, connection.connection_id, sync.name)[1]
                    con.execute(f"DROP SCHEMA IF EXISTS {quote(legacy)} CASCADE")
                    now = datetime.now(UTC)
                    rejected = landing.relation(REJECTED_TABLE)
                    tombstones = landing.relation(TOMBSTONES_TABLE)
                    for model_name in sync.models:
                        model = spec.model(model_name)
                        fresh = landing.relation(model_name)
                        full_listing = ctx.cursor(model_name).full_listing
                        result.models[model_name] = apply_snapshot(
                            con,
                            integration=spec.name,
                            sync=sync.name,
                            model=model,
                            connection_id=connection.connection_id,
                            run_id=run_id,
                            fresh=fresh,
                            tombstones=tombstones,
                            full_listing=full_listing,
                            now=now,
                            timings=result.timings,
                            max_deletions=connection.max_deletions or sync.max_deletions,
                            confirm_deletions=confirm_deletions,
                            rejected=rejected,
                        )
                        store_due(
                            con,
                            connection_id=connection.connection_id,
                            integration=spec.name,
                            sync=sync.name,
                            model=model,
                            run_id=run_id,
                            fresh=fresh,
                            tombstones=tombstones,
                            rejected=rejected,
                            full_listing=full_listing,
                            now=now,
                        )
                    result.timings["bookkeeping"] = (
                        time.perf_counter()
                        - clock
                        - result.timings.get("compare", 0.0)
                        - result.timings.get("apply", 0.0)
                    )
                    self._store_rejected(con, result, landing)
                    store_cursors(
                        con,
                        connection_id=connection.connection_id,
                        integration=spec.name,
                        sync=sync.name,
                        run_id=run_id,
                        cursors=ctx.cursors,
                        landed={m: landing.relation(m) for m in sync.models},
                        started=started,
                        now=now,
                    )
                    result.finished_at = datetime.now(UTC)
                    result.api_requests = len(request_log)
                    self._store_requests(con, result, request_log)
                    self._store_run(con, result)
                    con.execute("COMMIT")
                except BaseException:
                    # A failed statement may have ended the transaction (DuckDB then
                    # answers ROLLBACK with "no transaction is active"): the error to
                    # report is what failed, not the cleanup after it.
                    if in_transaction:
                        with contextlib.suppress(duckdb.Error):
                            con.execute("ROLLBACK")
                    raise
                finally:
                    with contextlib.suppress(duckdb.Error):
                        con.close()
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt | SystemExit):
                _release(run_lock, lock)
                raise
            failure = self._failed(result, error, request_log)
            _release(run_lock, lock)
            raise failure from None
        _clean_up(pipeline, landing)
        _release(run_lock, lock)
        try:
            self._finished(result)
        except Exception as error:
            # Committed already; ``syncs webhooks dispatch`` writes the messages of recorded
            # runs that have none.
            log.warning(
                "run %s committed, but its notifications could not be written (%s); "
                "`syncs webhooks dispatch` writes them from syncs.sync_runs",
                result.run_id,
                _describe(error, self.home),
            )
        return result

    def _failed(self, result: SyncResult, error: BaseException, log: RequestLog) -> SyncFailed:
        """Record the failed run and announce it; the error to raise.

        Out of disk is reported as such whatever ran into it. When the warehouse cannot
        take the run's row (it may be what failed), the failure webhook still goes out
        and says so (``recorded``)."""
        cause = out_of_disk(error, self.home) or _root_cause(error)
        result.status = "failed"
        result.models = {}
        result.finished_at = datetime.now(UTC)
        result.api_requests = len(log)
        result.error_type = type(cause).__name__
        result.error = str(cause)
        unrecorded = self._record_failure(result, log, cause)
        if unrecorded is not None:
            result.recorded = False
            result.error += f" (the failure could not be recorded in syncs.sync_runs: {unrecorded})"
        try:
            self._finished(result)
        except Exception as notify_error:
            result.error += (
                f" (its failure webhook could not be written: {_describe(notify_error, self.home)})"
            )
        return SyncFailed(result, cause)

    def _finished(self, result: SyncResult) -> None:
        if self.on_result is not None:
            self.on_result(result)

    def _store_rejected(self, con: Any, result: SyncResult, landing: Landing) -> None:
        for model in result.models.values():
            model.rejected = 0
        rejected = landing.relation(REJECTED_TABLE)
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

    def _store_requests(self, con: Any, result: SyncResult, log: RequestLog) -> None:
        if not log.records:
            return
        table = pa.table(
            {name: [getattr(r, name) for r in log.records] for name in REQUEST_COLUMNS}
        )
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

    def _store_run(self, con: Any, result: SyncResult) -> None:
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
        for m in result.models.values():
            con.execute(
                """
                INSERT INTO syncs.sync_run_models (run_id, connection_id, integration, model,
                    added, updated, deleted, unchanged, rejected, fetched, rows_total,
                    suspicious, first_cursor, last_cursor, deletions_held, note)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
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
                ],
            )

    def _record_failure(
        self, result: SyncResult, log: RequestLog, cause: BaseException
    ) -> str | None:
        """Keep the failed run and its requests; why not, when the warehouse refused.

        Never raises: the original error is what the caller reports. After a warehouse
        held too long, the row is tried once, without waiting again."""
        wait = 0.0 if isinstance(cause, WarehouseBusyError) else None
        committed = False
        try:
            with write_connection(self.home, wait=wait) as con:
                con.execute("BEGIN TRANSACTION")
                self._store_requests(con, result, log)
                self._store_run(con, result)
                con.execute("COMMIT")
                committed = True
        except Exception as error:
            if not committed:
                return _describe(error, self.home)
        return None


def _release(run_lock: RunLock, handed_in: RunLock | None) -> None:
    """Let the run's lock go, unless the caller took it (and lets it go itself)."""
    if handed_in is None:
        run_lock.release()


def _clean_up(pipeline: dlt.Pipeline, landing: Landing) -> None:
    """Drop a committed run's files. Failing to is no failure of the run: the next run
    drops them again."""
    try:
        drop_loaded_packages(pipeline)
    except Exception as error:
        log.warning("could not drop the loaded packages of %s: %s", pipeline.pipeline_name, error)
    landing.drop()


def _describe(error: BaseException, home: Home) -> str:
    """An error in one line, out of disk named as such."""
    error = out_of_disk(error, home) or error
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def reset(home: Home, connection_id: str, sync: str | None = None) -> int:
    """Forget the cursors of a connection (one sync or all); the next run lists everything."""
    if not home.warehouse.exists():
        return 0
    with write_connection(home) as con:
        if sync:
            rows = con.execute(
                "DELETE FROM syncs.sync_state WHERE connection_id = ? AND sync = ? RETURNING 1",
                [connection_id, sync],
            ).fetchall()
        else:
            rows = con.execute(
                "DELETE FROM syncs.sync_state WHERE connection_id = ? RETURNING 1",
                [connection_id],
            ).fetchall()
    return len(rows)


def purge(home: Home, spec: IntegrationSpec, connection_id: str) -> None:
    """Remove a connection's rows, cursors and working folders (its events are kept).

    Refused while one of its syncs runs. Folders named as before ``connection_key`` are
    left alone: no run uses them, and such a name may be another connection's now (the old
    ``a_b`` of ``a.b`` is the folder of ``aB``)."""
    locks = [RunLock(home, spec.name, connection_id, sync) for sync in spec.syncs]
    try:
        for lock in locks:
            lock.acquire("removing its data")
        if home.warehouse.exists():
            with write_connection(home) as con:
                con.execute("BEGIN TRANSACTION")
                for model in spec.models:
                    if table_exists(con, spec.name, model):
                        con.execute(
                            f"DELETE FROM {quote(spec.name)}.{quote(model)} "
                            "WHERE connection_id = ?",
                            [connection_id],
                        )
                con.execute("DELETE FROM syncs.sync_state WHERE connection_id = ?", [connection_id])
                con.execute(
                    "DELETE FROM syncs.due_records WHERE connection_id = ?", [connection_id]
                )
                for sync in spec.syncs:
                    legacy = legacy_names(spec.name, connection_id, sync)[1]
                    con.execute(f"DROP SCHEMA IF EXISTS {quote(legacy)} CASCADE")
                con.execute("COMMIT")
        for sync in spec.syncs:
            shutil.rmtree(
                home.dlt_dir / pipeline_name(spec.name, connection_id, sync), ignore_errors=True
            )
            Landing(home, landing_dataset(spec.name, connection_id, sync)).drop()
    finally:
        for lock in locks:
            lock.release()
