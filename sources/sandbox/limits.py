"""Rate-limit counters a sandbox keeps per account, as providers document their limits.

Each counter only counts; what a refusal looks like (status, body, ``Retry-After`` and the
provider's own headers) is the sandbox's ``charge`` hook's business. The server calls that
hook under one lock, so the counters take none of their own.
"""

from __future__ import annotations

import math
import time
from collections import deque


class RollingWindow:
    """At most ``limit`` requests in any stretch of ``seconds`` (HubSpot's ten-second
    limit, Gong's and Drive's per-second and per-minute ones)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._times: deque[float] = deque()

    def take(self, limit: int | None, now: float | None = None) -> int:
        """Count one request and answer 0, or, when ``limit`` are already in the window,
        count nothing and answer the whole seconds (at least 1) until one leaves it."""
        if limit is None:
            return 0
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
        if len(self._times) >= limit:
            return max(1, math.ceil(self._times[0] + self.seconds - now))
        self._times.append(now)
        return 0

    @property
    def used(self) -> int:
        return len(self._times)

    def clear(self) -> None:
        self._times.clear()


class DailyQuota:
    """Requests per UTC day (HubSpot's and Gong's daily allowances)."""

    def __init__(self) -> None:
        self.day = -1
        self.used = 0

    def check(self, limit: int | None) -> int:
        """0 if a request fits today's ``limit``, else the seconds until the next UTC day."""
        now = time.time()
        today = int(now // 86_400)
        if self.day != today:
            self.day, self.used = today, 0
        if limit is None or self.used < limit:
            return 0
        return max(1, math.ceil((today + 1) * 86_400 - now))

    def add(self) -> None:
        self.used += 1

    def clear(self) -> None:
        self.used = 0


class FixedWindow:
    """A budget of requests that resets ``seconds`` after the window's first request
    (GitHub's primary limit: 5,000 an hour, reset at ``x-ratelimit-reset``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start: float | None = None
        self.used = 0

    def roll(self) -> None:
        """Open a new window if none is open or the last one is over."""
        now = time.time()
        if self.start is None or now >= self.start + self.seconds:
            self.start, self.used = now, 0

    @property
    def reset_at(self) -> int | None:
        return None if self.start is None else math.ceil(self.start + self.seconds)

    def clear(self) -> None:
        self.start, self.used = None, 0


Counter = RollingWindow | DailyQuota | FixedWindow
