"""What the command prints: a live progress line per model, and a run's summary."""

from __future__ import annotations

import sys
import time
from typing import Any

from pipelines.engine.results import SyncResult


class LiveProgress:
    """One status line per model, redrawn in place on a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.model = ""

    def __call__(self, model: str, pages: int, records: int) -> None:
        now = time.monotonic()
        if model != self.model:
            if self.model and self.tty:
                self.stream.write("\n")
            self.model = model
            self.started = now
        if not self.tty or now - self.last_draw < 0.1:
            return
        self.last_draw = now
        rate = records / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r  {model:<18} {records:>10,} records {pages:>7,} pages {rate:>10,.0f} rec/s"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.model:
            self.stream.write("\n")
            self.stream.flush()
        self.model = ""


def print_result(result: SyncResult, out: Any = None) -> None:
    out = out or sys.stdout
    flag = "  (suspicious)" if result.suspicious else ""
    out.write(
        f"{result.integration}/{result.sync} for {result.connection_id}: {result.sync_type} "
        f"{result.status} in {result.duration_seconds:.1f}s, {result.api_requests} API requests, "
        f"run {result.run_id}{flag}\n"
    )
    for model in result.models.values():
        held = f"  held {model.deletions_held:>6}" if model.deletions_held else ""
        out.write(
            f"  {model.model:<18} added {model.added:>6}  updated {model.updated:>6}  "
            f"deleted {model.deleted:>6}  unchanged {model.unchanged:>7}  "
            f"rejected {model.rejected:>4}  rows {model.rows_total:>7}{held}\n"
        )
    for model in result.models.values():
        if model.note:
            out.write(f"  suspicious: {model.note}\n")
