"""Standard Webhooks signatures for the webhooks syncs sends.

A secret is ``whsec_`` followed by base64 of random bytes. Each delivery carries
``webhook-id`` (the message id, the same on every retry), ``webhook-timestamp`` (unix
seconds of this attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the secret's bytes. During a secret rotation one
signature per secret is sent, space-separated, so a receiver holding either one accepts.

The signing is a few lines of the standard library on purpose: the receiver side
(the demo's receiver and the tests) verifies with the independent ``standardwebhooks``
package, so the two implementations check each other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from sources.errors import ConfigError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; a clear error for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigError(
            "a webhook secret starts with 'whsec_' followed by base64; "
            "omit --secret to have one generated"
        )
    body = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ConfigError(
            f"a webhook secret is 'whsec_' and base64 of {MIN_SECRET_BYTES} to "
            f"{MAX_SECRET_BYTES} random bytes; omit --secret to have one generated"
        )
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    secrets: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, one signature per secret."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }
