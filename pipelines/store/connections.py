"""The registry of connections: one customer's credentials and settings for one integration."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from pipelines.home import Home
from pipelines.store.db import control_db
from pipelines.store.schedule import Schedule
from pipelines.store.secrets import Cipher, load_key
from sources.errors import ConfigError
from sources.http import redact
from sources.registry import get_integration
from sources.spec import DeletionLimit, IntegrationSpec
from sources.validation import plain, validate_config, validate_credentials

MIN_FREQUENCY = timedelta(seconds=15)
MAX_FREQUENCY = timedelta(days=365)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_frequency(text: str | int | timedelta) -> timedelta:
    """``15s``, ``5m``, ``1h``, ``1d`` or seconds; at least 15 seconds, at most 365 days."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, int):
        seconds = text
    else:
        match = _DURATION.match(text)
        if not match:
            raise ConfigError(
                f"frequency {text!r} is not a duration; write it like 15s, 5m, 1h or 1d"
            )
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_FREQUENCY.total_seconds():
        raise ConfigError(
            f"frequency {text!r} is above the maximum of {format_duration(MAX_FREQUENCY)}; "
            "choose 365d or less"
        )
    value = timedelta(seconds=seconds)
    if value < MIN_FREQUENCY:
        raise ConfigError(
            f"frequency {format_duration(value)} is below the minimum of 15s; choose 15s or more"
        )
    return value


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    integration: str
    config: dict[str, Any]
    frequency: timedelta | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    max_deletions: DeletionLimit | None = None
    """How much one full listing may delete unconfirmed; None: what each sync says."""

    @property
    def spec(self) -> IntegrationSpec:
        return get_integration(self.integration)

    def frequency_for(self, sync: str) -> timedelta:
        return self.frequency or self.spec.syncs[sync].default_frequency

    def validated_config(self) -> BaseModel:
        return validate_config(self.spec, self.config)

    def describe(self) -> dict[str, Any]:
        """Everything about the connection except its secrets.

        A config stored before a rule that now refuses it is shown as stored, with any
        credentials in its URLs redacted, and the reason it no longer validates.
        """
        problem: str | None = None
        try:
            config = self.validated_config().model_dump(mode="json")
        except ConfigError as error:
            problem = str(error)
            config = {k: redact(v) if isinstance(v, str) else v for k, v in self.config.items()}
        return {
            "connection_id": self.connection_id,
            "integration": self.integration,
            "config": config,
            **({"config_error": problem} if problem else {}),
            "frequency": format_duration(self.frequency) if self.frequency else None,
            "max_deletions": str(self.max_deletions) if self.max_deletions else None,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Connections:
    def __init__(self, home: Home | None = None) -> None:
        self.home = home or Home.from_env()
        self._cipher: Cipher | None = None

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            self._cipher = Cipher(load_key(self.home.key_file))
        return self._cipher

    def add(
        self,
        integration: str,
        connection_id: str,
        *,
        credentials: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        frequency: str | int | timedelta | None = None,
        enabled: bool = True,
        max_deletions: str | DeletionLimit | None = None,
    ) -> Connection:
        """Create a connection, or update one of the same integration (omitted parts kept).

        ``max_deletions``: ``20%``, ``500``, ``20%,500`` or a ``DeletionLimit``; ``default``
        goes back to each sync's own limit."""
        spec = get_integration(integration)
        if not _ID.match(connection_id):
            raise ConfigError(
                f"connection id {connection_id!r} is not valid: use 1 to 64 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        existing = self._row(connection_id)
        if existing is not None and existing["integration"] != integration:
            raise ConfigError(
                f"connection {connection_id!r} already exists for {existing['integration']}; "
                "choose another id or remove it first"
            )
        merged_config = json.loads(existing["config"]) if existing is not None else {}
        merged_config.update(config or {})
        validated = validate_config(spec, merged_config)
        if credentials or existing is None:
            base = self._decrypt(existing) if existing is not None else {}
            creds = validate_credentials(spec, {**base, **(credentials or {})})
            blob = self.cipher.encrypt(json.dumps(plain(creds)).encode(), connection_id)
        else:
            blob = existing["credentials"]
        freq = parse_frequency(frequency) if frequency is not None else None
        if freq is None and existing is not None and existing["frequency_seconds"]:
            freq = timedelta(seconds=existing["frequency_seconds"])
        if max_deletions is None:
            limit = existing["max_deletions"] if existing is not None else None
        elif isinstance(max_deletions, DeletionLimit):
            limit = str(max_deletions)
        elif max_deletions.strip().lower() == "default":
            limit = None
        else:
            limit = str(DeletionLimit.parse(max_deletions))
        now = datetime.now(UTC).isoformat()
        stored_config = {
            k: v for k, v in validated.model_dump(mode="json").items() if k in merged_config
        }
        with control_db(self.home.control_store) as db:
            db.execute(
                """
                INSERT INTO connections (connection_id, integration, credentials, config,
                    frequency_seconds, enabled, created_at, updated_at, max_deletions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (connection_id) DO UPDATE SET credentials = excluded.credentials,
                    config = excluded.config, frequency_seconds = excluded.frequency_seconds,
                    enabled = excluded.enabled, updated_at = excluded.updated_at,
                    max_deletions = excluded.max_deletions
                """,
                (
                    connection_id,
                    integration,
                    blob,
                    json.dumps(stored_config),
                    int(freq.total_seconds()) if freq else None,
                    int(enabled),
                    now,
                    now,
                    limit,
                ),
            )
        connection = self.get(connection_id)
        Schedule(self.home).ensure(connection)
        return connection

    def get(self, connection_id: str) -> Connection:
        row = self._row(connection_id)
        if row is None:
            raise ConfigError(
                f"unknown connection {connection_id!r}; list them with `syncs connections list` "
                "or add it with `syncs connections add`"
            )
        return self._connection(row)

    def list(self, integration: str | None = None) -> list[Connection]:
        with control_db(self.home.control_store) as db:
            if integration:
                rows = db.execute(
                    "SELECT * FROM connections WHERE integration = ? ORDER BY connection_id",
                    (integration,),
                ).fetchall()
            else:
                rows = db.execute("SELECT * FROM connections ORDER BY connection_id").fetchall()
        return [self._connection(r) for r in rows]

    def remove(self, connection_id: str) -> Connection:
        connection = self.get(connection_id)
        with control_db(self.home.control_store) as db:
            db.execute("DELETE FROM connections WHERE connection_id = ?", (connection_id,))
        Schedule(self.home).forget(connection_id)
        return connection

    def set_enabled(self, connection_id: str, enabled: bool) -> Connection:
        self.get(connection_id)
        with control_db(self.home.control_store) as db:
            db.execute(
                "UPDATE connections SET enabled = ?, updated_at = ? WHERE connection_id = ?",
                (int(enabled), datetime.now(UTC).isoformat(), connection_id),
            )
        return self.get(connection_id)

    def credentials(self, connection: Connection) -> BaseModel:
        row = self._row(connection.connection_id)
        assert row is not None
        return validate_credentials(connection.spec, self._decrypt(row))

    def save_credentials(self, connection_id: str, updates: dict[str, Any]) -> None:
        """Store refreshed credentials (an OAuth access token, say), encrypted."""
        connection = self.get(connection_id)
        row = self._row(connection_id)
        assert row is not None
        creds = validate_credentials(connection.spec, {**self._decrypt(row), **updates})
        blob = self.cipher.encrypt(json.dumps(plain(creds)).encode(), connection_id)
        with control_db(self.home.control_store) as db:
            db.execute(
                "UPDATE connections SET credentials = ?, updated_at = ? WHERE connection_id = ?",
                (blob, datetime.now(UTC).isoformat(), connection_id),
            )

    def _decrypt(self, row: Any) -> dict[str, Any]:
        return json.loads(self.cipher.decrypt(row["credentials"], row["connection_id"]))

    def _row(self, connection_id: str) -> Any:
        with control_db(self.home.control_store) as db:
            return db.execute(
                "SELECT * FROM connections WHERE connection_id = ?", (connection_id,)
            ).fetchone()

    @staticmethod
    def _connection(row: Any) -> Connection:
        return Connection(
            connection_id=row["connection_id"],
            integration=row["integration"],
            config=json.loads(row["config"]),
            frequency=timedelta(seconds=row["frequency_seconds"])
            if row["frequency_seconds"]
            else None,
            enabled=bool(row["enabled"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            max_deletions=DeletionLimit.parse(row["max_deletions"])
            if row["max_deletions"]
            else None,
        )
