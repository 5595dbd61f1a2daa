"""What flows from the record tables, and one page of every connection, as Dagster assets.

``syncs/change_events`` (every change the compare found, downstream of every record table)
and ``syncs/notifications`` (the webhooks to the application, downstream of the change
events) show the lineage past the record tables; ``syncs/connections`` is the operator's
overview: one row per connection with its integration, whether it is enabled, its
frequency, its last sync's status and time, when it is due next, its rows and its last
error. None is computed by Dagster: the engine writes them, and the freshness job records
what they hold every five minutes.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from orchestration.naming import model_key
from pipelines.engine.warehouse import quote, read_connection, table_exists
from pipelines.home import Home
from pipelines.notify.dispatcher import pending_count
from pipelines.store.connections import Connections, format_duration
from pipelines.store.schedule import Schedule
from sources.spec import IntegrationSpec

CONNECTIONS = AssetKey(["syncs", "connections"])
CHANGE_EVENTS = AssetKey(["syncs", "change_events"])
NOTIFICATIONS = AssetKey(["syncs", "notifications"])

OVERVIEW_COLUMNS = [
    TableColumn("connection_id", "string"),
    TableColumn("integration", "string"),
    TableColumn("sync", "string"),
    TableColumn("enabled", "bool"),
    TableColumn("frequency", "string"),
    TableColumn("last_status", "string"),
    TableColumn("last_finished_at", "string"),
    TableColumn("next_due_at", "string"),
    TableColumn("rows", "int"),
    TableColumn("last_error", "string"),
]


def overview_specs(integrations: Mapping[str, IntegrationSpec]) -> list[AssetSpec]:
    records = [
        model_key(spec.name, model)
        for spec in integrations.values()
        for sync in spec.syncs.values()
        for model in sync.models
    ]
    return [
        AssetSpec(
            CHANGE_EVENTS,
            group_name="syncs",
            deps=records,
            kinds={"duckdb"},
            description=(
                "syncs.change_events: one row per record change the compare found (ADDED, "
                "UPDATED with the fields and values that changed, DELETED), with its cursor."
            ),
            metadata={"dagster/table_name": "syncs.change_events"},
        ),
        AssetSpec(
            NOTIFICATIONS,
            group_name="syncs",
            deps=[CHANGE_EVENTS],
            description=(
                "The signed webhooks to the application: one message per run and model in "
                "the control store's outbox, delivered with retries."
            ),
        ),
        AssetSpec(
            CONNECTIONS,
            group_name="syncs",
            description=(
                "Every connection: integration, enabled, frequency, the last sync's status "
                "and time, when it is due next, its rows and its last error."
            ),
        ),
    ]


def _rows_per_connection(
    home: Home, integrations: Mapping[str, IntegrationSpec]
) -> dict[tuple[str, str], int]:
    """Live rows per (connection, sync), one query per record table."""
    rows: dict[tuple[str, str], int] = {}
    with read_connection(home) as con:
        if con is None:
            return rows
        for spec in integrations.values():
            for sync in spec.syncs.values():
                for model in sync.models:
                    if not table_exists(con, spec.name, model):
                        continue
                    for connection_id, count in con.execute(
                        f"SELECT connection_id, count(*) FROM {quote(spec.name)}.{quote(model)} "
                        "WHERE _syncs_deleted_at IS NULL GROUP BY 1"
                    ).fetchall():
                        key = (connection_id, sync.name)
                        rows[key] = rows.get(key, 0) + int(count)
    return rows


def _stamp(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def overview(home: Home, integrations: Mapping[str, IntegrationSpec]) -> list[AssetMaterialization]:
    """What the three assets hold now."""
    connections = {c.connection_id: c for c in Connections(home).list()}
    rows = _rows_per_connection(home, integrations)
    records = []
    for entry in Schedule(home).entries():
        connection = connections.get(entry.connection_id)
        if connection is None or connection.integration not in integrations:
            continue
        records.append(
            TableRecord(
                {
                    "connection_id": entry.connection_id,
                    "integration": entry.integration,
                    "sync": entry.sync,
                    "enabled": connection.enabled,
                    "frequency": format_duration(connection.frequency_for(entry.sync)),
                    "last_status": entry.last_status or "never synced",
                    "last_finished_at": _stamp(entry.last_finished_at),
                    "next_due_at": _stamp(entry.due_at) if connection.enabled else "paused",
                    "rows": rows.get((entry.connection_id, entry.sync), 0),
                    "last_error": entry.last_error or "",
                }
            )
        )
    records.sort(key=lambda r: (r.data["integration"], r.data["connection_id"], r.data["sync"]))
    failing = sum(1 for r in records if r.data["last_status"] == "failed")
    events, last_cursor = _events(home)
    return [
        AssetMaterialization(
            CONNECTIONS,
            metadata={
                "connections": MetadataValue.table(records, TableSchema(OVERVIEW_COLUMNS)),
                "dagster/row_count": MetadataValue.int(len(records)),
                "failing": MetadataValue.int(failing),
                "paused": MetadataValue.int(sum(1 for r in records if not r.data["enabled"])),
            },
        ),
        AssetMaterialization(
            CHANGE_EVENTS,
            metadata={
                "dagster/row_count": MetadataValue.int(events),
                "last_cursor": MetadataValue.text(str(last_cursor or "")),
            },
        ),
        AssetMaterialization(
            NOTIFICATIONS,
            metadata={"pending_deliveries": MetadataValue.int(pending_count(home))},
        ),
    ]


def _events(home: Home) -> tuple[int, int | None]:
    with read_connection(home) as con:
        if con is None or not table_exists(con, "syncs", "change_events"):
            return 0, None
        row = con.execute("SELECT count(*), max(cursor) FROM syncs.change_events").fetchone()
    return (int(row[0]), row[1]) if row else (0, None)
