"""The one grammar for spans of time typed by people: ``15s``, ``15sec``, ``2m``, ``2min``,
``1h``, ``1d``, and (where the caller allows it) a bare number of seconds.

Each caller keeps its own error wording and limits; this module only reads and writes the text.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str, *, bare_seconds: bool = True) -> int | None:
    """The number of seconds ``text`` names, or None when it is not a duration.

    ``bare_seconds=False`` refuses a number without a unit, for callers where a bare
    number could mean something else (``--since 20250131`` is a date, not seconds).
    """
    match = _DURATION.match(text)
    if not match or (match.group(2) is None and not bare_seconds):
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(value: timedelta) -> str:
    """The shortest whole form: ``1d``, ``2h``, ``15m``, else seconds."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
