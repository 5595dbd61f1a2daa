"""Records that arrive outside a poll — a provider's webhook, an action's answer — applied
through the same commit as a poll's.

Pages of records and tombstones go through the same validation as a poll's
(``sources.records.RecordBatcher``) into Arrow tables, which are registered on the writer's
DuckDB connection as the ``Landed`` relations of a ``Commit``: the compare, change events,
record metadata, rejected records, the records due again and the run's rows are written in
one transaction, exactly as for a poll, and the provider's version decides between them
and what the table holds. No model is a full listing here (nothing is inferred deleted),
and cursors move only when the caller passes the ones its read opened (Drive's changes
feed, read because a notification said it moved).

There is no dlt pipeline on this path: dlt's extract, normalize and load cost about 0.4 s
per run before a record is compared, which alone would break the quarter-second a
webhook has from the provider to the application. The records of a delivery are few and
already in memory, so they go to Arrow directly and DuckDB reads them in place.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention

from pipelines.engine.commit import Commit, Landed, commit
from pipelines.engine.results import SyncResult, SyncType
from pipelines.engine.sync import new_run_id
from pipelines.engine.writer import Writer
from pipelines.store.connections import Connection
from sources.cursors import ModelCursor
from sources.http import RequestLog
from sources.records import REJECTED_TABLE, TOMBSTONES_TABLE, RecordBatcher
from sources.spec import Page, SyncSpec

RELATION_PREFIX = "_syncs_arrived_"
_NAMING = NamingConvention()


def _named_as_dlt_does(table: pa.Table) -> pa.Table:
    """The columns under the names dlt's normalizer gives a poll's (snake_case: Gong's
    ``primaryUserId`` is ``primary_user_id``), so both ways land in the same columns."""
    return table.rename_columns([_NAMING.normalize_identifier(n) for n in table.column_names])


def apply_pages(
    writer: Writer,
    connection: Connection,
    sync: SyncSpec,
    pages: Iterable[Page],
    *,
    sync_type: SyncType = "WEBHOOK",
    request_log: RequestLog | None = None,
    cursors: Mapping[str, ModelCursor] | None = None,
    started_at: datetime | None = None,
    on_result: Callable[[SyncResult], None] | None = None,
) -> SyncResult | None:
    """Validate ``pages`` and commit them as one run of ``sync`` of type ``sync_type``;
    None when they held nothing to apply (and no cursor moved).

    ``pages`` are read to the end before the warehouse is touched, so an integration's
    HTTP (a thin event's fetch) never runs under the writer's lock. The models the pages
    touched are the run's models (every model of the sync when ``cursors`` are given).
    A failure raises with nothing written; ``on_result`` sees every committed run.
    """
    spec = connection.spec
    started = started_at or datetime.now(UTC)
    result = SyncResult(
        run_id=new_run_id(),
        connection_id=connection.connection_id,
        integration=connection.integration,
        sync=sync.name,
        mode="incremental",
        sync_type=sync_type,
        status="success",
        started_at=started,
        finished_at=started,
    )
    request_log = request_log if request_log is not None else RequestLog()
    clock = time.perf_counter()
    batcher = RecordBatcher(
        spec.name, {name: spec.model(name) for name in sync.models}, result.run_id
    )
    arrived: dict[str, list[pa.Table]] = {}
    for page in pages:
        for name, table in batcher.add(page):
            arrived.setdefault(name, []).append(table)
    for name, table in batcher.flush():
        arrived.setdefault(name, []).append(table)
    result.timings["extract"] = time.perf_counter() - clock
    tables = {
        name: _named_as_dlt_does(pa.concat_tables(parts, promote_options="default"))
        for name, parts in arrived.items()
    }
    touched = {name for name in tables if name in sync.models}
    for side in (TOMBSTONES_TABLE, REJECTED_TABLE):
        if side in tables:
            touched.update(str(m) for m in tables[side].column("model").to_pylist())
    models = tuple(m for m in sync.models if cursors is not None or m in touched)
    if not models:
        return None
    job_sync = dataclasses.replace(sync, models=models)
    relations = {name: f"{RELATION_PREFIX}{name.lstrip('_')}" for name in tables}
    clock = time.perf_counter()
    with writer.session() as con:
        result.timings["lock_wait"] = time.perf_counter() - clock
        held = time.perf_counter()
        for name, table in tables.items():
            con.register(relations[name], table)
        try:
            commit(
                con,
                Commit(
                    spec=spec,
                    sync=job_sync,
                    result=result,
                    landed=Landed(
                        models={m: relations.get(m) for m in models},
                        tombstones=relations.get(TOMBSTONES_TABLE),
                        rejected=relations.get(REJECTED_TABLE),
                    ),
                    full_listing=dict.fromkeys(models, False),
                    request_log=request_log,
                    max_deletions=connection.max_deletions or sync.max_deletions,
                    cursors=None if cursors is None else {m: cursors[m] for m in models},
                ),
            )
        finally:
            for relation in relations.values():
                con.unregister(relation)
        result.timings["lock_held"] = time.perf_counter() - held
    if on_result is not None:
        on_result(result)
    return result
