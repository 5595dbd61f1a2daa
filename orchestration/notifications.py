"""Webhooks to the application under Dagster: the dispatcher, a bounded batch per tick.

Each run's messages are written to the outbox by the run itself, right after its commit
(``pipelines.runs``); a process killed between the two leaves messages unwritten, and the
sync worker writes those when it starts (``pipelines.notify.dispatcher.reconcile``, from
the warehouse's record of runs).
"""

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from pipelines.home import Home
from pipelines.notify.dispatcher import deliver_due

DISPATCHER_NAME = "webhook_dispatcher"
DISPATCH_INTERVAL_SECONDS = 5
DISPATCH_BATCH = 20


def dispatcher_sensor() -> SensorDefinition:
    """Delivers due webhooks from the outbox; a sensor tick never waits on the warehouse."""

    @sensor(
        name=DISPATCHER_NAME,
        description="Delivers due webhooks from the outbox, signed, with retries.",
        minimum_interval_seconds=DISPATCH_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        attempts = deliver_due(Home.from_env(), limit=DISPATCH_BATCH)
        outcomes: dict[str, int] = {}
        for attempt in attempts:
            outcomes[attempt.outcome] = outcomes.get(attempt.outcome, 0) + 1
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        if attempts:
            context.log.info(f"webhook attempts: {summary}")
        return SkipReason(f"webhook attempts: {summary or 'none due'}")

    return _sensor
