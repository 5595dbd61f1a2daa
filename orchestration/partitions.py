"""One dynamic partition per connection, per integration, kept in step with the registry.

Connections are added and removed outside Dagster (the CLI today, an API later), so a
sensor per integration compares the integration's partitions with its connections and adds
or deletes the difference. Disabled connections keep their partition: their data is still
there to look at; they are only left out of scheduling.
"""

from collections.abc import Iterable
from functools import cache

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.spec import IntegrationSpec

SENSOR_INTERVAL_SECONDS = 15


@cache
def connection_partitions(integration: str) -> DynamicPartitionsDefinition:
    """The partitions of an integration's assets: its connection ids."""
    return DynamicPartitionsDefinition(name=f"{integration}_connections")


def partition_changes(existing: set[str], connection_ids: set[str]) -> tuple[list[str], list[str]]:
    """What to add and what to delete so the partitions are exactly the connections."""
    return sorted(connection_ids - existing), sorted(existing - connection_ids)


def sync_partitions(
    instance: DagsterInstance, integrations: Iterable[IntegrationSpec], home: Home
) -> None:
    """Make the partitions match the connections now, without waiting for the sensor."""
    connections = Connections(home)
    for spec in integrations:
        name = connection_partitions(spec.name).name
        assert name is not None
        wanted = {c.connection_id for c in connections.list(spec.name)}
        added, removed = partition_changes(set(instance.get_dynamic_partitions(name)), wanted)
        if added:
            instance.add_dynamic_partitions(name, added)
        for key in removed:
            instance.delete_dynamic_partition(name, key)


def partition_sensor(spec: IntegrationSpec) -> SensorDefinition:
    partitions = connection_partitions(spec.name)

    @sensor(
        name=f"{spec.name}_connections",
        description=(
            f"Keeps one partition per {spec.title} connection: adds the new ones, removes the "
            "removed ones."
        ),
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        existing = set(context.instance.get_dynamic_partitions(partitions.name))  # type: ignore[arg-type]
        wanted = {c.connection_id for c in Connections(Home.from_env()).list(spec.name)}
        added, removed = partition_changes(existing, wanted)
        if not added and not removed:
            return SkipReason(f"{len(existing)} partitions match the connections")
        requests = []
        if added:
            requests.append(partitions.build_add_request(added))
            context.log.info(f"adding partitions {', '.join(added)}")
        if removed:
            requests.append(partitions.build_delete_request(removed))
            context.log.info(f"removing partitions {', '.join(removed)}")
        return SensorResult(dynamic_partitions_requests=requests)

    return _sensor
