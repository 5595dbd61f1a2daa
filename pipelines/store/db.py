"""The control store: connections, and later webhook endpoints and the outbox.

SQLite from the standard library, in WAL mode, because many processes open it at once
(the Dagster daemon, run workers, the API server, the CLI) and it needs no server.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sources.errors import SyncsError

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS connections (
        connection_id TEXT PRIMARY KEY,
        integration TEXT NOT NULL,
        credentials BLOB NOT NULL,
        config TEXT NOT NULL,
        frequency_seconds INTEGER,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
]


COLUMNS: list[tuple[str, str, str]] = [("connections", "max_deletions", "TEXT")]
"""Columns added to a table after it was first made: (table, column, declaration)."""


def register_migration(sql: str) -> None:
    """Other modules add their tables here; every statement must be idempotent."""
    if sql not in MIGRATIONS:
        MIGRATIONS.append(sql)


def _add_columns(db: sqlite3.Connection) -> None:
    """Add the registered columns a store made before them lacks (SQLite has no
    ``ADD COLUMN IF NOT EXISTS``; another process may add one at the same moment)."""
    tables: dict[str, set[str]] = {}
    for table, column, declaration in COLUMNS:
        if table not in tables:
            tables[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column in tables[table]:
            continue
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except sqlite3.OperationalError as error:
            if "duplicate column" not in str(error):
                raise


class StoreUnwritable(SyncsError):
    """The control store cannot be written: a read-only ``SYNCS_HOME``, or a full disk."""


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _unwritable(error: sqlite3.OperationalError, path: Path) -> SyncsError | None:
    text = str(error).lower()
    if "disk is full" in text:
        return StoreUnwritable(
            f"out of disk space writing {path.name} in {path.parent}; free some space and run again"
        )
    if ("readonly" in text or "read-only" in text or "unable to open" in text) and not _writable(
        path.parent
    ):
        return StoreUnwritable(
            f"cannot write {path.name}: {path.parent} is read-only; commands that only read "
            "work, this one needs a writable SYNCS_HOME"
        )
    return None


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        for sql in MIGRATIONS:
            db.execute(sql)
        _add_columns(db)
        db.execute("BEGIN IMMEDIATE")
    except BaseException:
        db.close()
        raise
    return db


def _open_read_only(path: Path) -> sqlite3.Connection:
    """The store of a home that cannot be written, read as it is (nobody can change it)."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("BEGIN")
    return db


@contextmanager
def control_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection; commits on success, rolls back on error.

    In a home that cannot be written the store is opened read-only, so commands that only
    read still work and one that writes fails saying why (``StoreUnwritable``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = _open(path)
    except sqlite3.OperationalError as error:
        if not path.exists() or _writable(path.parent):
            raise _unwritable(error, path) or error from None
        db = _open_read_only(path)
    try:
        try:
            yield db
        except sqlite3.OperationalError as error:
            db.execute("ROLLBACK")
            raise _unwritable(error, path) or error from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
