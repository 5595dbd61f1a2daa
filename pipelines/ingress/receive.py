"""``POST /webhooks/{integration}[/{connection_id}]``: a provider's request, verified, into the inbox.

In this order, so nothing of a request that is not the provider's is kept:

1. the body is read up to ``SYNCS_WEBHOOK_MAX_BYTES`` (413 past it);
2. a verification handshake is answered as the provider requires. It comes before the
   signature because a provider sends it the moment a subscription is created, before
   syncs has stored that subscription's secret (Drive's ``sync`` message, GitHub's
   ``ping``), and because it keeps nothing and answers nothing a forger could use;
3. the provider's signature is checked (``WebhookSpec.verify``) against the candidate
   secrets: the connection's (when the URL names one), its subscriptions', the
   integration's. Unsigned, forged or expired: the provider's refusal (401), and only a log
   line with the reason;
4. the body is split into events (400 when it cannot be read, with the reason logged);
5. the events are written to the inbox in one transaction and the provider is answered
   200 at once; the applier is woken. An event id already received adds nothing, and the
   answer is 200 still, so a provider's retry ends there.

Routing to a connection happens in the applier, so an event for a connection syncs does
not know yet is kept as unmatched rather than refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines import settings
from pipelines.home import Home
from pipelines.ingress.inbox import Inbox
from pipelines.ingress.secrets import ProviderSecrets
from sources.registry import INTEGRATIONS
from sources.webhooks import Delivery, WebhookMalformed, WebhookRefused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Mapping[str, Any] | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


class TooLarge(Exception):
    pass


def delivery_url(base: str, path: str, query: str) -> str:
    return base.rstrip("/") + path + (f"?{query}" if query else "")


class Ingress:
    """Verifies and stores one provider request; ``on_stored`` runs after events are kept."""

    def __init__(self, home: Home, *, on_stored: Callable[[], None] | None = None) -> None:
        self.home = home
        self.secrets = ProviderSecrets(home)
        self.inbox = Inbox(home)
        self.on_stored = on_stored
        self.max_bytes = settings.webhook_max_bytes()
        self.public_url = settings.public_url()

    def receive(
        self,
        integration: str,
        connection_id: str | None,
        *,
        method: str,
        own_base: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        spec = INTEGRATIONS.get(integration)
        if spec is None or spec.webhooks is None:
            known = ", ".join(sorted(n for n, s in INTEGRATIONS.items() if s.webhooks))
            return Answer(
                404,
                {
                    "error": "not_found",
                    "message": f"no webhooks for integration {integration!r}; "
                    f"webhooks are received for: {known}",
                },
            )
        hooks = spec.webhooks
        delivery = Delivery(
            method=method,
            url=delivery_url(self.public_url or own_base, path, query),
            path=path,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            received_at=datetime.now(UTC),
        )
        where = f"{integration} webhook" + (
            f" for connection {connection_id!r}" if connection_id else ""
        )
        if hooks.handshake is not None:
            answer = hooks.handshake(delivery)
            if answer is not None:
                return Answer(answer.status, raw=answer.body, content_type=answer.content_type)
        candidates = self.secrets.candidates(integration, connection_id)
        try:
            if not candidates:
                raise WebhookRefused(
                    f"no webhook secret is set for {integration}; set {hooks.secret} with "
                    f"`syncs webhooks secret {integration} --secret ...`"
                    + ("" if connection_id is None else f" (or --connection {connection_id})")
                )
            hooks.verify(delivery, candidates)
        except WebhookRefused as refused:
            log.warning("refused a %s: %s", where, refused.reason)
            return Answer(refused.status, {"error": "unauthorized", "message": refused.reason})
        try:
            events = hooks.events(delivery)
        except WebhookMalformed as malformed:
            log.warning("ignored a %s that cannot be read: %s", where, malformed)
            return Answer(400, {"error": "bad_request", "message": str(malformed)})
        if not events:
            return Answer(200, {"received": 0, "duplicates": 0})
        new, duplicates = self.inbox.add(
            integration,
            events,
            connection_id=connection_id,
            delivery_id=delivery.header("x-github-delivery") or delivery.header("x-request-id"),
        )
        if duplicates:
            log.warning(
                "a %s repeated %d event id(s) already received; kept nothing of them",
                where,
                duplicates,
            )
        if new and self.on_stored is not None:
            self.on_stored()
        return Answer(200, {"received": new, "duplicates": duplicates})
