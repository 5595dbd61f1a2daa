"""The inbox: every verified provider event, durably, until it is applied.

An event is written here before the provider gets its 2xx, so a crash after that loses
nothing: the applier (``pipelines.ingress.applier``) works through the events that are
``received`` whenever it starts and runs. Each event ends as one of:

* ``applied`` — committed to the warehouse as a WEBHOOK run (``run_id``);
* ``unmatched`` — no connection answers to its routing key (kept, never guessed);
* ``paused`` — its connection is disabled; it is applied when the connection is enabled;
* ``ignored`` — it is about nothing syncs keeps (an object type no model holds);
* ``failed`` — the apply failed too many times (the reason is kept; the next poll reads
  the record anyway).

An event id is kept once per integration (``UNIQUE``): a provider's retry or a replayed
request with an event id already received adds nothing. Applied and ignored events are
dropped after ``RETENTION`` seconds; the provider's timestamp tolerance and the version
rule (an older version never replaces a newer one) cover replays older than that.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.home import Home
from pipelines.store.db import control_db
from sources.webhooks import ProviderEvent

RETENTION = 7 * 24 * 3600.0
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
STATUSES = ("received", "applied", "unmatched", "paused", "ignored", "failed")


@dataclass(frozen=True)
class InboxEvent:
    inbox_id: int
    integration: str
    event_id: str
    event_type: str
    url_connection_id: str | None
    connection_id: str | None
    route: str | None
    model: str | None
    record_id: str | None
    locator: dict[str, Any]
    record: dict[str, Any] | None
    deleted: bool
    feed: bool
    occurred_at: str | None
    attempts: int

    @classmethod
    def from_row(cls, row: Any) -> InboxEvent:
        return cls(
            inbox_id=row["inbox_id"],
            integration=row["integration"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            url_connection_id=row["url_connection_id"],
            connection_id=row["connection_id"],
            route=row["route"],
            model=row["model"],
            record_id=row["record_id"],
            locator=json.loads(row["locator"]) if row["locator"] else {},
            record=json.loads(row["record"]) if row["record"] else None,
            deleted=bool(row["deleted"]),
            feed=bool(row["feed"]),
            occurred_at=row["occurred_at"],
            attempts=row["attempts"],
        )


class Inbox:
    def __init__(self, home: Home) -> None:
        self.home = home

    def add(
        self,
        integration: str,
        events: Sequence[ProviderEvent],
        *,
        connection_id: str | None = None,
        delivery_id: str | None = None,
    ) -> tuple[int, int]:
        """Write the events not seen before, in one transaction; (new, duplicates). An event
        posted to a connection's own URL is known within that URL (two Gong rules posting
        one call to two connections are two events)."""
        now = time.time()
        new = 0
        with control_db(self.home.control_store) as db:
            for event in events:
                new += db.execute(
                    """
                    INSERT OR IGNORE INTO provider_inbox (integration, event_id, event_type,
                        url_connection_id, route, model, record_id, locator, record, deleted,
                        feed, occurred_at, delivery_id, status, next_attempt_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?)
                    """,
                    (
                        integration,
                        event.event_id
                        if connection_id is None
                        else f"{connection_id}/{event.event_id}",
                        event.type,
                        connection_id,
                        event.route,
                        event.model,
                        event.record_id,
                        json.dumps(dict(event.locator)) if event.locator else None,
                        None if event.record is None else json.dumps(dict(event.record)),
                        int(event.deleted),
                        int(event.feed),
                        None if event.occurred_at is None else event.occurred_at.isoformat(),
                        delivery_id,
                        now,
                        now,
                    ),
                ).rowcount
        return new, len(events) - new

    def due(self, limit: int = 5000, now: float | None = None) -> list[InboxEvent]:
        """The received events due for an apply, oldest first."""
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT * FROM provider_inbox WHERE status = 'received' AND next_attempt_at <= ? "
                "ORDER BY inbox_id LIMIT ?",
                (time.time() if now is None else now, limit),
            ).fetchall()
        return [InboxEvent.from_row(r) for r in rows]

    def next_due_in(self) -> float | None:
        """Seconds until the next received event is due; None when none waits."""
        with control_db(self.home.control_store) as db:
            row = db.execute(
                "SELECT min(next_attempt_at) FROM provider_inbox WHERE status = 'received'"
            ).fetchone()
        return None if row[0] is None else max(row[0] - time.time(), 0.0)

    def settle(
        self,
        events: Sequence[InboxEvent],
        status: str,
        *,
        reason: str | None = None,
        connection_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        if not events:
            return
        now = time.time()
        with control_db(self.home.control_store) as db:
            db.executemany(
                """
                UPDATE provider_inbox SET status = ?, reason = ?,
                    connection_id = coalesce(?, connection_id), run_id = coalesce(?, run_id),
                    applied_at = CASE WHEN ? = 'applied' THEN ? ELSE applied_at END
                WHERE inbox_id = ?
                """,
                [(status, reason, connection_id, run_id, status, now, e.inbox_id) for e in events],
            )

    def retry_later(
        self, events: Sequence[InboxEvent], reason: str, *, connection_id: str | None = None
    ) -> list[InboxEvent]:
        """Count a failed attempt: due again after the next delay, or failed past the last
        one; returns the events that failed for good."""
        now = time.time()
        final = [e for e in events if e.attempts >= len(RETRY_DELAYS)]
        with control_db(self.home.control_store) as db:
            for event in events:
                gave_up = event.attempts >= len(RETRY_DELAYS)
                db.execute(
                    """
                    UPDATE provider_inbox SET attempts = attempts + 1, reason = ?,
                        status = ?, next_attempt_at = ?, connection_id = coalesce(?, connection_id)
                    WHERE inbox_id = ?
                    """,
                    (
                        reason,
                        "failed" if gave_up else "received",
                        now + (0 if gave_up else RETRY_DELAYS[event.attempts]),
                        connection_id,
                        event.inbox_id,
                    ),
                )
        return final

    def wait(self, events: Sequence[InboxEvent], seconds: float, reason: str) -> None:
        """Leave the events for a moment without counting an attempt (the connection's
        feed is being read by a poll)."""
        with control_db(self.home.control_store) as db:
            db.executemany(
                "UPDATE provider_inbox SET next_attempt_at = ?, reason = ? WHERE inbox_id = ?",
                [(time.time() + seconds, reason, e.inbox_id) for e in events],
            )

    def resume_enabled(self) -> int:
        """Paused events of connections enabled again become due; how many."""
        with control_db(self.home.control_store) as db:
            return db.execute(
                """
                UPDATE provider_inbox SET status = 'received', reason = NULL, next_attempt_at = ?
                WHERE status = 'paused' AND connection_id IN (
                    SELECT connection_id FROM connections WHERE enabled = 1)
                """,
                (time.time(),),
            ).rowcount

    def prune(self, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - RETENTION
        with control_db(self.home.control_store) as db:
            return db.execute(
                "DELETE FROM provider_inbox WHERE status IN ('applied', 'ignored') "
                "AND received_at < ?",
                (cutoff,),
            ).rowcount

    def list(
        self,
        *,
        status: str | None = None,
        integration: str | None = None,
        connection_id: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Events after inbox id ``after``, oldest first, without their records."""
        where = ["inbox_id > ?"]
        params: list[Any] = [after]
        for column, value in (
            ("status", status),
            ("integration", integration),
            ("connection_id", connection_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT inbox_id, integration, event_id, event_type, url_connection_id, "
                "connection_id, route, model, record_id, deleted, feed, occurred_at, status, "
                "reason, attempts, run_id, received_at, applied_at FROM provider_inbox "
                f"WHERE {' AND '.join(where)} ORDER BY inbox_id LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                "SELECT status, count(*) AS n FROM provider_inbox GROUP BY status"
            ).fetchall()
        return {r["status"]: r["n"] for r in rows}
