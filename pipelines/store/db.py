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
from sources.errors import SyncsError

_migrated: set[tuple[Path, int]] = set()
_migrating = threading.Lock()


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


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    store = (path.resolve(), os.stat(path).st_ino)
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


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        _migrate(db, path)
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
