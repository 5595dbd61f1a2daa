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
    """Lossy: ``z.eu``, ``z-eu`` and ``Z_eu`` are all ``z_eu``. Only for names from before
    ``connection_key``, which are still cleaned up."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


_ESCAPES = {"_": "_0", ".": "_1"}


def connection_key(connection_id: str) -> str:
    """The connection id as a folder and dlt pipeline name, one for one.

    Lowercase letters, digits and ``-`` stay as they are; ``_`` becomes ``_0``, ``.``
    becomes ``_1`` and an uppercase letter ``_`` and its lowercase (``Z_eu`` is ``_z_0eu``).
    No escape is a prefix of another, so two ids never share a key, and keys hold only
    ``[a-z0-9_-]`` (what dlt allows in a pipeline name, and never two ids that differ only
    in case on a case-insensitive disk) and never ``__``. A 64-character id gives at most
    128 characters.
    """
    return "".join(
        _ESCAPES.get(c) or (f"_{c.lower()}" if "A" <= c <= "Z" else c) for c in connection_id
    )


def run_name(integration: str, connection_id: str, sync: str) -> str:
    """``<integration>__<connection key>__<sync>``: the run's dlt pipeline, landing folder and
    lock. Integration and sync names are lowercase identifiers that neither hold ``__`` nor
    begin or end with ``_``, and a key never holds ``__`` nor ends with ``_``, so the first
    ``__`` ends the integration and the last begins the sync: no two runs share a name."""
    return f"{integration}__{connection_key(connection_id)}__{sync}"


def landing_dataset(integration: str, connection_id: str, sync: str) -> str:
    return f"_landing_{run_name(integration, connection_id, sync)}"


def legacy_names(integration: str, connection_id: str, sync: str) -> tuple[str, str]:
    """The pipeline and landing names runs used before ``connection_key`` (shared by ids
    that differ only in ``.``, ``-``, ``_`` or case); no run uses them any more."""
    name = f"{slug(integration)}__{slug(connection_id)}__{slug(sync)}"
    return name, f"_landing_{name}"


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
