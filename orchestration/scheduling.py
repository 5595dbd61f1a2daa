"""When each connection syncs: one sensor per sync that starts the connections that are due.

Dagster schedules are cron-based, one cadence per schedule, at one-minute granularity, and
cannot target dynamic partitions; our connections each have their own frequency, as low as
15 seconds. So a sensor per sync looks every 15 seconds at every enabled connection and
asks for a run of its partition when:

* no run of that sync for that connection is queued or in progress, and
* a full refresh is due (``SyncSpec.full_refresh_frequency`` since the last full-refresh
  run, or since the connection was created) — the run is tagged ``syncs/mode=full``, so
  deletions an incremental API never reports are caught; or else
* its last run started at least its frequency ago (``Connection.frequency_for``).

Only the present is evaluated, so ticks missed while the daemon was down are not queued
up, and run keys carry the tick's time, so they never block a later tick. One sensor
decides both modes, so an incremental and a full-refresh run of the same connection are
never started together. Runs from the Dagster UI count as runs; the ``syncs run`` command
does not pass through Dagster and does not delay the schedule.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRecord,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.naming import (
    MODE_TAG,
    PARTITION_TAG,
    TRIGGER_TAG,
    schedule_sensor_name,
    sync_job_name,
    sync_keys,
)
from orchestration.partitions import SENSOR_INTERVAL_SECONDS, connection_partitions
from pipelines.home import Home
from pipelines.store.connections import Connection, Connections, format_duration
from sources.spec import IntegrationSpec, SyncMode, SyncSpec

IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
RECENT_RUNS = 20
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
"""Dagster's job for materializations of assets picked in the UI or the CLI."""


@dataclass(frozen=True)
class SyncHistory:
    """What Dagster knows about one sync of one connection."""

    running: bool = False
    last_started: datetime | None = None
    last_full_refresh: datetime | None = None


def _is_sync_run(run: DagsterRun, job_name: str, keys: set[AssetKey]) -> bool:
    """A run of this sync: its job, or a materialization from the UI or CLI of its assets."""
    if run.job_name == job_name:
        return True
    if run.asset_selection:
        return bool(run.asset_selection & keys)
    return run.job_name.startswith(IMPLICIT_ASSET_JOB)


def _started(record: RunRecord) -> datetime:
    if record.start_time is not None:
        return datetime.fromtimestamp(record.start_time, UTC)
    created = record.create_timestamp
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _latest(records: Iterable[RunRecord], job_name: str, keys: set[AssetKey]) -> datetime | None:
    return max(
        (_started(r) for r in records if _is_sync_run(r.dagster_run, job_name, keys)),
        default=None,
    )


def sync_history(
    instance: DagsterInstance, spec: IntegrationSpec, sync: SyncSpec, connection_id: str
) -> SyncHistory:
    job_name = sync_job_name(spec, sync)
    keys = set(sync_keys(spec, sync))
    partition = {PARTITION_TAG: connection_id}
    running = any(
        _is_sync_run(run, job_name, keys)
        for run in instance.get_runs(RunsFilter(statuses=IN_PROGRESS, tags=partition))
    )
    recent = instance.get_run_records(RunsFilter(tags=partition), limit=RECENT_RUNS)
    fulls = instance.get_run_records(
        RunsFilter(tags={**partition, MODE_TAG: "full"}), limit=RECENT_RUNS
    )
    return SyncHistory(
        running=running,
        last_started=_latest(recent, job_name, keys),
        last_full_refresh=_latest(fulls, job_name, keys),
    )


def due_mode(
    connection: Connection, sync: SyncSpec, history: SyncHistory, now: datetime
) -> SyncMode | None:
    """The run this connection needs now, if any."""
    if not connection.enabled or history.running:
        return None
    if now - (history.last_full_refresh or connection.created_at) >= sync.full_refresh_frequency:
        return "full"
    last = history.last_started
    if last is None or now - last >= (connection.frequency or sync.default_frequency):
        return "incremental"
    return None


def due_run_requests(
    instance: DagsterInstance,
    spec: IntegrationSpec,
    sync: SyncSpec,
    now: datetime,
    home: Home | None = None,
) -> list[RunRequest]:
    """One run request per enabled, due, not running connection that has its partition."""
    partitions = set(instance.get_dynamic_partitions(connection_partitions(spec.name).name))  # type: ignore[arg-type]
    requests = []
    for connection in Connections(home or Home.from_env()).list(spec.name):
        if connection.connection_id not in partitions:
            continue
        history = sync_history(instance, spec, sync, connection.connection_id)
        mode = due_mode(connection, sync, history, now)
        if mode is None:
            continue
        requests.append(
            RunRequest(
                partition_key=connection.connection_id,
                run_key=f"{connection.connection_id}:{mode}:{now:%Y%m%dT%H%M%S.%f}",
                tags={
                    MODE_TAG: mode,
                    TRIGGER_TAG: "full_refresh_schedule" if mode == "full" else "schedule",
                },
            )
        )
    return requests


def schedule_sensor(spec: IntegrationSpec, sync: SyncSpec) -> SensorDefinition:
    @sensor(
        name=schedule_sensor_name(spec, sync),
        job_name=sync_job_name(spec, sync),
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Every {SENSOR_INTERVAL_SECONDS}s, starts {spec.title} {sync.name!r} for each enabled "
            f"connection that is due: incremental every "
            f"{format_duration(sync.default_frequency)} (or the connection's own frequency, "
            f"at least 15s), a full refresh every {format_duration(sync.full_refresh_frequency)}; "
            "never while the connection's previous run is queued or running."
        ),
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        requests = due_run_requests(context.instance, spec, sync, datetime.now(UTC))
        if not requests:
            return SkipReason("no connection is due")
        for request in requests:
            context.log.info(f"{request.partition_key}: {request.tags[MODE_TAG]} run")
        return SensorResult(run_requests=requests)

    return _sensor
