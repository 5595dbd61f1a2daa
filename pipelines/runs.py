"""The sync runner every caller uses: the engine, and the app's notifications as the step
after each run, so a run from the CLI, the API, Dagster or the demo is announced alike."""

from __future__ import annotations

from pipelines.engine.sync import SyncRunner
from pipelines.home import Home
from pipelines.notify.outbox import notifier


def sync_runner(home: Home | None = None) -> SyncRunner:
    home = home or Home.from_env()
    return SyncRunner(home, on_result=notifier(home))
