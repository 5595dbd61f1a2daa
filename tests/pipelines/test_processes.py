"""Real processes: a run killed mid-way, and two syncs started at the same moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from pipelines.engine.warehouse import open_duckdb
from pipelines.home import Home
from tests.conftest import ACME, GLOBEX, add_hubspot


def syncs(home: Home, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SYNCS_HOME": str(home.root)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rows(home: Home, sql: str) -> list[tuple]:
    con = open_duckdb(home, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_killed_run_changes_nothing_and_next_run_is_exact(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    ids = hubspot.ids(ACME, "contacts")
    for record_id in ids[:7]:
        hubspot.update(ACME, "contacts", record_id, {"lifecyclestage": "customer-x"})
    for record_id in ids[200:203]:
        hubspot.erase(ACME, "contacts", record_id)
    before = rows(home, "select count(*), max(cursor) from syncs.change_events")
    hubspot.inject_fault("slow", count=1, delay=30, path_prefix="/crm/v3/objects/contacts")
    proc = syncs(home, "run", "hubspot", "acme", "--full-refresh")
    deadline = time.monotonic() + 20
    while not any(p.startswith("/crm/v3/objects/contacts") for _, p, _ in hubspot.requests_seen):
        assert time.monotonic() < deadline, "the run never reached the API"
        time.sleep(0.05)
    hubspot.clear_requests()
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert rows(home, "select count(*), max(cursor) from syncs.change_events") == before
    hubspot.clear_faults()

    (result,) = runner.run("acme", mode="full")
    got = rows(
        home,
        f"select record_id, action from syncs.change_events where run_id = '{result.run_id}' "
        "order by record_id",
    )
    assert got == sorted([(i, "UPDATED") for i in ids[:7]] + [(i, "DELETED") for i in ids[200:203]])
    assert rows(home, "select count(*), count(distinct id) from hubspot.contacts") == [(250, 250)]


def test_two_processes_syncing_at_once_both_succeed(home, hubspot):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    procs = [syncs(home, "run", "hubspot", cid) for cid in ("acme", "globex")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "INITIAL success" in out
    assert rows(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    ) == [("acme", 250), ("globex", 120)]
    for out, err in outputs:
        assert ACME not in out + err and GLOBEX not in out + err
