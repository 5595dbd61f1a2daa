"""The secrets providers' webhooks are checked with, and what syncs registered with them.

Two kinds, both encrypted at rest with the credentials' key (``pipelines.store.secrets``),
each bound to the row it belongs to:

* a secret set by the user, for the integration (``connection_id`` empty: HubSpot's app
  client secret, a GitHub App's webhook secret) or for one connection (Gong's public key);
* a subscription syncs registered for a connection (a GitHub repository hook, a Drive
  push channel), with the secret it signs with or the token it carries.

``candidates`` gives every secret a request for a connection (or for no connection named
in its URL) may be signed with: the connection's, its subscriptions', the integration's.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from pipelines.home import Home
from pipelines.store.db import control_db
from pipelines.store.secrets import Cipher, load_key
from sources.errors import ConfigError
from sources.webhooks import Subscription

EVERY_CONNECTION = ""


class ProviderSecrets:
    def __init__(self, home: Home) -> None:
        self.home = home
        self._cipher: Cipher | None = None

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            self._cipher = Cipher(load_key(self.home.key_file))
        return self._cipher

    # secrets the user sets

    def set(self, integration: str, secret: str, connection_id: str | None = None) -> None:
        if not secret.strip():
            raise ConfigError(f"{integration}: the webhook secret is empty; give its value")
        scope = connection_id or EVERY_CONNECTION
        blob = self.cipher.encrypt(secret.encode(), _bound(integration, scope))
        with control_db(self.home.control_store) as db:
            db.execute(
                """
                INSERT INTO provider_secrets (integration, connection_id, secret, updated_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (integration, connection_id) DO UPDATE SET
                    secret = excluded.secret, updated_at = excluded.updated_at
                """,
                (integration, scope, blob, datetime.now(UTC).isoformat()),
            )

    def remove(self, integration: str, connection_id: str | None = None) -> bool:
        with control_db(self.home.control_store) as db:
            gone = db.execute(
                "DELETE FROM provider_secrets WHERE integration = ? AND connection_id = ?",
                (integration, connection_id or EVERY_CONNECTION),
            ).rowcount
        return bool(gone)

    def scopes(self) -> list[dict[str, Any]]:
        """Which secrets are set (never their values)."""
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT integration, connection_id, updated_at FROM provider_secrets "
                "ORDER BY integration, connection_id"
            ).fetchall()
        return [
            {
                "integration": r["integration"],
                "connection_id": r["connection_id"] or None,
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]

    def candidates(self, integration: str, connection_id: str | None) -> list[str]:
        """The secrets a request may be signed with: the connection's own and its
        subscriptions' (when its URL names one), then the integration's."""
        out: list[str] = []
        with control_db(self.home.control_store) as db:
            own = [] if connection_id is None else [connection_id]
            for scope in own:
                out.extend(self._set_secret(db, integration, scope))
            if connection_id is not None:
                for row in db.execute(
                    "SELECT resource, secret FROM provider_subscriptions "
                    "WHERE integration = ? AND connection_id = ? ORDER BY renewed_at DESC",
                    (integration, connection_id),
                ):
                    out.append(self._open_subscription(integration, connection_id, row))
            out.extend(self._set_secret(db, integration, EVERY_CONNECTION))
        return out

    def _set_secret(self, db: Any, integration: str, scope: str) -> list[str]:
        row = db.execute(
            "SELECT secret FROM provider_secrets WHERE integration = ? AND connection_id = ?",
            (integration, scope),
        ).fetchone()
        if row is None:
            return []
        return [self.cipher.decrypt(row["secret"], _bound(integration, scope)).decode()]

    # subscriptions syncs registered

    def subscriptions(self, integration: str, connection_id: str) -> list[Subscription]:
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT * FROM provider_subscriptions WHERE integration = ? "
                "AND connection_id = ? ORDER BY resource",
                (integration, connection_id),
            ).fetchall()
        return [
            Subscription(
                resource=r["resource"],
                provider_id=r["provider_id"],
                secret=self._open_subscription(integration, connection_id, r),
                url=r["url"],
                expires_at=None
                if r["expires_at"] is None
                else datetime.fromtimestamp(r["expires_at"], UTC),
                details=json.loads(r["details"]),
            )
            for r in rows
        ]

    def all_subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription's row, without its secret."""
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT integration, connection_id, resource, provider_id, url, expires_at, "
                "renewed_at FROM provider_subscriptions ORDER BY integration, connection_id, "
                "resource"
            ).fetchall()
        return [dict(r) for r in rows]

    def replace_subscriptions(
        self, integration: str, connection_id: str, subscriptions: list[Subscription]
    ) -> None:
        """Keep exactly ``subscriptions`` for the connection."""
        now = time.time()
        with control_db(self.home.control_store) as db:
            old = {
                r["resource"]: r
                for r in db.execute(
                    "SELECT resource, provider_id, created_at, renewed_at "
                    "FROM provider_subscriptions WHERE integration = ? AND connection_id = ?",
                    (integration, connection_id),
                )
            }
            db.execute(
                "DELETE FROM provider_subscriptions WHERE integration = ? AND connection_id = ?",
                (integration, connection_id),
            )
            for sub in subscriptions:
                before = old.get(sub.resource)
                same = before is not None and before["provider_id"] == sub.provider_id
                db.execute(
                    """
                    INSERT INTO provider_subscriptions (integration, connection_id, resource,
                        provider_id, secret, url, expires_at, details, created_at, renewed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        integration,
                        connection_id,
                        sub.resource,
                        sub.provider_id,
                        self.cipher.encrypt(
                            sub.secret.encode(),
                            _bound(integration, connection_id, sub.resource),
                        ),
                        sub.url,
                        None if sub.expires_at is None else sub.expires_at.timestamp(),
                        json.dumps(dict(sub.details)),
                        before["created_at"] if before is not None else now,
                        before["renewed_at"] if same and before is not None else now,
                    ),
                )

    def _open_subscription(self, integration: str, connection_id: str, row: Any) -> str:
        return self.cipher.decrypt(
            row["secret"], _bound(integration, connection_id, row["resource"])
        ).decode()


def _bound(integration: str, scope: str, resource: str | None = None) -> str:
    return f"webhook:{integration}:{scope}" + ("" if resource is None else f":{resource}")
