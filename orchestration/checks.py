"""Asset checks on the synced tables; they only ever open the warehouse read-only.

Two run with every sync, on the connection the run synced: no duplicate
``(connection_id, id)``, and no records rejected by validation in that run (a warning: the
rest of the run is good). Freshness looks at every enabled connection of a sync at once and
runs on its own schedule, since a connection that stopped syncing produces no run to check.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    multi_asset_check,
)

from orchestration.naming import model_key
from pipelines.engine.results import SyncResult
from pipelines.engine.warehouse import quote, read_connection, table_exists
from pipelines.home import Home
from pipelines.store.connections import Connection, Connections, format_duration
from sources.spec import IntegrationSpec, SyncSpec

DUPLICATES_CHECK = "no_duplicate_ids"
REJECTED_CHECK = "no_rejected_records"
FRESHNESS_CHECK = "fresh"
FRESHNESS_GRACE = timedelta(minutes=1)


def in_run_check_specs(spec: IntegrationSpec, sync: SyncSpec) -> list[AssetCheckSpec]:
    specs = []
    for model in sync.models:
        key = model_key(spec.name, model)
        specs.append(
            AssetCheckSpec(
                DUPLICATES_CHECK,
                asset=key,
                description="Every (connection_id, id) appears once in the synced connection's rows.",
            )
        )
        specs.append(
            AssetCheckSpec(
                REJECTED_CHECK,
                asset=key,
                description="The run rejected no record in validation (see syncs.rejected_records).",
            )
        )
    return specs


def run_checks(home: Home, spec: IntegrationSpec, result: SyncResult) -> Iterator[AssetCheckResult]:
    """The per-run checks of every model the run synced."""
    with read_connection(home) as con:
        for model, counts in result.models.items():
            key = model_key(spec.name, model)
            duplicates: list[tuple[str, int]] = []
            if con is not None and table_exists(con, spec.name, model):
                duplicates = con.execute(
                    f"SELECT id, count(*) FROM {quote(spec.name)}.{quote(model)} "
                    "WHERE connection_id = ? GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 20",
                    [result.connection_id],
                ).fetchall()
            yield AssetCheckResult(
                asset_key=key,
                check_name=DUPLICATES_CHECK,
                passed=not duplicates,
                metadata={
                    "connection_id": MetadataValue.text(result.connection_id),
                    "duplicate_ids": MetadataValue.int(len(duplicates)),
                    "examples": MetadataValue.json([d[0] for d in duplicates]),
                },
            )
            reasons: list[tuple[str, int]] = []
            if counts.rejected and con is not None:
                reasons = con.execute(
                    "SELECT reason, count(*) FROM syncs.rejected_records WHERE run_id = ? "
                    "AND model = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
                    [result.run_id, model],
                ).fetchall()
            yield AssetCheckResult(
                asset_key=key,
                check_name=REJECTED_CHECK,
                passed=counts.rejected == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "connection_id": MetadataValue.text(result.connection_id),
                    "rejected": MetadataValue.int(counts.rejected),
                    "reasons": MetadataValue.json({r: n for r, n in reasons}),
                    "query": MetadataValue.text(
                        "select reason, payload from syncs.rejected_records "
                        f"where run_id = '{result.run_id}' and model = '{model}'"
                    ),
                },
            )


@dataclass(frozen=True)
class Staleness:
    connection_id: str
    last_success: datetime | None
    allowed: timedelta


def allowed_lag(frequency: timedelta) -> timedelta:
    """Two cycles plus a minute for the run itself: one late or failed run is tolerated."""
    return 2 * frequency + FRESHNESS_GRACE


def stale_connections(
    connections: Iterable[Connection],
    sync: str,
    last_success: dict[str, datetime],
    now: datetime,
) -> list[Staleness]:
    """Enabled connections whose last successful sync is older than ``allowed_lag``.

    A connection never synced counts from when it was created.
    """
    stale = []
    for connection in connections:
        if not connection.enabled:
            continue
        allowed = allowed_lag(connection.frequency_for(sync))
        last = last_success.get(connection.connection_id)
        if now - (last or connection.created_at) > allowed:
            stale.append(Staleness(connection.connection_id, last, allowed))
    return stale


def last_successes(home: Home, integration: str, sync: str) -> dict[str, datetime]:
    with read_connection(home) as con:
        if con is None or not table_exists(con, "syncs", "sync_runs"):
            return {}
        rows = con.execute(
            "SELECT connection_id, max(finished_at) FROM syncs.sync_runs "
            "WHERE integration = ? AND sync = ? AND status = 'success' GROUP BY 1",
            [integration, sync],
        ).fetchall()
    return {connection_id: finished.astimezone(UTC) for connection_id, finished in rows}


def freshness_check(spec: IntegrationSpec, sync: SyncSpec) -> AssetChecksDefinition:
    keys = [model_key(spec.name, model) for model in sync.models]

    @multi_asset_check(
        name=f"{spec.name}_{sync.name}_freshness",
        specs=[
            AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=key,
                description=(
                    "Every enabled connection synced successfully within twice its frequency "
                    "plus a minute."
                ),
            )
            for key in keys
        ],
        can_subset=True,
    )
    def _check(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        home = Home.from_env()
        connections = Connections(home).list(spec.name)
        now = datetime.now(UTC)
        stale = stale_connections(
            connections, sync.name, last_successes(home, spec.name, sync.name), now
        )
        enabled = sum(1 for c in connections if c.enabled)
        for key in keys:
            if AssetCheckKey(key, FRESHNESS_CHECK) not in context.selected_asset_check_keys:
                continue
            yield AssetCheckResult(
                asset_key=key,
                check_name=FRESHNESS_CHECK,
                passed=not stale,
                description=_describe(stale, now),
                metadata={
                    "enabled_connections": MetadataValue.int(enabled),
                    "stale_connections": MetadataValue.int(len(stale)),
                    "stale": MetadataValue.json(
                        {
                            s.connection_id: {
                                "last_success": s.last_success.isoformat()
                                if s.last_success
                                else None,
                                "allowed_lag": format_duration(s.allowed),
                            }
                            for s in stale
                        }
                    ),
                },
            )

    return _check


def _describe(stale: Sequence[Staleness], now: datetime) -> str:
    if not stale:
        return "every enabled connection is fresh"
    parts = [
        f"{s.connection_id} (last success "
        + (f"{format_duration(now - s.last_success)} ago" if s.last_success else "never")
        + f", allowed {format_duration(s.allowed)})"
        for s in stale
    ]
    return "stale: " + ", ".join(parts)
