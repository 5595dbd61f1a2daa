"""Every run that starts is recorded: a failure before extraction, in the warehouse write, or
for want of disk still gives the run's row and the app's failure webhook."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import resource
import sqlite3
import subprocess
import sys

import pytest

from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.store.db import control_db
from sources.hubspot.sandbox.server import HubSpotSandbox
from tests.conftest import ACME, add_hubspot
from tests.helpers import events, query


def failure_messages(home: Home, run_id: str) -> dict[str, dict]:
    db = sqlite3.connect(home.control_store)
    try:
        rows = db.execute(
            "select model, payload from outbox where run_id = ? and success = 0", [run_id]
        ).fetchall()
    finally:
        db.close()
    return {model: json.loads(payload) for model, payload in rows}


def recorded(home: Home, run_id: str) -> list[tuple]:
    return query(
        home, "select status, error_type, error from syncs.sync_runs where run_id = ?", [run_id]
    )


def test_a_config_the_integration_no_longer_accepts_is_a_recorded_failure(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    with control_db(home.control_store) as db:
        db.execute(
            "UPDATE connections SET config = ? WHERE connection_id = 'acme'",
            [json.dumps({"base_url": hubspot.base_url, "colour": "red"})],
        )
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    result = failure.value.result
    assert result.error_type == "ConfigError" and "colour" in result.error
    assert recorded(home, result.run_id) == [("failed", "ConfigError", result.error)]
    messages = failure_messages(home, result.run_id)
    assert set(messages) == {"contacts", "companies", "deals"}
    assert messages["contacts"]["error"] == {
        "type": "ConfigError",
        "message": result.error,
        "recorded": True,
    }


def test_credentials_that_no_longer_decrypt_are_a_recorded_failure(
    home, hubspot, runner, monkeypatch
):
    add_hubspot(home, hubspot)
    monkeypatch.setenv("SYNCS_ENCRYPTION_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    result = failure.value.result
    assert result.error_type == "ConfigError" and "cannot decrypt" in result.error
    assert recorded(home, result.run_id)[0][:2] == ("failed", "ConfigError")
    assert failure_messages(home, result.run_id)["deals"]["success"] is False
    assert hubspot.requests_seen == []


def syncs(home: Home, *args: str, file_size_limit: int | None = None, **env: str):
    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", *args],
        env={**os.environ, "SYNCS_HOME": str(home.root), **env},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


def test_a_warehouse_held_past_the_wait_still_sends_the_failure_webhook(home, hubspot, runner):
    """The cursor read waits for the warehouse; held longer, the run fails, and the
    warehouse that refused it cannot take its row either: the webhook says so."""
    add_hubspot(home, hubspot)
    runner.run("acme")
    fd = os.open(home.warehouse_lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = syncs(home, "run", "hubspot", "acme", SYNCS_WAREHOUSE_WAIT_SECONDS="1")
    finally:
        os.close(fd)
    assert done.returncode == 1
    assert "WarehouseBusyError" in done.stderr and "Traceback" not in done.stderr
    assert "could not be recorded in syncs.sync_runs" in done.stderr
    db = sqlite3.connect(home.control_store)
    try:
        (run_id,) = db.execute("select distinct run_id from outbox where success = 0").fetchone()
    finally:
        db.close()
    body = failure_messages(home, run_id)["contacts"]
    assert body["error"]["type"] == "WarehouseBusyError"
    assert body["error"]["recorded"] is False
    assert recorded(home, run_id) == []


@pytest.fixture
def big_hubspot():
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    sandbox.add_account(ACME, seed=1, contacts=3000, companies=30, deals=20)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize(
    ("file_size_limit", "failed"),
    [(100_000, "EFBIG"), (600_000, "warehouse.duckdb.wal")],
    ids=["extraction", "warehouse-write"],
)
def test_out_of_disk_is_reported_as_such_and_loses_nothing(
    home, big_hubspot, runner, file_size_limit, failed
):
    """A real write refused by the kernel: the process may not grow a file past
    ``RLIMIT_FSIZE`` (Python ignores SIGXFSZ, so the write fails with EFBIG). The landed
    Parquet files of 3,000 contacts are about 170 kB, the warehouse's write-ahead log of their
    update about 1.6 MB; the control store stays under 100 kB."""
    add_hubspot(home, big_hubspot)
    runner.run("acme")
    ids = big_hubspot.ids(ACME, "contacts")
    for record_id in ids:
        big_hubspot.update(ACME, "contacts", record_id, {"jobtitle": "Filled the disk"})
    before = query(home, "select count(*), max(cursor) from syncs.change_events")

    done = syncs(home, "run", "hubspot", "acme", "--full-refresh", file_size_limit=file_size_limit)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "OutOfDiskError" in line and "out of disk" in line and failed in line
    assert f"SYNCS_HOME ({home.root}" in line and "File too large" in line
    assert "free space there" in line
    assert "rollback" not in line.lower()
    assert query(home, "select count(*), max(cursor) from syncs.change_events") == before
    ((run_id, status, error_type),) = query(
        home,
        "select run_id, status, error_type from syncs.sync_runs where status = 'failed'",
    )
    assert (status, error_type) == ("failed", "OutOfDiskError")
    assert failure_messages(home, run_id)["contacts"]["error"]["type"] == "OutOfDiskError"

    (after,) = runner.run("acme", mode="full")
    assert after.models["contacts"].updated == 3000
    assert len(events(home, after.run_id)) == 3000
