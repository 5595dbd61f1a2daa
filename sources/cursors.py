"""Time cursors, the same rule for every integration that reads "modified since".

The next cursor is the newest modification time the run saw, but never later than the
run's start minus a safety margin — a record written while we paged, or stamped by a
server whose clock runs behind, is read again next time instead of missed — and never
earlier than the cursor the run started from. Reading a record twice costs nothing: the
snapshot compare finds it unchanged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

SAFETY_MARGIN = timedelta(minutes=1)

T = TypeVar("T", int, datetime)


def advance(previous: T | None, newest: T | None, ceiling: T) -> T:
    """The cursor after a run that started from ``previous`` and saw up to ``newest``."""
    if newest is None:
        return ceiling if previous is None else previous
    candidate = min(newest, ceiling)
    return candidate if previous is None else max(previous, candidate)
