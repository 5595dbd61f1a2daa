"""Where a run's rows wait for the compare: Parquet files dlt loads to a local folder.

dlt's filesystem destination writes each table of a run as Parquet under
``<SYNCS_HOME>/dlt/landing/<dataset>/<table>/``, replacing the previous run's files, and
DuckDB reads them in place inside the compare's transaction. Loading them into the
warehouse first would write every fetched row twice, once to a landing table that is read
once and thrown away: that write was 4.2 s of a 1M-contact initial run. The folder is
emptied before each load, so it holds one run's files only, and deleted once the run's
compare has committed; after a failed run it stays, for a look, until the next run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import dlt

from pipelines.engine.warehouse import literal
from pipelines.home import Home


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def landing_dataset(integration: str, connection_id: str, sync: str) -> str:
    return f"_landing_{slug(integration)}__{slug(connection_id)}__{slug(sync)}"


def landing_root(home: Home) -> Path:
    return home.dlt_dir / "landing"


def destination(home: Home) -> Any:
    return dlt.destinations.filesystem(
        bucket_url=str(landing_root(home)), enable_dataset_name_normalization=False
    )


class Landing:
    """One run's landed tables, as relations DuckDB can read."""

    def __init__(self, home: Home, dataset: str) -> None:
        self.folder = landing_root(home) / dataset

    def relation(self, table: str) -> str | None:
        """``read_parquet`` of the table's files, or None when the run landed none."""
        files = sorted((self.folder / table).glob("*.parquet"))
        if not files:
            return None
        listed = ", ".join(literal(str(path)) for path in files)
        return f"read_parquet([{listed}], union_by_name = true)"

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
