"""The freshness job: every connection's ``fresh`` check, on its own partition, and the
overview assets (``orchestration.overview``).

A connection that stopped syncing produces no run to check it, so freshness is evaluated
on a schedule, for every connection of every sync at once, from the warehouse's record of
successful runs; each verdict is logged against the connection's partition.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from dagster import JobDefinition, OpExecutionContext, in_process_executor, job, op

from orchestration.checks import freshness_evaluations
from orchestration.overview import overview
from pipelines.home import Home
from sources.spec import IntegrationSpec

FRESHNESS_JOB = "freshness_checks"


def freshness_job(integrations: Mapping[str, IntegrationSpec]) -> JobDefinition:
    @op(name="evaluate_freshness", description="Logs every connection's freshness.")
    def evaluate(context: OpExecutionContext) -> None:
        home = Home.from_env()
        now = datetime.now(UTC)
        stale = 0
        for spec in integrations.values():
            for sync in spec.syncs.values():
                for connection_id, evaluation in freshness_evaluations(home, spec, sync, now):
                    context.log_event(evaluation.logged(spec.name, connection_id))
                    if not evaluation.passed and evaluation.model == sync.models[0]:
                        stale += 1
        context.log.info(f"{stale} stale connection-syncs")
        for materialization in overview(home, integrations):
            context.log_event(materialization)

    @job(
        name=FRESHNESS_JOB,
        executor_def=in_process_executor,
        description="Checks that every enabled connection synced recently enough.",
    )
    def _job() -> None:
        evaluate()

    return _job
