"""Where syncs keeps everything: ``SYNCS_HOME`` (default ``./.syncs``).

The folder holds every customer's data and the key to their credentials, so it is private
to the user who runs syncs: created 0700, and opening it sets the process's umask to 077,
so every file created in it afterwards — by syncs, DuckDB, SQLite (its -wal and -shm files
too), dlt (pipeline folders, landing Parquet files) and Dagster — is 0600 and every folder
0700. A umask is per process and inherited, so processes started from here (Dagster's)
keep it; setting it once is also the only way that covers files the libraries create.
A home made by an older version is tightened the same way when it is opened.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipelines import settings
from sources.errors import ConfigError

PRIVATE_UMASK = 0o077


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        home = cls(settings.home_dir())
        home.ensure()
        return home

    def ensure(self) -> None:
        """Create the folder (0700) if needed and make what it holds private."""
        os.umask(PRIVATE_UMASK)
        root = self.root
        if root.exists() and not root.is_dir():
            raise ConfigError(
                f"SYNCS_HOME {root} is a file, not a folder; point SYNCS_HOME at a folder"
            )
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"cannot create SYNCS_HOME {root} ({error.strerror}); point SYNCS_HOME at a "
                "folder you can write"
            ) from None
        self._tighten()

    def _tighten(self) -> None:
        """Take group and other permissions off the home and the files syncs keeps there."""
        for path in (self.root, *self.private_files()):
            try:
                mode = path.lstat().st_mode
                kind_ok = stat.S_ISREG(mode) or stat.S_ISDIR(mode)
                if kind_ok and stat.S_IMODE(mode) & 0o077:
                    path.chmod(stat.S_IMODE(mode) & 0o700)
            except OSError:
                continue

    def private_files(self) -> list[Path]:
        names = [self.warehouse, self.control_store, self.key_file, self.warehouse_lock]
        names += [Path(f"{self.control_store}{suffix}") for suffix in ("-wal", "-shm")]
        names += [Path(f"{self.warehouse}.wal"), self.query_copy, self.dlt_dir, self.dagster_home]
        return names

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def warehouse_lock(self) -> Path:
        return self.root / "warehouse.lock"

    @property
    def query_copy(self) -> Path:
        """The read-only copy of the warehouse users open for their own SQL."""
        return self.root / "query.duckdb"

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
