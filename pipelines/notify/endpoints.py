"""Where webhooks go: one endpoint for the environment, optionally one per connection.

A connection's own endpoint, when it has one, replaces the environment's for its
messages. Secrets are encrypted at rest, bound to their endpoint. Rotating a secret keeps
the previous one for an overlap period, during which every webhook carries a signature
for each, so the receiver can switch at its own pace.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pipelines.home import Home
from pipelines.notify.signing import new_secret, secret_key
from pipelines.store.connections import Connections
from pipelines.store.db import control_db
from pipelines.store.secrets import Cipher, load_key
from sources.errors import ConfigError

DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    url: str
    connection_id: str | None
    skip_empty: bool
    enabled: bool
    disabled_reason: str | None
    previous_secret_until: datetime | None
    created_at: datetime

    @property
    def scope(self) -> str:
        return f"connection {self.connection_id}" if self.connection_id else "environment"

    def rotating(self, now: datetime | None = None) -> bool:
        until = self.previous_secret_until
        return until is not None and until > (now or datetime.now(UTC))

    def describe(self) -> dict[str, Any]:
        return {
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "connection_id": self.connection_id,
            "skip_empty": self.skip_empty,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "previous_secret_until": self.previous_secret_until.isoformat()
            if self.rotating()
            else None,
            "created_at": self.created_at.isoformat(),
        }


def validate_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"webhook URL {url!r} is not an http(s) URL; write it like https://app.example.com/hooks"
        )
    return url


def _secret_binding(endpoint_id: str, previous: bool = False) -> str:
    return f"webhook-endpoint:{endpoint_id}" + (":previous" if previous else "")


class WebhookEndpoints:
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
        url: str,
        *,
        connection_id: str | None = None,
        secret: str | None = None,
        skip_empty: bool = False,
    ) -> tuple[Endpoint, str]:
        """Register an endpoint; returns it and its secret (generated when not given)."""
        validate_url(url)
        if connection_id is not None:
            Connections(self.home).get(connection_id)
        secret = secret or new_secret()
        secret_key(secret)
        endpoint_id = f"ep_{uuid.uuid4().hex[:16]}"
        now = datetime.now(UTC).isoformat()
        existing = self.for_connection(connection_id, exact=True)
        if existing is not None:
            raise ConfigError(
                f"the {existing.scope} already has endpoint {existing.endpoint_id} "
                f"({existing.url}); change it with `syncs webhooks update {existing.endpoint_id}` "
                "or remove it first"
            )
        blob = self.cipher.encrypt(secret.encode(), _secret_binding(endpoint_id))
        try:
            with control_db(self.home.control_store) as db:
                db.execute(
                    """
                    INSERT INTO webhook_endpoints (endpoint_id, url, connection_id, secret,
                        skip_empty, enabled, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                    """,
                    (endpoint_id, url, connection_id, blob, int(skip_empty), now, now),
                )
        except sqlite3.IntegrityError:
            raise ConfigError(
                "another endpoint for the same scope was added at the same time; "
                "list them with `syncs webhooks list`"
            ) from None
        return self.get(endpoint_id), secret

    def get(self, endpoint_id: str) -> Endpoint:
        with control_db(self.home.control_store) as db:
            row = db.execute(
                "SELECT * FROM webhook_endpoints WHERE endpoint_id = ?", (endpoint_id,)
            ).fetchone()
        if row is None:
            raise ConfigError(
                f"unknown webhook endpoint {endpoint_id!r}; list them with `syncs webhooks list`"
            )
        return _endpoint(row)

    def list(self) -> list[Endpoint]:
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT * FROM webhook_endpoints ORDER BY connection_id IS NOT NULL, "
                "connection_id, created_at"
            ).fetchall()
        return [_endpoint(r) for r in rows]

    def for_connection(self, connection_id: str | None, *, exact: bool = False) -> Endpoint | None:
        """The endpoint a connection's messages go to (with ``exact``: only its own)."""
        with control_db(self.home.control_store) as db:
            row = route(db, connection_id, exact=exact)
        return _endpoint(row) if row is not None else None

    def remove(self, endpoint_id: str) -> Endpoint:
        """Remove it; its pending deliveries are cancelled by the next dispatch."""
        endpoint = self.get(endpoint_id)
        with control_db(self.home.control_store) as db:
            db.execute("DELETE FROM webhook_endpoints WHERE endpoint_id = ?", (endpoint_id,))
        return endpoint

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        skip_empty: bool | None = None,
        enabled: bool | None = None,
        disabled_reason: str | None = None,
    ) -> Endpoint:
        endpoint = self.get(endpoint_id)
        if url is not None:
            validate_url(url)
        now_enabled = endpoint.enabled if enabled is None else enabled
        reason = None if now_enabled else disabled_reason or endpoint.disabled_reason
        with control_db(self.home.control_store) as db:
            db.execute(
                """
                UPDATE webhook_endpoints SET url = ?, skip_empty = ?, enabled = ?,
                    disabled_reason = ?, updated_at = ?
                WHERE endpoint_id = ?
                """,
                (
                    url or endpoint.url,
                    int(endpoint.skip_empty if skip_empty is None else skip_empty),
                    int(now_enabled),
                    reason,
                    datetime.now(UTC).isoformat(),
                    endpoint_id,
                ),
            )
        return self.get(endpoint_id)

    def rotate(
        self,
        endpoint_id: str,
        *,
        secret: str | None = None,
        overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    ) -> tuple[Endpoint, str]:
        """A new secret; the current one keeps signing too for ``overlap``."""
        self.get(endpoint_id)
        secret = secret or new_secret()
        secret_key(secret)
        current = self.secrets(endpoint_id)[0]
        until = datetime.now(UTC) + overlap
        with control_db(self.home.control_store) as db:
            db.execute(
                """
                UPDATE webhook_endpoints SET secret = ?, previous_secret = ?,
                    previous_secret_until = ?, updated_at = ?
                WHERE endpoint_id = ?
                """,
                (
                    self.cipher.encrypt(secret.encode(), _secret_binding(endpoint_id)),
                    self.cipher.encrypt(current.encode(), _secret_binding(endpoint_id, True))
                    if overlap > timedelta(0)
                    else None,
                    until.timestamp() if overlap > timedelta(0) else None,
                    datetime.now(UTC).isoformat(),
                    endpoint_id,
                ),
            )
        return self.get(endpoint_id), secret

    def secrets(self, endpoint_id: str, now: datetime | None = None) -> list[str]:
        """The secrets to sign with now: the current one, then the previous during rotation."""
        with control_db(self.home.control_store) as db:
            row = db.execute(
                "SELECT endpoint_id, secret, previous_secret, previous_secret_until "
                "FROM webhook_endpoints WHERE endpoint_id = ?",
                (endpoint_id,),
            ).fetchone()
        if row is None:
            raise ConfigError(f"unknown webhook endpoint {endpoint_id!r}")
        return self.decrypt_secrets(row, now)

    def decrypt_secrets(self, row: Any, now: datetime | None = None) -> list[str]:
        endpoint_id = row["endpoint_id"]
        out = [self.cipher.decrypt(row["secret"], _secret_binding(endpoint_id)).decode()]
        until = row["previous_secret_until"]
        if (
            row["previous_secret"] is not None
            and until
            and until > (now or datetime.now(UTC)).timestamp()
        ):
            out.append(
                self.cipher.decrypt(
                    row["previous_secret"], _secret_binding(endpoint_id, True)
                ).decode()
            )
        return out


def route(db: sqlite3.Connection, connection_id: str | None, *, exact: bool = False) -> Any:
    """The endpoint row for a connection's messages, inside the caller's transaction."""
    if connection_id is not None:
        row = db.execute(
            "SELECT * FROM webhook_endpoints WHERE connection_id = ?", (connection_id,)
        ).fetchone()
        if row is not None or exact:
            return row
    return db.execute("SELECT * FROM webhook_endpoints WHERE connection_id IS NULL").fetchone()


def _endpoint(row: Any) -> Endpoint:
    until = row["previous_secret_until"]
    return Endpoint(
        endpoint_id=row["endpoint_id"],
        url=row["url"],
        connection_id=row["connection_id"],
        skip_empty=bool(row["skip_empty"]),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        previous_secret_until=datetime.fromtimestamp(until, UTC) if until else None,
        created_at=datetime.fromisoformat(row["created_at"]),
    )
