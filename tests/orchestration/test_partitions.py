"""Partitions follow the connections: added when a connection is, removed when it is."""

from __future__ import annotations

from dagster import build_sensor_context

from orchestration.definitions import defs
from orchestration.partitions import sync_partitions
from pipelines.store.connections import Connections
from sources.registry import INTEGRATIONS

PARTITIONS = "hubspot_connections"


def add(home, connection_id: str, **kwargs) -> None:
    Connections(home).add(
        "hubspot",
        connection_id,
        credentials={"access_token": f"token-{connection_id}"},
        config={"base_url": "http://127.0.0.1:9"},
        **kwargs,
    )


def tick(instance):
    sensor = defs.resolve_sensor_def("hubspot_connections")
    return sensor.evaluate_tick(build_sensor_context(instance=instance))


def changes(result) -> list[tuple[str, list[str]]]:
    return [
        (type(r).__name__, list(r.partition_keys)) for r in result.dynamic_partitions_requests or []
    ]


def test_partition_sensor_adds_new_connections_and_removes_removed_ones(home, instance):
    add(home, "acme")
    add(home, "globex", enabled=False)
    first = tick(instance)
    assert changes(first) == [("AddDynamicPartitionsRequest", ["acme", "globex"])]
    instance.add_dynamic_partitions(PARTITIONS, ["acme", "globex"])

    assert changes(tick(instance)) == []

    Connections(home).remove("globex")
    add(home, "initech")
    assert changes(tick(instance)) == [
        ("AddDynamicPartitionsRequest", ["initech"]),
        ("DeleteDynamicPartitionsRequest", ["globex"]),
    ]


def test_partitions_can_be_brought_in_step_at_once(home, instance):
    add(home, "acme")
    add(home, "globex")
    instance.add_dynamic_partitions(PARTITIONS, ["acme", "removed-long-ago"])
    sync_partitions(instance, INTEGRATIONS.values(), home)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["acme", "globex"]
