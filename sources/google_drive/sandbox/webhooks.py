"""The Drive sandbox's push notifications: ``changes.watch`` channels and what they receive.

``POST /drive/v3/changes/watch?pageToken=...`` with a channel (``id``, ``type``
``web_hook``, ``address``, ``token``, ``expiration`` in epoch milliseconds, at most a week
ahead: Drive's limit for changes) opens a channel and answers it as Drive does (``kind``
``api#channel``, ``resourceId``, ``resourceUri``, ``expiration`` as text); ``POST
/drive/v3/channels/stop`` with ``id`` and ``resourceId`` closes it (204; 404 for a
channel the sandbox does not hold). A channel gets a ``sync`` message when it opens, then
a ``change`` message whenever the account's changes feed moves: no body, the headers
``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``, ``X-Goog-Channel-Expiration`` (an RFC 1123
date), ``X-Goog-Message-Number`` (one up per message of the channel), ``X-Goog-Resource-ID``,
``X-Goog-Resource-URI`` and ``X-Goog-Resource-State``. A channel past its expiration
receives nothing. Failed messages are sent again with backoff, as Drive does for 5xx.

A channel is a kit subscription of the account: its secret is the channel's token (so a
``bad_signature`` delivery fault sends a wrong token).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from sources.google_drive.sandbox.resources import GLOBAL_PARAMETERS, METHOD_PARAMETERS
from sources.sandbox.server import Request, Response, SandboxError, json_response
from sources.sandbox.webhooks import Event, Subscription, WebhookRequest

if TYPE_CHECKING:
    from sources.sandbox.webhooks import Subscriptions

MAX_CHANNEL_SECONDS = 7 * 24 * 3600
DEFAULT_CHANNEL_SECONDS = 3600
WATCH_PARAMETERS = ("pageToken", "supportsAllDrives", "includeItemsFromAllDrives", "includeRemoved")
CHANNEL_FIELDS = frozenset({"id", "type", "address", "token", "expiration", "params", "kind"})


def _refused(name: str, message: str) -> SandboxError:
    return SandboxError(400, message, f"invalidParameter:parameter:{name}")


class DriveWebhooks:
    """Mixed into ``GoogleDriveSandbox`` (a ``WebhookSandbox``)."""

    webhook_batch_size = 1
    webhook_retry_delays = (1.0, 2.0, 4.0)

    if TYPE_CHECKING:
        subscriptions: Subscriptions
        accounts: Any

        def emit(self, account: str, event_type: str, data: dict[str, Any]) -> Event: ...
        def api(self, method: str, pattern: str, handler: Any, *, limit: str = ...) -> None: ...

    def _route_channels(self, drive: str) -> None:
        self._channels: dict[str, dict[str, Any]] = {}
        self._numbers: dict[str, int] = {}
        self._channel_lock = threading.Lock()
        self._message_numbers = itertools.count(1)
        self.api("POST", drive + r"/changes/watch", self._watch)
        self.api("POST", drive + r"/channels/stop", self._stop_channel)

    def _watch(self, request: Request, account: Any) -> Response:
        for name in request.query:
            if name in WATCH_PARAMETERS or name in ("fields", "alt", "prettyPrint"):
                continue
            documented = METHOD_PARAMETERS["changes.list"] | GLOBAL_PARAMETERS
            raise _refused(
                name,
                f"The sandbox does not simulate the parameter {name} of changes.watch."
                if name in documented
                else f"changes.watch has no parameter {name}.",
            )
        if not request.arg("pageToken"):
            raise SandboxError(400, "Required parameter: pageToken", "required:parameter:pageToken")
        body = request.json()
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a channel", "parseError")
        unknown = sorted(set(body) - CHANNEL_FIELDS)
        if unknown:
            raise SandboxError(
                400, f"The channel has no field {unknown[0]}.", f"invalid:body:{unknown[0]}"
            )
        if body.get("type") not in ("web_hook", "webhook"):
            raise SandboxError(400, "Invalid value for type: web_hook", "invalid:body:type")
        address = str(body.get("address") or "")
        if not address.startswith(("http://", "https://")) or not body.get("id"):
            raise SandboxError(400, "The channel needs an id and an address", "required:body")
        if body.get("params"):
            raise SandboxError(400, "Channel params are not simulated", "invalid:body:params")
        now_ms = int(time.time() * 1000)
        asked = body.get("expiration")
        expiration = int(asked) if asked is not None else now_ms + DEFAULT_CHANNEL_SECONDS * 1000
        expiration = min(expiration, now_ms + MAX_CHANNEL_SECONDS * 1000)
        channel_id = str(body["id"])
        with self._channel_lock:
            if channel_id in self._channels:
                raise SandboxError(
                    400, f"Channel id {channel_id} not unique", "channelIdNotUnique:body:id"
                )
            token = str(body.get("token") or "")
            resource_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{account.email}/changes").hex[:27]
            subscription = self.subscriptions.add(
                account.email, address, token or "-", (f"sync:{channel_id}", "change")
            )
            channel = {
                "kind": "api#channel",
                "id": channel_id,
                "resourceId": resource_id,
                "resourceUri": f"https://www.googleapis.com/drive/v3/changes?alt=json"
                f"&pageToken={request.arg('pageToken')}",
                "expiration": str(expiration),
                **({"token": token} if token else {}),
            }
            self._channels[channel_id] = {
                **channel,
                "subscription": subscription.id,
                "account": account.email,
                "expires_ms": expiration,
            }
        self.emit(account.email, f"sync:{channel_id}", {})
        return json_response(channel)

    def _stop_channel(self, request: Request, account: Any) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.get("id") or not body.get("resourceId"):
            raise SandboxError(400, "channels.stop needs id and resourceId", "required:body")
        with self._channel_lock:
            channel = self._channels.get(str(body["id"]))
            if (
                channel is None
                or channel["account"] != account.email
                or channel["resourceId"] != body["resourceId"]
            ):
                raise SandboxError(
                    404, f"Channel '{body['id']}' not found for project", "notFound:body:id"
                )
            del self._channels[channel["id"]]
        self.subscriptions.remove(channel["subscription"])
        return Response(204)

    def notify_changed(self, email: str) -> None:
        """The account's changes feed moved: a ``change`` message to its open channels (the
        expired ones are closed first)."""
        now_ms = int(time.time() * 1000)
        with self._channel_lock:
            expired = [c for c in self._channels.values() if c["expires_ms"] <= now_ms]
            for channel in expired:
                del self._channels[channel["id"]]
        for channel in expired:
            self.subscriptions.remove(channel["subscription"])
        self.emit(email, "change", {})

    @property
    def open_channels(self) -> list[dict[str, Any]]:
        with self._channel_lock:
            return [
                {k: v for k, v in c.items() if k not in ("subscription",)}
                for c in self._channels.values()
            ]

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        return b""

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        with self._channel_lock:
            channel = next(
                (
                    c
                    for c in self._channels.values()
                    if c["subscription"] == request.subscription.id
                ),
                None,
            )
            number = self._numbers.setdefault(request.delivery_id, next(self._message_numbers))
        (event,) = request.events
        state = "sync" if event.type.startswith("sync:") else "change"
        if channel is None:
            return {"X-Goog-Resource-State": state, "X-Goog-Channel-Token": secret}
        headers = {
            "X-Goog-Channel-ID": channel["id"],
            "X-Goog-Channel-Expiration": formatdate(channel["expires_ms"] / 1000, usegmt=True),
            "X-Goog-Message-Number": str(number),
            "X-Goog-Resource-ID": channel["resourceId"],
            "X-Goog-Resource-URI": channel["resourceUri"],
            "X-Goog-Resource-State": state,
        }
        if secret != "-":
            headers["X-Goog-Channel-Token"] = secret
        return headers
