"""What the real-time tests share: ``syncs serve``'s parts on loopback, and the app.

``Served`` is the records API with the providers' ingress, the applier and the dispatcher
running as ``syncs serve`` runs them (``pipelines.api.server.Realtime``), over real HTTP;
the application is a ``WebhookReceiver`` that verifies every webhook it gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import duckdb

from pipelines.api.server import ApiServer, Realtime, create_app
from pipelines.engine.warehouse import read_connection
from pipelines.home import Home
from pipelines.ingress.inbox import Inbox
from pipelines.notify.endpoints import WebhookEndpoints
from pipelines.notify.receiver import ReceivedWebhook, WebhookReceiver
from pipelines.notify.signing import new_secret
from pipelines.store.api_keys import hash_key, new_key


class Served:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.realtime = Realtime(home).start()
        self.key = new_key()
        self.server = ApiServer(
            create_app(home, frozenset({hash_key(self.key)}), ingress=self.realtime.ingress)
        ).start()
        secret = new_secret()
        self.app = WebhookReceiver(secret).start()
        WebhookEndpoints(home).add(self.app.url, secret=secret)
        self.inbox = Inbox(home)

    @property
    def url(self) -> str:
        return self.server.url

    def hook_url(self, integration: str, connection_id: str | None = None) -> str:
        tail = f"/{connection_id}" if connection_id else ""
        return f"{self.url}/webhooks/{integration}{tail}"

    def stop(self) -> None:
        self.server.stop()
        self.realtime.stop()
        self.app.stop()

    def webhooks(self, **where: Any) -> list[ReceivedWebhook]:
        """The app's verified webhooks whose body has these values."""
        return [
            w
            for w in self.app.received
            if w.verified and w.payload and all(w.payload.get(k) == v for k, v in where.items())
        ]

    def settled(self, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until ``count`` inbox events are no longer waiting; the inbox after."""
        wait_until(
            lambda: sum(n for s, n in self.inbox.counts().items() if s != "received") >= count,
            timeout,
            f"{count} inbox event(s) settled: {self.inbox.counts()}",
        )
        return self.inbox.list(limit=1000)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def events(home: Home, where: str = "true") -> list[tuple[Any, ...]]:
    """(model, record_id, action, sync_type) of the change events, in cursor order."""
    with read_connection(home) as con:
        assert con is not None
        try:
            return con.execute(
                "SELECT model, record_id, action, sync_type FROM syncs.change_events "
                f"WHERE {where} ORDER BY cursor"
            ).fetchall()
        except duckdb.CatalogException:
            return []


def scalar(home: Home, sql: str, params: list[Any] | None = None) -> Any:
    with read_connection(home) as con:
        assert con is not None
        row = con.execute(sql, params or []).fetchone()
        return None if row is None else row[0]
