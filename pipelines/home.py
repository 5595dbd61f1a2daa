"""Where syncs keeps everything: ``SYNCS_HOME`` (default ``./.syncs``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        root = Path(os.environ.get("SYNCS_HOME", ".syncs")).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def warehouse_lock(self) -> Path:
        return self.root / "warehouse.lock"

    @property
    def control_store(self) -> Path:
        return self.root / "control.sqlite"

    @property
    def key_file(self) -> Path:
        return self.root / "encryption.key"

    @property
    def run_locks(self) -> Path:
        return self.root / "locks"

    @property
    def dlt_dir(self) -> Path:
        return self.root / "dlt"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"
