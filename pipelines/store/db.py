"""The control store: connections, and later webhook endpoints and the outbox.

SQLite from the standard library, in WAL mode, because many processes open it at once
(the Dagster daemon, run workers, the API server, the CLI) and it needs no server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def control_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection; commits on success, rolls back on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        for sql in MIGRATIONS:
            db.execute(sql)
        _add_columns(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
