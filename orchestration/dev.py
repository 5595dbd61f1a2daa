"""``make dev``: the Dagster UI over the demo's sandboxes and connections, offline.

Starts every integration's demo sandbox on loopback, registers the demo connections afresh
(as ``syncs demo`` does), gives them their partitions, and runs ``dagster dev`` with
``DAGSTER_HOME`` under ``SYNCS_HOME``. Ctrl-C (or SIGTERM) stops ``dagster dev`` by its
process id — it may ignore signals it inherited as ignored, so it is started with default
signal handling in a process group of its own — then the sandboxes, and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from orchestration.partitions import sync_partitions
from pipelines.cli.demo import start_demo_sandboxes
from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.registry import INTEGRATIONS

ROOT = Path(__file__).resolve().parent.parent
STOP_WAIT_SECONDS = 30.0
INTERRUPTED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]

DAGSTER_YAML = """\
# Written by `make dev`; edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 8
    # one run at a time per connection: a connection's next run waits for the last one
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
# a run stuck for 6 hours is ended and marked failed, so its connection is scheduled again
run_monitoring:
  enabled: true
  max_resume_run_attempts: 0
  max_runtime_seconds: 21600
  poll_interval_seconds: 30
"""


def prepare_dagster_home(home: Home) -> Path:
    dagster_home = home.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return dagster_home


def fail_interrupted_runs(instance: DagsterInstance) -> int:
    """Runs the last session left started: their processes stopped with it.

    Left as they are, they would count as running and keep their connections unscheduled.
    """
    records = instance.get_run_records(RunsFilter(statuses=INTERRUPTED))
    for record in records:
        instance.report_run_failed(
            record.dagster_run, "the previous `make dev` session stopped while this run ran"
        )
    return len(records)


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_dagster(dagster_home: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(ROOT / "workspace.yaml"),
            "--host",
            host,
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        preexec_fn=_default_signals,
        start_new_session=True,
    )


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def stop_dagster(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to ``dagster dev`` by pid; what is left of its process group after that goes too."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


DEV_FREQUENCIES = ("15s", "30s", "60s")
CHANGE_EVERY_SECONDS = 10.0


def live_frequencies(home: Home, demos: list[Any], out: Any) -> None:
    """The demo's connections sync every 15 to 60 seconds, so the UI shows them live."""
    connections = Connections(home)
    accounts = [account for demo in demos for account in demo.accounts]
    for index, account in enumerate(accounts):
        frequency = DEV_FREQUENCIES[index % len(DEV_FREQUENCIES)]
        connection = connections.get(account.connection_id)
        connections.add(connection.integration, account.connection_id, frequency=frequency)
    out.write(f"  {len(accounts)} connections sync every {', '.join(DEV_FREQUENCIES)}\n")


class LiveChanges:
    """Changes one demo customer's data every ``CHANGE_EVERY_SECONDS``, as its users would."""

    def __init__(self, demos: list[Any], out: Any) -> None:
        self.pairs = [(demo, account) for demo in demos for account in demo.accounts]
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-changes", daemon=True)

    def start(self) -> LiveChanges:
        if self.pairs:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        step = 0
        while not self._stop.wait(CHANGE_EVERY_SECONDS):
            demo, account = self.pairs[step % len(self.pairs)]
            step += 1
            try:
                done = demo.change(account)
            except Exception as error:  # a sandbox stopping under us ends the changes
                self.out.write(f"  live changes stopped: {error}\n")
                return
            self.out.write(f"  {account.connection_id}: {'; '.join(done)}\n")
            self.out.flush()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make dev", description="The Dagster UI over the demo sandboxes."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")))
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    out = sys.stdout
    home = Home.from_env()
    dagster_home = prepare_dagster_home(home)
    demos: list[Any] = []
    process: subprocess.Popen[bytes] | None = None
    changes: LiveChanges | None = None
    try:
        demos = [demo for _, demo in start_demo_sandboxes(home, args.records, out)]
        live_frequencies(home, demos, out)
        changes = LiveChanges(demos, out).start()
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            sync_partitions(instance, INTEGRATIONS.values(), home)
            interrupted = fail_interrupted_runs(instance)
            if interrupted:
                out.write(f"marked {interrupted} run(s) of the last session as failed\n")
        process = start_dagster(dagster_home, args.host, args.port)
        url = f"http://{args.host}:{args.port}"
        out.write(f"starting Dagster (DAGSTER_HOME={dagster_home}) ...\n")
        out.flush()
        if wait_until_serving(url, process):
            out.write(
                f"Dagster UI on {url}: open Assets, pick a partition (a connection) and "
                "Materialize. Ctrl-C stops everything.\n"
            )
            out.flush()
        code = process.wait()
        out.write(f"dagster dev exited with code {code}\n")
        return code
    except KeyboardInterrupt:
        out.write("\nstopping Dagster and the sandboxes\n")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if process is not None:
            stop_dagster(process)
        if changes is not None:
            changes.stop()
        for demo in demos:
            demo.stop()
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
