"""A user's own SQL session, in a real second process, never stops syncs or the records API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.api.server import ApiServer, create_app
from pipelines.engine import query_copy
from pipelines.engine.landing import landing_root
from pipelines.engine.warehouse import open_query_copy, warehouse_lock
from pipelines.store.api_keys import ensure_api_key
from tests.conftest import ACME, add_hubspot
from tests.helpers import query
from tests.pipelines.test_processes import syncs
from tests.pipelines.test_records_api import Api


@pytest.fixture(autouse=True)
def plaintext(monkeypatch):
    """The sessions are plain DuckDB clients, which open a warehouse kept unencrypted."""
    monkeypatch.setenv("SYNCS_ENCRYPT_WAREHOUSE", "false")


SESSION = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("select count(*) from hubspot.contacts").fetchone()[0], flush=True)
if sys.argv[2] == "rw":
    con.execute("create table main.scratch as select 1 as x")
sys.stdin.readline()
print(con.execute("select count(*) from hubspot.contacts").fetchone()[0], flush=True)
"""


@pytest.fixture
def api(home) -> Iterator[Api]:
    hashes, key = ensure_api_key(home, env_key="")
    assert key is not None
    server = ApiServer(create_app(home, hashes)).start()
    try:
        yield Api(server.url, key)
    finally:
        server.stop()


@contextmanager
def session(path: Path, mode: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A DuckDB session held open in another process, as the DuckDB CLI or DBeaver holds one;
    yields it and the contacts it saw when it opened."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        assert proc.stderr is not None
        pytest.fail(f"the session could not open {path.name}: {proc.stderr.read()}")
    try:
        yield proc, int(line)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def finish(proc: subprocess.Popen[str]) -> int:
    """End a session; the contacts it still saw."""
    out, err = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0, err
    return int(out.split()[-1])


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_session_held_on_the_users_copy_stops_neither_syncs_nor_the_api(
    home, hubspot, runner, api, mode, monkeypatch
):
    monkeypatch.setenv("SYNCS_WAREHOUSE_WAIT_SECONDS", "5")
    add_hubspot(home, hubspot)
    runner.run("acme")
    hubspot.create(ACME, "contacts", {"email": "new@acme.test", "firstname": "New"})

    with session(home.query_copy, mode) as (user, seen):
        assert seen == 250
        (result,) = runner.run("acme")
        assert result.status == "success" and result.models["contacts"].added == 1
        page = api.records(ids=",".join(hubspot.ids(ACME, "contacts")[-1:]))
        assert [r["email"] for r in page["records"]] == ["new@acme.test"]
        assert user.poll() is None
        assert finish(user) == 250

    con = open_query_copy(home)
    try:
        assert con.execute("select count(*) from hubspot.contacts").fetchone() == (251,)
        tables = con.execute("select table_name from duckdb_tables()").fetchall()
    finally:
        con.close()
    assert ("scratch",) not in tables


def test_the_api_answers_while_a_sync_waits_for_a_session_held_on_the_warehouse(
    home, hubspot, runner, api
):
    """Someone opens the warehouse itself: the sync waits for them, the API does not."""
    add_hubspot(home, hubspot)
    runner.run("acme")
    hubspot.update(ACME, "contacts", hubspot.ids(ACME, "contacts")[0], {"firstname": "Changed"})
    os.environ["SYNCS_WAREHOUSE_WAIT_SECONDS"] = "120"
    try:
        with session(home.warehouse, "ro") as (user, _):
            sync = syncs(home, "run", "hubspot", "acme")
            deadline = time.monotonic() + 60
            while not list(landing_root(home).rglob("*.parquet")):
                assert sync.poll() is None, sync.communicate()
                assert time.monotonic() < deadline, "the sync never reached its load"
                time.sleep(0.05)
            assert len(api.records(limit=3)["records"]) == 3
            assert sync.poll() is None, "the API answered only once the sync gave up"
            finish(user)
            out, err = sync.communicate(timeout=120)
    finally:
        os.environ.pop("SYNCS_WAREHOUSE_WAIT_SECONDS")
    assert sync.returncode == 0, err
    assert "INCREMENTAL success" in out
    assert query(home, "select firstname from hubspot.contacts where firstname = 'Changed'")


def test_the_copy_is_not_made_from_a_warehouse_with_a_write_ahead_log(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    before = home.query_copy.stat().st_ino
    wal = Path(f"{home.warehouse}.wal")
    wal.write_bytes(b"")
    try:
        with warehouse_lock(home, exclusive=False):
            assert query_copy.refresh(home) is False
    finally:
        wal.unlink()
    assert home.query_copy.stat().st_ino == before
    with warehouse_lock(home, exclusive=False):
        assert query_copy.refresh(home) is True
    assert home.query_copy.stat().st_ino != before


def test_syncs_sql_reads_the_copy(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    proc = syncs(home, "sql", "select count(*) as n from hubspot.contacts", "--csv")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == ["n", "250"]
    proc = syncs(home, "sql", "select * from nowhere")
    out, err = proc.communicate(timeout=60)
    assert (
        proc.returncode == 2 and err.startswith("error: SQL error") and len(err.splitlines()) == 1
    )


def test_no_copy_when_turned_off(home, hubspot, runner, monkeypatch):
    add_hubspot(home, hubspot)
    runner.run("acme")
    assert home.query_copy.exists()
    monkeypatch.setenv("SYNCS_QUERY_COPY", "false")
    runner.run("acme")
    assert not home.query_copy.exists()


def test_a_session_writing_the_warehouse_itself_gets_the_api_a_503_naming_the_copy(
    home, hubspot, runner, api
):
    add_hubspot(home, hubspot)
    runner.run("acme")
    with session(home.warehouse, "rw") as (user, _):
        response = api.get(
            "/records", integration="hubspot", model="contacts", connection_id="acme"
        )
        assert response.status_code == 503
        assert "query.duckdb" in response.json()["message"]
        finish(user)
