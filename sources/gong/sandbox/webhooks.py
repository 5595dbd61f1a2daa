"""The Gong sandbox's webhooks: an automation rule's "Fire webhook" action, signed JWT.

Gong configures webhooks in its automation rules (Admin center > Ecosystem > Automation
rules), once per company: a rule's filter picks calls, its action posts each call to a
destination URL when the call has been processed. The kit's ``subscribe`` operation stands
for such a rule (``account`` is the company's access key, ``url`` the destination; the
``secret`` is unused: the "Signed JWT header" method signs with Gong's private key, and
``webhook_public_key`` gives the public key Gong shows under *Show public key*).

A request is what Gong's documentation shows: the body ``{"callData": ..., "isTest":
false}``, ``callData`` being the call as ``/v2/calls/extensive`` renders it (``metaData``,
``parties``, ``content``, ``interaction``), and an ``Authorization`` header holding an
RS256 JWT whose claims are ``webhook_url`` (the destination), ``body_sha256`` (the hex
SHA-256 of the body), ``iat`` and ``exp`` (five minutes later). A ``bad_signature`` fault
signs with another key. Failed deliveries are sent again.
"""

from __future__ import annotations

import hashlib
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sources.sandbox.operations import admin_operation
from sources.sandbox.server import json_bytes
from sources.sandbox.webhooks import Event, Subscription, WebhookRequest

JWT_LIFETIME = 300
EVENT = "call.processed"
EVERYTHING = {
    ("parties", None),
    ("content", "topics"),
    ("interaction", "speakers"),
    ("interaction", "questions"),
}


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class GongWebhooks:
    """Mixed into ``GongSandbox`` (a ``WebhookSandbox``)."""

    webhook_batch_size = 1
    webhook_retry_delays = (1.0, 5.0)

    if TYPE_CHECKING:

        def emit(self, account: str, event_type: str, data: dict[str, Any]) -> Event: ...
        def _extensive_call(self, account: Any, call: Any, exposed: Any) -> dict[str, Any]: ...

    @cached_property
    def _signing_key(self) -> rsa.RSAPrivateKey:
        return _key()

    @cached_property
    def _other_key(self) -> rsa.RSAPrivateKey:
        return _key()

    @admin_operation
    def webhook_public_key(self) -> str:
        """The PEM public key the rules' JWTs verify with (Gong's *Show public key*)."""
        return (
            self._signing_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def emit_call(self, account: Any, call: Any) -> None:
        """A processed call, to the rules of its company."""
        data = self._extensive_call(account, call, EVERYTHING)
        self.emit(account.access_key, EVENT, {"callData": data, "isTest": False})

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        (event,) = events
        return json_bytes(event.data)

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        key = self._other_key if secret.endswith("-forged") else self._signing_key
        now = int(time.time())
        token = jwt.encode(
            {
                "webhook_url": request.subscription.url,
                "body_sha256": hashlib.sha256(request.body).hexdigest(),
                "iat": now,
                "exp": now + JWT_LIFETIME,
            },
            key,
            algorithm="RS256",
        )
        return {"Authorization": token}
