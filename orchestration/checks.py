"""Asset checks on the synced tables, per connection (partition); reads are read-only.

After every sync, on the connection it synced: ``sync_succeeded`` (failed with the engine's
error when the run failed, so the reason shows on the partition, not only on a run page),
``no_duplicate_ids`` (every ``(connection_id, id)`` once) and ``no_rejected_records`` (a
warning: the rest of the run is good). Every five minutes, ``fresh`` for every connection:
synced successfully within twice its frequency plus a minute; a paused connection passes
with a warning that says it is paused, so it does not look like one that never synced.

The checks are declared partitioned by connection, and their results are logged as
evaluations of the synced partition by whatever ran the sync: the sync worker, a run of the
asset from the UI, or the check's own run for one partition.
"""

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    PreviewWarning,
)

from orchestration.naming import model_key
from orchestration.partitions import connection_partitions
from pipelines.engine.results import SyncResult
from pipelines.engine.warehouse import quote, read_connection, table_exists
from pipelines.home import Home
from pipelines.store.connections import Connection, Connections, format_duration
from sources.spec import IntegrationSpec, SyncSpec

SUCCEEDED_CHECK = "sync_succeeded"
DUPLICATES_CHECK = "no_duplicate_ids"
REJECTED_CHECK = "no_rejected_records"
FRESHNESS_CHECK = "fresh"
FRESHNESS_GRACE = timedelta(minutes=1)

DESCRIPTIONS = {
    SUCCEEDED_CHECK: "The connection's last sync succeeded (its error otherwise).",
    DUPLICATES_CHECK: "Every (connection_id, id) appears once in the connection's rows.",
    REJECTED_CHECK: "The last sync rejected no record in validation (see syncs.rejected_records).",
    FRESHNESS_CHECK: (
        "The connection synced successfully within twice its frequency plus a minute "
        "(a paused connection passes with a warning)."
    ),
}


IN_RUN = (SUCCEEDED_CHECK, DUPLICATES_CHECK, REJECTED_CHECK, FRESHNESS_CHECK)


def check_specs(
    spec: IntegrationSpec, sync: SyncSpec, names: Iterable[str]
) -> list[AssetCheckSpec]:
    """Partitioned checks are a preview feature of Dagster 1.13, and the only way a check's
    result belongs to one connection; its warning is silenced here, where it is chosen."""
    partitions = connection_partitions(spec.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                name,
                asset=model_key(spec.name, model),
                description=DESCRIPTIONS[name],
                partitions_def=partitions,
            )
            for model in sync.models
            for name in names
        ]


def in_run_check_specs(spec: IntegrationSpec, sync: SyncSpec) -> list[AssetCheckSpec]:
    """The checks of the sync's assets, on the connection a run synced; a run that succeeded
    is also fresh. They are declared on the sync's own assets, so a run of the assets (from
    the UI, say) evaluates them all itself and runs nothing else; the freshness job logs
    ``fresh`` for every connection between runs."""
    return check_specs(spec, sync, IN_RUN)


@dataclass(frozen=True)
class Evaluation:
    """One check's verdict on one connection's rows of one model."""

    model: str
    check_name: str
    passed: bool
    metadata: dict[str, MetadataValue]
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
    description: str | None = None

    def logged(self, integration: str, connection_id: str) -> AssetCheckEvaluation:
        return AssetCheckEvaluation(
            asset_key=model_key(integration, self.model),
            check_name=self.check_name,
            passed=self.passed,
            metadata=self.metadata,
            severity=self.severity,
            description=self.description,
            partition=connection_id,
        )

    def result(self, integration: str) -> AssetCheckResult:
        return AssetCheckResult(
            asset_key=model_key(integration, self.model),
            check_name=self.check_name,
            passed=self.passed,
            metadata=self.metadata,
            severity=self.severity,
            description=self.description,
        )


def run_evaluations(home: Home, spec: IntegrationSpec, result: SyncResult) -> list[Evaluation]:
    """The checks of one finished run, for every model of its sync."""
    models = spec.syncs[result.sync].models
    if result.status != "success":
        return [
            Evaluation(
                model,
                SUCCEEDED_CHECK,
                False,
                {
                    "run_id": MetadataValue.text(result.run_id),
                    "error_type": MetadataValue.text(result.error_type or ""),
                },
                description=f"{result.error_type}: {result.error}",
            )
            for model in models
        ]
    out: list[Evaluation] = []
    with read_connection(home) as con:
        for model in models:
            counts = result.models.get(model)
            out.append(
                Evaluation(
                    model,
                    SUCCEEDED_CHECK,
                    True,
                    {
                        "run_id": MetadataValue.text(result.run_id),
                        "sync_type": MetadataValue.text(result.sync_type),
                    },
                )
            )
            out.append(
                Evaluation(
                    model,
                    FRESHNESS_CHECK,
                    True,
                    {"last_success": MetadataValue.text(result.finished_at.isoformat())},
                    description="fresh: synced just now",
                )
            )
            duplicates: list[tuple[str, int]] = []
            if con is not None and table_exists(con, spec.name, model):
                duplicates = con.execute(
                    f"SELECT id, count(*) FROM {quote(spec.name)}.{quote(model)} "
                    "WHERE connection_id = ? GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 20",
                    [result.connection_id],
                ).fetchall()
            out.append(
                Evaluation(
                    model,
                    DUPLICATES_CHECK,
                    not duplicates,
                    {
                        "duplicate_ids": MetadataValue.int(len(duplicates)),
                        "examples": MetadataValue.json([d[0] for d in duplicates]),
                    },
                )
            )
            rejected = counts.rejected if counts else 0
            reasons: list[tuple[str, int]] = []
            if rejected and con is not None:
                reasons = con.execute(
                    "SELECT reason, count(*) FROM syncs.rejected_records WHERE run_id = ? "
                    "AND model = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
                    [result.run_id, model],
                ).fetchall()
            out.append(
                Evaluation(
                    model,
                    REJECTED_CHECK,
                    rejected == 0,
                    {
                        "rejected": MetadataValue.int(rejected),
                        "reasons": MetadataValue.json({r: n for r, n in reasons}),
                        "query": MetadataValue.text(
                            "select reason, payload from syncs.rejected_records "
                            f"where run_id = '{result.run_id}' and model = '{model}'"
                        ),
                    },
                    severity=AssetCheckSeverity.WARN,
                )
            )
    return out


def allowed_lag(frequency: timedelta) -> timedelta:
    """Two cycles plus a minute for the run itself: one late or failed run is tolerated."""
    return 2 * frequency + FRESHNESS_GRACE


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


def freshness(
    connection: Connection, sync: SyncSpec, last_success: datetime | None, now: datetime
) -> Evaluation:
    """Whether one connection is fresh, for the first model of the sync (see ``spread``)."""
    allowed = allowed_lag(connection.frequency_for(sync.name))
    since = (
        f"last success {format_duration(now - last_success)} ago"
        if last_success is not None
        else "never synced successfully"
    )
    metadata = {
        "last_success": MetadataValue.text(last_success.isoformat() if last_success else ""),
        "allowed_lag": MetadataValue.text(format_duration(allowed)),
        "enabled": MetadataValue.bool(connection.enabled),
    }
    if not connection.enabled:
        return Evaluation(
            sync.models[0],
            FRESHNESS_CHECK,
            True,
            metadata,
            severity=AssetCheckSeverity.WARN,
            description=f"paused: the connection is disabled; {since}",
        )
    stale = now - (last_success or connection.created_at) > allowed
    return Evaluation(
        sync.models[0],
        FRESHNESS_CHECK,
        not stale,
        metadata,
        description=f"{'stale' if stale else 'fresh'}: {since}, allowed {format_duration(allowed)}",
    )


def spread(evaluation: Evaluation, sync: SyncSpec) -> Iterator[Evaluation]:
    """The same verdict for every model of the sync: they are synced together."""
    for model in sync.models:
        yield Evaluation(
            model,
            evaluation.check_name,
            evaluation.passed,
            evaluation.metadata,
            evaluation.severity,
            evaluation.description,
        )


def freshness_evaluations(
    home: Home, spec: IntegrationSpec, sync: SyncSpec, now: datetime
) -> Iterator[tuple[str, Evaluation]]:
    """``(connection_id, evaluation)`` for every connection of the sync and every model."""
    last = last_successes(home, spec.name, sync.name)
    for connection in Connections(home).list(spec.name):
        verdict = freshness(connection, sync, last.get(connection.connection_id), now)
        for evaluation in spread(verdict, sync):
            yield connection.connection_id, evaluation
