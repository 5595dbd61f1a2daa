"""The users' copy of the warehouse: ``query.duckdb``, for their own SQL sessions.

DuckDB admits one read-write process per file, and a reader excludes every writer: a
user's DuckDB CLI or DBeaver session left open on ``warehouse.duckdb`` stopped every sync
(each waited, then failed after 10 minutes) and, through them, the records API. So users
get a file of their own to open: a copy of the warehouse's bytes, refreshed whenever our
lock on the warehouse is let go after a write (every sync's commit, a failed run's record,
a reset, a removed connection), and put in place with an atomic rename. A session open on
the copy keeps reading the file it opened (on Linux an open file keeps its inode when its
name is replaced) and sees the new data when it reconnects; it never takes a lock syncs
need. A read-write session works too, but what it writes is its own and is dropped at the
next refresh (so is its write-ahead log: left by the replaced file's session, it would be
replayed onto the new one).

Chosen by measurement (``python -m bench.query_copy``, HubSpot contacts, 2 shared cores):
a copy of the file's bytes is the cheapest way to a consistent second file. It is made
under our shared lock, so our readers go on and only writers wait, for as long as the copy
takes, and it decodes nothing:

    contacts    file = bytes per refresh   refresh (= lock time taken)   COPY FROM DATABASE
    100,000     9.5 MB                     0.012 s                       1.16 s
    1,000,000   67.8 MB                    0.080 s                       7.08 s

An incremental sync at 1M took 2.08 s with the copy and 1.95 s without. Rewriting the
data into a new file (``COPY FROM DATABASE``) makes no smaller a file for 90 times the
time. Views in a second file that attach the warehouse would hold the warehouse's lock
again; a ``syncs sql`` alone would hold it for each query's length and give DBeaver or the
DuckDB CLI nothing to open. ``copy_file_range`` lets the kernel copy (or, on filesystems
with reflinks, share the blocks), so the bytes never pass through Python.

The copy is skipped, and tried again after the next write, when the warehouse has a
write-ahead log (a writer was killed: its next open replays it) or another program holds
it open read-write, since a copy of either could be torn. ``SYNCS_QUERY_COPY=false`` turns
the copy off (and removes it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from pathlib import Path

from pipelines import settings
from pipelines.home import Home

_STAGING_PREFIX = ".query-"
_STAGING_SUFFIX = ".duckdb.tmp"


def enabled() -> bool:
    return settings.query_copy()


def refresh(home: Home) -> bool:
    """Copy the warehouse to ``query.duckdb``; False when there was nothing consistent to copy.

    The caller holds our shared (or exclusive) warehouse lock, so none of our writers is
    writing; a DuckDB-compatible read lock on the file keeps any other program from starting
    to. (Closing the descriptor also drops the read locks of this process's DuckDB
    connections to the file, if it has any: only another program ignoring ``warehouse.lock``
    could then start writing under them.)
    """
    source = home.warehouse
    if not source.exists() or Path(f"{source}.wal").exists():
        return False
    _drop_stale_staging(home)
    staging = home.root / (
        f"{_STAGING_PREFIX}{os.getpid()}-{threading.get_ident()}{_STAGING_SUFFIX}"
    )
    try:
        with source.open("rb") as reader:
            try:
                fcntl.lockf(reader, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return False
            _copy(reader.fileno(), staging)
        os.replace(staging, home.query_copy)
    finally:
        staging.unlink(missing_ok=True)
    Path(f"{home.query_copy}.wal").unlink(missing_ok=True)
    return True


def remove(home: Home) -> None:
    for path in (home.query_copy, Path(f"{home.query_copy}.wal")):
        path.unlink(missing_ok=True)


def _copy(source_fd: int, target: Path) -> None:
    size = os.fstat(source_fd).st_size
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        offset = 0
        try:
            while offset < size:
                copied = os.copy_file_range(source_fd, fd, size - offset, offset, offset)
                if copied == 0:
                    break
                offset += copied
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            with open(source_fd, "rb", closefd=False) as src, open(fd, "wb", closefd=False) as dst:
                src.seek(0)
                shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        os.close(fd)


def _drop_stale_staging(home: Home) -> None:
    """Remove half-made copies of processes that died making them."""
    for path in home.root.glob(f"{_STAGING_PREFIX}*{_STAGING_SUFFIX}"):
        pid = path.name[len(_STAGING_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                path.unlink()
        except PermissionError:
            continue
