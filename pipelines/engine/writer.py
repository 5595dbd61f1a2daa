"""The warehouse's writer within one process: its lock and read-write connection, one commit
at a time.

DuckDB admits one read-write process per file, so a writer holds our exclusive lock (and
DuckDB's own) for as long as its connection is open, and closing the connection
checkpoints the file: about 0.23 s of a small sync's 0.4 s under the lock, and every
checkpoint adds a row group to the tables it wrote. A short-lived process (``syncs run``,
a Dagster run of one connection) opens and closes per commit (``linger=0``), which lets
every other process in at once. A long-lived process syncing many connections (the sync
worker) keeps the connection and lock for ``linger`` seconds after a commit, so the next
commit — usually a moment later — reuses them, with no reopen and no checkpoint, and lets
them go once no commit came for ``linger`` seconds or after ``max_hold`` seconds, so a
reader in another process (the records API, the users' copy) waits at most that long.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import duckdb

from pipelines.engine.warehouse import (
    ensure_platform_tables,
    open_duckdb,
    read_connection,
    warehouse_lock,
)
from pipelines.home import Home


class Writer:
    def __init__(self, home: Home, *, linger: float = 0.0, max_hold: float = 2.0) -> None:
        self.home = home
        self.linger = linger
        self.max_hold = max_hold
        self._mutex = threading.Lock()
        self._stack: ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0
        self._last_used = 0.0
        self._closer: threading.Thread | None = None
        self._stopped = threading.Event()

    @contextmanager
    def session(self, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The read-write connection, under the exclusive lock, for one commit."""
        with self._mutex:
            if self._con is not None and time.monotonic() - self._opened > self.max_hold:
                self._close()
            if self._con is None:
                self._open(wait)
            assert self._con is not None
            try:
                yield self._con
            except BaseException as error:
                self._close(error)
                raise
            self._last_used = time.monotonic()
            if self.linger <= 0:
                self._close()
            else:
                self._start_closer()

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A connection to read from: the open session's own, when this process holds the
        warehouse (a second connection of one process must share its configuration, and
        our lock would keep a reader waiting until the session ends); a brief read-only
        one otherwise (``None`` before the warehouse exists)."""
        with self._mutex:
            if self._con is not None:
                cursor = self._con.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
                return
        with read_connection(self.home) as con:
            yield con

    def close(self) -> None:
        """Let the connection and the lock go now (the process is done writing)."""
        self._stopped.set()
        with self._mutex:
            self._close()
        if self._closer is not None:
            self._closer.join(timeout=5)
            self._closer = None
        self._stopped.clear()

    def _open(self, wait: float | None) -> None:
        stack = ExitStack()
        try:
            stack.enter_context(warehouse_lock(self.home, exclusive=True, wait=wait))
            con = open_duckdb(self.home, read_only=False, wait=wait)
            stack.callback(con.close)
            ensure_platform_tables(con)
        except BaseException:
            stack.close()
            raise
        self._stack, self._con = stack, con
        self._opened = time.monotonic()

    def _close(self, error: BaseException | None = None) -> None:
        """Close the connection and let the lock go; after a failed commit, as the failure
        (the lock then does not refresh the users' copy of a write that did not happen)."""
        stack, self._stack, self._con = self._stack, None, None
        if stack is None:
            return
        with contextlib.suppress(duckdb.Error):
            if error is None:
                stack.close()
            else:
                stack.__exit__(type(error), error, error.__traceback__)

    def _start_closer(self) -> None:
        if self._closer is not None and self._closer.is_alive():
            return
        self._closer = threading.Thread(target=self._close_when_idle, daemon=True)
        self._closer.start()

    def _close_when_idle(self) -> None:
        while not self._stopped.wait(min(self.linger, self.max_hold) / 2):
            with self._mutex:
                if self._con is None:
                    return
                now = time.monotonic()
                if now - self._last_used >= self.linger or now - self._opened > self.max_hold:
                    self._close()
                    return
