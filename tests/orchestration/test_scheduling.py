"""The scheduling sensor asks for due, enabled, idle connections at their own frequencies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetKey, DagsterRun, DagsterRunStatus, build_sensor_context

from orchestration.definitions import defs
from orchestration.scheduling import SyncHistory, due_mode, due_run_requests
from pipelines.store.connections import Connection, Connections
from sources.errors import ConfigError
from sources.registry import INTEGRATIONS
from sources.spec import SyncSpec
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.orchestration.conftest import SYNC_JOB, add_partitions, run_sync

SPEC = INTEGRATIONS["hubspot"]
CRM = SPEC.syncs["crm"]


def modes(requests) -> dict[str, str]:
    return {r.partition_key: r.tags["syncs/mode"] for r in requests}


def due_at(instance, home, now: datetime) -> dict[str, str]:
    return modes(due_run_requests(instance, SPEC, CRM, now, home))


def test_only_due_enabled_idle_connections_are_requested(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    connections = Connections(home)
    connections.add("hubspot", "globex", frequency="15s")
    connections.add(
        "hubspot",
        "paused",
        credentials={"access_token": "token-paused"},
        config={"base_url": hubspot.base_url},
        enabled=False,
    )
    with pytest.raises(ConfigError, match="below the minimum of 15s"):
        connections.add("hubspot", "acme", frequency="10s")
    add_partitions(instance, home)
    connections.add(
        "hubspot", "newcomer", credentials={"access_token": "t"}, config={"base_url": "http://x"}
    )

    sensor = defs.resolve_sensor_def("hubspot_crm_schedule")
    first = sensor(build_sensor_context(instance=instance))
    assert modes(first.run_requests) == {"acme": "incremental", "globex": "incremental"}
    assert sensor.job_name == SYNC_JOB

    assert run_sync(instance, "acme").success
    from_the_ui = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(["hubspot", "contacts"])}
    )
    assert from_the_ui.execute_in_process(partition_key="globex", instance=instance).success

    now = datetime.now(UTC)
    assert due_at(instance, home, now) == {}
    assert due_at(instance, home, now + timedelta(seconds=20)) == {"globex": "incremental"}
    later = now + timedelta(minutes=31)
    assert due_at(instance, home, later) == {"acme": "incremental", "globex": "incremental"}
    assert due_at(instance, home, now + timedelta(days=8)) == {"acme": "full", "globex": "full"}

    instance.add_run(
        DagsterRun(
            job_name=SYNC_JOB,
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": "globex"},
        )
    )
    assert due_at(instance, home, later) == {"acme": "incremental"}

    one = due_run_requests(instance, SPEC, CRM, later, home)
    two = due_run_requests(instance, SPEC, CRM, later + timedelta(seconds=15), home)
    assert one[0].run_key != two[0].run_key


def _connection(frequency: timedelta | None = None, enabled: bool = True) -> Connection:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Connection("c1", "hubspot", {}, frequency, enabled, created, created)


def test_due_mode_follows_each_frequency_and_the_full_refresh_cadence():
    sync = SyncSpec(
        "crm",
        ("contacts",),
        default_frequency=timedelta(hours=1),
        full_refresh_frequency=timedelta(days=1),
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ran = SyncHistory(last_started=start, last_full_refresh=start)
    assert due_mode(_connection(), sync, SyncHistory(), start) == "incremental"
    assert due_mode(_connection(), sync, ran, start + timedelta(minutes=59)) is None
    assert due_mode(_connection(), sync, ran, start + timedelta(hours=1)) == "incremental"
    fast = _connection(timedelta(seconds=15))
    assert due_mode(fast, sync, ran, start + timedelta(seconds=15)) == "incremental"
    assert due_mode(fast, sync, ran, start + timedelta(days=1)) == "full"
    running = SyncHistory(running=True, last_started=start, last_full_refresh=start)
    assert due_mode(fast, sync, running, start + timedelta(days=2)) is None
    assert due_mode(_connection(enabled=False), sync, SyncHistory(), start) is None
