"""HubSpot's webhooks: the v3 signature, the events of a request, routing by portal.

HubSpot sends a public app's subscriptions (set once in the app's settings) to one URL,
in requests of up to 100 events, signed with v3: ``X-HubSpot-Signature-v3`` is the base64
HMAC-SHA256, under the app's client secret, of the method, the URI as HubSpot requested it
(with the characters its documentation lists URL-decoded), the body and
``X-HubSpot-Request-Timestamp`` (epoch milliseconds); a request more than five minutes old
is refused. The older v1 and v2 signatures are not accepted.

Events are thin: ``objectId`` and, for a property change, the one property's name and
value. Each is applied by reading the record by id (the integration's ``fetch``), so the
copy holds the whole record as HubSpot has it now; ``*.deletion`` and
``*.privacyDeletion`` are deletions dated by ``occurredAt``; a merge reads the primary
record and the merged ones (gone now, so tombstones). HubSpot says ``eventId`` alone is not
guaranteed unique, so an event is known by portal, subscription, event id, object,
property and time together, which a retry repeats exactly. An event routes to the
connections whose ``portal_id`` is its ``portalId``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from sources.webhooks import (
    Delivery,
    ProviderEvent,
    Subscription,
    WebhookMalformed,
    WebhookRefused,
    WebhookSpec,
)

TOLERANCE = timedelta(minutes=5)
MODELS = {"contact": "contacts", "company": "companies", "deal": "deals"}
DELETIONS = frozenset({"deletion", "privacyDeletion"})
# What HubSpot decodes in the URI before signing it.
DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(url: str) -> str:
    for encoded, plain in DECODED.items():
        url = url.replace(encoded, plain).replace(encoded.lower(), plain)
    return url


def signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for a request."""
    source = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(delivery: Delivery, secrets: Sequence[str]) -> None:
    sent = delivery.header("x-hubspot-signature-v3")
    timestamp = delivery.header("x-hubspot-request-timestamp")
    if not sent:
        older = delivery.header("x-hubspot-signature-version")
        raise WebhookRefused(
            "no X-HubSpot-Signature-v3 header"
            + (f" (a {older} signature is not accepted; HubSpot signs v3)" if older else "")
        )
    if not timestamp or not timestamp.strip().isdigit():
        raise WebhookRefused("no X-HubSpot-Request-Timestamp in epoch milliseconds")
    sent_at = datetime.fromtimestamp(int(timestamp) / 1000, UTC)
    if abs(delivery.received_at - sent_at) > TOLERANCE:
        raise WebhookRefused(
            f"X-HubSpot-Request-Timestamp {timestamp} is more than 5 minutes from now (expired)"
        )
    for secret in secrets:
        expected = signature(secret, delivery.method, delivery.url, delivery.body, timestamp)
        if hmac.compare_digest(expected, sent):
            return
    raise WebhookRefused(
        "X-HubSpot-Signature-v3 does not match the app's client secret (forged, or signed "
        f"for another URL than {delivery.url})"
    )


def events(delivery: Delivery) -> list[ProviderEvent]:
    body = delivery.json()
    if not isinstance(body, list):
        raise WebhookMalformed("HubSpot sends a JSON array of events")
    out: list[ProviderEvent] = []
    for raw in body:
        if not isinstance(raw, dict):
            raise WebhookMalformed("an event is not a JSON object")
        out.extend(_split(raw))
    return out


def _split(raw: dict[str, Any]) -> list[ProviderEvent]:
    kind = str(raw.get("subscriptionType") or "")
    obj, _, change = kind.partition(".")
    try:
        portal, occurred = int(raw["portalId"]), int(raw["occurredAt"])
    except (KeyError, TypeError, ValueError):
        raise WebhookMalformed(
            f"a {kind or 'HubSpot'} event without a numeric portalId and occurredAt"
        ) from None
    key = ":".join(
        str(raw.get(k, ""))
        for k in ("portalId", "subscriptionId", "eventId", "objectId", "propertyName", "occurredAt")
    )
    common: dict[str, Any] = {
        "type": kind,
        "occurred_at": datetime.fromtimestamp(occurred / 1000, UTC),
        "route": f"portal:{portal}",
    }
    model = MODELS.get(obj)
    if model is None or change == "associationChange":
        return [ProviderEvent(event_id=key, **common)]
    if change == "merge":
        ids = [raw.get("primaryObjectId"), *(raw.get("mergedObjectIds") or [])]
        return [
            ProviderEvent(event_id=f"{key}:{i}", model=model, record_id=str(i), **common)
            for i in ids
            if i is not None
        ]
    if raw.get("objectId") is None:
        raise WebhookMalformed(f"a {kind} event without objectId")
    return [
        ProviderEvent(
            event_id=key,
            model=model,
            record_id=str(raw["objectId"]),
            deleted=change in DELETIONS,
            **common,
        )
    ]


def route_keys(config: BaseModel, subscriptions: Sequence[Subscription]) -> set[str]:
    portal = getattr(config, "portal_id", None)
    return {f"portal:{portal}"} if portal else set()


WEBHOOKS = WebhookSpec(
    sync="crm",
    verify=verify,
    events=events,
    route_keys=route_keys,
    secret="the app's client secret (the app's Auth settings)",
    description="contacts, companies and deals: creation, property changes, deletion, "
    "restore, merge (thin: read by id)",
)
