"""Everything Dagster loads (``workspace.yaml``), generated from the integration registry.

Per integration: a dynamic partitions definition of its connections and the sensor that
keeps it in step. Per sync: a multi-asset (one asset per model), its checks (partitioned
by connection), and a job for running it by hand for one or more connections. Across all:
the sync worker (``orchestration.worker``), which keeps every connection synced at its own
frequency, the sensor that keeps it running, the freshness checks every five minutes, and
the webhook dispatcher. An integration added to ``sources.registry`` appears here with no
change to this package.

Runs log to the console at INFO: Dagster's DEBUG events (every step's start, output and
success) stay in the event log the UI shows, instead of being echoed by the daemon.

Runs use the in-process executor: a sync is one step, so a step process per run would only
add its start-up time; each run is still its own process under the run launcher.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    DefaultScheduleStatus,
    Definitions,
    RetryPolicy,
    ScheduleDefinition,
    SensorDefinition,
    colored_console_logger,
    define_asset_job,
    in_process_executor,
)

from orchestration.assets import RETRY_POLICY, sync_assets
from orchestration.freshness import freshness_job
from orchestration.naming import sync_job_name, sync_keys
from orchestration.notifications import dispatcher_sensor
from orchestration.overview import overview_specs
from orchestration.partitions import partition_sensor
from orchestration.worker import sync_worker_job, worker_sensor
from sources.registry import INTEGRATIONS
from sources.spec import IntegrationSpec

FRESHNESS_CRON = "*/5 * * * *"


def build_definitions(
    integrations: Mapping[str, IntegrationSpec] = INTEGRATIONS,
    *,
    retry_policy: RetryPolicy | None = RETRY_POLICY,
) -> Definitions:
    assets: list[AssetsDefinition | AssetSpec] = [*overview_specs(integrations)]
    jobs = []
    sensors: list[SensorDefinition] = [dispatcher_sensor(), worker_sensor()]
    for spec in integrations.values():
        sensors.append(partition_sensor(spec))
        for sync in spec.syncs.values():
            assets.append(sync_assets(spec, sync, retry_policy=retry_policy))
            jobs.append(
                define_asset_job(
                    name=sync_job_name(spec, sync),
                    selection=AssetSelection.assets(*sync_keys(spec, sync)),
                    description=f"{spec.title} sync {sync.name!r} for one connection, by hand.",
                )
            )
    freshness = freshness_job(integrations)
    return Definitions(
        assets=assets,
        jobs=[*jobs, sync_worker_job, freshness],
        sensors=sensors,
        schedules=[
            ScheduleDefinition(
                name=f"{freshness.name}_schedule",
                job=freshness,
                cron_schedule=FRESHNESS_CRON,
                default_status=DefaultScheduleStatus.RUNNING,
                description="Evaluates every connection's freshness every 5 minutes.",
            )
        ],
        executor=in_process_executor,
        loggers={"console": colored_console_logger.configured({"log_level": "INFO"})},
    )


defs = build_definitions()
