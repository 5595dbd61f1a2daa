"""``python -m bench.many``: many small connections kept synced by Dagster, as in production.

N HubSpot connections (small accounts on one sandbox, a few records changed every second)
are registered with one frequency; ``dagster-daemon`` runs the definitions as a deployment
would, so the ``sync_workers`` sensor starts the sync worker run, which keeps them synced.
After a warm-up (every connection's initial sync), the window of ``--minutes`` is measured
from the warehouse's record of runs and the worker process's own CPU time:

* connection-syncs per minute;
* each connection's interval between syncs (median, p95) against its frequency;
* start lag: how long after it was due each sync started (due = the previous start plus
  the frequency);
* CPU seconds per sync of the worker process (the sandbox runs in this process, the daemon
  in its own: neither is counted);
* the warehouse write lock's wait and hold per sync (the engine's timings);
* warehouse bytes per sync;
* the scheduling tick: the worker sensor's evaluation and one claim, at 1,000 connections.

Figures go to ``bench/many.json`` and ``bench/many.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 8
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Changes:
    """Changes a random record of a random account every ``every`` seconds."""

    def __init__(self, sandbox: Any, tokens: list[str], every: float) -> None:
        self.sandbox, self.tokens, self.every = sandbox, tokens, every
        self.stop = threading.Event()
        self.made = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        rnd = random.Random(7)
        while not self.stop.wait(self.every):
            token = rnd.choice(self.tokens)
            ids = self.sandbox.ids(token, "contacts")
            self.sandbox.update(token, "contacts", rnd.choice(ids), {"jobtitle": f"v{self.made}"})
            self.made += 1


def worker_usage(dagster_home: Path) -> tuple[str, float, int] | None:
    """The running sync worker's run id, CPU seconds and syncs, as it reports them."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from orchestration.worker import WORKER_CPU_TAG, WORKER_JOB, WORKER_SYNCS_TAG

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        running = instance.get_runs(
            RunsFilter(job_name=WORKER_JOB, statuses=[DagsterRunStatus.STARTED]), limit=1
        )
    if not running or WORKER_CPU_TAG not in running[0].tags:
        return None
    run = running[0]
    return run.run_id, float(run.tags[WORKER_CPU_TAG]), int(run.tags[WORKER_SYNCS_TAG])


def runs(warehouse: Path, since: datetime) -> list[tuple[str, datetime, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT connection_id, started_at, status FROM syncs.sync_runs "
            "WHERE started_at >= ? ORDER BY started_at",
            [since],
        ).fetchall()
    finally:
        con.close()


def read_warehouse(warehouse: Path, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    for _ in range(100):
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
        except duckdb.Error:
            time.sleep(0.05)
            continue
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    raise RuntimeError("the warehouse stayed locked")


def _number(metadata: Any, name: str) -> float:
    entry = metadata.get(name)
    return float(getattr(entry, "value", 0.0) or 0.0)


def lock_timings(dagster_home: Path, since: datetime) -> tuple[list[float], list[float]]:
    """Per sync: seconds waited for the write lock, and seconds holding it."""
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    waits, holds = [], []
    records = []
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        cursor = None
        while True:
            page = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(["hubspot", "contacts"])),
                limit=10_000,
                cursor=cursor,
            )
            records.extend(page.records)
            if not page.has_more:
                break
            cursor = page.cursor
    for record in records:
        if record.timestamp < since.timestamp():
            continue
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        waits.append(_number(meta, "lock_wait_seconds"))
        holds.append(_number(meta, "lock_held_seconds"))
    return waits, holds


def tick_cost(connections: int) -> dict[str, float]:
    """The scheduling tick at ``connections`` connections: the worker sensor and a claim."""
    from dagster import build_sensor_context, instance_for_test

    from orchestration.definitions import defs
    from pipelines.home import Home
    from pipelines.store.connections import Connections
    from pipelines.store.schedule import Schedule

    with tempfile.TemporaryDirectory() as workdir:
        os.environ["SYNCS_HOME"] = str(Path(workdir) / "home")
        home = Home.from_env()
        store = Connections(home)
        for i in range(connections):
            store.add(
                "hubspot",
                f"c{i:05d}",
                credentials={"access_token": f"token-{i:05d}"},
                config={"base_url": "http://127.0.0.1:9"},
                frequency="15s",
            )
        schedule = Schedule(home)
        sensor = defs.resolve_sensor_def("sync_workers")
        with instance_for_test() as instance:
            started = time.perf_counter()
            for _ in range(10):
                sensor(build_sensor_context(instance=instance))
            sensor_seconds = (time.perf_counter() - started) / 10
        started = time.perf_counter()
        for _ in range(10):
            claims = schedule.claim(datetime.now(UTC) + timedelta(days=1), limit=4)
            for claim in claims:
                schedule.release(claim)
        claim_seconds = (time.perf_counter() - started) / 10
    return {
        "connections": connections,
        "sensor_tick_seconds": round(sensor_seconds, 4),
        "claim_seconds": round(claim_seconds, 4),
    }


def scenario(connections: int, frequency: int, minutes: float, records: int) -> dict[str, Any]:
    from orchestration.partitions import sync_partitions
    from pipelines.home import Home
    from pipelines.store.connections import Connections
    from sources.hubspot.sandbox.server import HubSpotSandbox
    from sources.registry import INTEGRATIONS

    print(f"{connections} connections every {frequency}s for {minutes} min", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="syncs-many-"))
    home_dir, dagster_home = workdir / "home", workdir / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["SYNCS_HOME"] = str(home_dir)
    home = Home.from_env()
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    tokens = []
    store = Connections(home)
    for i in range(connections):
        token = f"token-{i:05d}"
        tokens.append(token)
        sandbox.add_account(token, seed=i, contacts=records, companies=5, deals=5)
        store.add(
            "hubspot",
            f"c{i:05d}",
            credentials={"access_token": token},
            config={"base_url": sandbox.base_url},
            frequency=f"{frequency}s",
        )
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        sync_partitions(instance, INTEGRATIONS.values(), home)
    changes = Changes(sandbox, tokens, every=0.5)
    changes.thread.start()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "SYNCS_HOME": str(home_dir)}
    daemon = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-daemon")),
            "run",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        warm_deadline = time.monotonic() + 600
        while time.monotonic() < warm_deadline:
            time.sleep(2)
            if not home.warehouse.exists():
                continue
            synced = read_warehouse(
                home.warehouse,
                "SELECT count(DISTINCT connection_id) FROM syncs.sync_runs",
                [],
            )[0][0]
            if synced >= connections:
                break
        time.sleep(35)
        first = worker_usage(dagster_home)
        start = datetime.now(UTC)
        size_start = home.warehouse.stat().st_size
        time.sleep(minutes * 60)
        end = datetime.now(UTC)
        last = worker_usage(dagster_home)
        size_end = home.warehouse.stat().st_size
    finally:
        changes.stop.set()
        os.killpg(daemon.pid, 15)
        daemon.wait(timeout=60)
        time.sleep(1)
        sandbox.stop()
    rows = [r for r in runs(home.warehouse, start) if r[1] <= end]
    per_connection: dict[str, list[datetime]] = defaultdict(list)
    for cid, started, _ in rows:
        per_connection[cid].append(started)
    intervals, lags = [], []
    for starts in per_connection.values():
        for before, after in itertools.pairwise(starts):
            gap = (after - before).total_seconds()
            intervals.append(gap)
            lags.append(max(gap - frequency, 0.0))
    waits, holds = lock_timings(dagster_home, start)
    seconds = (end - start).total_seconds()
    same_worker = first is not None and last is not None and first[0] == last[0]
    cpu_per_sync = (
        round((last[1] - first[1]) / max(last[2] - first[2], 1), 3)
        if same_worker and first and last
        else None
    )
    return {
        "connections": connections,
        "frequency_seconds": frequency,
        "records_per_account": records,
        "window_seconds": round(seconds, 1),
        "syncs": len(rows),
        "failed": sum(1 for r in rows if r[2] != "success"),
        "syncs_per_minute": round(len(rows) / seconds * 60, 1),
        "interval_median_seconds": round(statistics.median(intervals), 2) if intervals else None,
        "interval_p95_seconds": round(percentile(intervals, 95), 2) if intervals else None,
        "start_lag_median_seconds": round(statistics.median(lags), 2) if lags else None,
        "start_lag_p95_seconds": round(percentile(lags, 95), 2) if lags else None,
        "cpu_seconds_per_sync": cpu_per_sync,
        "lock_wait_median_seconds": round(statistics.median(waits), 3) if waits else None,
        "lock_hold_median_seconds": round(statistics.median(holds), 3) if holds else None,
        "lock_hold_p95_seconds": round(percentile(holds, 95), 3) if holds else None,
        "warehouse_bytes_per_sync": round((size_end - size_start) / len(rows)) if rows else None,
        "changes_made": changes.made,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--records", type=int, default=50, help="contacts per account")
    parser.add_argument("--output", type=Path, default=HERE / "many.json")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "fast": scenario(50, 15, args.minutes, args.records),
        "wide": scenario(200, 60, args.minutes, args.records),
        "tick": tick_cost(1000),
    }
    fast, wide, tick = report["fast"], report["wide"], report["tick"]
    report["targets_met"] = {
        "fast_syncs_per_minute_200": fast["syncs_per_minute"] >= 200,
        "fast_interval_p95_within_frequency_plus_5s": (fast["interval_p95_seconds"] or 1e9)
        <= 15 + 5,
        "wide_start_lag_p95_5s": (wide["start_lag_p95_seconds"] or 1e9) <= 5,
        "cpu_per_sync_0_3s": (fast["cpu_seconds_per_sync"] or 1e9) <= 0.3,
        "lock_hold_0_15s": (fast["lock_hold_median_seconds"] or 1e9) <= 0.15,
        "warehouse_growth_20KiB": (fast["warehouse_bytes_per_sync"] or 1e9) <= 20 * 1024,
        "tick_1s_at_1000": tick["sensor_tick_seconds"] + tick["claim_seconds"] <= 1.0,
    }
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [
        f"# Many connections ({report['measured_at']}, {report['cpus']} CPUs)",
        "",
        "| figure | 50 every 15 s | 200 every 60 s |",
        "| --- | ---: | ---: |",
    ]
    for key in fast:
        lines.append(f"| {key} | {fast[key]} | {wide[key]} |")
    lines += ["", "| scheduling tick at 1,000 connections | seconds |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in tick.items() if k != "connections"]
    lines += ["", "| target | met |", "| --- | :---: |"]
    lines += [f"| {k} | {'yes' if v else 'no'} |" for k, v in report["targets_met"].items()]
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
