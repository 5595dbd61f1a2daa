"""The durable outbox: one message per (connection, model) for every finished sync run.

Messages are written to the control store right after the run commits, keyed by
``(run_id, model)`` so writing them again — from the Dagster post-load sensor, or when
reconciling after a crash between the warehouse commit and this write — never makes a
second message.

In the same transaction as a new message, a delivery row is created for the endpoint the
connection's messages go to (its own, or the environment's), due at once; the dispatcher
(``pipelines.notify.dispatcher``) works through those rows. A message written while no endpoint
exists, or skipped because its counts are all zero and the endpoint asks for that, stays
in the outbox and can be sent later with ``syncs webhooks replay``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipelines.engine.results import OUTSIDE_POLLS, SyncResult
from pipelines.home import Home
from pipelines.notify.endpoints import route
from pipelines.store.db import control_db
from sources.registry import get_integration


def message_id(run_id: str, model: str) -> str:
    return f"msg_{run_id}_{model}"


def sync_messages(result: SyncResult, models: list[str]) -> list[dict[str, Any]]:
    """The webhook bodies of one run, one per model."""
    messages = []
    for model in models:
        counts = result.models.get(model)
        body: dict[str, Any] = {
            "type": "sync",
            "connection_id": result.connection_id,
            "integration": result.integration,
            "sync": result.sync,
            "model": model,
            "sync_type": result.sync_type,
            "success": result.status == "success",
            "modified_after": result.started_at.isoformat(),
            "run_id": result.run_id,
            "counts": {
                "added": counts.added if counts else 0,
                "updated": counts.updated if counts else 0,
                "deleted": counts.deleted if counts else 0,
            },
            "cursor": {
                "first": counts.first_cursor if counts else None,
                "last": counts.last_cursor if counts else None,
            },
        }
        if counts is not None and counts.suspicious:
            body["suspicious"] = True
            body["deletions_held"] = counts.deletions_held
            if counts.note:
                body["note"] = counts.note
        if result.status != "success":
            body["error"] = {
                "type": result.error_type,
                "message": result.error,
                "recorded": result.recorded,
            }
        messages.append(body)
    return messages


def is_empty(body: dict[str, Any]) -> bool:
    """A successful run's message that reports no change at all (and held none back)."""
    counts = body.get("counts") or {}
    if body.get("suspicious"):
        return False
    return bool(body.get("success")) and not any(counts.get(k) for k in counts)


def schedule_delivery(
    db: sqlite3.Connection, message: str, endpoint_id: str, now: float | None = None
) -> None:
    """Make the message due now for the endpoint: a new delivery, or a new round of one."""
    now = time.time() if now is None else now
    db.execute(
        """
        INSERT INTO webhook_deliveries (message_id, endpoint_id, status, attempts, round,
            next_attempt_at, created_at, updated_at)
        VALUES (?, ?, 'pending', 0, 1, ?, ?, ?)
        ON CONFLICT (message_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0,
            round = webhook_deliveries.round + 1, next_attempt_at = excluded.next_attempt_at,
            claimed_until = NULL, updated_at = excluded.updated_at
        """,
        (message, endpoint_id, now, now, now),
    )


def enqueue(home: Home, result: SyncResult, models: list[str]) -> list[str]:
    """Write the run's messages and their deliveries; returns the message ids.

    Messages that exist already are left as they are, deliveries included.
    """
    now = datetime.now(UTC).isoformat()
    ids = []
    with control_db(home.control_store) as db:
        endpoint = route(db, result.connection_id)
        for body in sync_messages(result, models):
            mid = message_id(result.run_id, body["model"])
            ids.append(mid)
            written = db.execute(
                """
                INSERT OR IGNORE INTO outbox (message_id, run_id, connection_id, integration,
                    sync, model, success, payload, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    mid,
                    result.run_id,
                    result.connection_id,
                    result.integration,
                    result.sync,
                    body["model"],
                    int(body["success"]),
                    json.dumps(body),
                    now,
                ),
            ).rowcount
            if written and endpoint is not None:
                if endpoint["skip_empty"] and is_empty(body):
                    continue
                schedule_delivery(db, mid, endpoint["endpoint_id"])
    return ids


def notified_models(result: SyncResult) -> list[str]:
    """The models a run's messages are about: every model of a poll's sync (a poll that
    changed nothing is news too); for records that came by webhook or action, the models
    they changed, so a duplicate or stale delivery makes no message."""
    if result.sync_type in OUTSIDE_POLLS:
        return [
            name
            for name, m in result.models.items()
            if m.added or m.updated or m.deleted or m.suspicious
        ]
    spec = get_integration(result.integration)
    if result.sync in spec.syncs:
        return list(spec.syncs[result.sync].models)
    return list(result.models)


def notifier(home: Home) -> Callable[[SyncResult], None]:
    """The step after every run: its messages, one per model it concerns, into the outbox."""

    def notify(result: SyncResult) -> None:
        models = notified_models(result)
        if models:
            enqueue(home, result, models)

    return notify
