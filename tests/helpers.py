"""Reading the warehouse from tests (read-only, briefly, as a user's SQL would, through the
one open function, so an encrypted warehouse reads too), and the ``syncs`` command in a
process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.engine.warehouse import open_duckdb
from pipelines.home import Home


def query(home: Home, sql: str, params: list | None = None) -> list[tuple]:
    con = open_duckdb(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def events(home: Home, run_id: str, *, order: str = "cursor") -> list[tuple]:
    """``(model, record_id, action, changed_fields)`` of one run's change events."""
    return query(
        home,
        "select model, record_id, action, changed_fields from syncs.change_events "
        f"where run_id = ? order by {order}",
        [run_id],
    )


def syncs(home: Home, *args: str) -> subprocess.Popen[str]:
    """The ``syncs`` command in a process of its own, on this home."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", *args],
        env={**os.environ, "SYNCS_HOME": str(home.root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
