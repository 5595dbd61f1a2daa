"""``make dev`` serves the UI offline with the demo's partitions and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
from dagster import DagsterRun, DagsterRunStatus

from orchestration.dev import fail_interrupted_runs

STARTED, SUCCESS = DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS
ROOT = Path(__file__).resolve().parents[2]
PARTITIONS_QUERY = """
{ partitionSetsOrError(
    repositorySelector: {repositoryName: "__repository__",
                         repositoryLocationName: "orchestration.definitions"},
    pipelineName: "hubspot_crm_sync") {
  ... on PartitionSets { results { partitionsOrError { ... on Partitions { results { name } } } } }
} }
"""
ASSETS_QUERY = "{ assetNodes { assetKey { path } groupName } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_make_dev_serves_the_demo_partitions_and_stops_on_sigint(tmp_path):
    port = _free_port()
    env = {**os.environ, "SYNCS_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.dev", "--port", str(port), "--records", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Dagster UI on"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(240), "".join(lines[-40:])
        graphql = f"http://127.0.0.1:{port}/graphql"
        answer = requests.post(graphql, json={"query": PARTITIONS_QUERY}, timeout=30).json()
        sets = answer["data"]["partitionSetsOrError"]["results"]
        names = {p["name"] for s in sets for p in s["partitionsOrError"]["results"]}
        assert names == {"acme-hubspot", "globex-hubspot"}
        nodes = requests.post(graphql, json={"query": ASSETS_QUERY}, timeout=30).json()
        keys = {
            "/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes["data"]["assetNodes"]
        }
        assert {
            "hubspot/contacts": "hubspot",
            "hubspot/companies": "hubspot",
            "hubspot/deals": "hubspot",
        }.items() <= keys.items()
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    reader.join(10)
    assert code == 0, "".join(lines[-40:])
    assert any("stopping Dagster and the sandboxes" in line for line in lines)
    deadline = time.monotonic() + 10
    while not _gone(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(process.pid), "processes of make dev are still running"


def test_runs_left_started_by_a_stopped_session_are_marked_failed(instance):
    started = DagsterRun(job_name="hubspot_crm_sync", run_id=str(uuid.uuid4()), status=STARTED)
    finished = DagsterRun(job_name="hubspot_crm_sync", run_id=str(uuid.uuid4()), status=SUCCESS)
    instance.add_run(started)
    instance.add_run(finished)
    assert fail_interrupted_runs(instance) == 1
    assert instance.get_run_by_id(started.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(finished.run_id).status == SUCCESS
