"""What an integration declares about its provider's webhooks (``IntegrationSpec.webhooks``).

The platform receives a provider's requests at ``POST /webhooks/{integration}`` (and
``/webhooks/{integration}/{connection_id}`` where a subscription names its connection),
and the integration says, as functions of plain data:

* ``verify``: the provider's signature scheme, checked against the candidate secrets (the
  connection's, the subscriptions syncs registered, the integration's); ``WebhookRefused``
  with the reason when the request is unsigned, forged or outside the provider's timestamp
  tolerance.
* ``handshake``: the answer to a request that only checks the URL (Drive's ``sync``
  message, GitHub's ``ping``), given before any event is read from it.
* ``events``: the request split into ``ProviderEvent``s: the event id (for replay
  detection), its type, the model and record it is about, the record itself when the
  provider sends it whole ("fat"), or only its id ("thin": the integration's ``fetch``
  reads it), whether it is a deletion, when it happened, and the routing key that names
  its connection. An event that says "read the changes feed" (Drive) has ``feed``.
* ``route_keys``: the routing keys a connection answers to, from its config and what syncs
  registered for it (HubSpot ``portal:<portalId>``, GitHub ``repository:<owner/name>``,
  Drive ``channel:<id>``).
* ``subscribe`` / ``unsubscribe``: where the provider registers webhooks per customer
  through its API (GitHub repository hooks, Drive ``changes.watch`` channels), keep exactly
  the subscriptions a connection needs, renewing those near expiry.

Nothing here touches the control store or the warehouse: ``pipelines.ingress`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sources.errors import SyncsError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sources.spec import ExtractContext


class WebhookRefused(SyncsError):
    """A request that is not the provider's: unsigned, forged or expired. Nothing of it is
    kept; the reason goes to the log. ``status`` is what the provider is answered."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class WebhookMalformed(SyncsError):
    """A verified request whose body cannot be read as the provider's events."""


@dataclass(frozen=True)
class Delivery:
    """One request as the provider sent it. ``url`` is the URL the provider addressed
    (the public base syncs is reached at, the path and the query), which some signatures
    cover; ``headers`` have lower-case names."""

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; ``WebhookMalformed`` naming the problem otherwise."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as error:
            raise WebhookMalformed(f"the body is not JSON ({error})") from None


@dataclass(frozen=True)
class ProviderEvent:
    """One change the provider reported. ``record`` is set for a fat event (the record as
    the model's pages carry it); a thin one has ``record_id`` (and ``locator``) only. An
    event with ``feed`` asks for the changes feed to be read; one without ``model`` is about
    nothing syncs keeps (kept in the inbox, applied as nothing)."""

    event_id: str
    type: str
    model: str | None = None
    record_id: str | None = None
    record: Mapping[str, Any] | None = None
    deleted: bool = False
    occurred_at: datetime | None = None
    route: str | None = None
    locator: Mapping[str, Any] = field(default_factory=dict)
    feed: bool = False


@dataclass(frozen=True)
class Subscription:
    """What syncs registered with the provider for one connection: the resource watched,
    the provider's id of the hook or channel, the secret it signs (or its token) with, when
    it expires, and anything else the provider needs to stop it (``details``)."""

    resource: str
    provider_id: str
    secret: str
    url: str
    expires_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandshakeAnswer:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


VerifyFn = Callable[[Delivery, Sequence[str]], None]
EventsFn = Callable[[Delivery], list[ProviderEvent]]
HandshakeFn = Callable[[Delivery], HandshakeAnswer | None]
RouteKeysFn = Callable[["BaseModel", Sequence[Subscription]], set[str]]
# (ctx, the callback URL, what is registered now, a new secret) -> what is registered after.
SubscribeFn = Callable[
    ["ExtractContext[Any, Any]", str, Sequence[Subscription], Callable[[], str]],
    list[Subscription],
]
UnsubscribeFn = Callable[["ExtractContext[Any, Any]", Sequence[Subscription]], None]


@dataclass(frozen=True)
class WebhookSpec:
    """An integration's webhooks; see the module docstring. ``secret`` says, for the
    command line and the README, what the integration's webhook secret is; ``sync`` the
    sync the events apply to; ``resources`` the resources a connection's subscriptions
    should cover (when they differ from what is registered, the next poll registers
    again); ``renew_before``: a subscription expiring sooner than this is renewed."""

    sync: str
    verify: VerifyFn
    events: EventsFn
    route_keys: RouteKeysFn
    secret: str
    handshake: HandshakeFn | None = None
    subscribe: SubscribeFn | None = None
    unsubscribe: UnsubscribeFn | None = None
    resources: Callable[[BaseModel], set[str]] | None = None
    renew_before: timedelta = timedelta(hours=12)
    description: str = ""
