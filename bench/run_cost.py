"""``python -m bench.run_cost``: what one sync run costs under each executor.

Against a HubSpot sandbox on loopback, in a temporary ``SYNCS_HOME`` and Dagster instance,
it measures, for the in-process and the multiprocess executor:

* the run as Dagster records it (run start to run success) and its one step, executing
  the run in this process the way a run worker does;
* a whole run as its own process (``dagster job execute``), as the run launcher starts one:
  interpreter start, imports, definitions, run, exit.

The queue in front (``dagster dev``'s daemon dequeues every 5 seconds) and the scheduling
sensor's interval (15 seconds) come on top and are the same for both executors.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dagster import (
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecutorDefinition,
    JobDefinition,
    define_asset_job,
    execute_job,
    in_process_executor,
    multiprocess_executor,
    reconstructable,
)

ROOT = Path(__file__).resolve().parent.parent
CONNECTION = "acme"
TOKEN = "run-cost-token-0123456789"


def _job(executor: ExecutorDefinition) -> JobDefinition:
    from orchestration.definitions import build_definitions

    assets = build_definitions().resolve_assets_def(("hubspot", "contacts"))
    job = define_asset_job(
        f"hubspot_crm_{executor.name}",
        selection=AssetSelection.assets(assets),
        executor_def=executor,
    )
    return Definitions(assets=[assets], jobs=[job]).resolve_job_def(job.name)


def in_process_job() -> JobDefinition:
    return _job(in_process_executor)


def multiprocess_job() -> JobDefinition:
    return _job(multiprocess_executor)


JOBS: dict[str, Callable[[], JobDefinition]] = {
    "in_process": in_process_job,
    "multiprocess": multiprocess_job,
}


def _event_time(instance: DagsterInstance, run_id: str, kind: DagsterEventType) -> float:
    return next(
        e.timestamp for e in instance.all_logs(run_id, of_type=kind) if e.dagster_event is not None
    )


def _cpu() -> float:
    """CPU seconds of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_this_process(instance: DagsterInstance, name: str) -> tuple[float, float, float]:
    """(run seconds, step seconds, CPU seconds) of one run executed here."""
    tags = {"dagster/partition": CONNECTION}
    cpu = _cpu()
    with execute_job(reconstructable(JOBS[name]), instance, tags=tags) as result:
        assert result.success, f"{name} run failed"
        run_id = result.run_id
    cpu = _cpu() - cpu
    run = _event_time(instance, run_id, DagsterEventType.RUN_SUCCESS) - _event_time(
        instance, run_id, DagsterEventType.RUN_START
    )
    step = _event_time(instance, run_id, DagsterEventType.STEP_SUCCESS) - _event_time(
        instance, run_id, DagsterEventType.STEP_START
    )
    return run, step, cpu


def as_own_process(name: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a run in a process of its own."""
    started, cpu = time.monotonic(), _cpu()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "execute",
            "-m",
            "bench.run_cost",
            "-a",
            f"{name}_job",
            "--tags",
            json.dumps({"dagster/partition": CONNECTION}),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started, _cpu() - cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_cost")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement")
    parser.add_argument("--records", type=int, default=200, help="contacts in the sandbox")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SYNCS_HOME"] = str(Path(tmp) / "home")
        os.environ["DAGSTER_HOME"] = str(Path(tmp) / "dagster")
        Path(os.environ["DAGSTER_HOME"]).mkdir()
        Path(os.environ["DAGSTER_HOME"], "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\n"
        )

        from orchestration.partitions import sync_partitions
        from pipelines.home import Home
        from pipelines.runs import sync_runner
        from pipelines.store.connections import Connections
        from sources.hubspot.sandbox.server import HubSpotSandbox
        from sources.registry import INTEGRATIONS

        sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
        try:
            sandbox.add_account(TOKEN, seed=1, contacts=args.records, companies=20, deals=20)
            home = Home.from_env()
            Connections(home).add(
                "hubspot",
                CONNECTION,
                credentials={"access_token": TOKEN},
                config={"base_url": sandbox.base_url},
            )
            sync_runner(home).run(CONNECTION)
            instance = DagsterInstance.get()
            sync_partitions(instance, INTEGRATIONS.values(), home)

            print(
                f"{args.runs} incremental runs each, {args.records} contacts, {os.cpu_count()} CPUs"
            )
            print("medians; wall seconds, and CPU seconds in parentheses")
            print(f"{'executor':<14}{'step':>8}{'run':>16}{'run as its own process':>26}")
            for name in JOBS:
                timings = [in_this_process(instance, name) for _ in range(args.runs)]
                process = [as_own_process(name, dict(os.environ)) for _ in range(args.runs)]
                step = statistics.median(t[1] for t in timings)
                run = statistics.median(t[0] for t in timings)
                run_cpu = statistics.median(t[2] for t in timings)
                own = statistics.median(p[0] for p in process)
                own_cpu = statistics.median(p[1] for p in process)
                print(
                    f"{name:<14}{step:>7.2f}s{run:>8.2f}s ({run_cpu:>4.1f})"
                    f"{own:>17.2f}s ({own_cpu:>4.1f})"
                )
        finally:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
