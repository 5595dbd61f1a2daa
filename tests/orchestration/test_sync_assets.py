"""Materializing a connection's partition runs the engine against the sandbox and reports it."""

from __future__ import annotations

from dagster import (
    AssetKey,
    DagsterEventType,
    FloatMetadataValue,
    IntMetadataValue,
    RetryPolicy,
    TextMetadataValue,
    materialize,
)

from orchestration.assets import SyncRunConfig, run_mode, sync_assets
from orchestration.definitions import build_definitions
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import query
from tests.orchestration.conftest import add_partitions, run_sync

CONTACTS = AssetKey(["hubspot", "contacts"])
COMPANIES = AssetKey(["hubspot", "companies"])


def materializations(result) -> dict[AssetKey, dict]:
    return {
        e.asset_key: dict(e.materialization.metadata)
        for e in result.get_asset_materialization_events()
    }


def checks(result) -> dict[tuple[str, str], tuple[bool, str]]:
    return {
        (e.asset_key.to_user_string(), e.check_name): (e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    }


def test_materializing_a_partition_writes_the_warehouse_and_numeric_metadata(
    home, hubspot, instance
):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    add_partitions(instance, home)
    bad = hubspot.ids(ACME, "companies")[0]
    hubspot.update(ACME, "companies", bad, {"numberofemployees": "several"})

    result = run_sync(instance, "acme")
    assert result.success
    assert query(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    ) == [("acme", 250)]
    meta = materializations(result)
    assert set(meta) == {CONTACTS, COMPANIES, AssetKey(["hubspot", "deals"])}
    contacts = meta[CONTACTS]
    for name in ("added", "updated", "deleted", "unchanged", "rejected", "rows_total"):
        assert isinstance(contacts[name], IntMetadataValue), name
    assert isinstance(contacts["api_requests"], IntMetadataValue)
    assert isinstance(contacts["duration_seconds"], FloatMetadataValue)
    assert isinstance(contacts["sync_type"], TextMetadataValue)
    assert (contacts["added"].value, contacts["rows_total"].value) == (250, 250)
    assert (meta[COMPANIES]["added"].value, meta[COMPANIES]["rejected"].value) == (29, 1)
    assert contacts["sync_type"].value == "INITIAL"
    tags = instance.get_run_by_id(result.run_id).tags
    assert (tags["syncs/mode"], tags["syncs/sync_type"]) == ("incremental", "INITIAL")
    engine_run = contacts["run_id"].value
    assert query(
        home,
        "select status, added, api_requests from syncs.sync_runs where run_id = ?",
        [engine_run],
    ) == [("success", 299, contacts["api_requests"].value)]
    got = checks(result)
    assert len(got) == 12
    assert got.pop(("hubspot/companies", "no_rejected_records")) == (False, "WARN")
    assert all(passed for passed, _ in got.values())
    records = instance.fetch_materializations(CONTACTS, limit=10).records
    assert [r.partition_key for r in records] == ["acme"]

    changed = hubspot.ids(ACME, "contacts")[0]
    hubspot.update(ACME, "contacts", changed, {"jobtitle": "Head of Partitions"})
    again = materializations(run_sync(instance, "acme"))[CONTACTS]
    assert again["sync_type"].value == "INCREMENTAL"
    assert (again["added"].value, again["updated"].value, again["rows_total"].value) == (0, 1, 250)
    assert again["dagster/row_count"].value == 250

    other = materializations(run_sync(instance, "globex"))[CONTACTS]
    assert (other["rows_total"].value, other["dagster/row_count"].value) == (120, 370)


def test_full_refresh_tag_catches_hard_deletions_and_reset_lists_everything(
    home, hubspot, instance
):
    add_hubspot(home, hubspot)
    add_partitions(instance, home)
    assert run_sync(instance, "acme").success
    for record_id in hubspot.ids(ACME, "contacts")[:2]:
        hubspot.erase(ACME, "contacts", record_id)

    full = materializations(run_sync(instance, "acme", tags={"syncs/mode": "full"}))[CONTACTS]
    assert (full["sync_type"].value, full["mode"].value, full["deleted"].value) == (
        "FULL",
        "full",
        2,
    )
    assert full["rows_total"].value == 248

    reset = materializations(run_sync(instance, "acme", config={"reset": True}))[CONTACTS]
    assert (reset["sync_type"].value, reset["added"].value) == ("INITIAL", 0)
    assert reset["unchanged"].value == 248


def test_full_refresh_comes_from_the_run_config_or_the_tag():
    assert run_mode(SyncRunConfig(), {}) == "incremental"
    assert run_mode(SyncRunConfig(full_refresh=True), {}) == "full"
    assert run_mode(SyncRunConfig(), {"syncs/mode": "full"}) == "full"
    assert run_mode(SyncRunConfig(), {"syncs/mode": "incremental"}) == "incremental"


def test_selecting_one_model_runs_the_whole_sync_and_reports_every_model(home, hubspot, instance):
    add_hubspot(home, hubspot)
    add_partitions(instance, home)
    job = (
        build_definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={CONTACTS})
    )
    result = job.execute_in_process(partition_key="acme", instance=instance)
    assert result.success
    assert query(home, "select count(*) from hubspot.companies") == [(30,)]
    partitions = {
        key: [r.partition_key for r in instance.fetch_materializations(key, limit=5).records]
        for key in (CONTACTS, COMPANIES)
    }
    assert partitions == {CONTACTS: ["acme"], COMPANIES: ["acme"]}
    companies = instance.fetch_materializations(COMPANIES, limit=1).records[0]
    assert companies.asset_materialization.metadata["added"].value == 30


def _step_events(instance, run_id: str) -> list[DagsterEventType]:
    return [
        e.dagster_event.event_type
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None
        and e.dagster_event.event_type
        in (
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_UP_FOR_RETRY,
            DagsterEventType.STEP_RESTARTED,
        )
    ]


def test_authentication_errors_fail_without_retry(home, hubspot, instance):
    add_hubspot(home, hubspot, token="not-a-valid-token")
    add_partitions(instance, home)
    result = run_sync(instance, "acme")
    assert not result.success
    assert _step_events(instance, result.run_id) == [DagsterEventType.STEP_START]
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "AuthenticationError" in failure.step_failure_data.error.message
    assert "acme" in failure.step_failure_data.error.message


def test_transient_failures_are_retried(home, hubspot, instance):
    add_hubspot(home, hubspot)
    add_partitions(instance, home)
    spec = INTEGRATIONS["hubspot"]
    assets = sync_assets(spec, spec.syncs["crm"], retry_policy=RetryPolicy(max_retries=2))
    hubspot.inject_fault("429", count=5, retry_after=1, path_prefix="/crm/v3/objects/contacts")
    result = materialize([assets], partition_key="acme", instance=instance, raise_on_error=False)
    assert result.success
    assert _step_events(instance, result.run_id) == [
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_UP_FOR_RETRY,
        DagsterEventType.STEP_RESTARTED,
    ]
    assert query(home, "select status, error_type from syncs.sync_runs order by started_at") == [
        ("failed", "TransientError"),
        ("success", None),
    ]


def test_held_deletions_are_metadata_and_the_run_config_confirms_them(home, hubspot, instance):
    add_hubspot(home, hubspot)
    add_partitions(instance, home)
    assert run_sync(instance, "acme").success
    for record_id in hubspot.ids(ACME, "contacts")[:150]:
        hubspot.erase(ACME, "contacts", record_id)

    held = materializations(run_sync(instance, "acme", tags={"syncs/mode": "full"}))[CONTACTS]
    assert (held["deleted"].value, held["deletions_held"].value) == (0, 150)
    assert held["suspicious"].value is True and "150 of 250" in held["note"].value

    unconfirmed = run_sync(instance, "acme", config={"confirm_deletions": True})
    assert not unconfirmed.success
    assert _step_events(instance, unconfirmed.run_id) == [DagsterEventType.STEP_START]

    confirmed = run_sync(instance, "acme", config={"full_refresh": True, "confirm_deletions": True})
    contacts = materializations(confirmed)[CONTACTS]
    assert (contacts["deleted"].value, contacts["deletions_held"].value) == (150, 0)


def test_a_run_refused_because_the_connection_is_syncing_is_retried(home, hubspot, instance):
    from pipelines.engine.run_lock import RunLock

    add_hubspot(home, hubspot)
    add_partitions(instance, home)
    spec = INTEGRATIONS["hubspot"]
    assets = sync_assets(spec, spec.syncs["crm"], retry_policy=RetryPolicy(max_retries=1))
    with RunLock(home, "hubspot", "acme", "crm"):
        result = materialize(
            [assets], partition_key="acme", instance=instance, raise_on_error=False
        )
    assert not result.success
    assert DagsterEventType.STEP_UP_FOR_RETRY in _step_events(instance, result.run_id)
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    assert failure.user_failure_data.metadata["error_type"].value == "RunInProgressError"
    assert failure.user_failure_data.metadata["retryable"].value is True
    assert query(home, "select status, error_type from syncs.sync_runs") == [
        ("failed", "RunInProgressError"),
        ("failed", "RunInProgressError"),
    ]
