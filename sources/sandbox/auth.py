"""Credentials as providers take them: the parsing every sandbox's ``authenticate`` hook uses.

* ``bearer_token``: ``Authorization: Bearer <token>`` (HubSpot, GitHub's ``token`` scheme too);
* ``basic_credentials``: HTTP Basic (Gong's access key and secret);
* ``header_credential``: an API key in a header of its own (``X-API-Key`` and the like);
* ``OAuthTokens``: an OAuth2 authorization server's side of the refresh-token grant
  (RFC 6749 section 6): registered clients, refresh tokens that reach an account, access
  tokens that expire, and the token endpoint with RFC 6749's error codes.

Which header a provider reads and what its 401 says stay in its sandbox.
"""

from __future__ import annotations

import base64
import binascii
import random
import string
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote

from sources.sandbox.server import Request, Response, json_response

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"


def bearer_token(request: Request, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token of an ``Authorization`` header in one of ``schemes`` (case-insensitive)."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        return None
    return token.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header; None if absent or garbled."""
    scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    text = encoded.strip()
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        user, _, password = decoded.decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def header_credential(request: Request, name: str) -> str | None:
    """An API key sent in a header of its own."""
    value = (request.header(name) or "").strip()
    return value or None


@dataclass
class _Issued:
    key: str
    expires_at: float


class OAuthTokens:
    """Clients, refresh tokens and access tokens of an OAuth2 provider.

    A refresh token reaches one account (by its key in the sandbox's registry); the token
    endpoint exchanges it, with the client's id and secret (form fields or HTTP Basic), for
    an access token of ``lifetime`` seconds. The wording of the errors is the provider's:
    a sandbox passes its own in ``messages``.
    """

    MESSAGES = {
        "no_grant": "Missing required parameter: grant_type",
        "bad_grant": "Invalid grant_type: {grant}",
        "no_client": "Could not determine client ID from request.",
        "unknown_client": "The OAuth client was not found.",
        "bad_secret": "Unauthorized",
        "no_refresh_token": "Missing required parameter: refresh_token",
        "bad_refresh_token": "Token has been expired or revoked.",
        "bad_header": "Bad Authorization header",
    }

    def __init__(
        self,
        clients: dict[str, str],
        *,
        lifetime: int = 3599,
        scope: str | None = None,
        token_prefix: str = "",
        messages: dict[str, str] | None = None,
    ) -> None:
        self.clients = dict(clients)
        self.lifetime = lifetime
        self.scope = scope
        self.token_prefix = token_prefix
        self.messages = {**self.MESSAGES, **(messages or {})}
        self._lock = threading.RLock()
        self._refresh: dict[str, str] = {}
        self._access: dict[str, _Issued] = {}
        self._rng = random.Random()

    # refresh tokens

    def add_refresh_token(self, key: str, refresh_token: str) -> None:
        """One more refresh token reaches account ``key``; ValueError if another has it."""
        if not refresh_token:
            raise ValueError("refresh_token must be a non-empty string")
        with self._lock:
            if self._refresh.get(refresh_token, key) != key:
                raise ValueError("refresh_token already belongs to another account")
            self._refresh[refresh_token] = key

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self._lock:
            if self._refresh.pop(refresh_token, None) is None:
                raise KeyError("unknown refresh token")

    def holder(self, refresh_token: str) -> str | None:
        with self._lock:
            return self._refresh.get(refresh_token)

    # access tokens

    def issue(self, key: str, lifetime: float | None = None) -> str:
        token = self.token_prefix + "".join(self._rng.choice(_TOKEN_ALPHABET) for _ in range(60))
        life = self.lifetime if lifetime is None else lifetime
        with self._lock:
            self._access[token] = _Issued(key, time.time() + life)
        return token

    def account_key(self, access_token: str | None) -> str | None:
        """The account an unexpired access token reaches; None for any other token."""
        with self._lock:
            issued = self._access.get(access_token or "")
        if issued is None or issued.expires_at <= time.time():
            return None
        return issued.key

    def valid_tokens(self, key: str) -> list[str]:
        now = time.time()
        with self._lock:
            return [t for t, i in self._access.items() if i.key == key and i.expires_at > now]

    def expire(self, key: str | None = None) -> None:
        """Make the access tokens issued (to one account, or all) expire now."""
        with self._lock:
            for issued in self._access.values():
                if key is None or issued.key == key:
                    issued.expires_at = 0.0

    # the token endpoint

    def token_endpoint(self, request: Request) -> Response:
        """``POST`` to the token endpoint: the refresh-token grant, RFC 6749's errors."""
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if (request.header("Authorization") or "").lower().startswith("basic "):
            pair = basic_credentials(request)
            if pair is None:
                return self._error(400, "invalid_request", "bad_header")
            client_id, client_secret = unquote(pair[0]), unquote(pair[1])
        grant = form.get("grant_type")
        if not grant:
            return self._error(400, "invalid_request", "no_grant")
        if grant != "refresh_token":
            return self._error(400, "unsupported_grant_type", "bad_grant", grant=grant)
        if not client_id:
            return self._error(400, "invalid_request", "no_client")
        if client_id not in self.clients:
            return self._error(401, "invalid_client", "unknown_client")
        if client_secret != self.clients[client_id]:
            return self._error(401, "invalid_client", "bad_secret")
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return self._error(400, "invalid_request", "no_refresh_token")
        key = self.holder(refresh_token)
        if key is None:
            return self._error(400, "invalid_grant", "bad_refresh_token")
        body: dict[str, object] = {"access_token": self.issue(key), "expires_in": self.lifetime}
        if self.scope is not None:
            body["scope"] = self.scope
        body["token_type"] = "Bearer"
        return json_response(body, 200, _NO_STORE)

    def _error(self, status: int, error: str, message: str, **values: str) -> Response:
        description = self.messages[message].format(**values)
        return json_response(
            {"error": error, "error_description": description}, status, dict(_NO_STORE)
        )


_NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}
