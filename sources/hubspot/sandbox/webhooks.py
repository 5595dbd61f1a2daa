"""The HubSpot sandbox's webhooks, as a public app's subscriptions deliver them.

HubSpot configures an app's webhook URL and its subscriptions (``contact.creation``,
``contact.propertyChange``, ``contact.deletion``, …) once, in the app's settings, signed
with the app's client secret; the kit's ``subscribe`` operation stands for that setting
(``account`` is the account's token, ``secret`` the client secret, ``events`` the
subscription types). When the sandbox's data changes it sends what HubSpot's documentation
shows: a JSON array of up to 100 events, each with ``eventId``, ``subscriptionId``,
``portalId``, ``appId``, ``occurredAt``, ``subscriptionType``, ``attemptNumber``,
``objectId``, ``changeSource`` and, for a property change, ``propertyName`` and
``propertyValue``; headers ``X-HubSpot-Signature-v3`` and ``X-HubSpot-Request-Timestamp``
(milliseconds), ``X-HubSpot-Signature-Version: v3``. A failed delivery is sent again.

Each account is a portal with a fixed id derived from its token (``portal``).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import TYPE_CHECKING, Any

from sources.hubspot.webhooks import signature
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import json_bytes
from sources.sandbox.webhooks import Event, Subscription, WebhookRequest

APP_ID = 2_716_348
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
SUBSCRIPTION_IDS = {
    f"{obj}.{change}": 1_000_000 + 10 * i + j
    for i, obj in enumerate(("contact", "company", "deal"))
    for j, change in enumerate(
        ("creation", "propertyChange", "deletion", "restore", "privacyDeletion", "merge")
    )
}


def portal_of(token: str) -> int:
    """The portal (HubSpot account) id of an account token: the same on every run."""
    return 10_000_000 + int(hashlib.sha256(token.encode()).hexdigest()[:8], 16) % 90_000_000


class HubSpotWebhooks:
    """Mixed into ``HubSpotSandbox`` (a ``WebhookSandbox``): rendering, signing, emitting."""

    webhook_batch_size = 100
    webhook_retry_delays = (1.0, 5.0, 30.0)
    _event_ids = itertools.count(5_000_000)
    _event_lock = threading.Lock()

    if TYPE_CHECKING:

        def emit(self, account: str, event_type: str, data: dict[str, Any]) -> Event: ...

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        return json_bytes(
            [
                {
                    "eventId": e.data["eventId"],
                    "subscriptionId": SUBSCRIPTION_IDS.get(e.type, 999),
                    "portalId": e.data["portalId"],
                    "appId": APP_ID,
                    "occurredAt": e.data["occurredAt"],
                    "subscriptionType": e.type,
                    "attemptNumber": 0,
                    **{k: v for k, v in e.data.items() if k not in ("eventId", "portalId")},
                }
                for e in events
            ]
        )

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        timestamp = str(request.timestamp * 1000)
        return {
            "X-HubSpot-Signature-v3": signature(
                secret, "POST", request.subscription.url, request.body, timestamp
            ),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-Version": "v3",
        }

    def emit_change(
        self,
        token: str,
        object_type: str,
        change: str,
        record_id: int,
        when: int,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """The events HubSpot sends for one change of a record: one per property for a
        property change, one otherwise."""
        singular = SINGULAR.get(object_type)
        if singular is None:
            return
        base = {"portalId": portal_of(token), "occurredAt": when, "objectId": record_id}
        changes = (
            [{"propertyName": k, "propertyValue": v} for k, v in (properties or {}).items()]
            if change == "propertyChange"
            else [{}]
        )
        for extra in changes:
            with self._event_lock:
                event_id = next(self._event_ids)
            self.emit(
                token,
                f"{singular}.{change}",
                {"eventId": event_id, **base, "changeSource": "CRM_UI", **extra},
            )

    @admin_operation
    def portal(self, token: str) -> int:
        """The portal id of the account of ``token`` (what a connection's ``portal_id`` is)."""
        return portal_of(token)
