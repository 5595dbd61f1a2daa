"""``syncs demo`` in a fresh process, twice, then the queries the README promises."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb

from pipelines.cli.demo import demo_queries


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
        assert (
            "warehouse.duckdb> select connection_id, count(*) as contacts from hubspot.contacts "
            "where _syncs_deleted_at is null group by 1 order by 1\n"
        ) in done.stdout
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


def test_the_example_query_reads_the_integration_the_demo_ran():
    records, _ = demo_queries("github", "issues")
    assert "count(*) as issues from github.issues " in records
