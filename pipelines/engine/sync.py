"""Run one sync for one connection: extract with dlt, load, compare, commit.

0. The run takes its lock (``pipelines.engine.run_lock``): one run per connection and sync
   at a time, whatever process started it; a second one is refused at once.
1. The connection's config is validated and its credentials decrypted.
2. The cursors and the records due again are read (``pipelines.engine.state``; briefly,
   read-only), and each model's cursor is opened as its declaration says.
   Webhook subscriptions syncs registered for the connection (``pipelines.ingress``) are
   renewed here when they near expiry.
3. dlt extracts page by page, normalizes to Parquet and loads the run's rows to the
   connection's landing folder (``pipelines.engine.landing``), holding no warehouse lock.
4. In the writer's session (``pipelines.engine.writer``: the exclusive warehouse lock and
   a read-write connection), one transaction (``pipelines.engine.commit``) reads them in
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

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import dlt
from dlt.common.storages import LoadStorage, LoadStorageConfiguration

from pipelines.engine import history
from pipelines.engine.bookkeeping import store_requests, store_run
from pipelines.engine.commit import Commit, Landed, commit
from pipelines.engine.disk import out_of_disk
from pipelines.engine.landing import Landing, destination, landing_dataset, legacy_names, run_name
from pipelines.engine.results import SyncResult
from pipelines.engine.run_lock import RunLock
from pipelines.engine.state import read_state
from pipelines.engine.warehouse import (
    quote,
    table_exists,
    write_connection,
)
from pipelines.engine.writer import Writer
from pipelines.home import Home
from pipelines.ingress.subscriptions import renew_if_due
from pipelines.store.connections import Connection, Connections
from sources.cursors import open_cursors
from sources.errors import ConfigError, SyncsError, WarehouseBusyError
from sources.http import RequestLog
from sources.records import REJECTED_TABLE, TOMBSTONES_TABLE
from sources.source import build_source
from sources.spec import ExtractContext, IntegrationSpec, Progress, SyncMode, SyncSpec

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
        writer: Writer | None = None,
    ) -> None:
        self.home = home or Home.from_env()
        self.connections = Connections(self.home)
        self.on_result = on_result
        self.writer = writer or Writer(self.home)

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
            state = read_state(self.home, connection.connection_id, sync.name, self.writer.reading)
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
            renew_if_due(self.home, connection, ctx)
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
            landing.drop()
            pipeline.load()
            result.timings["load"] = time.perf_counter() - clock
            job = Commit(
                spec=spec,
                sync=sync,
                result=result,
                landed=Landed(
                    models={m: landing.relation(m) for m in sync.models},
                    tombstones=landing.relation(TOMBSTONES_TABLE),
                    rejected=landing.relation(REJECTED_TABLE),
                ),
                full_listing={m: ctx.cursor(m).full_listing for m in sync.models},
                request_log=request_log,
                max_deletions=connection.max_deletions or sync.max_deletions,
                confirm_deletions=confirm_deletions,
                cursors=ctx.cursors,
                # Warehouses from before the landing moved out kept it as a schema.
                drop_schema=legacy_names(spec.name, connection.connection_id, sync.name)[1],
            )
            self._commit(job)
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

    def _commit(self, job: Commit) -> None:
        """``job``'s transaction in the writer's session; the time waited for the session
        and held in it go to the run's timings."""
        clock = time.perf_counter()
        with self.writer.session() as con:
            held = time.perf_counter()
            job.result.timings["lock_wait"] = held - clock
            commit(con, job)
            job.result.timings["lock_held"] = time.perf_counter() - held

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
                store_requests(con, result, log)
                store_run(con, result)
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
    """Remove a connection's rows and their past versions, cursors and working folders (its
    events are kept).

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
                    history.forget(con, spec.name, model, connection_id)
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
