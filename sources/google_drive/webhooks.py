"""Google Drive's push notifications: a ``changes.watch`` channel per connection.

``syncs webhooks subscribe CONNECTION`` opens a channel on the user's changes feed
(``POST /drive/v3/changes/watch``) whose address is ``/webhooks/google_drive/<connection
id>`` and whose token is a secret of its own; channels expire (syncs asks for a week, Drive's
most for changes), so the poll before expiry opens a new one and stops the old
(``POST /drive/v3/channels/stop``); ``unsubscribe`` stops it.

Drive signs nothing: a notification is Drive's when its ``X-Goog-Channel-Token`` is the
token syncs gave that channel (refused otherwise, or without one). The first message of a
channel (``X-Goog-Resource-State: sync``) is answered and kept nowhere. A ``change`` says
only that the feed moved (thin, no body): the event is ``<channel>:<message number>``, and
applying it reads the changes feed from the connection's stored page token, exactly as an
incremental poll does, so removed, trashed and moved-out files are deletions and the token
moves on with the records.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from sources.spec import ExtractContext
from sources.webhooks import (
    Delivery,
    HandshakeAnswer,
    ProviderEvent,
    Subscription,
    WebhookMalformed,
    WebhookRefused,
    WebhookSpec,
)

CHANNEL_LIFETIME = timedelta(days=7)
RESOURCE = "changes"


def verify(delivery: Delivery, secrets: Sequence[str]) -> None:
    token = delivery.header("x-goog-channel-token")
    if not delivery.header("x-goog-channel-id"):
        raise WebhookRefused("no X-Goog-Channel-ID header")
    if not token:
        raise WebhookRefused("no X-Goog-Channel-Token header (syncs gives every channel one)")
    if not any(hmac.compare_digest(token, secret) for secret in secrets):
        raise WebhookRefused("X-Goog-Channel-Token is not the token of a channel syncs opened")


def handshake(delivery: Delivery) -> HandshakeAnswer | None:
    if delivery.header("x-goog-resource-state") == "sync":
        return HandshakeAnswer(200)
    return None


def events(delivery: Delivery) -> list[ProviderEvent]:
    channel = delivery.header("x-goog-channel-id") or ""
    number = delivery.header("x-goog-message-number")
    state = delivery.header("x-goog-resource-state")
    if not number or not state:
        raise WebhookMalformed("no X-Goog-Message-Number or X-Goog-Resource-State header")
    return [
        ProviderEvent(
            event_id=f"{channel}:{number}",
            type=f"changes.{state}",
            route=f"channel:{channel}",
            feed=True,
            occurred_at=delivery.received_at,
        )
    ]


def route_keys(config: BaseModel, subscriptions: Sequence[Subscription]) -> set[str]:
    return {f"channel:{s.provider_id}" for s in subscriptions}


def resources(config: BaseModel) -> set[str]:
    return {RESOURCE}


def subscribe(
    ctx: ExtractContext[Any, Any],
    url: str,
    existing: Sequence[Subscription],
    new_secret: Callable[[], str],
) -> list[Subscription]:
    """The channel kept while it is far from expiry and at ``url``; else a new one, and the
    old one stopped."""
    from sources.google_drive import connect

    current = next((s for s in existing if s.resource == RESOURCE), None)
    soon = datetime.now(UTC) + WEBHOOKS.renew_before
    if (
        current is not None
        and current.url == url
        and (current.expires_at is None or current.expires_at > soon)
    ):
        return [current]
    api = connect(ctx)
    token = new_secret()
    expiration = datetime.now(UTC) + CHANNEL_LIFETIME
    params: dict[str, Any] = {"pageToken": api.start_page_token()}
    if api.all_drives:
        params.update(supportsAllDrives="true", includeItemsFromAllDrives="true")
    channel = api.client.post(
        "/drive/v3/changes/watch",
        params=params,
        json={
            "id": str(uuid.uuid4()),
            "type": "web_hook",
            "address": url,
            "token": token,
            "expiration": int(expiration.timestamp() * 1000),
        },
    ).json()
    if current is not None:
        _stop(api, current)
    return [
        Subscription(
            RESOURCE,
            str(channel["id"]),
            token,
            url,
            expires_at=datetime.fromtimestamp(int(channel["expiration"]) / 1000, UTC),
            details={"resourceId": channel.get("resourceId")},
        )
    ]


def _stop(api: Any, sub: Subscription) -> None:
    api.client.post(
        "/drive/v3/channels/stop",
        json={"id": sub.provider_id, "resourceId": sub.details.get("resourceId")},
        ok=(404,),
    )


def unsubscribe(ctx: ExtractContext[Any, Any], existing: Sequence[Subscription]) -> None:
    from sources.google_drive import connect

    api = connect(ctx)
    for sub in existing:
        _stop(api, sub)


WEBHOOKS = WebhookSpec(
    sync="files",
    verify=verify,
    events=events,
    route_keys=route_keys,
    secret="nothing: syncs gives each channel it opens a token of its own",
    handshake=handshake,
    subscribe=subscribe,
    unsubscribe=unsubscribe,
    resources=resources,
    renew_before=timedelta(days=1),
    description="the changes feed moved (thin: read from the stored page token)",
)
