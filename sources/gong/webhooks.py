"""Gong's webhooks: an automation rule posting each processed call, with a signed JWT.

Gong has no API to subscribe: a Gong admin adds an automation rule whose action is *Fire
webhook*, with the destination URL and the authentication method *Signed JWT header*.
Gong's payload names no customer, so each connection gets its own rule pointing at
``/webhooks/gong/<connection id>``, and the rule's public key (*Show public key*) is set with
``syncs webhooks secret gong --connection ID --secret-file key.pem`` (or once for every
connection of the company).

A request is Gong's when its ``Authorization`` header holds a JWT signed RS256 by that key,
not expired (``exp``), whose ``body_sha256`` is the SHA-256 of the body and whose
``webhook_url`` is the URL it was posted to (so a request signed for one connection's URL
cannot be replayed to another's). The body is ``{"callData": ..., "isTest": ...}``:
``callData.metaData`` is the call as the API renders it (fat), applied as sent; its
transcript is not in it, so the call's transcript is read by id. A test fired from Gong's
rule page is kept as about nothing. The event id is the body's SHA-256: Gong's retry of a
delivery repeats it exactly.

Gong's calls carry no modification time or version, so no version decides here: a call's
rule fires once, when Gong has processed it, with the same call a poll reads; a later edit
is seen by the next full refresh, and whichever of two reads commits last stands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel

from sources.webhooks import (
    Delivery,
    ProviderEvent,
    Subscription,
    WebhookMalformed,
    WebhookRefused,
    WebhookSpec,
)


def _where(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path.rstrip("/"), parts.query


def verify(delivery: Delivery, secrets: Sequence[str]) -> None:
    token = (delivery.header("authorization") or "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise WebhookRefused("no signed JWT in the Authorization header")
    claims = None
    for key in secrets:
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], options={"require": ["exp"]}, leeway=30
            )
            break
        except jwt.ExpiredSignatureError:
            raise WebhookRefused("the JWT has expired (exp)") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            continue
    if claims is None:
        raise WebhookRefused(
            "the JWT is not signed by the rule's public key (forged, or another key is set)"
        )
    if claims.get("body_sha256") != hashlib.sha256(delivery.body).hexdigest():
        raise WebhookRefused("the JWT's body_sha256 is not the body's SHA-256 (altered)")
    signed_for = claims.get("webhook_url")
    if not isinstance(signed_for, str) or _where(signed_for) != _where(delivery.url):
        raise WebhookRefused(
            f"the JWT was signed for {signed_for!r}, not for this URL ({delivery.path})"
        )


def events(delivery: Delivery) -> list[ProviderEvent]:
    body = delivery.json()
    if not isinstance(body, dict) or not isinstance(body.get("callData"), dict):
        raise WebhookMalformed('Gong sends {"callData": {...}, "isTest": ...}')
    event_id = "sha256:" + hashlib.sha256(delivery.body).hexdigest()
    meta = body["callData"].get("metaData")
    if not isinstance(meta, dict) or meta.get("id") is None:
        raise WebhookMalformed("callData has no metaData with the call's id")
    call_id = str(meta["id"])
    if body.get("isTest"):
        return [ProviderEvent(event_id=event_id, type="call.test", record_id=call_id)]
    return [
        ProviderEvent(
            event_id=event_id,
            type="call.processed",
            model="calls",
            record_id=call_id,
            record=meta,
        ),
        ProviderEvent(
            event_id=f"{event_id}:transcript",
            type="call.processed",
            model="call_transcripts",
            record_id=call_id,
        ),
    ]


def route_keys(config: BaseModel, subscriptions: Sequence[Subscription]) -> set[str]:
    return set()


WEBHOOKS = WebhookSpec(
    sync="calls",
    verify=verify,
    events=events,
    route_keys=route_keys,
    secret="the public key of the automation rule's signed JWT (a PEM file)",
    description="processed calls (fat; their transcripts read by id), one rule per connection",
)
