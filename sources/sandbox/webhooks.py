"""Outgoing provider webhooks: what a sandbox needs to notify subscribers as its provider does.

Providers POST events to the URLs their customers subscribe when data changes. What every
such sandbox shares lives here: a registry of subscriptions (an account's URL, its secret, the
event types it wants), a sender that batches events per subscription the way the provider
does (HubSpot sends up to 100 events a request, GitHub one), renders and signs each request
with the provider's own scheme (two hooks), POSTs it from a background thread, retries as the
provider does, and logs every attempt. Delivery faults make deliveries go wrong the ways real
ones do: dropped, duplicated, reordered (sent after the next one), delayed, or signed with the
wrong secret.

``WebhookSandbox`` is a ``SandboxServer`` with a sender and the admin operations to subscribe,
inject delivery faults and read the delivery log; a sandbox calls ``emit`` when its data
changes. Written by hand because no library sends webhooks with injected faults; the HTTP is
``requests``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from sources.sandbox.operations import admin_operation
from sources.sandbox.server import SandboxServer

DELIVERY_FAULTS = ("drop", "duplicate", "reorder", "delay", "bad_signature")
A = TypeVar("A")


@dataclass(frozen=True)
class Subscription:
    """An account's webhook: where to send, the secret to sign with, which event types
    (none listed: all of them)."""

    id: str
    account: str
    url: str
    secret: str
    events: tuple[str, ...] = ()

    def wants(self, account: str, event_type: str) -> bool:
        return account == self.account and (not self.events or event_type in self.events)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "url": self.url,
            "events": list(self.events),
        }


@dataclass(frozen=True)
class Event:
    """One change as the provider reports it: ``data`` is the provider's payload of it."""

    type: str
    account: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class WebhookRequest:
    """One request to a subscriber, as the signing hook sees it; a retry keeps its
    ``delivery_id`` and ``body`` and gets a new ``timestamp``."""

    subscription: Subscription
    events: tuple[Event, ...]
    delivery_id: str
    body: bytes
    timestamp: int
    attempt: int


Render = Callable[[Subscription, list[Event]], bytes]
Sign = Callable[[str, WebhookRequest], dict[str, str]]


@dataclass
class _Delivery:
    subscription: Subscription
    events: tuple[Event, ...]
    body: bytes
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 1
    fault: str | None = None


@dataclass
class _Fault:
    kind: str
    remaining: int
    delay: float


class Subscriptions:
    """The registry of webhook subscriptions, per account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Subscription] = {}

    def add(
        self, account: str, url: str, secret: str, events: tuple[str, ...] = ()
    ) -> Subscription:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be http(s), got {url!r}")
        if not secret:
            raise ValueError("secret must be a non-empty string")
        subscription = Subscription(uuid.uuid4().hex[:12], account, url, secret, tuple(events))
        with self._lock:
            self._by_id[subscription.id] = subscription
        return subscription

    def remove(self, subscription_id: str) -> None:
        with self._lock:
            if self._by_id.pop(subscription_id, None) is None:
                raise KeyError(f"unknown subscription {subscription_id!r}")

    def all(self, account: str | None = None) -> list[Subscription]:
        with self._lock:
            return [s for s in self._by_id.values() if account is None or s.account == account]

    def matching(self, account: str, event_type: str) -> list[Subscription]:
        with self._lock:
            return [s for s in self._by_id.values() if s.wants(account, event_type)]


class WebhookSender:
    """Batches, signs and POSTs events to their subscribers from a background thread.

    A subscription's events go out together once ``max_batch`` of them wait or the first has
    waited ``batch_window`` seconds. A failed attempt (no answer, or not 2xx) is tried again
    after each of ``retry_delays`` in turn. ``render`` makes a batch's body; ``sign`` the
    provider's headers for a body, given the secret to sign with.
    """

    def __init__(
        self,
        subscriptions: Subscriptions,
        render: Render,
        sign: Sign,
        *,
        max_batch: int = 1,
        batch_window: float = 0.0,
        retry_delays: tuple[float, ...] = (),
        timeout: float = 5.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.subscriptions = subscriptions
        self.render = render
        self.sign = sign
        self.max_batch = max_batch
        self.batch_window = batch_window
        self.retry_delays = retry_delays
        self.timeout = timeout
        self._cond = threading.Condition()
        self._pending: dict[str, list[Event]] = {}
        self._since: dict[str, float] = {}
        self._subscribed: dict[str, Subscription] = {}
        self._due: list[tuple[float, int, _Delivery]] = []
        self._held: list[_Delivery] = []
        self._sending = 0
        self._order = itertools.count()
        self._faults: list[_Fault] = []
        self._log: list[dict[str, Any]] = []
        self._session = requests.Session()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # what the sandbox calls

    def emit(self, event: Event) -> None:
        """Queue ``event`` for every subscription that wants it."""
        subscribers = self.subscriptions.matching(event.account, event.type)
        if not subscribers:
            return
        with self._cond:
            now = time.monotonic()
            for subscription in subscribers:
                self._subscribed[subscription.id] = subscription
                self._pending.setdefault(subscription.id, []).append(event)
                self._since.setdefault(subscription.id, now)
            self._start()
            self._cond.notify_all()

    def inject_fault(self, kind: str, *, count: int = 1, delay: float = 1.0) -> None:
        if kind not in DELIVERY_FAULTS:
            raise ValueError(
                f"unknown delivery fault {kind!r}; kinds: {', '.join(DELIVERY_FAULTS)}"
            )
        if count < 1:
            raise ValueError("count must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._cond:
            self._faults.append(_Fault(kind, count, delay))

    def faults(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"kind": f.kind, "count": f.remaining, "delay": f.delay} for f in self._faults]

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def log(self) -> list[dict[str, Any]]:
        """Every attempt so far, oldest first (a dropped delivery has one, never sent)."""
        with self._cond:
            return [dict(entry) for entry in self._log]

    def flush(self, timeout: float = 10.0) -> int:
        """Send what waits (batches not yet due, reordered deliveries held back) and wait
        until nothing is left or ``timeout`` passes; how many deliveries are still left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._since = dict.fromkeys(self._since, float("-inf"))
            self._cond.notify_all()
            while self._outstanding() and time.monotonic() < deadline:
                if self._held and not (self._pending or self._due or self._sending):
                    self._release_held()
                    self._cond.notify_all()
                self._cond.wait(max(deadline - time.monotonic(), 0.0))
            return self._outstanding()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self._session.close()

    # the background thread

    def _start(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def _outstanding(self) -> int:
        batches = sum(-(-len(events) // self.max_batch) for events in self._pending.values())
        return batches + len(self._due) + len(self._held) + self._sending

    def _run(self) -> None:
        while True:
            with self._cond:
                ready = self._next_ready()
                while ready is None and not self._stopping:
                    self._cond.wait(self._wait_time())
                    ready = self._next_ready()
                if ready is None:
                    return
                self._sending += 1
            try:
                self._send(ready)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _wait_time(self) -> float | None:
        deadlines = [since + self.batch_window for since in self._since.values()]
        deadlines += [due for due, _, _ in self._due[:1]]
        if not deadlines:
            return None
        return max(min(deadlines) - time.monotonic(), 0.0)

    def _next_ready(self) -> _Delivery | None:
        """Form the batches that are due into deliveries (faults applied), then the next
        delivery due to be sent, if any. Called under the lock."""
        now = time.monotonic()
        for subscription_id in list(self._pending):
            events = self._pending[subscription_id]
            while events and (
                len(events) >= self.max_batch
                or now - self._since[subscription_id] >= self.batch_window
            ):
                batch, events = events[: self.max_batch], events[self.max_batch :]
                subscription = self._subscribed[subscription_id]
                body = self.render(subscription, batch)
                self._schedule(_Delivery(subscription, tuple(batch), body), now)
            if events:
                self._pending[subscription_id] = events
            else:
                del self._pending[subscription_id]
                del self._since[subscription_id]
                self._cond.notify_all()
        if self._due and self._due[0][0] <= now:
            return heapq.heappop(self._due)[2]
        return None

    def _schedule(self, delivery: _Delivery, now: float) -> None:
        """Queue a new delivery, gone wrong as the next delivery fault says."""
        fault = self._take_fault()
        delivery.fault = None if fault is None else fault.kind
        if delivery.fault == "drop":
            self._record(delivery, outcome="dropped")
            return
        if delivery.fault == "reorder":
            self._held.append(delivery)
            return
        due = now + (fault.delay if fault is not None and fault.kind == "delay" else 0.0)
        for _ in range(2 if delivery.fault == "duplicate" else 1):
            heapq.heappush(self._due, (due, next(self._order), delivery))

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        return fault

    def _release_held(self) -> None:
        now = time.monotonic()
        for delivery in self._held:
            heapq.heappush(self._due, (now, next(self._order), delivery))
        self._held.clear()

    def _send(self, delivery: _Delivery) -> None:
        subscription = delivery.subscription
        request = WebhookRequest(
            subscription,
            delivery.events,
            delivery.id,
            delivery.body,
            int(time.time()),
            delivery.attempt,
        )
        forged = delivery.fault == "bad_signature"
        secret = subscription.secret + "-forged" if forged else subscription.secret
        headers = {"Content-Type": "application/json", **self.sign(secret, request)}
        status: int | None = None
        error: str | None = None
        try:
            answer = self._session.post(
                subscription.url, data=delivery.body, headers=headers, timeout=self.timeout
            )
            status = answer.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivered = status is not None and 200 <= status < 300
        with self._cond:
            self._record(
                delivery, outcome="delivered" if delivered else "failed", status=status, error=error
            )
            if not delivered and delivery.attempt <= len(self.retry_delays):
                retry = _Delivery(
                    subscription, delivery.events, delivery.body, delivery.id, delivery.attempt + 1
                )
                delay = self.retry_delays[delivery.attempt - 1]
                heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), retry))
            if delivery.fault != "reorder":
                self._release_held()
            self._cond.notify_all()

    def _record(
        self,
        delivery: _Delivery,
        *,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        self._log.append(
            {
                "delivery_id": delivery.id,
                "subscription_id": delivery.subscription.id,
                "account": delivery.subscription.account,
                "url": delivery.subscription.url,
                "event_ids": [e.id for e in delivery.events],
                "event_types": [e.type for e in delivery.events],
                "attempt": delivery.attempt,
                "fault": delivery.fault,
                "outcome": outcome,
                "status": status,
                "error": error,
                "at": time.time(),
            }
        )


class WebhookSandbox(SandboxServer[A]):
    """A sandbox that sends its provider's webhooks.

    A subclass renders a batch (``render_webhook``), signs a request (``sign_webhook``), sets
    its provider's batching and retries (``webhook_batch_size``, ``webhook_batch_window``,
    ``webhook_retry_delays``), and calls ``emit`` when its data changes.
    """

    webhook_batch_size = 1
    webhook_batch_window = 0.0
    webhook_retry_delays: tuple[float, ...] = ()

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.subscriptions = Subscriptions()
        self.webhooks = WebhookSender(
            self.subscriptions,
            self.render_webhook,
            self.sign_webhook,
            max_batch=self.webhook_batch_size,
            batch_window=self.webhook_batch_window,
            retry_delays=self.webhook_retry_delays,
        )

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        """The body of one request carrying ``events``, in the provider's shape; made from
        the events alone (it runs on the sender's thread, which must not wait for the
        sandbox's data lock)."""
        raise NotImplementedError

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        """The provider's headers for ``request``, signed with ``secret``."""
        raise NotImplementedError

    def emit(self, account: str, event_type: str, data: dict[str, Any]) -> Event:
        """Report a change of ``account``'s data to its subscribers; ``data`` is copied, so
        the event says what the data was now, whenever it is sent."""
        event = Event(event_type, account, copy.deepcopy(data))
        self.webhooks.emit(event)
        return event

    def stop(self) -> None:
        self.webhooks.stop()
        super().stop()

    @admin_operation
    def subscribe(
        self, account: str, url: str, secret: str, events: list[str] | None = None
    ) -> dict[str, Any]:
        """Send ``account``'s events (of the types in ``events``, or all) to ``url``; a
        KeyError for an account the sandbox does not hold."""
        self.accounts[account]
        return self.subscriptions.add(account, url, secret, tuple(events or ())).as_dict()

    @admin_operation
    def unsubscribe(self, subscription_id: str) -> None:
        self.subscriptions.remove(subscription_id)

    @admin_operation
    def list_subscriptions(self, account: str | None = None) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.subscriptions.all(account)]

    @admin_operation
    def inject_delivery_fault(self, kind: str, *, count: int = 1, delay: float = 1.0) -> None:
        """Make the next ``count`` deliveries go wrong as ``kind``: ``drop`` (never sent),
        ``duplicate`` (sent twice), ``reorder`` (sent after the next one), ``delay`` (sent
        ``delay`` seconds late), ``bad_signature`` (signed with another secret)."""
        self.webhooks.inject_fault(kind, count=count, delay=delay)

    @admin_operation
    def delivery_faults(self) -> list[dict[str, Any]]:
        return self.webhooks.faults()

    @admin_operation
    def clear_delivery_faults(self) -> None:
        self.webhooks.clear_faults()

    @admin_operation
    def deliveries(self) -> list[dict[str, Any]]:
        """The delivery log: every attempt, with its outcome and the subscriber's status."""
        return self.webhooks.log()

    @admin_operation
    def flush_webhooks(self, timeout: float = 10.0) -> int:
        """Send everything waiting now; how many deliveries are still left after ``timeout``."""
        return self.webhooks.flush(timeout)
