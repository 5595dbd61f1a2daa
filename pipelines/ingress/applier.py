"""The applier: inbox events routed to their connections and applied as WEBHOOK runs.

It runs in ``syncs serve`` (woken by the ingress the moment events are stored, and every
second besides), works through the inbox from the oldest event on start — so a crash
between accepting an event and applying it loses nothing — and, per (connection, sync),
applies every event that is due in one run through ``pipelines.engine.apply``:

* routing: the connection the URL named (its routing keys must include the event's), or
  every connection whose keys include it (``WebhookSpec.route_keys``: from the
  connection's config and what syncs registered for it). None: ``unmatched``, kept;
* a disabled connection's events are ``paused`` until it is enabled again;
* per record the last event wins (by the provider's time, then arrival): a deletion that
  came last is a tombstone, else the record as the event carried it (fat) or as the
  integration's ``fetch`` reads it now (thin), so repeated events of one record cost one
  read;
* an event that says the changes feed moved (Drive) reads the feed from the stored
  cursor, under the run's lock (a poll reading it meanwhile: the event waits a moment);
* a failed apply is tried again later (``Inbox.retry_later``); the next poll reads the
  records anyway.

Duplicates are dropped at the inbox door, and an event applied twice after a crash between
the warehouse commit and the inbox update changes nothing the second time: the compare
finds the record as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.engine.apply import apply_pages
from pipelines.engine.results import SyncResult
from pipelines.engine.run_lock import RunLock
from pipelines.engine.state import read_state_from
from pipelines.engine.writer import Writer
from pipelines.home import Home
from pipelines.ingress.inbox import Inbox, InboxEvent
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.store.connections import Connection, Connections
from pipelines.store.db import control_db
from sources.cursors import open_cursors
from sources.errors import ConfigError, RunInProgressError
from sources.http import RequestLog
from sources.registry import INTEGRATIONS
from sources.spec import ExtractContext, IntegrationSpec, Page, RecordRef, SyncSpec

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
BUSY_WAIT = 2.0


@dataclass
class _Group:
    connection: Connection
    sync: SyncSpec
    events: list[InboxEvent] = field(default_factory=list)


class Applier:
    def __init__(
        self,
        home: Home,
        *,
        writer: Writer | None = None,
        on_result: Callable[[SyncResult], None] | None = None,
        interval: float = 1.0,
        batch: int = 5000,
    ) -> None:
        self.home = home
        self.writer = writer or Writer(home)
        self.on_result = on_result
        self.interval = interval
        self.batch = batch
        self.inbox = Inbox(home)
        self.connections = Connections(home)
        self.secrets = ProviderSecrets(home)
        self._routes: dict[str, tuple[Any, dict[str, list[str]]]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned = 0.0

    # the loop

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> Applier:
        self._thread = threading.Thread(target=self._run, name="webhook-applier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                settled = self.run_once()
            except Exception:
                log.exception("applying provider webhooks failed; trying again")
                settled = 0
            if settled < self.batch:
                waits = self.inbox.next_due_in()
                self._wake.wait(self.interval if waits is None else min(waits, self.interval))
            self._wake.clear()

    def run_once(self) -> int:
        """Apply what is due now; how many events were settled or put off."""
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            self.inbox.prune()
            self._pruned = time.monotonic()
        self.inbox.resume_enabled()
        due = self.inbox.due(self.batch)
        if not due:
            return 0
        groups: dict[tuple[str, str], _Group] = {}
        for event in due:
            self._route(event, groups)
        for group in groups.values():
            self._apply(group)
        return len(due)

    # routing

    def _route(self, event: InboxEvent, groups: dict[tuple[str, str], _Group]) -> None:
        spec = INTEGRATIONS.get(event.integration)
        if spec is None or spec.webhooks is None:
            self.inbox.settle([event], "unmatched", reason=f"no integration {event.integration!r}")
            return
        if event.model is None and not event.feed:
            self.inbox.settle([event], "ignored", reason="about nothing syncs keeps")
            return
        targets, why = self._targets(spec, event)
        if not targets:
            self.inbox.settle([event], "unmatched", reason=why)
            return
        enabled = [c for c in targets if c.enabled]
        if not enabled:
            self.inbox.settle(
                [event],
                "paused",
                reason=f"connection {targets[0].connection_id!r} is disabled; applied when "
                "it is enabled",
                connection_id=targets[0].connection_id,
            )
            return
        sync = spec.syncs[spec.webhooks.sync]
        for connection in enabled:
            key = (connection.connection_id, sync.name)
            groups.setdefault(key, _Group(connection, sync)).events.append(event)

    def _targets(self, spec: IntegrationSpec, event: InboxEvent) -> tuple[list[Connection], str]:
        assert spec.webhooks is not None
        if event.url_connection_id is not None:
            try:
                connection = self.connections.get(event.url_connection_id)
            except ConfigError:
                return [], f"the URL names connection {event.url_connection_id!r}, which is unknown"
            if connection.integration != spec.name:
                return [], (
                    f"the URL names connection {connection.connection_id!r}, a "
                    f"{connection.integration} connection"
                )
            if event.route is not None and event.route not in self._keys(spec, connection):
                return [], (
                    f"connection {connection.connection_id!r} does not answer to {event.route}"
                )
            return [connection], ""
        if event.route is None:
            return [], "the event names no connection and its URL none either"
        ids = self._index(spec).get(event.route, [])
        if not ids:
            return [], f"no {spec.name} connection answers to {event.route}"
        found = []
        for connection_id in ids:
            try:
                found.append(self.connections.get(connection_id))
            except ConfigError:
                continue
        return found, "" if found else f"no {spec.name} connection answers to {event.route}"

    def _keys(self, spec: IntegrationSpec, connection: Connection) -> set[str]:
        assert spec.webhooks is not None
        try:
            config = connection.validated_config()
        except ConfigError:
            return set()
        subscriptions = self.secrets.subscriptions(spec.name, connection.connection_id)
        return spec.webhooks.route_keys(config, subscriptions)

    def _index(self, spec: IntegrationSpec) -> dict[str, list[str]]:
        """Routing key -> connection ids, rebuilt only when the integration's connections
        or subscriptions changed."""
        with control_db(self.home.control_store) as db:
            signature = tuple(
                db.execute(
                    "SELECT (SELECT count(*) || ':' || coalesce(max(updated_at), '') "
                    "FROM connections WHERE integration = ?), "
                    "(SELECT count(*) || ':' || coalesce(max(renewed_at), 0) "
                    "FROM provider_subscriptions WHERE integration = ?)",
                    (spec.name, spec.name),
                ).fetchone()
            )
        cached = self._routes.get(spec.name)
        if cached is not None and cached[0] == signature:
            return cached[1]
        index: dict[str, list[str]] = defaultdict(list)
        for connection in self.connections.list(spec.name):
            for key in self._keys(spec, connection):
                index[key].append(connection.connection_id)
        self._routes[spec.name] = (signature, dict(index))
        return self._routes[spec.name][1]

    # applying

    def _apply(self, group: _Group) -> None:
        connection, sync = group.connection, group.sync
        spec = connection.spec
        feed = [e for e in group.events if e.feed]
        records = [e for e in group.events if not e.feed]
        for events, apply in ((records, self._apply_records), (feed, self._apply_feed)):
            if not events:
                continue
            try:
                apply(spec, connection, sync, events)
            except RunInProgressError:
                self.inbox.wait(events, BUSY_WAIT, "a poll of the connection is reading its feed")
            except Exception as error:
                reason = f"{type(error).__name__}: {_first_line(error)}"
                log.warning(
                    "applying %d %s webhook event(s) to %s failed (%s); tried again later",
                    len(events),
                    spec.name,
                    connection.connection_id,
                    reason,
                )
                self.inbox.retry_later(events, reason, connection_id=connection.connection_id)

    def _context(
        self, spec: IntegrationSpec, connection: Connection, sync: SyncSpec
    ) -> ExtractContext[Any, Any]:
        config = connection.validated_config()
        with self.writer.session() as con:
            state = read_state_from(con, connection.connection_id, sync.name)
        return ExtractContext(
            connection_id=connection.connection_id,
            sync=sync,
            mode="incremental",
            config=config,
            credentials=self.connections.credentials(connection),
            request_log=RequestLog(),
            cursors=open_cursors(spec, sync, "incremental", config, state.cursors),
            on_credentials=lambda updates: self.connections.save_credentials(
                connection.connection_id, updates
            ),
        )

    def _apply_records(
        self,
        spec: IntegrationSpec,
        connection: Connection,
        sync: SyncSpec,
        events: Sequence[InboxEvent],
    ) -> None:
        latest: dict[tuple[str, str], InboxEvent] = {}
        for event in sorted(events, key=_order):
            if event.model is not None and event.record_id is not None:
                latest[(event.model, event.record_id)] = event
        ctx = self._context(spec, connection, sync)
        result = apply_pages(
            self.writer,
            connection,
            sync,
            _pages(spec, ctx, list(latest.values())),
            sync_type="WEBHOOK",
            request_log=ctx.request_log,
            on_result=self.on_result,
        )
        self.inbox.settle(
            events,
            "applied",
            connection_id=connection.connection_id,
            run_id=None if result is None else result.run_id,
        )

    def _apply_feed(
        self,
        spec: IntegrationSpec,
        connection: Connection,
        sync: SyncSpec,
        events: Sequence[InboxEvent],
    ) -> None:
        lock = RunLock(self.home, spec.name, connection.connection_id, sync.name)
        lock.acquire("reading the changes a webhook announced")
        try:
            ctx = self._context(spec, connection, sync)
            if any(ctx.cursor(m).full_listing for m in sync.models):
                self.inbox.settle(
                    events,
                    "ignored",
                    reason="the connection has no cursor yet; its first poll lists everything",
                    connection_id=connection.connection_id,
                )
                return
            result = apply_pages(
                self.writer,
                connection,
                sync,
                spec.extract(ctx),
                sync_type="WEBHOOK",
                request_log=ctx.request_log,
                cursors=ctx.cursors,
                on_result=self.on_result,
            )
        finally:
            lock.release()
        self.inbox.settle(
            events,
            "applied",
            connection_id=connection.connection_id,
            run_id=None if result is None else result.run_id,
        )


def _order(event: InboxEvent) -> tuple[str, int]:
    return (event.occurred_at or "", event.inbox_id)


def _pages(
    spec: IntegrationSpec, ctx: ExtractContext[Any, Any], events: Sequence[InboxEvent]
) -> Iterator[Page]:
    """The pages of the latest event per record: fat records as they came, tombstones,
    and the thin ones read by id (a model at a time)."""
    thin: dict[str, list[RecordRef]] = defaultdict(list)
    for event in events:
        assert event.model is not None and event.record_id is not None
        if event.deleted:
            yield Page(
                event.model,
                [{"id": event.record_id, "deleted_at": _time(event.occurred_at)}],
                deleted=True,
            )
        elif event.record is not None:
            yield Page(event.model, [event.record])
        else:
            thin[event.model].append(RecordRef(event.record_id, event.locator))
    if thin and spec.fetch is None:
        raise ConfigError(f"{spec.name} sends thin webhook events but cannot read records by id")
    for model, refs in thin.items():
        assert spec.fetch is not None
        yield from spec.fetch(ctx, model, refs)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
