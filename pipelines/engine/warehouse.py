"""The DuckDB warehouse: who may open it when, and the platform tables in schema ``syncs``.

DuckDB admits one read-write process per file and fails at once, not waits, when another
holds it. So every process of ours takes a file lock first — exclusive to write, shared
to read — and waits for it; the DuckDB-level lock error (someone else's process, a user's
SQL shell) is retried with backoff for a while before the run fails cleanly. Writers hold
the lock only to load and compare, never while talking to an API.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from pipelines.home import Home
from sources.errors import WarehouseBusyError

WAIT_SECONDS = float(os.environ.get("SYNCS_WAREHOUSE_WAIT_SECONDS", "600"))


def memory_limit() -> str:
    """DuckDB's memory limit for syncs' own connections (``SYNCS_DUCKDB_MEMORY_LIMIT``).

    The engine's joins carry ids and hashes, not rows, so its working memory is
    small; left alone, DuckDB would also keep every block it wrote in its cache, up to 80%
    of the machine, and a sync's memory would grow with the table. Measured on a
    1,000,000-row compare: peak 607 MB without a limit, 450 MB at 256 MB, no slower.
    Past the limit DuckDB evicts cached blocks and spills to disk rather than failing.
    """
    return os.environ.get("SYNCS_DUCKDB_MEMORY_LIMIT", "256MB")


PLATFORM_DDL = [
    "CREATE SCHEMA IF NOT EXISTS syncs",
    "CREATE SEQUENCE IF NOT EXISTS syncs.change_cursor START 1",
    """
    CREATE TABLE IF NOT EXISTS syncs.sync_runs (
        run_id VARCHAR PRIMARY KEY,
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        sync VARCHAR NOT NULL,
        mode VARCHAR NOT NULL,
        sync_type VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        suspicious BOOLEAN NOT NULL DEFAULT false,
        note VARCHAR,
        added BIGINT NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL DEFAULT 0,
        deleted BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        rejected BIGINT NOT NULL DEFAULT 0,
        api_requests BIGINT NOT NULL DEFAULT 0,
        first_cursor BIGINT,
        last_cursor BIGINT,
        error_type VARCHAR,
        error VARCHAR,
        deletions_held BIGINT NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.sync_run_models (
        run_id VARCHAR NOT NULL,
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        added BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        deleted BIGINT NOT NULL,
        unchanged BIGINT NOT NULL,
        rejected BIGINT NOT NULL,
        fetched BIGINT NOT NULL,
        rows_total BIGINT NOT NULL,
        suspicious BOOLEAN NOT NULL,
        first_cursor BIGINT,
        last_cursor BIGINT,
        deletions_held BIGINT NOT NULL DEFAULT 0,
        note VARCHAR,
        PRIMARY KEY (run_id, model)
    )
    """,
    # Columns added since the tables were first made.
    "ALTER TABLE syncs.sync_runs ADD COLUMN IF NOT EXISTS deletions_held BIGINT DEFAULT 0",
    "ALTER TABLE syncs.sync_run_models ADD COLUMN IF NOT EXISTS deletions_held BIGINT DEFAULT 0",
    "ALTER TABLE syncs.sync_run_models ADD COLUMN IF NOT EXISTS note VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS syncs.change_events (
        cursor BIGINT NOT NULL,
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        sync VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        record_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        changed_fields VARCHAR[],
        changes JSON,
        occurred_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.sync_state (
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        sync VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        cursor JSON,
        last_run_id VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (connection_id, sync, model)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.api_requests (
        run_id VARCHAR NOT NULL,
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        status INTEGER,
        duration_ms DOUBLE NOT NULL,
        attempt INTEGER NOT NULL,
        waited_ms DOUBLE NOT NULL,
        error VARCHAR,
        requested_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.row_hashes (
        table_schema VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        hashed_with VARCHAR NOT NULL,
        PRIMARY KEY (table_schema, table_name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.due_records (
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        sync VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        record_id VARCHAR NOT NULL,
        locator JSON,
        reason VARCHAR NOT NULL,
        first_rejected_at TIMESTAMPTZ NOT NULL,
        last_rejected_at TIMESTAMPTZ NOT NULL,
        last_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS syncs.rejected_records (
        run_id VARCHAR NOT NULL,
        connection_id VARCHAR NOT NULL,
        integration VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        record_id VARCHAR,
        reason VARCHAR NOT NULL,
        payload JSON NOT NULL,
        rejected_at TIMESTAMPTZ NOT NULL
    )
    """,
]

_LOCK_ERRORS = ("Could not set lock", "Conflicting lock", "database is locked")


@contextmanager
def warehouse_lock(home: Home, *, exclusive: bool, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Our processes' reader/writer lock on the warehouse; waits up to ``wait`` seconds."""
    home.warehouse_lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(home.warehouse_lock, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"the warehouse {home.warehouse.name} stayed locked by another sync for "
                        f"{wait:.0f}s; try again when it is done"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def open_duckdb(
    home: Home, *, read_only: bool, wait: float = WAIT_SECONDS
) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying while another program (a user's shell, say) holds it."""
    delay = 0.05
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(
                str(home.warehouse),
                read_only=read_only,
                config={"memory_limit": memory_limit()},
            )
        except duckdb.Error as error:
            text = str(error)
            if not any(marker in text for marker in _LOCK_ERRORS):
                raise
            if time.monotonic() > deadline:
                raise WarehouseBusyError(
                    f"the warehouse {home.warehouse.name} is held open by another program; close "
                    "it (a SQL shell, say) and run again"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def ensure_platform_tables(con: duckdb.DuckDBPyConnection) -> None:
    for sql in PLATFORM_DDL:
        con.execute(sql)


@contextmanager
def write_connection(
    home: Home, *, wait: float = WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The exclusive lock and a read-write connection; caller manages transactions."""
    with warehouse_lock(home, exclusive=True, wait=wait):
        con = open_duckdb(home, read_only=False, wait=wait)
        try:
            ensure_platform_tables(con)
            yield con
        finally:
            con.close()


@contextmanager
def read_connection(home: Home) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only connection, briefly; ``None`` when the warehouse does not exist yet."""
    if not home.warehouse.exists():
        yield None
        return
    with warehouse_lock(home, exclusive=False):
        con = open_duckdb(home, read_only=True)
        try:
            yield con
        finally:
            con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
