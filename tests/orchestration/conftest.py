from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, instance_for_test

from orchestration.definitions import defs
from orchestration.partitions import sync_partitions
from pipelines.home import Home
from sources.registry import INTEGRATIONS

SYNC_JOB = "hubspot_crm_sync"


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


def add_partitions(instance: DagsterInstance, home: Home) -> None:
    sync_partitions(instance, INTEGRATIONS.values(), home)


def run_sync(
    instance: DagsterInstance,
    connection_id: str,
    *,
    tags: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
    job: Any = None,
) -> ExecuteInProcessResult:
    """The sync job the scheduling sensor targets, for one partition, in this process."""
    job = job or defs.resolve_job_def(SYNC_JOB)
    run_config = {"ops": {"hubspot_crm": {"config": config}}} if config else None
    return job.execute_in_process(
        partition_key=connection_id,
        instance=instance,
        tags=tags,
        run_config=run_config,
        raise_on_error=False,
    )
