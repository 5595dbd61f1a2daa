"""The sync worker keeps every connection synced at its own frequency, in one Dagster run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dagster import AssetKey, DagsterRun, DagsterRunStatus, build_sensor_context

from orchestration.definitions import defs
from orchestration.worker import WORKER_JOB, WORKER_TAG
from pipelines.store.connections import Connections
from pipelines.store.db import control_db
from pipelines.store.schedule import Schedule
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import query
from tests.orchestration.conftest import add_partitions

CONTACTS = AssetKey(["hubspot", "contacts"])


def run_worker(instance, minutes: float = 0.01):
    return defs.resolve_job_def(WORKER_JOB).execute_in_process(
        instance=instance,
        run_config={
            "ops": {"sync_due_connections": {"config": {"minutes": minutes, "poll_seconds": 0.2}}}
        },
    )


def test_one_worker_run_syncs_every_due_connection_on_its_own_partition(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    Connections(home).add(
        "hubspot",
        "paused",
        credentials={"access_token": "token-paused"},
        config={"base_url": hubspot.base_url},
        enabled=False,
    )
    add_partitions(instance, home)

    result = run_worker(instance)
    assert result.success
    assert query(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    ) == [("acme", 250), ("globex", 120)]
    materialized = {
        (e.asset_key.to_user_string(), e.partition)
        for e in result.get_asset_materialization_events()
    }
    assert materialized == {
        (f"hubspot/{model}", cid)
        for model in ("contacts", "companies", "deals")
        for cid in ("acme", "globex")
    }
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert evaluations[("hubspot/contacts", "sync_succeeded", "acme")] is True
    assert evaluations[("hubspot/deals", "no_duplicate_ids", "globex")] is True
    assert instance.get_materialized_partitions(CONTACTS) == {"acme", "globex"}

    entries = {e.connection_id: e for e in Schedule(home).entries()}
    assert entries["acme"].last_status == "success"
    assert entries["acme"].due_at == entries["acme"].last_started_at + timedelta(minutes=30)
    assert entries["paused"].last_started_at is None
    again = run_worker(instance)
    assert not again.get_asset_materialization_events()


def test_a_failing_connection_fails_only_its_own_partition(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", "token-revoked")
    add_partitions(instance, home)

    result = run_worker(instance)
    assert result.success
    assert {e.partition for e in result.get_asset_materialization_events()} == {"acme"}
    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if e.partition == "globex" and e.check_name == "sync_succeeded"
    ]
    assert len(failed) == 3 and not any(e.passed for e in failed)
    assert "refused the credentials" in failed[0].description
    (entry,) = Schedule(home).entries(connection_id="globex")
    assert entry.last_status == "failed" and "refused the credentials" in entry.last_error
    assert query(home, "select count(*) from hubspot.contacts where connection_id = 'acme'") == [
        (250,)
    ]


def test_a_run_started_elsewhere_counts_for_the_schedule(home, hubspot, instance, runner):
    add_hubspot(home, hubspot, "acme", ACME)
    add_partitions(instance, home)
    runner.run("acme")
    assert not run_worker(instance).get_asset_materialization_events()


def test_messages_a_crash_left_unwritten_are_written_when_the_worker_starts(
    home, hubspot, instance, runner
):
    add_hubspot(home, hubspot, "acme", ACME)
    runner.run("acme")
    with control_db(home.control_store) as db:
        db.execute("DELETE FROM outbox")
    run_worker(instance)
    with control_db(home.control_store) as db:
        models = {r["model"] for r in db.execute("SELECT model FROM outbox").fetchall()}
    assert models == {"contacts", "companies", "deals"}


def test_the_worker_sensor_keeps_one_worker_per_shard_and_says_what_is_due_next(
    home, hubspot, instance, monkeypatch
):
    add_hubspot(home, hubspot, "acme", ACME)
    sensor = defs.resolve_sensor_def("sync_workers")
    first = sensor(build_sensor_context(instance=instance))
    assert [r.tags[WORKER_TAG] for r in first.run_requests] == ["0/1"]
    instance.add_run(
        DagsterRun(
            job_name=WORKER_JOB,
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.STARTED,
            tags={WORKER_TAG: "0/1"},
        )
    )
    second = sensor(build_sensor_context(instance=instance))
    assert not second.run_requests
    assert "1 worker run(s) going; next: acme hubspot/crm due now" in (
        second.skip_reason.skip_message
    )

    monkeypatch.setenv("SYNCS_WORKER_SHARDS", "3")
    third = sensor(build_sensor_context(instance=instance))
    assert sorted(r.tags[WORKER_TAG] for r in third.run_requests) == ["0/3", "1/3", "2/3"]
    assert datetime.now(UTC) > Schedule(home).entries()[0].due_at
