"""``syncs demo`` in a fresh process, twice, then the queries the README promises."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb


def test_demo_runs_twice_and_leaves_a_queryable_warehouse(tmp_path):
    env = {**os.environ, "SYNCS_HOME": str(tmp_path / "home")}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli.main", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "full-refresh syncs" in done.stdout
        webhooks = [ln for ln in done.stdout.splitlines() if ln.startswith("  webhook ")]
        assert webhooks and all(ln.endswith("[signature verified]") for ln in webhooks)
        assert any(" FULL: " in ln for ln in webhooks)
        assert "reading back what one webhook announced" in done.stdout
    con = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    try:
        per_connection = con.execute(
            "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
        ).fetchall()
        actions = dict(
            con.execute("select action, count(*) from syncs.change_events group by 1").fetchall()
        )
    finally:
        con.close()
    assert [c for c, _ in per_connection] == ["acme-hubspot", "globex-hubspot"]
    assert set(actions) == {"ADDED", "UPDATED", "DELETED"}
