"""The sync runner every caller uses: the engine, then the steps that follow every run —
the app's notifications and the schedule's record of the run — so a run from the CLI, the
API, Dagster or the demo is announced and counted alike."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.engine.results import OUTSIDE_POLLS, SyncResult
from pipelines.engine.sync import SyncRunner
from pipelines.engine.writer import Writer
from pipelines.home import Home
from pipelines.notify.outbox import notifier
from pipelines.store.connections import Connections
from pipelines.store.schedule import Schedule
from sources.errors import ConfigError


def scheduled(home: Home) -> Callable[[SyncResult], None]:
    """The step that tells the schedule a poll ended, so its next due time follows (records
    that came by webhook or action leave the polling schedule as it was)."""
    schedule = Schedule(home)
    connections = Connections(home)

    def record(result: SyncResult) -> None:
        if result.sync_type in OUTSIDE_POLLS:
            return
        try:
            connection = connections.get(result.connection_id)
        except ConfigError:
            return
        schedule.finished(
            connection=connection,
            sync=result.sync,
            full_listing=result.sync_type in ("INITIAL", "FULL"),
            started_at=result.started_at,
            finished_at=result.finished_at,
            status=result.status,
            run_id=result.run_id,
            error=result.error,
        )

    return record


def after_each_run(home: Home) -> Callable[[SyncResult], None]:
    steps = [notifier(home), scheduled(home)]

    def after(result: SyncResult) -> None:
        for step in steps:
            step(result)

    return after


def sync_runner(home: Home | None = None, *, linger: float = 0.0) -> SyncRunner:
    """``linger``: how long the warehouse connection stays open after a commit for the
    next one (``pipelines.engine.writer``); a process syncing many connections sets it."""
    home = home or Home.from_env()
    return SyncRunner(home, on_result=after_each_run(home), writer=Writer(home, linger=linger))
