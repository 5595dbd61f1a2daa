"""Syncs started on request (``POST /syncs/trigger``): in the background, one per connection.

A trigger takes its runs' locks (``pipelines.engine.run_lock``) before it answers, so a
connection already syncing — from this server, ``syncs run`` or Dagster — is answered 409
at once instead of being accepted and then refused in the background.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipelines.engine.run_lock import RunLock
from pipelines.engine.sync import SyncFailed, reset
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.errors import ConfigError, RunInProgressError, SyncsError

TriggerMode = Literal["incremental", "full", "reset"]
MODES: tuple[str, ...] = ("incremental", "full", "reset")


class Busy(SyncsError):
    """The connection is already running the sync asked for (the API answers 409)."""


@dataclass
class Trigger:
    trigger_id: str
    connection_id: str
    syncs: list[str]
    mode: TriggerMode
    confirm_deletions: bool = False
    status: Literal["running", "success", "failed"] = "running"
    requested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "trigger_id": self.trigger_id,
            "connection_id": self.connection_id,
            "syncs": self.syncs,
            "mode": self.mode,
            "confirm_deletions": self.confirm_deletions,
            "status": self.status,
            "requested_at": self.requested_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "runs": self.runs,
            "error": self.error,
        }


class SyncTriggers:
    KEEP = 200

    def __init__(self, home: Home) -> None:
        self.home = home
        self.runner = sync_runner(home)
        self._lock = threading.Lock()
        self._by_id: dict[str, Trigger] = {}
        self._active: dict[str, Trigger] = {}
        self._threads: list[threading.Thread] = []

    def start(
        self, connection_id: str, sync: str | None, mode: str, *, confirm_deletions: bool = False
    ) -> Trigger:
        """Validate and start; ``ConfigError`` for bad input, ``Busy`` when one is running."""
        connection = Connections(self.home).get(connection_id)
        spec = connection.spec
        if sync is not None and sync not in spec.syncs:
            raise ConfigError(
                f"{spec.name} has no sync {sync!r}; its syncs: {', '.join(spec.syncs)}"
            )
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if confirm_deletions and mode == "incremental":
            raise ConfigError(
                "confirm_deletions applies the deletions a full listing finds: "
                'give "mode": "full" (or "reset")'
            )
        trigger = Trigger(
            trigger_id=f"trg_{uuid.uuid4().hex[:16]}",
            connection_id=connection_id,
            syncs=[sync] if sync else list(spec.syncs),
            mode=mode,  # type: ignore[arg-type]
            confirm_deletions=confirm_deletions,
        )
        with self._lock:
            running = self._active.get(connection_id)
            if running is not None:
                raise Busy(
                    f"connection {connection_id!r} already has a triggered sync running "
                    f"({running.trigger_id}); wait for it to finish"
                )
            locks = self._take_locks(connection.integration, connection_id, trigger.syncs)
            self._active[connection_id] = trigger
            self._by_id[trigger.trigger_id] = trigger
            if len(self._by_id) > self.KEEP:
                for old in [t for t in self._by_id.values() if t.status != "running"][
                    : len(self._by_id) - self.KEEP
                ]:
                    del self._by_id[old.trigger_id]
            thread = threading.Thread(
                target=self._run,
                args=(trigger, locks),
                name=f"sync-{trigger.trigger_id}",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return trigger

    def get(self, trigger_id: str) -> Trigger | None:
        with self._lock:
            return self._by_id.get(trigger_id)

    def running(self, connection_id: str) -> Trigger | None:
        with self._lock:
            return self._active.get(connection_id)

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def _take_locks(self, integration: str, connection_id: str, syncs: list[str]) -> list[RunLock]:
        """Every run's lock, or none and ``Busy`` when one of the syncs is running."""
        locks: list[RunLock] = []
        try:
            for name in syncs:
                lock = RunLock(self.home, integration, connection_id, name)
                locks.append(lock.acquire("the trigger"))
        except RunInProgressError as error:
            for lock in locks:
                lock.release()
            raise Busy(str(error)) from None
        return locks

    def _run(self, trigger: Trigger, locks: list[RunLock]) -> None:
        failed = False
        try:
            connection = self.runner.connections.get(trigger.connection_id)
            for name, lock in zip(trigger.syncs, locks, strict=True):
                if trigger.mode == "reset":
                    reset(self.home, trigger.connection_id, name)
                mode = "full" if trigger.mode == "full" else "incremental"
                try:
                    result = self.runner.run_one(
                        connection,
                        connection.spec.syncs[name],
                        mode=mode,
                        confirm_deletions=trigger.confirm_deletions,
                        lock=lock,
                    )
                except SyncFailed as failure:
                    result = failure.result
                    failed = True
                finally:
                    lock.release()
                trigger.runs.append(
                    {
                        "run_id": result.run_id,
                        "sync": result.sync,
                        "sync_type": result.sync_type,
                        "status": result.status,
                        "counts": {k: result.total(k) for k in ("added", "updated", "deleted")},
                        "deletions_held": result.total("deletions_held"),
                        "error": {"type": result.error_type, "message": result.error}
                        if result.status != "success"
                        else None,
                    }
                )
        except Exception as error:
            failed = True
            trigger.error = f"{type(error).__name__}: {error}"
        finally:
            for lock in locks:
                lock.release()
            trigger.status = "failed" if failed else "success"
            trigger.finished_at = datetime.now(UTC)
            with self._lock:
                self._active.pop(trigger.connection_id, None)
