"""OAuth2 access tokens from a refresh token (RFC 6749, section 6), for any integration.

dlt's REST client has no refresh-token flow, so this module adds one as a ``requests`` auth:
the access token is refreshed at the token endpoint before it expires (or when none is
stored), and again when the API answers 401 anyway (revoked early, clock skew). A new token
is handed to ``on_refresh`` at once, so the connection stores it (encrypted) even if the run
fails later, and the next run starts with a valid token instead of refreshing again.

The 401 path works with the shared client's retries: ``retry_unauthorized`` is a dlt retry
predicate that refreshes, rewrites the ``Authorization`` header of the request being
retried, and asks for one more attempt, so the resend is logged like any other attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from requests.auth import AuthBase

from sources.errors import ApiError, AuthenticationError, TransientError
from sources.http import HttpSettings, RequestLog, logged_session, redact

REFRESH_LEEWAY = timedelta(seconds=60)
_REAUTHORIZED = "_syncs_reauthorized"


def parse_expiry(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 expiry as an aware datetime (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_expiry(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class OAuth2RefreshAuth(AuthBase):
    """``Authorization: Bearer`` with an access token kept fresh from a refresh token.

    ``client_auth`` is how the client authenticates at the token endpoint: ``"body"``
    (``client_id``/``client_secret`` form fields, what Google documents) or ``"basic"``.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        connection_id: str,
        access_token: str | None = None,
        expires_at: str | datetime | None = None,
        on_refresh: Callable[[dict[str, Any]], None] | None = None,
        request_log: RequestLog | None = None,
        settings: HttpSettings | None = None,
        client_auth: str = "body",
        leeway: timedelta = REFRESH_LEEWAY,
    ) -> None:
        if client_auth not in ("body", "basic"):
            raise ValueError("client_auth must be 'body' or 'basic'")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.connection_id = connection_id
        self.access_token = access_token or None
        self.expires_at = parse_expiry(expires_at)
        self.on_refresh = on_refresh
        self.client_auth = client_auth
        self.leeway = leeway
        self.refreshes = 0
        self._lock = threading.Lock()
        self._settings = settings or HttpSettings()
        self._session = logged_session(request_log, self._settings)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """A usable access token, refreshed first if missing or about to expire."""
        with self._lock:
            if self._stale():
                self._refresh()
            assert self.access_token is not None
            return self.access_token

    def retry_unauthorized(
        self, response: requests.Response | None, exception: BaseException | None
    ) -> bool:
        """dlt retry predicate: after a 401, refresh once and resend with the new token."""
        if response is None or response.status_code != 401:
            return False
        request = response.request
        if getattr(request, _REAUTHORIZED, False):
            return False
        sent = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            if sent == self.access_token:
                self._refresh()
            token = self.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        setattr(request, _REAUTHORIZED, True)
        return True

    def _stale(self) -> bool:
        if self.access_token is None:
            return True
        if self.expires_at is None:
            return False
        return datetime.now(UTC) >= self.expires_at - self.leeway

    def _refresh(self) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        auth: tuple[str, str] | None = None
        if self.client_auth == "basic":
            auth = (self.client_id, self._client_secret)
        else:
            form.update(client_id=self.client_id, client_secret=self._client_secret)
        where = f"POST {redact(self.token_url)}"
        try:
            response = self._session.post(
                self.token_url,
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self._settings.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"connection {self.connection_id!r}: refreshing the access token failed "
                f"({where}: {type(exc).__name__}); the next run tries again"
            ) from None
        body = _json(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"connection {self.connection_id!r}: the token endpoint still answered "
                f"{response.status_code} after retries ({where}); the next run tries again"
            )
        if response.status_code >= 400:
            error = str(body.get("error") or response.status_code)
            description = body.get("error_description")
            detail = f"{error}: {description}" if description else error
            if response.status_code in (400, 401, 403):
                raise AuthenticationError(
                    f"connection {self.connection_id!r}: the token endpoint refused to refresh "
                    f"the access token ({detail}); authorize the account again and store the "
                    "new client_id, client_secret and refresh_token with "
                    "`syncs connections add ... --credential ...`"
                )
            raise ApiError(
                f"connection {self.connection_id!r}: {where} answered "
                f"{response.status_code}: {detail}"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ApiError(
                f"connection {self.connection_id!r}: {where} answered without an access_token"
            )
        self.access_token = token
        try:
            lifetime: float | None = float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            lifetime = None
        self.expires_at = (
            datetime.now(UTC) + timedelta(seconds=lifetime) if lifetime is not None else None
        )
        self.refreshes += 1
        updates: dict[str, Any] = {"access_token": token}
        updates["expires_at"] = format_expiry(self.expires_at) if self.expires_at else None
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._refresh_token = rotated
            updates["refresh_token"] = rotated
        if self.on_refresh is not None:
            self.on_refresh(updates)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
