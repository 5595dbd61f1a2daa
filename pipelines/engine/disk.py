"""Out of disk, recognised whichever library ran into it.

A full disk reaches us in as many shapes as there are writers: ``OSError`` with ``ENOSPC``
(no space), ``EDQUOT`` (quota) or ``EFBIG`` (a file-size limit) from the filesystem and
dlt (wrapped in dlt's step errors); DuckDB's errors and pyarrow's ``OSError`` that name the
system's message ("No space left on device", "File too large", "Disk quota exceeded");
SQLite's ``SQLITE_FULL`` ("database or disk is full") and, when the write itself failed
rather than the allocation, ``SQLITE_IOERR_WRITE`` and its kin ("disk I/O error"). Each
becomes one ``OutOfDiskError`` that names ``SYNCS_HOME``, its free space and what to do,
instead of a traceback or a follow-on error such as a failed ROLLBACK.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator

import duckdb

from pipelines.home import Home
from sources.errors import OutOfDiskError

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
DISK_MESSAGES = ("no space left on device", "disk quota exceeded", "file too large")
SQLITE_WRITE_ERRORS = frozenset(
    {
        "SQLITE_FULL",
        "SQLITE_IOERR_WRITE",
        "SQLITE_IOERR_FSYNC",
        "SQLITE_IOERR_TRUNCATE",
        "SQLITE_IOERR_SHMSIZE",
    }
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it: ``__cause__``, ``__context__`` and the ``exception``
    dlt's step errors carry."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (getattr(current, "exception", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                pending.append(nested)


def _is_disk_error(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return True
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorname", None) in SQLITE_WRITE_ERRORS
    if isinstance(error, duckdb.Error | OSError):
        text = str(error).lower()
        return any(message in text for message in DISK_MESSAGES)
    return False


def out_of_disk(error: BaseException, home: Home) -> OutOfDiskError | None:
    """An ``OutOfDiskError`` when running out of disk caused ``error``, else None."""
    if isinstance(error, OutOfDiskError):
        return error
    for cause in _chain(error):
        if _is_disk_error(cause):
            return OutOfDiskError(
                f"out of disk: a write under SYNCS_HOME ({home.root}, {_free(home)}) "
                f"failed ({_detail(cause)}); free space there, or point SYNCS_HOME at a "
                "larger disk, and run again"
            )
    return None


def _detail(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        where = f" writing {error.filename}" if error.filename else ""
        return f"{errno.errorcode.get(error.errno or 0, 'OSError')}{where}: {error.strerror}"
    if isinstance(error, sqlite3.Error):
        return f"SQLite {getattr(error, 'sqlite_errorname', '')}: {error}"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line[:200]}"


def _free(home: Home) -> str:
    try:
        free = shutil.disk_usage(home.root).free
    except OSError:
        return "free space unknown"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if free >= size:
            return f"{free / size:.1f} {unit} free"
    return f"{free} bytes free"
