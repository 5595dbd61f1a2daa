"""Every record's versions: ``<integration>.<model>__history``, kept by the compare itself.

A version of a record is what the table held between two of its change events: ADDED or
UPDATED make a version valid from the event until the next one; DELETED makes a version
(the last values, marked deleted) valid from the deletion until the record comes back, if
it does. Versions are per change event, so a change to volatile fields alone (HubSpot's
last-modified dates) makes none; a version's volatile values are those of its latest copy.
Times are the commit's: when syncs learned of the change, as in dlt's ``scd2``.

The record table already holds every record's current version. So the compare keeps only
the versions it replaces: in the transaction that writes a record's new version, the row
it replaces is copied, with the time it stops being valid, into ``syncs.<integration>__
<model>__past``. The view ``<integration>.<model>__history`` is the union of the two, with
``_syncs_valid_from``, ``_syncs_valid_to`` (null for a current version) and
``_syncs_action``. Deleted records keep their versions (their rows stay, soft-deleted);
removing a connection's data removes its versions too.

Chosen by measurement (``python -m bench.history``, 1,000,000 HubSpot contacts, 2 shared
cores, the stages of ``make bench``; seconds of the run, of its apply step, and the
warehouse's size after it):

    stage                         no history           full payloads in events     versions replaced
    c. initial                    26.6 / 3.8 / 71 MB   44.2 / 16.1 / 291 MB        not yet measured
    d. full, 1% upd., 0.5% del.   25.4 / 0.15 / 100 MB 39.8 / 0.57 / 319 MB        not yet measured
    e. incremental, 1% updated    1.69 / 0.15 / 97 MB  5.97 / 0.37 / 314 MB        not yet measured

Writing every ADDED and UPDATED event's whole record as JSON (and rebuilding versions from
the events by parsing it back) quadrupled the warehouse, since the first run writes every
record twice, once as JSON; the copy for users' SQL and every checkpoint then move four
times the bytes, and the incremental run took 3.5 times as long. Copying only replaced rows
writes nothing in a first run and, for a run that changed k records, k rows read by rowid.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.engine.warehouse import quote, table_exists

ACTION = "_syncs_action"
VALID_FROM = "_syncs_valid_from"
VALID_TO = "_syncs_valid_to"
VERSION_COLUMNS = [
    (ACTION, "VARCHAR"),
    (VALID_FROM, "TIMESTAMPTZ"),
    (VALID_TO, "TIMESTAMPTZ"),
    ("_syncs_cursor", "BIGINT"),
    ("_syncs_run_id", "VARCHAR"),
    ("_syncs_first_seen_at", "TIMESTAMPTZ"),
    ("_syncs_deleted_at", "TIMESTAMPTZ"),
]
# What each version column is in the record table, for its current versions.
CURRENT = {
    ACTION: "_syncs_last_action",
    VALID_FROM: "_syncs_last_modified_at",
    VALID_TO: "CAST(NULL AS TIMESTAMPTZ)",
    "_syncs_cursor": "_syncs_cursor",
    "_syncs_run_id": "_syncs_run_id",
    "_syncs_first_seen_at": "_syncs_first_seen_at",
    "_syncs_deleted_at": "_syncs_deleted_at",
}
PAST_SCHEMA = "syncs"


def past_table(integration: str, model: str) -> str:
    """The name, in schema ``syncs``, of the table of a model's replaced versions."""
    return f"{integration}__{model}__past"


def history_view(integration: str, model: str) -> str:
    """The view of every version of a model's records, qualified and quoted."""
    return f"{quote(integration)}.{quote(f'{model}__history')}"


def _past(integration: str, model: str) -> str:
    return f"{PAST_SCHEMA}.{quote(past_table(integration, model))}"


def ensure_history(
    con: duckdb.DuckDBPyConnection,
    integration: str,
    model: str,
    data_columns: list[tuple[str, str]],
) -> None:
    """The table of past versions with every data column of the record table, and the
    view over both, made again whenever columns were added (a DuckDB view keeps the
    columns it was made with)."""
    table = past_table(integration, model)
    changed = False
    if not table_exists(con, PAST_SCHEMA, table):
        defs = ", ".join(
            f"{quote(n)} {t}{' NOT NULL' if n == 'id' else ''}"
            for n, t in [("connection_id", "VARCHAR"), *data_columns, *VERSION_COLUMNS]
        )
        con.execute(f"CREATE TABLE {_past(integration, model)} ({defs})")
        changed = True
    else:
        existing = {
            name
            for (name, *_) in con.execute(
                f"DESCRIBE SELECT * FROM {_past(integration, model)}"
            ).fetchall()
        }
        for name, dtype in data_columns:
            if name not in existing:
                con.execute(
                    f"ALTER TABLE {_past(integration, model)} ADD COLUMN {quote(name)} {dtype}"
                )
                changed = True
    if changed:
        data = ", ".join(quote(n) for n, _ in [("connection_id", ""), *data_columns])
        current = ", ".join(f"{CURRENT[n]} AS {n}" for n, _ in VERSION_COLUMNS)
        past = ", ".join(n for n, _ in VERSION_COLUMNS)
        con.execute(
            f"CREATE OR REPLACE VIEW {history_view(integration, model)} AS "
            f"SELECT {data}, {current} FROM {quote(integration)}.{quote(model)} "
            f"UNION ALL SELECT {data}, {past} FROM {_past(integration, model)}"
        )


def keep_replaced(
    con: duckdb.DuckDBPyConnection,
    *,
    integration: str,
    model: str,
    names: list[str],
    rows: str,
    now: datetime,
) -> None:
    """Copy ``rows`` (a relation of stored rows of the record table) into the past versions,
    valid until ``now``: the compare calls it with the rows it replaces or marks deleted."""
    columns = ", ".join(["connection_id", *map(quote, names)])
    version = ", ".join(n for n, _ in VERSION_COLUMNS)
    stored = ", ".join(
        "CAST(? AS TIMESTAMPTZ)" if n == VALID_TO else CURRENT[n] for n, _ in VERSION_COLUMNS
    )
    con.execute(
        f"INSERT INTO {_past(integration, model)} ({columns}, {version}) "
        f"SELECT {columns}, {stored} FROM {rows}",
        [now],
    )


def forget(
    con: duckdb.DuckDBPyConnection, integration: str, model: str, connection_id: str
) -> None:
    """Remove a connection's past versions (its data is being removed)."""
    if table_exists(con, PAST_SCHEMA, past_table(integration, model)):
        con.execute(
            f"DELETE FROM {_past(integration, model)} WHERE connection_id = ?", [connection_id]
        )
