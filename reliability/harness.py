"""What every scenario stands on: a home of its own, the ``syncs`` command as a real process,
sandboxes on loopback, and the check that the warehouse holds exactly what the sandbox does.

The sandboxes run in the suite's own process (their threads answer real HTTP on loopback),
so a scenario reads the provider's data from the simulator itself, never through the API
the sync used, and compares it with the warehouse field by field.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pipelines.engine.warehouse import read_connection
from pipelines.home import Home
from sources.hubspot.sandbox.server import HubSpotSandbox

ROOT = Path(__file__).resolve().parent.parent
META_PREFIX = "_syncs_"


@dataclass
class Outputs:
    """Everything the commands a scenario ran printed, for the credentials scan."""

    texts: list[str] = field(default_factory=list)

    def add(self, *texts: str) -> None:
        self.texts.extend(t for t in texts if t)


OUTPUTS = Outputs()


@dataclass
class Done:
    args: list[str]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def one_line_error(self) -> bool:
        return self.err.startswith("error: ") and self.err.count("\n") == 1

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.out + self.err


class Workspace:
    """A ``SYNCS_HOME`` of its own, in a temporary folder, and the environment its commands
    run with (fast HTTP backoff, so faults cost seconds, not minutes)."""

    def __init__(self, name: str, base: Path | None = None, **env: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"syncs-{name}-", dir=base))
        self.home = Home(self.folder / "home")
        self.env = {
            **os.environ,
            "SYNCS_HOME": str(self.home.root),
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.2",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        if "SYNCS_ENCRYPTION_KEY" not in env:
            self.env.pop("SYNCS_ENCRYPTION_KEY", None)
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> Workspace:
        """Point this process at the home too (the in-process reads and runs)."""
        for key in ("SYNCS_HOME", "RUNTIME__REQUEST_BACKOFF_FACTOR", *self.extra_keys()):
            self._saved[key] = os.environ.get(key)
            os.environ[key] = self.env[key]
        self.home.ensure()
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.folder, ignore_errors=True)

    def extra_keys(self) -> list[str]:
        return [k for k in self.env if k.startswith("SYNCS_") and k != "SYNCS_HOME"]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "pipelines.cli.main", *args]

    def syncs(self, *args: str, timeout: float = 600, preexec: Any = None, **env: str) -> Done:
        """Run ``syncs ARGS`` to its end as its own process."""
        clock = time.monotonic()
        proc = subprocess.run(
            self.command(*args),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=preexec,
            cwd=self.folder,
        )
        OUTPUTS.add(proc.stdout, proc.stderr)
        return Done(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - clock)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``syncs ARGS`` as its own process and return at once."""
        return subprocess.Popen(
            self.command(*args),
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.folder,
        )


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> Done:
    clock = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    OUTPUTS.add(out, err)
    return Done([str(a) for a in proc.args], proc.returncode, out, err, time.monotonic() - clock)  # type: ignore[union-attr]


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL one process we started, and collect what it printed."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    OUTPUTS.add(out, err)


def hubspot_sandbox() -> HubSpotSandbox:
    """The HubSpot sandbox without its rate limits: a scenario decides what it faults."""
    return HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()


def add_hubspot(ws: Workspace, sandbox: HubSpotSandbox, connection_id: str, token: str) -> Done:
    done = ws.syncs(
        "connections", "add", "hubspot", connection_id,
        "--credential", f"access_token={token}",
        "--config", f"base_url={sandbox.base_url}",
    )  # fmt: skip
    if done.code != 0:
        raise RuntimeError(f"could not add {connection_id}: {done.err.strip()}")
    return done


def query(home: Home, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with read_connection(home) as con:
        if con is None:
            return []
        return con.execute(sql, params or []).fetchall()


def warehouse_lock_held(home: Home) -> bool:
    """Whether a writer holds the warehouse's exclusive lock now."""
    try:
        fd = os.open(home.warehouse_lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# The warehouse against the sandbox


@dataclass
class Comparison:
    """How a connection's live rows of a model differ from the sandbox's live records."""

    records: int = 0
    fields: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    differing: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    duplicates: int = 0
    false_deletes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (
            self.missing or self.extra or self.differing or self.duplicates or self.false_deletes
        )

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "fields_compared": self.fields,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "differing_fields": len(self.differing),
            "duplicate_rows": self.duplicates,
            "false_deletes": len(self.false_deletes),
            "examples": [list(map(str, d)) for d in self.differing[:3]]
            + self.missing[:3]
            + self.extra[:3],
        }


TOP_LEVEL = {
    "id": "id",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "archived": "archived",
    "archived_at": "archivedAt",
}


def _canonical(value: Any, dtype: str) -> Any:
    """A value as the warehouse type ``dtype`` means it, so a sandbox string and a stored
    value compare equal exactly when they say the same thing."""
    if value is None or value == "":
        return None
    if "TIMESTAMP" in dtype or dtype == "DATE":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return round(value.timestamp() * 1000)
        return value
    if dtype == "BOOLEAN":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if dtype.startswith(("DECIMAL", "DOUBLE", "BIGINT", "INTEGER", "HUGEINT")):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return number.normalize()
    return str(value)


def compare_hubspot(
    home: Home,
    sandbox: HubSpotSandbox,
    token: str,
    connection_id: str,
    model: str = "contacts",
) -> Comparison:
    """The connection's live rows of ``model`` against the sandbox account's live records,
    every stored field; ``false_deletes`` are rows marked deleted whose record is live."""
    out = Comparison()
    table = f"hubspot.{model}"
    with read_connection(home) as con:
        if con is None:
            out.missing = sandbox.ids(token, model)
            return out
        described = con.execute(f"DESCRIBE {table}").fetchall()
        columns = [
            (n, t)
            for n, t, *_ in described
            if not n.startswith(META_PREFIX) and n != "connection_id"
        ]
        names = ", ".join(f'"{n}"' for n, _ in columns)
        cursor = con.execute(
            f"SELECT {names}, _syncs_deleted_at IS NOT NULL FROM {table} WHERE connection_id = ?",
            [connection_id],
        )
        stored: dict[str, tuple[Any, ...]] = {}
        deleted: set[str] = set()
        while batch := cursor.fetchmany(10_000):
            for row in batch:
                record_id = str(row[0])
                if row[-1]:
                    deleted.add(record_id)
                    continue
                if record_id in stored:
                    out.duplicates += 1
                stored[record_id] = row[:-1]
    live = sandbox.ids(token, model)
    out.records = len(live)
    live_set = set(live)
    out.extra = sorted(set(stored) - live_set)
    out.false_deletes = sorted(deleted & live_set - set(stored))
    for record_id in live:
        row = stored.get(record_id)
        if row is None:
            out.missing.append(record_id)
            continue
        record = sandbox.get(token, model, record_id)
        properties: Mapping[str, Any] = record["properties"]
        for (name, dtype), value in zip(columns, row, strict=True):
            source = record.get(TOP_LEVEL[name]) if name in TOP_LEVEL else properties.get(name)
            out.fields += 1
            if _canonical(value, dtype) != _canonical(source, dtype):
                out.differing.append((record_id, name, value, source))
    return out


# Figures


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    clock = time.monotonic()
    timing: dict[str, float] = {}
    try:
        yield timing
    finally:
        timing["seconds"] = round(time.monotonic() - clock, 2)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
