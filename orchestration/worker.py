"""The sync worker: a long-lived Dagster run that syncs each connection as it falls due.

A Dagster run of its own per connection-sync costs about 4.5 CPU seconds and 4-9 s from
submit to start (a Python process importing Dagster and the definitions; the daemon
launches one run at a time): 16 connection-syncs a minute on two cores, against syncs
that themselves cost a few tenths of a second. So one run per shard stays up for
``minutes`` and, every ``poll_seconds``, claims the due (connection, sync)s of its shard
from the schedule (one indexed query of the control store) and runs them on ``threads``
threads — extraction in parallel, the engine's warehouse lock serializing load and
compare — logging each connection's materializations and check results against its
partition, exactly as a run of that partition would. When the run ends, the worker
sensor starts the next one, which also picks up new code.

A connection whose sync fails affects only its partition: its failure is logged as the
``sync_succeeded`` check with the engine's error, and the schedule retries it at its next
due time. A killed worker loses nothing: the engine commits atomically, and the claims it
held lapse after their lease. Past one machine, ``SYNCS_WORKER_SHARDS`` workers split the
connections between them, each a run that Dagster's run launcher places (Kubernetes,
Docker, Celery): no scheduler, queue or worker process of our own.
"""

import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dagster import (
    AssetMaterialization,
    Config,
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    in_process_executor,
    job,
    op,
    sensor,
)
from pydantic import Field

from orchestration.checks import run_evaluations
from orchestration.metadata import model_metadata
from orchestration.naming import model_key
from pipelines.engine.results import SyncResult
from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.notify.dispatcher import reconcile
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections, format_duration
from pipelines.store.schedule import Due, Schedule
from sources.errors import ConfigError
from sources.registry import INTEGRATIONS

WORKER_JOB = "sync_worker"
WORKER_TAG = "syncs/worker"
WORKER_SENSOR = "sync_workers"
WORKER_SYNCS_TAG = "syncs/worker_syncs"
WORKER_CPU_TAG = "syncs/worker_cpu_seconds"
SENSOR_INTERVAL_SECONDS = 10
RENEW_EVERY_SECONDS = 30.0
WRITER_LINGER_SECONDS = 0.5
"""The warehouse connection stays open this long after a commit for the next sync's."""
IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def worker_shards() -> int:
    """``SYNCS_WORKER_SHARDS``: how many worker runs share the connections (default 1)."""
    text = os.environ.get("SYNCS_WORKER_SHARDS", "1")
    try:
        shards = int(text)
    except ValueError:
        shards = 0
    if shards < 1:
        raise ConfigError(f"SYNCS_WORKER_SHARDS must be a whole number of 1 or more, got {text!r}")
    return shards


class WorkerConfig(Config):
    shard: int = Field(default=0, description="Which shard of the connections this worker syncs.")
    shards: int = Field(default=1, description="How many workers share the connections.")
    threads: int = Field(default=4, description="Syncs this worker runs at once.")
    minutes: float = Field(
        default=10.0, description="How long the run keeps syncing before the next one takes over."
    )
    poll_seconds: float = Field(default=1.0, description="How often it looks for due syncs.")


@dataclass
class Worker:
    """Claims due syncs of one shard and runs them on a thread pool until ``stop()``.

    ``report`` is called in the worker's own thread with each finished run's result."""

    home: Home
    report: Callable[[SyncResult], None]
    progress: Callable[[int], None] | None = None
    shard: int = 0
    shards: int = 1
    threads: int = 4
    poll_seconds: float = 1.0
    running: dict[Future[SyncResult | None], Due] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.schedule = Schedule(self.home)
        self.connections = Connections(self.home)
        self.runner = sync_runner(self.home, linger=WRITER_LINGER_SECONDS)
        self._last_renewal = time.monotonic()
        self.done = 0

    def run(self, keep_going: Callable[[], bool]) -> int:
        """Sync until ``keep_going()`` says stop, then finish what runs; returns the count."""
        with ThreadPoolExecutor(self.threads, thread_name_prefix="sync") as pool:
            while keep_going():
                self._start_due(pool)
                self.done += self._collect(timeout=self.poll_seconds)
                self._renew()
            while self.running:
                self.done += self._collect(timeout=self.poll_seconds)
                self._renew()
        self.runner.writer.close()
        return self.done

    def _start_due(self, pool: ThreadPoolExecutor) -> None:
        room = self.threads - len(self.running)
        if room <= 0:
            return
        for claim in self.schedule.claim(
            datetime.now(UTC), limit=room, shard=self.shard, shards=self.shards
        ):
            self.running[pool.submit(self._sync, claim)] = claim

    def _sync(self, claim: Due) -> SyncResult | None:
        try:
            connection = self.connections.get(claim.connection_id)
            sync = connection.spec.syncs[claim.sync]
        except (ConfigError, KeyError):
            self.schedule.release(claim)
            return None
        try:
            return self.runner.run_one(connection, sync, mode=claim.mode)
        except SyncFailed as failure:
            return failure.result

    def _collect(self, timeout: float) -> int:
        if not self.running:
            time.sleep(timeout)
            return 0
        finished, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in finished:
            self.running.pop(future)
            result = future.result()
            if result is not None:
                self.report(result)
        return len(finished)

    def _renew(self) -> None:
        if time.monotonic() - self._last_renewal < RENEW_EVERY_SECONDS:
            return
        self._last_renewal = time.monotonic()
        self.done = 0
        self.schedule.renew(list(self.running.values()), datetime.now(UTC))


def log_result(context: OpExecutionContext, home: Home, result: SyncResult) -> None:
    """A finished run as Dagster shows it: each model's materialization (when it succeeded)
    and check results, on the connection's partition."""
    spec = INTEGRATIONS[result.integration]
    if result.status == "success":
        for model in spec.syncs[result.sync].models:
            context.log_event(
                AssetMaterialization(
                    asset_key=model_key(spec.name, model),
                    partition=result.connection_id,
                    metadata=model_metadata(result, model),
                )
            )
    for evaluation in run_evaluations(home, spec, result):
        context.log_event(evaluation.logged(spec.name, result.connection_id))


@op(description="Syncs every due connection of its shard as it falls due, for a while.")
def sync_due_connections(context: OpExecutionContext, config: WorkerConfig) -> None:
    home = Home.from_env()
    deadline = time.monotonic() + config.minutes * 60

    def progress(done: int) -> None:
        """What the run has done so far, on the run itself: syncs and CPU seconds."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        context.instance.add_run_tags(
            context.run_id,
            {
                WORKER_SYNCS_TAG: str(done),
                WORKER_CPU_TAG: f"{usage.ru_utime + usage.ru_stime:.2f}",
            },
        )

    worker = Worker(
        home,
        report=lambda result: log_result(context, home, result),
        progress=progress,
        shard=config.shard,
        shards=config.shards,
        threads=config.threads,
        poll_seconds=config.poll_seconds,
    )
    recovered = reconcile(home)
    if recovered:
        context.log.info(f"wrote {len(recovered)} webhook messages of runs that ended without them")
    done = worker.run(lambda: time.monotonic() < deadline)
    progress(done)
    context.log.info(f"synced {done} connection-syncs of shard {config.shard}/{config.shards}")


@job(
    name=WORKER_JOB,
    executor_def=in_process_executor,
    description="Keeps its shard of the connections synced, each at its own frequency.",
)
def sync_worker_job() -> None:
    sync_due_connections()


def worker_sensor(worker: JobDefinition = sync_worker_job) -> SensorDefinition:
    @sensor(
        name=WORKER_SENSOR,
        job=worker,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Keeps one sync worker run per shard going (SYNCS_WORKER_SHARDS, default 1); the "
            "workers start each connection's syncs as they fall due."
        ),
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult:
        shards = worker_shards()
        running = context.instance.get_runs(RunsFilter(job_name=worker.name, statuses=IN_PROGRESS))
        busy = {run.tags.get(WORKER_TAG) for run in running}
        tick = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
        requests = [
            RunRequest(
                run_key=f"worker-{shard}-{tick}",
                run_config={
                    "ops": {"sync_due_connections": {"config": {"shard": shard, "shards": shards}}}
                },
                tags={WORKER_TAG: f"{shard}/{shards}"},
            )
            for shard in range(shards)
            if f"{shard}/{shards}" not in busy
        ]
        upcoming = Schedule(Home.from_env()).next_due()
        if upcoming is None:
            status = "no enabled connection to sync"
        else:
            wait_for = upcoming.due_at - datetime.now(UTC)
            when = (
                "due now"
                if wait_for.total_seconds() <= 0
                else f"due in {format_duration(wait_for)}"
            )
            status = f"next: {upcoming.connection_id} {upcoming.integration}/{upcoming.sync} {when}"
        if not requests:
            return SensorResult(
                skip_reason=SkipReason(f"{len(busy)} worker run(s) going; {status}")
            )
        context.log.info(f"starting {len(requests)} worker run(s); {status}")
        return SensorResult(run_requests=requests)

    return _sensor
