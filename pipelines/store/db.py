"""The control store: connections, the schedule, API keys, webhook endpoints and the outbox.

SQLite from the standard library, in WAL mode, because many processes open it at once
(the Dagster daemon, run workers, the API server, the CLI) and it needs no server. Its
schema (``pipelines.store.schema``) is applied once per store and process, up to the
store's ``user_version``, not on every open.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.store.schema import SCHEMA

_migrated: set[tuple[Path, int]] = set()
_migrating = threading.Lock()


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    store = (path, os.stat(path).st_ino)
    with _migrating:
        if store in _migrated:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            for sql in SCHEMA[version:]:
                try:
                    db.execute(sql)
                except sqlite3.OperationalError as error:
                    # A column an earlier release added before the schema kept versions.
                    if "duplicate column" not in str(error):
                        raise
            if version < len(SCHEMA):
                db.execute(f"PRAGMA user_version = {len(SCHEMA)}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        _migrated.add(store)


@contextmanager
def control_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection; commits on success, rolls back on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        _migrate(db, path.resolve())
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
