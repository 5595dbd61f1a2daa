"""One run at a time per connection and sync, across every process under one ``SYNCS_HOME``.

A run's dlt pipeline folder, landing folder and cursors belong to its (connection, sync);
two runs of the same pair at once — a ``syncs run`` while Dagster or an API trigger runs
it — would load each other's files and commit each other's cursors. So a run takes an
exclusive ``flock`` on ``locks/<run name>.lock`` for its whole length (like the warehouse
lock, released by the kernel when the process dies) and a second run is refused at once
rather than made to wait: the first one will have fetched whatever the second would, and a
scheduler retries a refused run later (``RunInProgressError`` is retryable). ``flock``
locks belong to an open file, so two threads of one process exclude each other too.
Lock files are never deleted: removing one while a run holds it would let the next run
lock a new file beside it.
"""

from __future__ import annotations

import fcntl
import os
from types import TracebackType

from pipelines.engine.landing import run_name
from pipelines.home import Home
from sources.errors import RunInProgressError


class RunLock:
    def __init__(self, home: Home, integration: str, connection_id: str, sync: str) -> None:
        self.path = home.run_locks / f"{run_name(integration, connection_id, sync)}.lock"
        self.connection_id = connection_id
        self.sync = sync
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, refused: str = "this run") -> RunLock:
        """Take the lock, or raise ``RunInProgressError`` at once if another run holds it
        (saying that ``refused`` was refused)."""
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInProgressError(
                f"connection {self.connection_id!r} is already running sync {self.sync!r} "
                f"(from `syncs run`, the API or Dagster); {refused} was refused: try again "
                "when that run has finished"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()
