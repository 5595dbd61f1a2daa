"""The dispatcher: delivers the outbox's webhooks, signed, with retries, at least once.

Every delivery is a row in the control store (``webhook_deliveries``), so nothing is lost
when the receiver is down for hours or the dispatcher restarts: a dispatcher claims the
rows that are due for a while, posts them, and records each attempt (status, duration, a
short excerpt of the answer) in ``webhook_attempts``. A dispatcher that dies mid-delivery
leaves its claim to expire and the message is sent again with the same ``webhook-id``,
which is what receivers deduplicate on.

Outcomes: 2xx is delivered; 408, 429, 5xx and network errors are retried on the schedule
(0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with jitter, honouring a longer
``Retry-After``); any other status is final; 410 also disables the endpoint.

``reconcile`` closes the one gap the engine leaves: a process killed between the warehouse
commit of a run and the outbox write. It writes the messages of every recorded run that
has none; the dispatcher calls it when it starts.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import urllib3

from pipelines import settings
from pipelines.engine.compare import ModelResult
from pipelines.engine.results import SyncResult
from pipelines.engine.warehouse import read_connection, table_exists
from pipelines.home import Home
from pipelines.notify.endpoints import WebhookEndpoints, route
from pipelines.notify.outbox import enqueue, notified_models, schedule_delivery
from pipelines.notify.signing import webhook_headers
from pipelines.store.db import control_db
from sources.errors import ConfigError
from sources.registry import INTEGRATIONS

log = logging.getLogger(__name__)


RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
EXCERPT_CHARS = 200
EXCERPT_BYTES = 4096
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """``delays[n]`` is the wait before attempt ``n + 1``; past the last one, give up."""

    delays: tuple[float, ...] = RETRY_SCHEDULE
    jitter: float = 0.1
    timeout: float = 10.0
    claim_margin: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The default policy, or the one ``SYNCS_WEBHOOK_RETRY_SCHEDULE`` (seconds, comma
        separated, the first usually 0) and ``SYNCS_WEBHOOK_TIMEOUT`` (seconds) describe."""
        delays = settings.webhook_retry_schedule() or RETRY_SCHEDULE
        seconds = settings.webhook_timeout()
        return cls(delays=delays, timeout=seconds)

    def delay_after(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after ``attempts`` failed ones; None: give up."""
        if attempts >= len(self.delays):
            return None
        delay = self.delays[attempts]
        if delay > 0 and self.jitter:
            delay *= 1 + random.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self.delays)))
        return delay


@dataclass(frozen=True)
class Attempt:
    message_id: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None
    outcome: str
    duration_ms: float
    error: str | None
    response_excerpt: str | None
    next_attempt_at: float | None


@dataclass(frozen=True)
class _Claimed:
    message_id: str
    endpoint_id: str
    url: str
    round: int
    attempts: int
    payload: str
    secrets: list[str]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _claim(home: Home, now: float, policy: RetryPolicy, limit: int) -> list[_Claimed]:
    endpoints = WebhookEndpoints(home)
    claimed: list[_Claimed] = []
    with control_db(home.control_store) as db:
        db.execute(
            """
            UPDATE webhook_deliveries SET status = 'cancelled',
                last_error = 'the endpoint was removed', updated_at = ?
            WHERE status = 'pending'
              AND endpoint_id NOT IN (SELECT endpoint_id FROM webhook_endpoints)
            """,
            (now,),
        )
        rows = db.execute(
            """
            SELECT d.message_id, d.endpoint_id, d.round, d.attempts, o.payload, e.url,
                   e.secret, e.previous_secret, e.previous_secret_until
            FROM webhook_deliveries d
            JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id
            JOIN outbox o ON o.message_id = d.message_id
            WHERE d.status = 'pending' AND e.enabled = 1 AND d.next_attempt_at <= ?
              AND (d.claimed_until IS NULL OR d.claimed_until < ?)
            ORDER BY d.next_attempt_at, d.created_at
            LIMIT ?
            """,
            (now, now, limit),
        ).fetchall()
        until = now + policy.timeout + policy.claim_margin
        for row in rows:
            db.execute(
                "UPDATE webhook_deliveries SET claimed_until = ? "
                "WHERE message_id = ? AND endpoint_id = ?",
                (until, row["message_id"], row["endpoint_id"]),
            )
            claimed.append(
                _Claimed(
                    message_id=row["message_id"],
                    endpoint_id=row["endpoint_id"],
                    url=row["url"],
                    round=row["round"],
                    attempts=row["attempts"],
                    payload=row["payload"],
                    secrets=endpoints.decrypt_secrets(row, datetime.fromtimestamp(now, UTC)),
                )
            )
    return claimed


def _post(
    item: _Claimed, policy: RetryPolicy, session: requests.Session
) -> tuple[int | None, str | None, str | None, float | None, float]:
    """Send one attempt: (status, error, response excerpt, Retry-After, duration in ms)."""
    body = item.payload.encode()
    headers = webhook_headers(item.secrets, item.message_id, int(time.time()), body)
    headers["user-agent"] = "syncs-webhooks"
    started = time.monotonic()
    try:
        response = session.post(
            item.url,
            data=body,
            headers=headers,
            timeout=policy.timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            head = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, OSError):
            head = b""
        finally:
            response.close()
        return (
            response.status_code,
            None,
            _excerpt(head.decode(response.encoding or "utf-8", errors="replace")),
            _retry_after(response),
            (time.monotonic() - started) * 1000,
        )
    except requests.RequestException as error:
        kind = type(error).__name__
        reason = str(error.args[0]) if error.args else kind
        return None, f"{kind}: {_excerpt(reason)}", None, None, (time.monotonic() - started) * 1000


def _record(
    home: Home,
    item: _Claimed,
    sent: tuple[int | None, str | None, str | None, float | None, float],
    now: float,
    policy: RetryPolicy,
) -> Attempt:
    status, error, excerpt, retry_after, duration_ms = sent
    attempt = item.attempts + 1
    next_at: float | None = None
    if status is not None and 200 <= status < 300:
        outcome = "delivered"
    elif status is None or status in RETRYABLE_STATUSES or status >= 500:
        delay = policy.delay_after(attempt, retry_after)
        outcome = "retry" if delay is not None else "failed"
        next_at = now + delay if delay is not None else None
    elif status == 410:
        outcome = "disabled"
    else:
        outcome = "failed"
    if status is not None and 300 <= status < 400:
        error = "redirects are not followed; register the URL the receiver redirects to"
    final_status = {"delivered": "delivered", "retry": "pending"}.get(outcome, "failed")
    with control_db(home.control_store) as db:
        db.execute(
            """
            UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
                claimed_until = NULL, last_status = ?, last_error = ?, updated_at = ?,
                delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
            WHERE message_id = ? AND endpoint_id = ?
            """,
            (
                final_status,
                attempt,
                next_at,
                status,
                error,
                time.time(),
                outcome,
                time.time(),
                item.message_id,
                item.endpoint_id,
            ),
        )
        db.execute(
            """
            INSERT INTO webhook_attempts (message_id, endpoint_id, url, round, attempt, status,
                outcome, duration_ms, error, response_excerpt, attempted_at, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                item.message_id,
                item.endpoint_id,
                item.url,
                item.round,
                attempt,
                status,
                outcome,
                duration_ms,
                error,
                excerpt,
                datetime.now(UTC).isoformat(),
                next_at,
            ),
        )
        if outcome == "disabled":
            db.execute(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ? "
                "WHERE endpoint_id = ?",
                (
                    f"{item.url} answered 410 Gone at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; "
                    f"enable it again with `syncs webhooks enable {item.endpoint_id}`",
                    datetime.now(UTC).isoformat(),
                    item.endpoint_id,
                ),
            )
    return Attempt(
        message_id=item.message_id,
        endpoint_id=item.endpoint_id,
        url=item.url,
        attempt=attempt,
        status=status,
        outcome=outcome,
        duration_ms=duration_ms,
        error=error,
        response_excerpt=excerpt,
        next_attempt_at=next_at,
    )


def deliver_due(
    home: Home,
    now: float | None = None,
    *,
    policy: RetryPolicy | None = None,
    limit: int = 100,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> list[Attempt]:
    """Send every delivery due at ``now`` (unix seconds, default: the clock) once.

    Deliveries to one URL go one after the other, in the order they became due;
    different URLs are served in parallel, so a slow receiver delays only its own.
    """
    policy = policy or RetryPolicy.from_env()
    clock = time.time() if now is None else now
    claimed = _claim(home, clock, policy, limit)
    if not claimed:
        return []
    by_url: dict[str, list[_Claimed]] = defaultdict(list)
    for item in claimed:
        by_url[item.url].append(item)

    def serve(items: list[_Claimed]) -> list[Attempt]:
        done = []
        with requests.Session() as session:
            for item in items:
                sent = _post(item, policy, session)
                attempt = _record(home, item, sent, time.time() if now is None else now, policy)
                if on_attempt is not None:
                    on_attempt(attempt)
                done.append(attempt)
        return done

    if len(by_url) == 1:
        return serve(claimed)
    with ThreadPoolExecutor(max_workers=min(8, len(by_url))) as pool:
        return [a for batch in pool.map(serve, by_url.values()) for a in batch]


def _as_utc(value: Any) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else datetime.fromisoformat(value)


def reconcile(home: Home) -> list[str]:
    """Write the messages of recorded runs that have none; returns the new message ids."""
    with control_db(home.control_store) as db:
        known = {r[0] for r in db.execute("SELECT DISTINCT run_id FROM outbox")}
    with read_connection(home) as con:
        if con is None or not table_exists(con, "syncs", "sync_runs"):
            return []
        run_ids = [r[0] for r in con.execute("SELECT run_id FROM syncs.sync_runs").fetchall()]
        missing = [r for r in run_ids if r not in known]
        if not missing:
            return []
        con.execute("CREATE TEMP TABLE _missing (run_id VARCHAR)")
        con.executemany("INSERT INTO _missing VALUES (?)", [[r] for r in missing])
        cursor = con.execute(
            "SELECT * FROM syncs.sync_runs WHERE run_id IN (SELECT run_id FROM _missing) "
            "ORDER BY started_at"
        )
        names = [d[0] for d in cursor.description]
        runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        cursor = con.execute(
            "SELECT * FROM syncs.sync_run_models "
            "WHERE run_id IN (SELECT run_id FROM _missing) ORDER BY run_id, model"
        )
        model_names = [d[0] for d in cursor.description]
        per_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in cursor.fetchall():
            record = dict(zip(model_names, row, strict=True))
            per_run[record["run_id"]].append(record)
    written: list[str] = []
    for run in runs:
        result = SyncResult(
            run_id=run["run_id"],
            connection_id=run["connection_id"],
            integration=run["integration"],
            sync=run["sync"],
            mode=run["mode"],
            sync_type=run["sync_type"],
            status=run["status"],
            started_at=_as_utc(run["started_at"]),
            finished_at=_as_utc(run["finished_at"] or run["started_at"]),
            api_requests=run["api_requests"],
            error_type=run["error_type"],
            error=run["error"],
        )
        for m in per_run.get(run["run_id"], []):
            result.models[m["model"]] = ModelResult(
                model=m["model"],
                added=m["added"],
                updated=m["updated"],
                deleted=m["deleted"],
                unchanged=m["unchanged"],
                fetched=m["fetched"],
                rows_total=m["rows_total"],
                suspicious=m["suspicious"],
                first_cursor=m["first_cursor"],
                last_cursor=m["last_cursor"],
                rejected=m["rejected"],
                deletions_held=m.get("deletions_held") or 0,
                note=m.get("note"),
            )
        models = (
            notified_models(result) if run["integration"] in INTEGRATIONS else list(result.models)
        )
        if models:
            written.extend(enqueue(home, result, models))
    return written


_SPAN = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_span(text: str, flag: str) -> timedelta:
    """``0s``, ``30m``, ``2h``, ``1d``."""
    match = _SPAN.match(text)
    if not match:
        raise ConfigError(f"{flag} {text!r} is not a span of time; write it like 30m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _SPAN_UNITS[match.group(2)])


def parse_since(text: str) -> datetime:
    """An ISO time (UTC unless it says otherwise) or a span back from now: 30m, 2h, 1d."""
    if _SPAN.match(text):
        return datetime.now(UTC) - parse_span(text, "--since")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is neither a time (2025-01-31T12:00:00) nor a span back "
            "from now (30m, 2h, 1d)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def replay(
    home: Home,
    *,
    message_ids: Sequence[str] = (),
    since: str | datetime | None = None,
    connection_id: str | None = None,
) -> list[tuple[str, str]]:
    """Send messages again with their original ids: by id, or all since a time.

    Each goes to the endpoint its connection's messages go to now, as a new round of
    attempts; returns ``(message_id, endpoint_id)`` pairs.
    """
    if not message_ids and since is None:
        raise ConfigError("name a message id to replay, or --since TIME for a range")
    now = time.time()
    out: list[tuple[str, str]] = []
    with control_db(home.control_store) as db:
        if message_ids:
            rows = []
            for mid in message_ids:
                row = db.execute(
                    "SELECT message_id, connection_id FROM outbox WHERE message_id = ?", (mid,)
                ).fetchone()
                if row is None:
                    raise ConfigError(
                        f"unknown message {mid!r}; list messages with `syncs webhooks deliveries`"
                    )
                rows.append(row)
        else:
            start = since if isinstance(since, datetime) else parse_since(str(since))
            sql = "SELECT message_id, connection_id FROM outbox WHERE created_at >= ?"
            params: list[Any] = [start.astimezone(UTC).isoformat()]
            if connection_id:
                sql += " AND connection_id = ?"
                params.append(connection_id)
            rows = db.execute(sql + " ORDER BY created_at, message_id", params).fetchall()
        for row in rows:
            endpoint = route(db, row["connection_id"])
            if endpoint is None:
                raise ConfigError(
                    f"no webhook endpoint for connection {row['connection_id']!r}; "
                    "add one with `syncs webhooks add URL`"
                )
            schedule_delivery(db, row["message_id"], endpoint["endpoint_id"], now)
            out.append((row["message_id"], endpoint["endpoint_id"]))
    return out


def attempts(home: Home, *, message_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest delivery attempts, oldest first."""
    with control_db(home.control_store) as db:
        if message_id:
            rows = db.execute(
                "SELECT * FROM webhook_attempts WHERE message_id = ? "
                "ORDER BY attempt_id DESC LIMIT ?",
                (message_id, limit),
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT * FROM webhook_attempts ORDER BY attempt_id DESC LIMIT ?", (limit,)
            ).fetchall()
    return [dict(r) for r in rows][::-1]


def deliveries(home: Home, *, message_id: str | None = None) -> list[dict[str, Any]]:
    """Delivery rows with their endpoint's URL (``None`` once the endpoint is removed)."""
    sql = (
        "SELECT d.*, e.url FROM webhook_deliveries d "
        "LEFT JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id"
    )
    with control_db(home.control_store) as db:
        if message_id:
            rows = db.execute(sql + " WHERE d.message_id = ?", (message_id,)).fetchall()
        else:
            rows = db.execute(sql + " ORDER BY d.updated_at DESC LIMIT 200").fetchall()
    return [dict(r) for r in rows]


def pending_count(home: Home) -> int:
    with control_db(home.control_store) as db:
        row = db.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
        ).fetchone()
    return int(row[0])


class Dispatcher:
    """Delivers due webhooks in a loop: reconciles on start, then polls every ``interval``,
    or at once when ``wake`` says a message was just written in this process."""

    RECONCILE_EVERY = 600.0

    def __init__(
        self,
        home: Home,
        *,
        interval: float = 1.0,
        policy: RetryPolicy | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.home = home
        self.interval = interval
        self.policy = policy or RetryPolicy.from_env()
        self.on_attempt = on_attempt
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.id = uuid.uuid4().hex[:8]

    def wake(self) -> None:
        """Deliver what is due now rather than at the next poll."""
        self._wake.set()

    def run(self) -> None:
        last_reconcile = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_reconcile >= self.RECONCILE_EVERY or not last_reconcile:
                    reconcile(self.home)
                    last_reconcile = time.monotonic()
                done = deliver_due(self.home, policy=self.policy, on_attempt=self.on_attempt)
            except Exception:
                log.exception("webhook dispatch failed; trying again")
                done = []
            if len(done) < 100:
                self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(
            target=self.run, name=f"webhook-dispatcher-{self.id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout)
