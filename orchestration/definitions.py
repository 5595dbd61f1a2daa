"""Everything Dagster loads (``workspace.yaml``), generated from the integration registry.

Per integration: a dynamic partitions definition of its connections and the sensor that
keeps it in step. Per sync: a multi-asset (one asset per model, with its in-run checks),
a job, the scheduling sensor and a freshness check. Across all: the post-load sensor and
the schedule of the freshness checks. An integration added to ``sources.registry``
appears here with no change to this package.

Runs use the in-process executor: a sync is one step, so a step process per run would only
add its start-up time; each run is still its own process under the run launcher.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RetryPolicy,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
    in_process_executor,
)

from orchestration.assets import RETRY_POLICY, sync_assets
from orchestration.checks import freshness_check
from orchestration.naming import sync_job_name, sync_keys
from orchestration.notifications import dispatcher_sensor, notifications_sensor
from orchestration.partitions import partition_sensor
from orchestration.scheduling import schedule_sensor
from sources.registry import INTEGRATIONS
from sources.spec import IntegrationSpec

FRESHNESS_JOB = "freshness_checks"
FRESHNESS_CRON = "*/5 * * * *"


def build_definitions(
    integrations: Mapping[str, IntegrationSpec] = INTEGRATIONS,
    *,
    retry_policy: RetryPolicy | None = RETRY_POLICY,
) -> Definitions:
    assets: list[AssetsDefinition] = []
    checks: list[AssetChecksDefinition] = []
    jobs = []
    sensors: list[SensorDefinition] = [notifications_sensor(integrations), dispatcher_sensor()]
    for spec in integrations.values():
        sensors.append(partition_sensor(spec))
        for sync in spec.syncs.values():
            assets.append(sync_assets(spec, sync, retry_policy=retry_policy))
            freshness = freshness_check(spec, sync)
            checks.append(freshness)
            jobs.append(
                define_asset_job(
                    name=sync_job_name(spec, sync),
                    selection=AssetSelection.assets(*sync_keys(spec, sync))
                    - AssetSelection.checks(freshness),
                    description=f"{spec.title} sync {sync.name!r} for one connection.",
                )
            )
            sensors.append(schedule_sensor(spec, sync))
    freshness_job = define_asset_job(
        name=FRESHNESS_JOB,
        selection=AssetSelection.checks(*checks),
        description="Checks that every enabled connection synced recently enough.",
    )
    return Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[*jobs, freshness_job],
        sensors=sensors,
        schedules=[
            ScheduleDefinition(
                name=f"{FRESHNESS_JOB}_schedule",
                job=freshness_job,
                cron_schedule=FRESHNESS_CRON,
                default_status=DefaultScheduleStatus.RUNNING,
                description="Runs the freshness checks of every sync every 5 minutes.",
            )
        ],
        executor=in_process_executor,
    )


defs = build_definitions()
