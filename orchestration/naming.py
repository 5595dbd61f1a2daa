"""The names Dagster shows for our things: asset keys, ops, jobs, sensors and run tags."""

from __future__ import annotations

from dagster import AssetKey

from sources.spec import IntegrationSpec, SyncSpec

MODE_TAG = "syncs/mode"
"""Run tag: ``full`` makes the run a full refresh (list everything, infer deletions)."""

SYNC_TYPE_TAG = "syncs/sync_type"
"""Run tag, set by the run: what the sync was (INITIAL, INCREMENTAL or FULL)."""

TRIGGER_TAG = "syncs/trigger"
"""Run tag: what asked for the run (``schedule`` or ``full_refresh_schedule``)."""

PARTITION_TAG = "dagster/partition"


def model_key(integration: str, model: str) -> AssetKey:
    return AssetKey([integration, model])


def sync_keys(spec: IntegrationSpec, sync: SyncSpec) -> list[AssetKey]:
    return [model_key(spec.name, model) for model in sync.models]


def sync_op_name(spec: IntegrationSpec, sync: SyncSpec) -> str:
    return f"{spec.name}_{sync.name}"


def sync_job_name(spec: IntegrationSpec, sync: SyncSpec) -> str:
    return f"{spec.name}_{sync.name}_sync"


def schedule_sensor_name(spec: IntegrationSpec, sync: SyncSpec) -> str:
    return f"{spec.name}_{sync.name}_schedule"
