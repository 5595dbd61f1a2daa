"""Syncs started on request (``POST /syncs/trigger``): in the background, one per connection."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipelines.engine.sync import SyncFailed, reset
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.errors import ConfigError, SyncsError

TriggerMode = Literal["incremental", "full", "reset"]
MODES: tuple[str, ...] = ("incremental", "full", "reset")


class Busy(SyncsError):
    """The connection already has a triggered sync running (the API answers 409)."""


@dataclass
class Trigger:
    trigger_id: str
    connection_id: str
    syncs: list[str]
    mode: TriggerMode
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

    def start(self, connection_id: str, sync: str | None, mode: str) -> Trigger:
        """Validate and start; ``ConfigError`` for bad input, ``Busy`` when one is running."""
        connection = Connections(self.home).get(connection_id)
        spec = connection.spec
        if sync is not None and sync not in spec.syncs:
            raise ConfigError(
                f"{spec.name} has no sync {sync!r}; its syncs: {', '.join(spec.syncs)}"
            )
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        trigger = Trigger(
            trigger_id=f"trg_{uuid.uuid4().hex[:16]}",
            connection_id=connection_id,
            syncs=[sync] if sync else list(spec.syncs),
            mode=mode,  # type: ignore[arg-type]
        )
        with self._lock:
            running = self._active.get(connection_id)
            if running is not None:
                raise Busy(
                    f"connection {connection_id!r} already has a triggered sync running "
                    f"({running.trigger_id}); wait for it to finish"
                )
            self._active[connection_id] = trigger
            self._by_id[trigger.trigger_id] = trigger
            if len(self._by_id) > self.KEEP:
                for old in [t for t in self._by_id.values() if t.status != "running"][
                    : len(self._by_id) - self.KEEP
                ]:
                    del self._by_id[old.trigger_id]
            thread = threading.Thread(
                target=self._run, args=(trigger,), name=f"sync-{trigger.trigger_id}", daemon=True
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

    def _run(self, trigger: Trigger) -> None:
        failed = False
        try:
            for name in trigger.syncs:
                if trigger.mode == "reset":
                    reset(self.home, trigger.connection_id, name)
                mode = "full" if trigger.mode == "full" else "incremental"
                try:
                    (result,) = self.runner.run(trigger.connection_id, sync=name, mode=mode)
                except SyncFailed as failure:
                    result = failure.result
                    failed = True
                trigger.runs.append(
                    {
                        "run_id": result.run_id,
                        "sync": result.sync,
                        "sync_type": result.sync_type,
                        "status": result.status,
                        "counts": {k: result.total(k) for k in ("added", "updated", "deleted")},
                        "error": {"type": result.error_type, "message": result.error}
                        if result.status != "success"
                        else None,
                    }
                )
        except Exception as error:
            failed = True
            trigger.error = f"{type(error).__name__}: {error}"
        finally:
            trigger.status = "failed" if failed else "success"
            trigger.finished_at = datetime.now(UTC)
            with self._lock:
                self._active.pop(trigger.connection_id, None)
