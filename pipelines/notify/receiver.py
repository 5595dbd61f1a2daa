"""A small webhook receiver on loopback, standing in for the application that embeds syncs.

The demo registers it as the endpoint of its connections and prints what it gets; it
verifies every webhook with the ``standardwebhooks`` package (the reference
implementation, independent of our signing) and answers 400 to a bad signature, as a
careful receiver would. It can be told to answer the next requests with a given status,
so a receiver that fails, recovers or says it is gone (410) is real HTTP, not a mock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sources.sandbox.server import Request, Response, SandboxServer, json_response


@dataclass(frozen=True)
class ReceivedWebhook:
    message_id: str | None
    timestamp: str | None
    signature: str | None
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None
    verified: bool
    status: int
    error: str | None = None


def describe(webhook: ReceivedWebhook) -> str:
    """One line about a webhook, as the demo prints it."""
    body = webhook.payload
    if body is None:
        return f"webhook {webhook.message_id}: rejected ({webhook.error})"
    counts = body.get("counts", {})
    cursor = body.get("cursor") or {}
    span = (
        f", cursor {cursor['first']}..{cursor['last']}" if cursor.get("first") is not None else ""
    )
    outcome = (
        f"added {counts.get('added', 0)}, updated {counts.get('updated', 0)}, "
        f"deleted {counts.get('deleted', 0)}{span}"
        if body.get("success")
        else f"FAILED {body.get('error', {}).get('type')}: {body.get('error', {}).get('message')}"
    )
    check = "signature verified" if webhook.verified else "not verified"
    return (
        f"webhook {body.get('connection_id')} {body.get('integration')}/{body.get('model')} "
        f"{body.get('sync_type')}: {outcome} [{check}]"
    )


class WebhookReceiver(SandboxServer):
    name = "webhook-receiver"

    def __init__(
        self,
        secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/webhooks",
        on_receive: Callable[[ReceivedWebhook], None] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.secret = secret
        self.path = path
        self.on_receive = on_receive
        self.received: list[ReceivedWebhook] = []
        self._answers: list[int] = []
        self._arrived = threading.Condition(self._lock)
        self.route("POST", r"/.*", self._receive)

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def answer_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` webhooks with ``status`` instead of accepting them."""
        with self._lock:
            self._answers.extend([status] * count)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """Wait until ``count`` webhooks arrived (any answer); returns them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self.received)

    def _receive(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        payload: dict[str, Any] | None = None
        verified = False
        error: str | None = None
        if self.secret is not None:
            try:
                payload = Webhook(self.secret).verify(request.body, headers)
                verified = True
            except (WebhookVerificationError, ValueError) as exc:
                error = f"signature check failed: {exc}"
        else:
            try:
                payload = json.loads(request.body)
            except ValueError as exc:
                error = f"body is not JSON: {exc}"
        with self._lock:
            forced = self._answers.pop(0) if self._answers else None
        status = forced or (400 if error else 200)
        webhook = ReceivedWebhook(
            message_id=headers.get("webhook-id"),
            timestamp=headers.get("webhook-timestamp"),
            signature=headers.get("webhook-signature"),
            headers=headers,
            body=request.body,
            payload=payload,
            verified=verified,
            status=status,
            error=error,
        )
        with self._arrived:
            self.received.append(webhook)
            self._arrived.notify_all()
        if self.on_receive is not None and forced is None:
            self.on_receive(webhook)
        if forced is not None:
            return json_response({"error": f"answering {forced} as told"}, forced)
        if error:
            return json_response({"error": error}, 400)
        return json_response({"received": webhook.message_id})
