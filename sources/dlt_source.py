"""Any integration as a plain dlt source: one resource per model, merged on its id.

``integration_source(spec)`` is the ``source(config, credentials)`` each integration
exports. Its resources run the integration's own extract through ``record_batches``, the
code syncs' engine runs: the same HTTP client, pacing and retries, the same validation
into the same Arrow tables. What the engine does after the load (its snapshot compare,
change events, deletion inference) is not here; dlt merges instead.

* One listing per sync. An extract reads every model of its sync at once (GitHub's issue
  listing tells which pull requests changed, Gong's transcripts come per page of calls),
  so a hidden resource (``_listing_<sync>``, never loaded) runs it, and each model is a
  dlt transformer of it: its own table, ``primary_key="id"``, columns from its pydantic
  model, ``write_disposition="merge"``. The extract is asked for the selected models
  (``source.with_resources(...)``) and those whose listing fills them; what it reads of
  the others anyway (GitHub lists issues to find changed pull requests) is not loaded,
  and their cursors do not move.
* Cursors, as each model declares. A modification time is the model's
  ``dlt.sources.incremental`` on that field, with a lag of the model's lookback plus the
  engine's one-minute safety margin (``sources.cursors``); the listing asks the API from
  the incremental's start value. A time kept per key (GitHub's, per repository), and a
  token an API hands out (Drive's changes feed), are not one value dlt's incremental can
  hold: they are kept in the model resource's state under ``cursor``, in the JSON shape
  ``syncs.sync_state`` uses and by the same rules (``ModelCursor.next_stored``). dlt
  commits resource state with the load it belongs to, as it does an incremental's. A
  model filled by another's listing (Gong's transcripts) reads from that model's cursor,
  or lists everything while it has loaded nothing itself.
* Deletions the API reports (tombstones) are rows with only ``id`` and
  ``_dlt_deleted = true``, the column dlt's ``hard_delete`` hint names: the merge deletes
  them. ``_syncs_seq`` numbers a run's rows in the order they were read, the
  ``dedup_sort`` that makes the latest of two rows for one id win (a file the Drive feed
  trashes and then restores). With ``write_disposition="scd2"`` (``merge_key="id"``, so
  an incremental run retires only the records it read) a deletion retires the record's
  version and adds one with ``_dlt_deleted = true``. dlt gives Arrow rows no row version
  (its ``add_row_hash_to_table`` needs pandas, which syncs do not install), so
  ``row_versions`` hashes each row's fields but the ones the model declares volatile,
  which therefore never make a version alone.
* A full refresh is dlt's own: ``pipeline.run(source, refresh="drop_resources")`` drops
  the tables and state of the resources it runs, so they list everything again; deletions
  the API never reports (a GitHub issue deleted, a Gong call removed) go with it.
* Columns are a dict built from the Arrow schema ``ModelTable`` derives from the pydantic
  model, not ``columns=Model``: with a model, dlt validates every item again with pydantic
  (an Arrow table only to fail and pass it through) and types lists as ``json``, where
  these tables hold canonical JSON text.
* Rejected records (a record its model refuses) go to the ``_rejected_records`` table
  (model, record id, reason, the raw payload) and a warning; the cursor moves past them,
  so they are read again when they next change, or by a full refresh.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.libs.pyarrow import py_arrow_to_table_schema_columns
from dlt.extract.exceptions import CurrentSourceNotAvailable
from dlt.extract.incremental import Incremental
from dlt.extract.resource import DltResource
from pydantic import BaseModel

from sources.cursors import SAFETY_MARGIN, CursorSpec, format_time, open_cursors, parse_time
from sources.errors import ConfigError
from sources.http import RequestLog
from sources.records import REJECTED_TABLE, RUN_ID, SEQ, TOMBSTONES_TABLE, ModelTable
from sources.source import record_batches
from sources.spec import ExtractContext, IntegrationSpec, ModelSpec, SyncSpec
from sources.validation import plain, validate_config, validate_credentials

log = logging.getLogger(__name__)

DELETED = "_dlt_deleted"
ROW_VERSION = "_syncs_row_version"
REJECTED = "_rejected_records"
CURSOR = "cursor"
WRITE_DISPOSITIONS = ("merge", "scd2")


@dataclass(frozen=True)
class Part:
    """What a sync's listing hands its models: rows (or tombstones) of one table, or the
    cursor a model keeps in its resource state after the run."""

    model: str
    rows: pa.Table | None = None
    cursor: dict[str, Any] | None = None


def integration_source(spec: IntegrationSpec[Any, Any]) -> Any:
    """``source(config, credentials, write_disposition="merge", connection_id=None)``, a
    dlt source factory for ``spec``.

    ``config`` and ``credentials`` are dicts or the integration's pydantic models,
    validated as syncs validate a connection's; left out, dlt reads them from its config
    and secrets (``[sources.<integration>.credentials]`` in ``.dlt/secrets.toml``, or
    ``SOURCES__<INTEGRATION>__CREDENTIALS`` as JSON). ``connection_id`` names the account
    in error messages (the integration's name by default).
    """

    def source(
        config: dict[str, Any] | None = dlt.config.value,
        credentials: dict[str, Any] = dlt.secrets.value,
        write_disposition: str = "merge",
        connection_id: str | None = None,
    ) -> list[DltResource]:
        checked_config = validate_config(spec, _as_dict(spec, config, spec.config_model, "config"))
        checked_credentials = validate_credentials(
            spec, _as_dict(spec, credentials, spec.credentials_model, "credentials")
        )
        if write_disposition not in WRITE_DISPOSITIONS:
            raise ConfigError(
                f"{spec.name}: write_disposition {write_disposition!r} is not one this source "
                f"builds; choose {' or '.join(WRITE_DISPOSITIONS)} (or set another with dlt's "
                "apply_hints)"
            )
        resources: list[DltResource] = []
        placed: set[str] = set()
        for number, sync in enumerate(spec.syncs.values()):
            models = [m for m in sync.models if m not in placed]
            placed.update(models)
            listing = _listing(
                spec, sync, checked_config, checked_credentials, connection_id or spec.name
            )
            resources.append(listing)
            resources.extend(
                _model_resource(spec.model(m), listing, checked_config, write_disposition == "scd2")
                for m in models
            )
            resources.append(_rejected_resource(listing, REJECTED if number == 0 else ""))
        return resources

    source.__doc__ = (
        f"{spec.title} ({spec.description}) as a dlt source.\n\n"
        + (integration_source.__doc__ or "").split("\n\n", 1)[1]
    )
    return dlt.source(name=spec.name, section=spec.name, max_table_nesting=0)(source)


def _as_dict(
    spec: IntegrationSpec[Any, Any], value: Any, model: type[BaseModel], what: str
) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, model):
        return plain(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(
        f"{spec.name}: {what} must be a dict or a {model.__name__}, not {type(value).__name__}"
    )


def _incremental(model: ModelSpec, config: BaseModel) -> Incremental[Any] | None:
    """The model's timestamp cursor as dlt's incremental; None for the other kinds."""
    cursor = model.cursor
    if cursor.kind != "timestamp" or cursor.key is not None or cursor.field is None:
        return None
    lag = cursor.lookback_for(config) + SAFETY_MARGIN
    return dlt.sources.incremental(
        cursor.field,
        lag=lag.total_seconds(),
        # Tombstones carry no modification time; merging on the id makes dlt's own
        # deduplication at the boundary unnecessary.
        on_cursor_value_missing="include",
        primary_key=(),
    )


def _stored_cursors(
    spec: IntegrationSpec[Any, Any], sync: SyncSpec, wanted: tuple[str, ...]
) -> dict[str, Any]:
    """Each model's cursor JSON as ``open_cursors`` reads it, from dlt's state. A model
    filled by another's listing has that one's cursor once it has loaded (a first load
    lists everything), or when this run does not load it."""
    stored: dict[str, Any] = {}
    for name in sync.models:
        cursor = spec.model(name).cursor
        if _kept_by_dlt(cursor):
            last = parse_time(_last_value(name, cursor.field or ""))
            stored[name] = None if last is None else {"since": format_time(last - SAFETY_MARGIN)}
        elif cursor.kind != "shared":
            stored[name] = dlt.current.resource_state(name).get(CURSOR)
    for name in sync.models:
        cursor = spec.model(name).cursor
        if cursor.kind == "shared":
            loaded = dlt.current.resource_state(name).get(CURSOR) is not None
            stored[name] = stored.get(cursor.shares or "") if loaded or name not in wanted else None
    return stored


def _last_value(model: str, cursor_path: str) -> Any:
    """The model's incremental's last value; None before its first load, and for a model
    this run does not load (its incremental was never bound)."""
    if not dlt.current.resource_state(model).get("incremental", {}).get(cursor_path):
        return None
    return Incremental.from_existing_state(model, cursor_path).last_value


def _kept_by_dlt(cursor: CursorSpec) -> bool:
    return cursor.kind == "timestamp" and cursor.key is None


def _listing(
    spec: IntegrationSpec[Any, Any],
    sync: SyncSpec,
    config: BaseModel,
    credentials: BaseModel,
    connection_id: str,
) -> DltResource:
    def listing() -> Iterator[Part]:
        started = datetime.now(UTC)
        wanted = _wanted(spec, sync)
        if not wanted:
            return
        ctx = ExtractContext(
            connection_id=connection_id,
            sync=replace(sync, models=wanted),
            mode="incremental",
            config=config,
            credentials=credentials,
            request_log=RequestLog(),
            cursors=open_cursors(
                spec, sync, "incremental", config, _stored_cursors(spec, sync, wanted)
            ),
        )
        newest: dict[str, dict[str | None, datetime]] = {}
        rejected: dict[str, int] = {}
        for name, table in record_batches(spec, ctx, uuid.uuid4().hex):
            if name == REJECTED_TABLE:
                table = table.filter(pc.is_in(table["model"], pa.array(wanted)))
                for model, count in _counts(table["model"]).items():
                    rejected[model] = rejected.get(model, 0) + count
                if table.num_rows:
                    yield Part(REJECTED, rows=table.drop_columns([RUN_ID]))
            elif name == TOMBSTONES_TABLE:
                for model in _counts(table["model"]):
                    yield Part(model, rows=_tombstones(spec.model(model), table, model))
            else:
                cursor = spec.model(name).cursor
                if cursor.kind == "timestamp" and cursor.key is not None:
                    _note_newest(newest.setdefault(name, {}), table, cursor)
                yield Part(name, rows=_id_required(table.drop_columns([RUN_ID])))
        for model, count in sorted(rejected.items()):
            log.warning(
                "%s.%s: %d records failed validation; they are in the %s table",
                spec.name,
                model,
                count,
                REJECTED,
            )
        ceiling = started - SAFETY_MARGIN
        for name, cursor in ctx.cursors.items():
            if _kept_by_dlt(cursor.spec) or cursor.spec.kind == "none":
                continue
            if cursor.leader is not None:
                yield Part(name, cursor={"shares": cursor.leader.model})
                continue
            stored = cursor.next_stored(newest.get(name, {}), ceiling)
            if stored is not None:
                yield Part(name, cursor=stored)

    return dlt.resource(listing, name=f"_listing_{sync.name}", selected=False)


def _wanted(spec: IntegrationSpec[Any, Any], sync: SyncSpec) -> tuple[str, ...]:
    """The sync's models the pipeline loads, and the ones whose listing fills those: what
    the extract is asked for (``ctx.sync.models``). Every model keeps its cursor open, for
    an extract that reads one model's cursor while it lists another."""
    try:
        selected = set(dlt.current.source().selected_resources)
    except CurrentSourceNotAvailable:
        return sync.models
    wanted = {m for m in sync.models if m in selected}
    wanted |= {spec.model(m).cursor.shares or "" for m in wanted} - {""}
    return tuple(m for m in sync.models if m in wanted)


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return {
        str(v): int(n)
        for v, n in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        )
    }


def _note_newest(newest: dict[str | None, datetime], table: pa.Table, cursor: CursorSpec) -> None:
    """The newest ``cursor.field`` per key among a batch's rows, as the engine takes it from
    the rows a run landed."""
    keys = table[cursor.key or ""]
    if cursor.key_ignores_case:
        keys = pc.utf8_lower(keys)
    grouped = (
        pa.table({"key": keys, "at": table[cursor.field or ""]})
        .group_by("key")
        .aggregate([("at", "max")])
    )
    for key, at in zip(grouped["key"].to_pylist(), grouped["at_max"].to_pylist(), strict=True):
        seen = parse_time(at)
        if seen is not None and (key not in newest or seen > newest[key]):
            newest[key] = seen


def _tombstones(model: ModelSpec, table: pa.Table, name: str) -> pa.Table:
    """The model's tombstones as rows of its table: the id, ``_dlt_deleted``, nulls."""
    mine = table.filter(pc.equal(table["model"], name))
    n = mine.num_rows
    columns: dict[str, Any] = {
        f.name: mine["record_id"] if f.name == "id" else pa.nulls(n, f.type)
        for f in ModelTable(model).schema
    }
    columns[SEQ] = mine[SEQ]
    columns[DELETED] = pa.array([True] * n, type=pa.bool_())
    return _id_required(pa.table(columns))


def _id_required(table: pa.Table) -> pa.Table:
    """The table with ``id`` declared not null, as its primary key is in dlt's schema."""
    index = table.schema.get_field_index("id")
    field = table.schema.field(index)
    return (
        table
        if not field.nullable
        else table.set_column(index, field.with_nullable(False), table.column(index))
    )


def _model_resource(
    model: ModelSpec, listing: DltResource, config: BaseModel, scd2: bool
) -> DltResource:
    name = model.name
    unversioned = {SEQ, ROW_VERSION, *model.volatile_fields}

    def rows(part: Part) -> Iterator[pa.Table]:
        if part.model != name:
            return
        if part.cursor is not None:
            dlt.current.resource_state()[CURSOR] = part.cursor
            return
        table = part.rows
        assert table is not None
        if DELETED not in table.column_names:
            table = table.append_column(DELETED, pa.nulls(table.num_rows, pa.bool_()))
        if scd2:
            table = table.append_column(ROW_VERSION, row_versions(table, unversioned))
        yield table

    write_disposition: Any = "merge"
    if scd2:
        write_disposition = {
            "disposition": "merge",
            "strategy": "scd2",
            "row_version_column_name": ROW_VERSION,
        }
    resource = dlt.transformer(
        rows,
        data_from=listing,
        name=name,
        write_disposition=write_disposition,
        primary_key="id",
        merge_key="id" if scd2 else None,
        columns=_columns(model),
    )
    incremental = _incremental(model, config)
    if incremental is not None:
        resource.apply_hints(incremental=incremental)
    return resource


def _columns(model: ModelSpec) -> dict[str, Any]:
    """dlt's columns for the model, from the Arrow schema its pydantic class gives the
    engine's tables (``ModelTable``): nested values are canonical JSON text there, and so
    here. Every column but ``id`` may be null, as a tombstone's are."""
    columns: dict[str, Any] = py_arrow_to_table_schema_columns(ModelTable(model).schema)
    for column_name, column in columns.items():
        column["nullable"] = column_name != "id"
        info = model.schema.model_fields.get(column_name)
        if info is not None and info.description:
            column["description"] = info.description
    columns[SEQ] = {"data_type": "bigint", "nullable": True, "dedup_sort": "desc"}
    columns[DELETED] = {"data_type": "bool", "nullable": True, "hard_delete": True}
    return columns


def row_versions(table: pa.Table, leave_out: set[str]) -> pa.Array:
    """A 64-bit hash of each row's fields but ``leave_out``, by name, a null and a missing
    column alike: scd2's row version, which Arrow tables do not get from dlt."""
    parts = []
    for column_name in sorted(set(table.column_names) - leave_out):
        text = pc.cast(table[column_name], pa.string())
        field = pc.binary_join_element_wise(f"{column_name}=", text, "\x1e", "")
        parts.append(pc.fill_null(field, ""))
    joined = pc.binary_join_element_wise(*parts, "") if parts else pa.nulls(table.num_rows)
    return pa.array(
        [
            int.from_bytes(
                hashlib.blake2b((row or "").encode(), digest_size=8).digest(), "big", signed=True
            )
            for row in joined.to_pylist()
        ],
        type=pa.int64(),
    )


def _rejected_resource(listing: DltResource, name: str) -> DltResource:
    sync = listing.name.removeprefix("_listing_")

    def rejected(part: Part) -> Iterator[pa.Table]:
        if part.model == REJECTED and part.rows is not None:
            at = datetime.now(UTC)
            table = part.rows.drop_columns([SEQ])
            yield table.append_column(
                "rejected_at", pa.array([at] * table.num_rows, type=pa.timestamp("us", tz="UTC"))
            )

    return dlt.transformer(
        rejected,
        data_from=listing,
        name=name or f"{REJECTED}__{sync}",
        table_name=REJECTED,
        write_disposition="append",
    )
