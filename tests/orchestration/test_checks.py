"""Freshness is judged against each connection's own frequency, from the warehouse's runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestration.checks import stale_connections
from orchestration.definitions import defs
from pipelines.engine.sync import SyncRunner
from pipelines.store.connections import Connection, Connections
from pipelines.store.db import control_db
from tests.conftest import ACME, GLOBEX, add_hubspot


def _connection(cid: str, frequency: timedelta | None, enabled: bool = True) -> Connection:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Connection(cid, "hubspot", {}, frequency, enabled, created, created)


def test_a_connection_is_stale_after_twice_its_frequency_and_a_minute():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    connections = [
        _connection("fast", timedelta(seconds=15)),
        _connection("hourly", timedelta(hours=1)),
        _connection("default", None),
        _connection("off", timedelta(seconds=15), enabled=False),
        _connection("never", timedelta(hours=1)),
    ]
    last = {
        "fast": now - timedelta(seconds=91),
        "hourly": now - timedelta(minutes=100),
        "default": now - timedelta(minutes=50),
        "off": now - timedelta(days=3),
    }
    stale = stale_connections(connections, "crm", last, now)
    assert {s.connection_id for s in stale} == {"fast", "never"}
    assert {s.connection_id: s.allowed for s in stale}["fast"] == timedelta(seconds=90)


def test_freshness_check_reads_last_successes_from_the_warehouse(home, hubspot, instance):
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
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert {"hubspot/contacts", "hubspot/companies", "hubspot/deals"} <= set(evaluations)
    contacts = evaluations["hubspot/contacts"]
    assert not contacts.passed
    assert contacts.metadata["stale_connections"].value == 1
    assert set(contacts.metadata["stale"].value) == {"globex"}
    assert contacts.description.startswith("stale: globex (last success never")
