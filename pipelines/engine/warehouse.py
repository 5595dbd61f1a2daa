"""The DuckDB warehouse: who may open it when, how, and the platform tables in schema ``syncs``.

DuckDB admits one read-write process per file and fails at once, not waits, when another
holds it. So every process of ours takes a file lock first — exclusive to write, shared
to read — and waits for it; the DuckDB-level lock error (someone else's process, a user's
SQL shell) is retried with backoff for a while before the run fails cleanly. Writers hold
the lock only to load and compare, never while talking to an API.

A writer that finds the file held by another program lets go of our exclusive lock while
it waits for that program, so our readers (the records API) are never queued behind a
writer that cannot write anyway: measured before, a user's open session held the API's
reads for as long as a sync waited for it (49.8 s and 60.5 s). The records API waits for
another program's lock only ``API_READ_WAIT_SECONDS``, then answers 503. Users are not meant
to open this file at all: they get ``query.duckdb`` (``pipelines.engine.query_copy``).

Everything that opens a warehouse file — the engine, the records API, Dagster's checks,
the users' copy, the tests — goes through ``connect``, which attaches the file with its
encryption key when ``SYNCS_ENCRYPT_WAREHOUSE`` is on (``pipelines.engine.encryption``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.engine import encryption, query_copy
from pipelines.home import Home
from sources.errors import ConfigError, WarehouseBusyError

log = logging.getLogger(__name__)

API_READ_WAIT_SECONDS = 10.0
"""How long a records API request waits for a file another program holds read-write."""


def memory_limit() -> str:
    """DuckDB's memory limit for syncs' own connections (``SYNCS_DUCKDB_MEMORY_LIMIT``).

    The engine's joins carry ids and hashes, not rows, so its working memory is
    small; left alone, DuckDB would also keep every block it wrote in its cache, up to 80%
    of the machine, and a sync's memory would grow with the table. Measured on a
    1,000,000-row compare: peak 607 MB without a limit, 450 MB at 256 MB, no slower.
    Past the limit DuckDB evicts cached blocks and spills to disk rather than failing.
    """
    return settings.duckdb_memory_limit()


def connect(path: Path, *, read_only: bool, key: str | None) -> duckdb.DuckDBPyConnection:
    """A connection to a warehouse file, as the current database; attached with ``key``
    (DuckDB's encrypted database files) when one is given."""
    config = {"memory_limit": memory_limit()}
    if key is None:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    # Blocks spilled to disk go beside the file, as they do for a file opened directly, and
    # are encrypted too.
    config.update({"temp_directory": f"{path}.tmp", "temp_file_encryption": True})
    con = duckdb.connect(":memory:", config=config)
    try:
        encryption.attach(con, path, key, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


PLATFORM_DDL = [
    "CREATE SCHEMA IF NOT EXISTS syncs",
    "CREATE SEQUENCE IF NOT EXISTS syncs.change_cursor START 1",
    """
    CREATE TABLE IF NOT EXISTS syncs.sync_runs (
        run_id VARCHAR NOT NULL,
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
        note VARCHAR
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
    # Where each change came from (INITIAL, INCREMENTAL, FULL, WEBHOOK, ACTION); events
    # written before the column existed have none.
    "ALTER TABLE syncs.change_events ADD COLUMN IF NOT EXISTS sync_type VARCHAR",
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


class WarehouseLock:
    """Our processes' reader/writer lock on the warehouse (``flock`` on a file beside it)."""

    # The exclusive lock each thread took, by thread: a lock may be let go by another
    # thread than the one that took it (a writer closing an idle connection).
    _held: dict[int, WarehouseLock] = {}
    _held_guard = threading.Lock()

    def __init__(self, home: Home, *, exclusive: bool) -> None:
        self.home = home
        self.exclusive = exclusive
        self.wrote = False
        self._fd: int | None = None
        self._owner: int | None = None

    @classmethod
    def held_exclusive(cls) -> WarehouseLock | None:
        """The exclusive lock the current thread took and holds, if any."""
        with cls._held_guard:
            return cls._held.get(threading.get_ident())

    def _own(self) -> None:
        with WarehouseLock._held_guard:
            self._owner = threading.get_ident()
            WarehouseLock._held[self._owner] = self

    def _disown(self) -> None:
        with WarehouseLock._held_guard:
            if self._owner is not None and WarehouseLock._held.get(self._owner) is self:
                del WarehouseLock._held[self._owner]
            self._owner = None

    def acquire(self, deadline: float, wait: float) -> None:
        fd = self._open()
        if fd is None:
            return
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusyError(
                            f"the warehouse {self.home.warehouse.name} stayed locked by another "
                            f"sync for {wait:.0f}s; try again when it is done"
                        ) from None
                    time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if self.exclusive:
            self._own()

    def _open(self) -> int | None:
        """The lock file; for a reader in a home that cannot be written, read-only or None
        (where nothing can write the warehouse, a reader needs no lock)."""
        path = self.home.warehouse_lock
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            if self.exclusive or error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None

    def share(self) -> bool:
        """Turn the exclusive lock into a shared one; False if another writer came first."""
        if self._fd is None:
            return False
        self._disown()
        self.exclusive = False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        self._disown()
        os.close(self._fd)
        self._fd = None


@contextmanager
def warehouse_lock(
    home: Home, *, exclusive: bool, wait: float | None = None
) -> Iterator[WarehouseLock]:
    """Our processes' reader/writer lock on the warehouse; waits up to ``wait`` seconds
    (``SYNCS_WAREHOUSE_WAIT_SECONDS``, 600 by default)."""
    wait = settings.warehouse_wait_seconds() if wait is None else wait
    lock = WarehouseLock(home, exclusive=exclusive)
    lock.acquire(time.monotonic() + wait, wait)
    try:
        yield lock
        if lock.wrote:
            _refresh_query_copy(home, lock)
    finally:
        lock.release()


def _refresh_query_copy(home: Home, lock: WarehouseLock) -> None:
    """After a write, the users' copy, under the shared lock (our readers go on meanwhile).

    Never fails the write it follows: a copy that cannot be made now is made after the next.
    """
    if not query_copy.enabled():
        query_copy.remove(home)
        return
    if not lock.share():
        return
    try:
        query_copy.refresh(home)
    except OSError as error:
        log.warning("could not refresh %s: %s", home.query_copy.name, error)


def open_duckdb(
    home: Home, *, read_only: bool, wait: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another program (a user's shell, say) holds it.

    A writer holding our exclusive lock (``warehouse_lock`` in this thread) lets go of it
    between attempts, so our readers go on meanwhile, and takes it again before the next.
    """
    wait = settings.warehouse_wait_seconds() if wait is None else wait
    key = encryption.warehouse_key(home)
    delay = 0.05
    deadline = time.monotonic() + wait
    while True:
        try:
            con = _open(home, key, read_only=read_only)
        except duckdb.Error as error:
            text = str(error)
            if not any(marker in text for marker in _LOCK_ERRORS):
                raise
            if time.monotonic() > deadline:
                raise WarehouseBusyError(
                    f"the warehouse {home.warehouse.name} is held open by another program; close "
                    f"it (a SQL shell, say: open {home.query_copy.name} instead) and run again"
                ) from None
            lock = WarehouseLock.held_exclusive() if not read_only else None
            if lock is not None:
                lock.release()
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            if lock is not None:
                lock.acquire(deadline, wait)
            continue
        writer = WarehouseLock.held_exclusive() if not read_only else None
        if writer is not None:
            writer.wrote = True
        return con


def _open(home: Home, key: str | None, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the warehouse as it is kept; a plaintext one is encrypted on its first write with
    the option on. With the option off, no file is opened but DuckDB's own (closing any other
    descriptor on the file would drop the locks DuckDB holds on it in this process)."""
    path = home.warehouse
    if key is None:
        try:
            return connect(path, read_only=read_only, key=None)
        except duckdb.Error as error:
            if "without a key" in str(error):
                encryption.refuse_encrypted(path)
            raise
    if path.exists() and not encryption.is_encrypted(path):
        if read_only:
            return connect(path, read_only=True, key=None)
        encryption.encrypt_file(path, key, memory_limit())
    return connect(path, read_only=read_only, key=key)


def open_query_copy(home: Home) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the users' copy (``syncs sql``); it never holds up a sync."""
    path = home.query_copy
    if not path.exists():
        raise ConfigError(
            f"there is no {path.name} in {home.root} yet; the first sync makes it "
            "(unless SYNCS_QUERY_COPY is false)"
        )
    key = encryption.file_key(home) if encryption.is_encrypted(path) else None
    return connect(path, read_only=True, key=key)


UNKEYED = ("sync_runs", "sync_run_models")
"""Tables written by every run that carry no primary key: DuckDB adds a row group and a
256 KiB block to each table with a primary key at every checkpoint that wrote to it, so
keyed, these two grew the file by about 0.5 MiB a sync whatever the data. A run id is
unique by construction (a timestamp and 48 random bits)."""


def ensure_platform_tables(con: duckdb.DuckDBPyConnection) -> None:
    for sql in PLATFORM_DDL:
        con.execute(sql)
    _drop_old_keys(con)


def _drop_old_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild, once, the ``UNKEYED`` tables of a warehouse made when they had keys (DuckDB
    cannot drop a primary key in place)."""
    keyed = [
        table
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND schema_name = 'syncs' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        if table in UNKEYED
    ]
    for table in keyed:
        ddl = next(sql for sql in PLATFORM_DDL if f"syncs.{table} (" in sql)
        con.execute("BEGIN TRANSACTION")
        con.execute(f"ALTER TABLE syncs.{table} RENAME TO {table}_keyed")
        con.execute(ddl)
        con.execute(f"INSERT INTO syncs.{table} BY NAME SELECT * FROM syncs.{table}_keyed")
        con.execute(f"DROP TABLE syncs.{table}_keyed")
        con.execute("COMMIT")


@contextmanager
def write_connection(
    home: Home, *, wait: float | None = None
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
def read_connection(
    home: Home, *, program_wait: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only connection, briefly; ``None`` when the warehouse does not exist yet.

    ``program_wait`` bounds the wait for another program holding the file read-write
    (a request should be answered, if only with 503, rather than wait as a sync does).
    """
    if not home.warehouse.exists():
        yield None
        return
    with warehouse_lock(home, exclusive=False):
        con = open_duckdb(home, read_only=True, wait=program_wait)
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
