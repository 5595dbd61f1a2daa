"""What one sync run did: the engine's answer, and what notifications and Dagster report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pipelines.engine.compare import ModelResult
from sources.spec import SyncMode

SyncType = Literal["INITIAL", "INCREMENTAL", "FULL", "WEBHOOK", "ACTION"]
# Runs of records that arrived outside a poll: they move no cursor and count for no schedule.
OUTSIDE_POLLS = frozenset({"WEBHOOK", "ACTION"})


@dataclass
class SyncResult:
    run_id: str
    connection_id: str
    integration: str
    sync: str
    mode: SyncMode
    sync_type: SyncType
    status: Literal["success", "failed"]
    started_at: datetime
    finished_at: datetime
    models: dict[str, ModelResult] = field(default_factory=dict)
    api_requests: int = 0
    error_type: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    recorded: bool = True
    """False when the run failed and the warehouse could not take its row either."""

    @property
    def suspicious(self) -> bool:
        return any(m.suspicious for m in self.models.values())

    @property
    def note(self) -> str | None:
        """Why the run is suspicious, model by model."""
        notes = [m.note for m in self.models.values() if m.note]
        return "; ".join(notes) if notes else None

    def total(self, name: str) -> int:
        return sum(getattr(m, name) for m in self.models.values())

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return data
