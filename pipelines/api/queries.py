"""What the records API reads from the warehouse: records, change events, sync status.

Every read opens the warehouse read-only for the one query and closes it, so an API that
is up for days never stands in a sync's way. Paging is by cursor: a record's
``_syncs_cursor`` is the change-event cursor of its last change, drawn from one sequence
inside the sync's transaction, and syncs commit one at a time under the warehouse lock;
so every change committed after a page was read gets a cursor above everything that page
saw. Reading ``cursor > last page's cursor`` in cursor order therefore never skips a
record and returns one again only when it changed again, also while syncs write.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from pipelines.engine.compare import HASH_COLUMNS
from pipelines.engine.history import ACTION, VALID_FROM, VALID_TO, history_view
from pipelines.engine.results import OUTSIDE_POLLS
from pipelines.engine.warehouse import (
    API_READ_WAIT_SECONDS,
    quote,
    read_connection,
    table_exists,
)
from pipelines.home import Home
from pipelines.store.connections import Connection, Connections
from sources.errors import ConfigError, SyncsError
from sources.records import ModelTable
from sources.registry import get_integration
from sources.spec import IntegrationSpec, ModelSpec

ACTIONS = {"added": "ADDED", "updated": "UPDATED", "deleted": "DELETED"}
METADATA = {
    "_syncs_first_seen_at": "first_seen_at",
    "_syncs_last_modified_at": "last_modified_at",
    "_syncs_last_action": "last_action",
    "_syncs_deleted_at": "deleted_at",
    "_syncs_cursor": "cursor",
    "_syncs_run_id": "run_id",
    "_syncs_sync_type": "sync_type",
    "_syncs_rejected_reason": "rejected_reason",
    "_syncs_rejected_at": "rejected_at",
}

# A version's columns in the history view, as a record's metadata.
VERSION_METADATA = {
    "_syncs_first_seen_at": "first_seen_at",
    ACTION: "last_action",
    "_syncs_deleted_at": "deleted_at",
    "_syncs_cursor": "cursor",
    "_syncs_run_id": "run_id",
    VALID_FROM: "valid_from",
    VALID_TO: "valid_to",
}

HIDDEN = ", ".join(name for name, _ in HASH_COLUMNS)
POLLS_ONLY = "(" + ", ".join(f"'{t}'" for t in sorted(OUTSIDE_POLLS)) + ")"


class NotFound(SyncsError):
    """An unknown connection, integration, model or record (the API answers 404)."""


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def integration_model(
    integration: str, model: str | None
) -> tuple[IntegrationSpec, ModelSpec | None]:
    try:
        spec = get_integration(integration)
    except ConfigError as error:
        raise NotFound(str(error)) from None
    if model is None:
        return spec, None
    if model not in spec.models:
        raise NotFound(f"{spec.name} has no model {model!r}; its models: {', '.join(spec.models)}")
    return spec, spec.model(model)


def connection(home: Home, connection_id: str, integration: str | None = None) -> Connection:
    try:
        found = Connections(home).get(connection_id)
    except ConfigError:
        raise NotFound(f"unknown connection {connection_id!r}") from None
    if integration is not None and found.integration != integration:
        raise NotFound(
            f"connection {connection_id!r} belongs to {found.integration}, not {integration}"
        )
    return found


@functools.cache
def _json_fields(model: ModelSpec) -> frozenset[str]:
    """The model's fields stored as JSON text, which records carry parsed again."""
    return frozenset(ModelTable(model).json_fields)


def _rows(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _rows_if_table(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """``_rows``, or none when the table is not there yet (nothing synced so far).

    Asking the catalog first costs more than the query itself, so the query just runs.
    """
    if con is None:
        return []
    try:
        return _rows(con, sql, params)
    except duckdb.CatalogException:
        return []


def read_records(
    home: Home,
    *,
    integration: str,
    model: str,
    connection_id: str,
    cursor: int = 0,
    modified_after: datetime | None = None,
    actions: list[str] | None = None,
    limit: int = 100,
    ids: list[str] | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """One page of a connection's records changed after ``cursor``, in cursor order; with
    ``as_of``, each record's version at that time (from the model's history), in the order
    of the cursors of the changes that made them."""
    spec, model_spec = integration_model(integration, model)
    assert model_spec is not None
    connection(home, connection_id, spec.name)
    if as_of is None:
        source = f"{quote(spec.name)}.{quote(model)}"
        action, modified = "_syncs_last_action", "_syncs_last_modified_at"
        columns = f"* EXCLUDE (connection_id, {HIDDEN})"
    else:
        source, action, modified = history_view(spec.name, model), ACTION, VALID_FROM
        columns = "* EXCLUDE (connection_id)"
    where = ["connection_id = ?", "_syncs_cursor > ?"]
    params: list[Any] = [connection_id, cursor]
    if as_of is not None:
        where.append(f"{VALID_FROM} <= ? AND ({VALID_TO} IS NULL OR {VALID_TO} > ?)")
        params += [as_of, as_of]
    if modified_after is not None:
        where.append(f"{modified} >= ?")
        params.append(modified_after)
    if actions:
        where.append(f"{action} IN (SELECT unnest(?))")
        params.append([ACTIONS[a] for a in actions])
    if ids:
        where.append("id IN (SELECT unnest(?))")
        params.append(ids)
    with read_connection(home, program_wait=API_READ_WAIT_SECONDS) as con:
        rows = _rows_if_table(
            con,
            f"SELECT {columns} FROM {source} "
            f"WHERE {' AND '.join(where)} ORDER BY _syncs_cursor LIMIT ?",
            [*params, limit],
        )
    return {
        "records": _records(rows, model_spec, versions=as_of is not None),
        "next_cursor": rows[-1]["_syncs_cursor"] if rows else cursor,
        "has_more": len(rows) == limit,
    }


def _records(
    rows: list[dict[str, Any]], model: ModelSpec, *, versions: bool
) -> list[dict[str, Any]]:
    """Rows as the API gives records: the fields (JSON text parsed again) and
    ``_metadata``; a version's metadata also has ``valid_from`` and ``valid_to``."""
    json_fields = _json_fields(model)
    names = VERSION_METADATA if versions else METADATA
    records = []
    for row in rows:
        record: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for key, value in row.items():
            if key in names:
                metadata[names[key]] = jsonable(value)
            elif key in json_fields and isinstance(value, str):
                record[key] = json.loads(value)
            else:
                record[key] = jsonable(value)
        if versions:
            metadata["last_modified_at"] = metadata["valid_from"]
        record["_metadata"] = metadata
        records.append(record)
    return records


def read_versions(
    home: Home,
    *,
    integration: str,
    model: str,
    connection_id: str,
    record_id: str,
    cursor: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """One record's versions after ``cursor``, oldest first; a record the model never
    held is ``NotFound``."""
    spec, model_spec = integration_model(integration, model)
    assert model_spec is not None
    connection(home, connection_id, spec.name)
    with read_connection(home, program_wait=API_READ_WAIT_SECONDS) as con:
        rows = _rows_if_table(
            con,
            f"SELECT * EXCLUDE (connection_id) FROM {history_view(spec.name, model)} "
            "WHERE connection_id = ? AND id = ? AND _syncs_cursor > ? "
            "ORDER BY _syncs_cursor LIMIT ?",
            [connection_id, record_id, cursor, limit],
        )
    if not rows and cursor == 0:
        raise NotFound(
            f"connection {connection_id!r} has no {spec.name} {model} record {record_id!r}"
        )
    return {
        "integration": spec.name,
        "model": model,
        "connection_id": connection_id,
        "record_id": record_id,
        "versions": _records(rows, model_spec, versions=True),
        "next_cursor": rows[-1]["_syncs_cursor"] if rows else cursor,
        "has_more": len(rows) == limit,
    }


def change_events(
    home: Home,
    *,
    connection_id: str | None = None,
    integration: str | None = None,
    model: str | None = None,
    cursor: int = 0,
    actions: list[str] | None = None,
    limit: int = 100,
    newest: bool = False,
    program_wait: float | None = None,
) -> list[dict[str, Any]]:
    """Change events after ``cursor`` matching the filters, in cursor order, as stored.

    At most ``limit`` of them: the first ones, or with ``newest`` the last ones.
    """
    where = ["cursor > ?"]
    params: list[Any] = [cursor]
    for column, value in (
        ("connection_id", connection_id),
        ("integration", integration),
        ("model", model),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if actions:
        where.append("action IN (SELECT unnest(?))")
        params.append([ACTIONS[a] for a in actions])
    sql = (
        "SELECT cursor, connection_id, integration, sync, model, record_id, action, "
        "run_id, sync_type, changed_fields, changes, occurred_at FROM syncs.change_events "
        f"WHERE {' AND '.join(where)} ORDER BY {'cursor DESC' if newest else 'cursor'} LIMIT ?"
    )
    if newest:
        sql = f"SELECT * FROM ({sql}) ORDER BY cursor"
    with read_connection(home, program_wait=program_wait) as con:
        return _rows_if_table(con, sql, [*params, limit])


def read_changes(
    home: Home,
    *,
    connection_id: str | None = None,
    integration: str | None = None,
    model: str | None = None,
    cursor: int = 0,
    actions: list[str] | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """One page of change events after ``cursor``, in cursor order."""
    if model is not None and integration is None:
        raise ConfigError("model needs integration: pass both")
    if integration is not None:
        integration_model(integration, model)
    if connection_id is not None:
        connection(home, connection_id, integration)
    rows = change_events(
        home,
        connection_id=connection_id,
        integration=integration,
        model=model,
        cursor=cursor,
        actions=actions,
        limit=limit,
        program_wait=API_READ_WAIT_SECONDS,
    )
    changes = []
    for row in rows:
        row["changes"] = json.loads(row["changes"]) if row["changes"] else None
        changes.append({k: jsonable(v) for k, v in row.items()})
    return {
        "changes": changes,
        "next_cursor": rows[-1]["cursor"] if rows else cursor,
        "has_more": len(rows) == limit,
    }


def sync_status(home: Home, connection_id: str) -> dict[str, Any]:
    """Per sync of a connection: its last poll and counts, cursors, when it runs next, and
    when records last arrived through the provider's webhooks."""
    found = connection(home, connection_id)
    spec = found.spec
    runs: dict[str, dict[str, Any]] = {}
    model_counts: dict[str, list[dict[str, Any]]] = {}
    last_success: dict[str, Any] = {}
    last_webhook: dict[str, Any] = {}
    cursors: dict[tuple[str, str], Any] = {}
    with read_connection(home, program_wait=API_READ_WAIT_SECONDS) as con:
        if con is not None and table_exists(con, "syncs", "sync_runs"):
            for run in _rows(
                con,
                "SELECT * FROM syncs.sync_runs WHERE connection_id = ? "
                f"AND sync_type NOT IN {POLLS_ONLY} "
                "QUALIFY row_number() OVER (PARTITION BY sync ORDER BY started_at DESC) = 1",
                [connection_id],
            ):
                runs[run["sync"]] = run
            for row in _rows(
                con,
                "SELECT sync, max(finished_at) AS at FROM syncs.sync_runs "
                f"WHERE connection_id = ? AND status = 'success' AND sync_type NOT IN {POLLS_ONLY} "
                "GROUP BY sync",
                [connection_id],
            ):
                last_success[row["sync"]] = row["at"]
            for row in _rows(
                con,
                "SELECT sync, max(finished_at) AS at FROM syncs.sync_runs "
                "WHERE connection_id = ? AND sync_type = 'WEBHOOK' GROUP BY sync",
                [connection_id],
            ):
                last_webhook[row["sync"]] = row["at"]
            run_ids = [r["run_id"] for r in runs.values()]
            if run_ids:
                for row in _rows(
                    con,
                    "SELECT * FROM syncs.sync_run_models WHERE run_id IN (SELECT unnest(?)) "
                    "ORDER BY model",
                    [run_ids],
                ):
                    model_counts.setdefault(row["run_id"], []).append(row)
            for row in _rows(
                con,
                "SELECT sync, model, cursor FROM syncs.sync_state WHERE connection_id = ?",
                [connection_id],
            ):
                cursors[(row["sync"], row["model"])] = (
                    json.loads(row["cursor"]) if row["cursor"] else None
                )
    syncs = []
    for name, sync in spec.syncs.items():
        run = runs.get(name)
        frequency = found.frequency_for(name)
        last_run = None
        next_run = None
        if run is not None:
            last_run = {
                "run_id": run["run_id"],
                "status": run["status"],
                "sync_type": run["sync_type"],
                "mode": run["mode"],
                "started_at": jsonable(run["started_at"]),
                "finished_at": jsonable(run["finished_at"]),
                "counts": {k: run[k] for k in ("added", "updated", "deleted", "unchanged")},
                "suspicious": bool(run["suspicious"]),
                "deletions_held": run.get("deletions_held") or 0,
                "note": run["note"],
                "models": {
                    m["model"]: {
                        **{
                            k: m[k]
                            for k in ("added", "updated", "deleted", "rows_total", "rejected")
                        },
                        "deletions_held": m.get("deletions_held") or 0,
                    }
                    for m in model_counts.get(run["run_id"], [])
                },
                "cursor": {"first": run["first_cursor"], "last": run["last_cursor"]},
                "error": {"type": run["error_type"], "message": run["error"]}
                if run["status"] != "success"
                else None,
            }
            if found.enabled:
                next_run = jsonable(run["started_at"] + frequency)
        syncs.append(
            {
                "sync": name,
                "models": list(sync.models),
                "frequency_seconds": int(frequency.total_seconds()),
                "last_run": last_run,
                "last_success_at": jsonable(last_success.get(name)),
                "last_webhook_at": jsonable(last_webhook.get(name)),
                "next_run_at": next_run,
                "cursors": {m: cursors.get((name, m)) for m in sync.models},
            }
        )
    return {
        "connection_id": found.connection_id,
        "integration": found.integration,
        "enabled": found.enabled,
        "syncs": syncs,
    }
