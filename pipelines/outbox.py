"""The durable outbox: one message per (connection, model) for every finished sync run.

Messages are written to the control store right after the run commits, keyed by
``(run_id, model)`` so writing them again — from the Dagster post-load sensor, or when
reconciling after a crash between the warehouse commit and this write — never makes a
second message. Delivery (endpoints, signing, retries) reads from here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipelines.control import control_db, register_migration
from pipelines.home import Home
from pipelines.results import SyncResult

register_migration(
    """
    CREATE TABLE IF NOT EXISTS outbox (
        message_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        integration TEXT NOT NULL,
        sync TEXT NOT NULL,
        model TEXT NOT NULL,
        success INTEGER NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """
)


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
        if result.status != "success":
            body["error"] = {"type": result.error_type, "message": result.error}
        messages.append(body)
    return messages


def enqueue(home: Home, result: SyncResult, models: list[str]) -> list[str]:
    """Write the run's messages; returns their ids (existing ones are left as they are)."""
    now = datetime.now(UTC).isoformat()
    ids = []
    with control_db(home.control_store) as db:
        for body in sync_messages(result, models):
            mid = message_id(result.run_id, body["model"])
            ids.append(mid)
            db.execute(
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
            )
    return ids
