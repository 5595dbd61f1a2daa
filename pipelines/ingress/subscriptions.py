"""Subscriptions syncs registers with providers that take them per customer through their API.

``subscribe`` registers (or checks and renews) what a connection needs — GitHub hooks on its
repositories, a Drive push channel on its changes — pointing at
``<public URL>/webhooks/<integration>/<connection id>``, each with a secret of its own, and
keeps them, encrypted, in the control store. ``unsubscribe`` removes them at the provider.
``renew_if_due`` runs before every poll of a subscribed connection: a subscription that
expires within ``WebhookSpec.renew_before``, or resources that no longer match the config
(a repository added), are registered again then; failing to does not fail the poll.
"""

from __future__ import annotations

import logging
import secrets as random_secrets
from datetime import UTC, datetime
from typing import Any

from pipelines import settings
from pipelines.home import Home
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.store.connections import Connection, Connections
from sources.cursors import open_cursors
from sources.errors import ConfigError
from sources.http import RequestLog
from sources.spec import ExtractContext
from sources.webhooks import Subscription

log = logging.getLogger(__name__)


def callback_url(base: str, connection: Connection) -> str:
    return f"{base.rstrip('/')}/webhooks/{connection.integration}/{connection.connection_id}"


def new_secret() -> str:
    return random_secrets.token_urlsafe(32)


def _context(home: Home, connection: Connection, log_: RequestLog) -> ExtractContext[Any, Any]:
    spec = connection.spec
    assert spec.webhooks is not None
    sync = spec.syncs[spec.webhooks.sync]
    config = connection.validated_config()
    connections = Connections(home)
    return ExtractContext(
        connection_id=connection.connection_id,
        sync=sync,
        mode="incremental",
        config=config,
        credentials=connections.credentials(connection),
        request_log=log_,
        cursors=open_cursors(spec, sync, "incremental", config, {}),
        on_credentials=lambda updates: connections.save_credentials(
            connection.connection_id, updates
        ),
    )


def _hooks(connection: Connection) -> Any:
    hooks = connection.spec.webhooks
    if hooks is None or hooks.subscribe is None:
        raise ConfigError(
            f"{connection.integration} takes no subscriptions through its API"
            + (
                f"; configure its webhooks in the provider's app settings ({hooks.secret})"
                if hooks is not None
                else ""
            )
        )
    return hooks


def subscribe(
    home: Home,
    connection_id: str,
    base_url: str | None = None,
    *,
    ctx: ExtractContext[Any, Any] | None = None,
) -> list[Subscription]:
    """Register what the connection needs at ``base_url`` (``SYNCS_PUBLIC_URL`` by default,
    else the URL the subscriptions already point to); what is registered after."""
    connection = Connections(home).get(connection_id)
    hooks = _hooks(connection)
    store = ProviderSecrets(home)
    existing = store.subscriptions(connection.integration, connection_id)
    base = base_url or settings.public_url()
    if base is not None:
        url = callback_url(base, connection)
    elif existing:
        url = existing[0].url
    else:
        raise ConfigError(
            "give the URL providers reach `syncs serve` at: --url https://syncs.example.com "
            "(or set SYNCS_PUBLIC_URL)"
        )
    ctx = ctx or _context(home, connection, RequestLog())
    now = hooks.subscribe(ctx, url, existing, new_secret)
    store.replace_subscriptions(connection.integration, connection_id, now)
    return now


def unsubscribe(home: Home, connection_id: str) -> int:
    """Remove the connection's subscriptions at the provider and here; how many."""
    connection = Connections(home).get(connection_id)
    hooks = _hooks(connection)
    store = ProviderSecrets(home)
    existing = store.subscriptions(connection.integration, connection_id)
    if existing and hooks.unsubscribe is not None:
        hooks.unsubscribe(_context(home, connection, RequestLog()), existing)
    store.replace_subscriptions(connection.integration, connection_id, [])
    return len(existing)


def renew_if_due(home: Home, connection: Connection, ctx: ExtractContext[Any, Any]) -> None:
    """Before a poll: register again what is near expiry or no longer matches the config.
    A connection that never subscribed is left alone; a failure is a warning."""
    hooks = connection.spec.webhooks
    if hooks is None or hooks.subscribe is None:
        return
    try:
        existing = ProviderSecrets(home).subscriptions(
            connection.integration, connection.connection_id
        )
        if not existing:
            return
        soon = datetime.now(UTC) + hooks.renew_before
        expiring = any(s.expires_at is not None and s.expires_at <= soon for s in existing)
        wanted = hooks.resources(ctx.config) if hooks.resources is not None else None
        moved = wanted is not None and wanted != {s.resource for s in existing}
        if expiring or moved:
            subscribe(home, connection.connection_id, ctx=ctx)
    except Exception as error:
        log.warning(
            "could not renew the webhook subscriptions of %s (%s: %s); the poll goes on",
            connection.connection_id,
            type(error).__name__,
            error,
        )
