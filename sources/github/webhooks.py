"""GitHub's webhooks: repository hooks syncs registers, their signature, their events.

``syncs webhooks subscribe CONNECTION`` creates one hook per repository of the connection
(``POST /repos/{owner}/{repo}/hooks``: ``issues`` and ``pull_request`` events, JSON, a
secret of its own) pointing at ``/webhooks/github/<connection id>``; the poll re-registers
when the connection's repositories change, and ``unsubscribe`` deletes them. A GitHub App's
webhook (one secret for the app, ``syncs webhooks secret github``) can post to
``/webhooks/github`` instead: events route by the repository's ``full_name``.

Every request carries ``X-Hub-Signature-256`` (``sha256=`` and the hex HMAC-SHA256 of the
body); one without it is refused. ``X-GitHub-Delivery`` is the event id (a redelivery
keeps it). ``ping`` (sent when a hook is created) is answered and kept nowhere. Events are
fat: ``issues`` and ``pull_request`` carry the whole issue or pull request, applied as
GitHub sent it, ``updated_at`` deciding between versions; ``issues`` ``deleted`` and
``transferred`` are deletions (the issue in its new repository arrives as its own
``opened``). Other events are kept as about nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from sources.github.api import issue_row, pull_row
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

EVENTS = ("issues", "pull_request")
DELETIONS = frozenset({"deleted", "transferred"})


def verify(delivery: Delivery, secrets: Sequence[str]) -> None:
    sent = delivery.header("x-hub-signature-256") or ""
    if not sent.startswith("sha256="):
        raise WebhookRefused("no X-Hub-Signature-256 header (sha256=...)")
    for secret in secrets:
        expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, sent):
            return
    raise WebhookRefused("X-Hub-Signature-256 does not match the hook's secret (forged)")


def handshake(delivery: Delivery) -> HandshakeAnswer | None:
    if delivery.header("x-github-event") == "ping":
        return HandshakeAnswer(200, b'{"pong":true}', "application/json")
    return None


def events(delivery: Delivery) -> list[ProviderEvent]:
    name = delivery.header("x-github-event")
    event_id = delivery.header("x-github-delivery")
    if not name or not event_id:
        raise WebhookMalformed("no X-GitHub-Event or X-GitHub-Delivery header")
    body = delivery.json()
    if not isinstance(body, dict):
        raise WebhookMalformed("a GitHub event is a JSON object")
    action = str(body.get("action") or "")
    kind = f"{name}.{action}" if action else name
    repository = (body.get("repository") or {}).get("full_name")
    if name not in EVENTS or not isinstance(repository, str):
        return [ProviderEvent(event_id=event_id, type=kind)]
    key = "issue" if name == "issues" else "pull_request"
    raw = body.get(key)
    if not isinstance(raw, dict) or raw.get("id") is None:
        raise WebhookMalformed(f"a {name} event without its {key}")
    common: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "record_id": str(raw["id"]),
        "route": f"repository:{repository.lower()}",
    }
    if name == "issues" and "pull_request" in raw:
        return [ProviderEvent(**common)]
    model = "issues" if name == "issues" else "pull_requests"
    if name == "issues" and action in DELETIONS:
        return [ProviderEvent(model=model, deleted=True, **common)]
    row = issue_row(raw, repository) if name == "issues" else pull_row(raw, repository)
    return [ProviderEvent(model=model, record=row, **common)]


def route_keys(config: BaseModel, subscriptions: Sequence[Subscription]) -> set[str]:
    return {f"repository:{name.lower()}" for name in getattr(config, "repositories", [])}


def resources(config: BaseModel) -> set[str]:
    return {name.lower() for name in getattr(config, "repositories", [])}


def subscribe(
    ctx: ExtractContext[Any, Any],
    url: str,
    existing: Sequence[Subscription],
    new_secret: Callable[[], str],
) -> list[Subscription]:
    """One hook per repository of the connection: kept if GitHub still has it at ``url``,
    created otherwise; the hooks of repositories no longer listed are deleted."""
    from sources.github import connect

    client = connect(ctx).client
    wanted = {name.lower(): name for name in ctx.config.repositories}
    kept: list[Subscription] = []
    for sub in existing:
        if sub.resource not in wanted:
            client.request("DELETE", f"/repos/{sub.resource}/hooks/{sub.provider_id}", ok=(404,))
            continue
        answer = client.get(f"/repos/{sub.resource}/hooks/{sub.provider_id}", ok=(404,))
        if answer.status_code == 200 and answer.json().get("config", {}).get("url") == url:
            kept.append(sub)
        elif answer.status_code == 200:
            client.request("DELETE", f"/repos/{sub.resource}/hooks/{sub.provider_id}", ok=(404,))
    have = {s.resource for s in kept}
    for resource, name in wanted.items():
        if resource in have:
            continue
        secret = new_secret()
        hook = client.post(
            f"/repos/{name}/hooks",
            json={
                "name": "web",
                "active": True,
                "events": list(EVENTS),
                "config": {"url": url, "content_type": "json", "secret": secret},
            },
        ).json()
        kept.append(Subscription(resource, str(hook["id"]), secret, url))
    return kept


def unsubscribe(ctx: ExtractContext[Any, Any], existing: Sequence[Subscription]) -> None:
    from sources.github import connect

    client = connect(ctx).client
    for sub in existing:
        client.request("DELETE", f"/repos/{sub.resource}/hooks/{sub.provider_id}", ok=(404,))


WEBHOOKS = WebhookSpec(
    sync="repositories",
    verify=verify,
    events=events,
    route_keys=route_keys,
    secret="a GitHub App's webhook secret (repository hooks get their own from syncs)",
    handshake=handshake,
    subscribe=subscribe,
    unsubscribe=unsubscribe,
    resources=resources,
    description="issues and pull requests (fat: applied as sent); repository hooks "
    "registered per connection",
)
