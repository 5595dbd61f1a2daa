"""Freshness is judged per connection against its own frequency, from the warehouse's runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetKey

from orchestration.checks import freshness
from orchestration.definitions import defs
from pipelines.engine.sync import SyncFailed, SyncRunner
from pipelines.runs import sync_runner
from pipelines.store.connections import Connection, Connections
from pipelines.store.db import control_db
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, GLOBEX, add_hubspot

CRM = INTEGRATIONS["hubspot"].syncs["crm"]


def _connection(cid: str, frequency: timedelta | None, enabled: bool = True) -> Connection:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Connection(cid, "hubspot", {}, frequency, enabled, created, created)


def test_a_connection_is_stale_after_twice_its_frequency_and_a_minute():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cases = {
        "fast": (_connection("fast", timedelta(seconds=15)), now - timedelta(seconds=91), False),
        "hourly": (_connection("hourly", timedelta(hours=1)), now - timedelta(minutes=100), True),
        "default": (_connection("default", None), now - timedelta(minutes=50), True),
        "never": (_connection("never", timedelta(hours=1)), None, False),
    }
    for name, (connection, last, fresh) in cases.items():
        assert freshness(connection, CRM, last, now).passed is fresh, name
    assert freshness(cases["fast"][0], CRM, cases["fast"][1], now).description == (
        "stale: last success 91s ago, allowed 90s"
    )
    paused = freshness(_connection("off", timedelta(seconds=15), False), CRM, None, now)
    assert paused.passed and paused.severity.value == "WARN"
    assert paused.description.startswith("paused: the connection is disabled")


def test_the_freshness_job_judges_every_connection_on_its_partition(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    Connections(home).add("hubspot", "globex", frequency="15s")
    SyncRunner(home).run("acme")
    with control_db(home.control_store) as db:
        db.execute(
            "UPDATE connections SET created_at = ? WHERE connection_id = 'globex'",
            ((datetime.now(UTC) - timedelta(minutes=5)).isoformat(),),
        )

    result = defs.resolve_job_def("freshness_checks").execute_in_process(instance=instance)
    assert result.success
    verdicts = {
        (e.asset_key.to_user_string(), e.partition): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "fresh"
    }
    for model in ("contacts", "companies", "deals"):
        assert verdicts[(f"hubspot/{model}", "acme")].passed
        assert not verdicts[(f"hubspot/{model}", "globex")].passed
    assert verdicts[("hubspot/contacts", "globex")].description.startswith(
        "stale: never synced successfully"
    )


def test_the_freshness_job_records_the_connections_overview(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", "token-revoked")
    Connections(home).add(
        "hubspot",
        "paused",
        credentials={"access_token": "token-paused"},
        config={"base_url": hubspot.base_url},
        enabled=False,
    )
    runner = sync_runner(home)
    runner.run("acme")
    with pytest.raises(SyncFailed):
        runner.run("globex")

    result = defs.resolve_job_def("freshness_checks").execute_in_process(instance=instance)
    produced = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    overview = produced["syncs/connections"].materialization.metadata
    rows = {r.data["connection_id"]: r.data for r in overview["connections"].value.records}
    assert rows["acme"]["last_status"] == "success" and rows["acme"]["rows"] == 300
    assert rows["globex"]["last_status"] == "failed"
    assert "refused the credentials" in rows["globex"]["last_error"]
    assert (rows["paused"]["enabled"], rows["paused"]["next_due_at"]) == (False, "paused")
    assert overview["failing"].value == 1
    events = produced["syncs/change_events"].materialization.metadata
    assert events["dagster/row_count"].value == 300
    graph = defs.resolve_asset_graph()
    assert (
        AssetKey(["hubspot", "contacts"])
        in graph.get(AssetKey(["syncs", "change_events"])).parent_keys
    )
