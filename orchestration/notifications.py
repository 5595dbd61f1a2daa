"""The post-load sensor: every new materialization of a sync asset becomes an outbox message.

The engine writes a run's messages to the outbox itself, right after its commit; a process
killed between the two would lose them. This sensor is the safety net: it reads every new
materialization from Dagster's event log, per asset, from a cursor of storage ids (so none
is missed when several partitions finish between two ticks, unlike an ``asset_sensor``,
which sees only the latest), rebuilds the (connection, model) summary from the
materialization's metadata, and enqueues it. The outbox is keyed by run and model, so a
message already there is left as it is. The warehouse is never opened.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    EventLogRecord,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.naming import model_key
from orchestration.partitions import SENSOR_INTERVAL_SECONDS
from pipelines.engine.compare import ModelResult
from pipelines.engine.results import SyncResult
from pipelines.home import Home
from pipelines.notify.dispatcher import deliver_due
from pipelines.notify.outbox import enqueue
from sources.spec import IntegrationSpec

SENSOR_NAME = "sync_notifications"
DISPATCHER_NAME = "webhook_dispatcher"
DISPATCH_INTERVAL_SECONDS = 5
DISPATCH_BATCH = 20
BATCH = 500
_COUNTS = (
    "added",
    "updated",
    "deleted",
    "unchanged",
    "rejected",
    "fetched",
    "rows_total",
    "deletions_held",
)


def _value(metadata: Mapping[str, Any], name: str) -> Any:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def result_from_materialization(
    integration: str, sync: str, model: str, record: EventLogRecord
) -> SyncResult | None:
    """The run's summary for one model, as the asset's materialization metadata tells it."""
    materialization = record.asset_materialization
    if materialization is None or materialization.partition is None:
        return None
    metadata = materialization.metadata
    run_id = _value(metadata, "run_id")
    started = _value(metadata, "started_at")
    if not run_id or started is None:
        return None
    started_at = datetime.fromtimestamp(float(started), UTC)
    counts = ModelResult(
        model=model,
        **{name: int(_value(metadata, name) or 0) for name in _COUNTS},
        suspicious=bool(_value(metadata, "suspicious")),
        note=_value(metadata, "note"),
        first_cursor=_value(metadata, "first_cursor"),
        last_cursor=_value(metadata, "last_cursor"),
    )
    return SyncResult(
        run_id=str(run_id),
        connection_id=materialization.partition,
        integration=integration,
        sync=sync,
        mode=_value(metadata, "mode") or "incremental",
        sync_type=_value(metadata, "sync_type") or "INCREMENTAL",
        status="success",
        started_at=started_at,
        finished_at=started_at
        + timedelta(seconds=float(_value(metadata, "duration_seconds") or 0)),
        models={model: counts},
        api_requests=int(_value(metadata, "api_requests") or 0),
    )


def notifications_sensor(integrations: Mapping[str, IntegrationSpec]) -> SensorDefinition:
    watched: dict[AssetKey, tuple[str, str, str]] = {
        model_key(spec.name, model): (spec.name, sync.name, model)
        for spec in integrations.values()
        for sync in spec.syncs.values()
        for model in sync.models
    }

    @sensor(
        name=SENSOR_NAME,
        description=(
            "Hands each new (connection, model) sync summary on for notification: reads every "
            "new materialization of the sync assets and makes sure its outbox message exists."
        ),
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult:
        cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        home = Home.from_env()
        seen = written = 0
        for key, (integration, sync, model) in watched.items():
            name = key.to_user_string()
            records = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, after_storage_id=cursor.get(name)),
                limit=BATCH,
                ascending=True,
            ).records
            for record in records:
                result = result_from_materialization(integration, sync, model, record)
                if result is not None:
                    written += len(enqueue(home, result, [model]))
                seen += 1
                cursor[name] = record.storage_id
        message = f"{seen} new materializations, {written} change summaries handed on"
        if seen:
            context.log.info(message)
        return SensorResult(
            skip_reason=SkipReason(message), cursor=json.dumps(cursor, sort_keys=True)
        )

    return _sensor


def dispatcher_sensor() -> SensorDefinition:
    """Delivers due webhooks from the outbox under Dagster, a bounded batch per tick.

    Reconciling with the warehouse is left to ``syncs serve`` and ``syncs webhooks
    dispatch``: a sensor tick must not wait on the warehouse lock, and the post-load
    sensor already writes every Dagster run's messages.
    """

    @sensor(
        name=DISPATCHER_NAME,
        description="Delivers due webhooks from the outbox, signed, with retries.",
        minimum_interval_seconds=DISPATCH_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        attempts = deliver_due(Home.from_env(), limit=DISPATCH_BATCH)
        outcomes: dict[str, int] = {}
        for attempt in attempts:
            outcomes[attempt.outcome] = outcomes.get(attempt.outcome, 0) + 1
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        if attempts:
            context.log.info(f"webhook attempts: {summary}")
        return SkipReason(f"webhook attempts: {summary or 'none due'}")

    return _sensor
