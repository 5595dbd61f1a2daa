"""syncs' settings from the environment: every ``SYNCS_*`` variable is read here.

Each is validated when it is read, so a bad value fails the command that needs it with one
line naming the variable and what it takes, never a traceback. An empty value counts as
unset. Values of secret variables are never repeated in a message.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from sources.errors import ConfigError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)$", re.IGNORECASE)


class SettingError(ConfigError):
    """An environment variable whose value syncs cannot use."""

    def __init__(self, name: str, expected: str, value: str | None = None) -> None:
        shown = f"={value!r}" if value is not None else ""
        super().__init__(f"{name}{shown} is not valid: {expected}; fix it or unset it")
        self.name = name


def raw(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    value = os.environ.get(name)
    return value if value is not None and value.strip() else None


def number(
    name: str, default: float, *, minimum: float = 0.0, above_minimum: bool = False
) -> float:
    value = raw(name)
    if value is None:
        return default
    bound = f"above {minimum:g}" if above_minimum else f"at least {minimum:g}"
    try:
        parsed = float(value)
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed) or parsed < minimum or (above_minimum and parsed == minimum):
        raise SettingError(name, f"it takes a number of seconds {bound}", value)
    return parsed


def flag(name: str, default: bool = False) -> bool:
    value = raw(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise SettingError(name, "it takes true or false", value)


def home_dir() -> Path:
    """``SYNCS_HOME``: the folder everything lives in (default ``./.syncs``)."""
    return Path(raw("SYNCS_HOME") or ".syncs").expanduser().resolve()


def warehouse_wait_seconds() -> float:
    """``SYNCS_WAREHOUSE_WAIT_SECONDS``: how long a sync waits for the warehouse (600)."""
    return number("SYNCS_WAREHOUSE_WAIT_SECONDS", 600.0)


def duckdb_memory_limit() -> str:
    """``SYNCS_DUCKDB_MEMORY_LIMIT``: DuckDB's memory limit for syncs' connections (256MB)."""
    value = raw("SYNCS_DUCKDB_MEMORY_LIMIT")
    if value is None:
        return "256MB"
    if not _MEMORY.match(value.strip()):
        raise SettingError(
            "SYNCS_DUCKDB_MEMORY_LIMIT", "it takes a size such as 256MB or 2GB", value
        )
    return value.strip()


def encryption_key() -> str | None:
    """``SYNCS_ENCRYPTION_KEY``: the key for secrets and the warehouse (else the key file)."""
    return raw("SYNCS_ENCRYPTION_KEY")


def encrypt_warehouse() -> bool:
    """``SYNCS_ENCRYPT_WAREHOUSE``: keep the warehouse in DuckDB's encrypted format."""
    return flag("SYNCS_ENCRYPT_WAREHOUSE")


def query_copy() -> bool:
    """``SYNCS_QUERY_COPY``: keep ``query.duckdb``, the users' copy of the warehouse (true)."""
    return flag("SYNCS_QUERY_COPY", default=True)


def api_key() -> str | None:
    """``SYNCS_API_KEY``: the one key the records API accepts (else a generated one)."""
    return raw("SYNCS_API_KEY")


def webhook_retry_schedule() -> tuple[float, ...] | None:
    """``SYNCS_WEBHOOK_RETRY_SCHEDULE``: seconds before each delivery attempt, comma separated."""
    value = raw("SYNCS_WEBHOOK_RETRY_SCHEDULE")
    if value is None:
        return None
    try:
        delays = tuple(float(x) for x in value.split(","))
    except ValueError:
        delays = ()
    if not delays or any(not math.isfinite(d) or d < 0 for d in delays):
        raise SettingError(
            "SYNCS_WEBHOOK_RETRY_SCHEDULE",
            "it takes seconds separated by commas (0,5,300), none negative",
            value,
        )
    return delays


def webhook_timeout() -> float:
    """``SYNCS_WEBHOOK_TIMEOUT``: seconds a delivery waits for the app's answer (10)."""
    return number("SYNCS_WEBHOOK_TIMEOUT", 10.0, above_minimum=True)


def public_url() -> str | None:
    """``SYNCS_PUBLIC_URL``: the URL providers reach ``syncs serve`` at (https://syncs.example.com),
    which signatures over the URL cover and subscriptions syncs registers point to; unset,
    a request's own URL is used and subscribing needs ``--url``."""
    value = raw("SYNCS_PUBLIC_URL")
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
        raise SettingError(
            "SYNCS_PUBLIC_URL", "it takes an http(s) URL such as https://syncs.example.com", value
        )
    return value


def webhook_max_bytes() -> int:
    """``SYNCS_WEBHOOK_MAX_BYTES``: the largest provider webhook body accepted (5 MiB)."""
    value = raw("SYNCS_WEBHOOK_MAX_BYTES")
    if value is None:
        return 5 * 1024 * 1024
    if not value.strip().isdigit() or int(value) < 1024:
        raise SettingError(
            "SYNCS_WEBHOOK_MAX_BYTES", "it takes a number of bytes, at least 1024", value
        )
    return int(value)


def check_all() -> None:
    """Read every setting once, so a long-running process refuses a bad one at its start."""
    home_dir()
    warehouse_wait_seconds()
    duckdb_memory_limit()
    encrypt_warehouse()
    query_copy()
    webhook_retry_schedule()
    webhook_timeout()
    public_url()
    webhook_max_bytes()
