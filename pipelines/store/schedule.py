"""When each (connection, sync) runs next: one row each in the control store.

Finding what is due must cost the same at 1,000 connections as at 10, so the next due
time of every (connection, sync) is kept here rather than worked out from each
connection's run history: it is written when a run finishes, whoever started it (the
schedule, ``syncs run``, an API trigger, the Dagster UI), and finding the due ones is one
indexed query. A scheduler claims what it starts with a lease, so two schedulers (or
shards) never start the same sync, and a scheduler that dies only delays its syncs by the
lease; the per-run lock of the engine keeps any two runs of one sync apart regardless.

An incremental run is due its frequency after the previous run started (the connection's
own frequency, or the sync's default); a full refresh is due ``full_refresh_frequency``
after the last full listing (or after the connection was added). A failed run is retried
at the next due time; nothing missed while no scheduler ran is made up, the due sync just
runs once.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pipelines.home import Home
from pipelines.store.db import control_db

if TYPE_CHECKING:
    from pipelines.store.connections import Connection

LEASE = timedelta(minutes=2)
"""How long a claim holds before another scheduler may start the sync; renewed while the
sync runs."""


def shard_key(connection_id: str) -> int:
    """A stable number for a connection id, the same in every process and release."""
    return zlib.crc32(connection_id.encode())


@dataclass(frozen=True)
class Due:
    """A (connection, sync) a scheduler has claimed, and the run it needs."""

    connection_id: str
    integration: str
    sync: str
    mode: Literal["incremental", "full"]
    due_at: datetime


@dataclass(frozen=True)
class Entry:
    """One row of the schedule, as status pages show it."""

    connection_id: str
    integration: str
    sync: str
    due_at: datetime
    next_full_at: datetime
    running: bool
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    last_run_id: str | None = None


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Schedule:
    def __init__(self, home: Home) -> None:
        self.home = home

    def ensure(self, connection: Connection, now: datetime | None = None) -> None:
        """Rows for every sync of the connection (a new one is due at once), and its due
        times worked out again from its frequency, which may have changed."""
        now = now or datetime.now(UTC)
        with control_db(self.home.control_store) as db:
            for sync in connection.spec.syncs:
                self._insert(db, connection, sync, now)
                self._refresh_due(db, connection, sync)

    def seed(
        self,
        connections: list[Connection],
        history: list[tuple[str, str, datetime | None, datetime | None]],
    ) -> None:
        """Due times of syncs this schedule has never seen run, from the warehouse's run
        history ``(connection_id, sync, last started, last full listing started)``: an
        installation from before the schedule neither syncs everything at once nor
        relists every connection."""
        known = {c.connection_id: c for c in connections}
        with control_db(self.home.control_store) as db:
            for connection_id, sync, started, full in history:
                connection = known.get(connection_id)
                if connection is None or sync not in connection.spec.syncs:
                    continue
                self._insert(db, connection, sync, datetime.now(UTC))
                db.execute(
                    """
                    UPDATE sync_schedule SET last_started_at = ?, last_full_at = ?
                    WHERE connection_id = ? AND sync = ? AND last_started_at IS NULL
                    """,
                    (
                        None if started is None else _ts(started),
                        None if full is None else _ts(full),
                        connection_id,
                        sync,
                    ),
                )
                self._refresh_due(db, connection, sync)

    def forget(self, connection_id: str) -> None:
        with control_db(self.home.control_store) as db:
            db.execute("DELETE FROM sync_schedule WHERE connection_id = ?", (connection_id,))

    @staticmethod
    def _insert(db: sqlite3.Connection, connection: Connection, sync: str, now: datetime) -> None:
        db.execute(
            """
            INSERT OR IGNORE INTO sync_schedule (connection_id, sync, integration, shard_key,
                due_at, next_incremental_at, next_full_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            (
                connection.connection_id,
                sync,
                connection.integration,
                shard_key(connection.connection_id),
                _ts(now),
                _ts(now),
                _ts(now),
            ),
        )

    @staticmethod
    def _refresh_due(db: sqlite3.Connection, connection: Connection, sync: str) -> None:
        """Next incremental run: its frequency after the last run started; next full
        refresh: ``full_refresh_frequency`` after the last full listing, or after the
        connection was added."""
        spec = connection.spec.syncs[sync]
        incremental = "CASE WHEN last_started_at IS NULL THEN next_incremental_at ELSE last_started_at + :frequency END"
        full = "coalesce(last_full_at, :created) + :full_frequency"
        db.execute(
            f"""
            UPDATE sync_schedule SET next_incremental_at = {incremental},
                next_full_at = {full}, due_at = min({incremental}, {full})
            WHERE connection_id = :connection_id AND sync = :sync
            """,
            {
                "frequency": connection.frequency_for(sync).total_seconds(),
                "created": _ts(connection.created_at),
                "full_frequency": spec.full_refresh_frequency.total_seconds(),
                "connection_id": connection.connection_id,
                "sync": sync,
            },
        )

    def claim(
        self,
        now: datetime,
        *,
        limit: int,
        shard: int = 0,
        shards: int = 1,
        lease: timedelta = LEASE,
    ) -> list[Due]:
        """The due (connection, sync)s of one shard, earliest first, claimed for ``lease``.

        Disabled connections are left out, and so is a sync another scheduler holds."""
        with control_db(self.home.control_store) as db:
            rows = db.execute(
                """
                UPDATE sync_schedule SET claimed_until = :until
                WHERE rowid IN (
                    SELECT s.rowid FROM sync_schedule s
                    JOIN connections c ON c.connection_id = s.connection_id
                    WHERE s.due_at <= :now AND c.enabled = 1 AND s.paused = 0
                      AND (s.claimed_until IS NULL OR s.claimed_until < :now)
                      AND s.shard_key % :shards = :shard
                    ORDER BY s.due_at LIMIT :limit
                )
                RETURNING connection_id, integration, sync, due_at, next_full_at
                """,
                {
                    "until": _ts(now + lease),
                    "now": _ts(now),
                    "shards": shards,
                    "shard": shard,
                    "limit": limit,
                },
            ).fetchall()
        due = [
            Due(
                connection_id=row["connection_id"],
                integration=row["integration"],
                sync=row["sync"],
                mode="full" if row["next_full_at"] <= _ts(now) else "incremental",
                due_at=datetime.fromtimestamp(row["due_at"], UTC),
            )
            for row in rows
        ]
        return sorted(due, key=lambda d: d.due_at)

    def renew(self, claims: list[Due], now: datetime, lease: timedelta = LEASE) -> None:
        """Hold the claims of syncs still running for another ``lease``."""
        if not claims:
            return
        with control_db(self.home.control_store) as db:
            db.executemany(
                "UPDATE sync_schedule SET claimed_until = ? WHERE connection_id = ? AND sync = ?",
                [(_ts(now + lease), c.connection_id, c.sync) for c in claims],
            )

    def release(self, claim: Due) -> None:
        """Give a claim back without a run (the sync could not start)."""
        with control_db(self.home.control_store) as db:
            db.execute(
                "UPDATE sync_schedule SET claimed_until = NULL "
                "WHERE connection_id = ? AND sync = ?",
                (claim.connection_id, claim.sync),
            )

    def finished(
        self,
        *,
        connection: Connection,
        sync: str,
        full_listing: bool,
        started_at: datetime,
        finished_at: datetime,
        status: str,
        run_id: str,
        error: str | None = None,
    ) -> None:
        """A run of the sync ended, whoever started it: its next due times follow from
        when it started; a full listing that succeeded restarts the full-refresh clock."""
        with control_db(self.home.control_store) as db:
            self._insert(db, connection, sync, started_at)
            db.execute(
                """
                UPDATE sync_schedule SET claimed_until = NULL,
                    last_started_at = :started, last_finished_at = :finished,
                    last_full_at = CASE WHEN :full_done THEN :started ELSE last_full_at END,
                    last_run_id = :run_id, last_status = :status, last_error = :error
                WHERE connection_id = :connection_id AND sync = :sync
                """,
                {
                    "started": _ts(started_at),
                    "finished": _ts(finished_at),
                    "full_done": full_listing and status == "success",
                    "run_id": run_id,
                    "status": status,
                    "error": error,
                    "connection_id": connection.connection_id,
                    "sync": sync,
                },
            )
            self._refresh_due(db, connection, sync)

    def next_due(
        self, *, shard: int = 0, shards: int = 1, integration: str | None = None
    ) -> Entry | None:
        """The enabled, unpaused sync that is due soonest (for a scheduler's tick message)."""
        entries = self.entries(
            integration=integration, shard=shard, shards=shards, limit=1, enabled_only=True
        )
        return entries[0] if entries else None

    def entries(
        self,
        *,
        integration: str | None = None,
        connection_id: str | None = None,
        shard: int = 0,
        shards: int = 1,
        limit: int | None = None,
        enabled_only: bool = False,
        now: datetime | None = None,
    ) -> list[Entry]:
        now = now or datetime.now(UTC)
        where = ["s.shard_key % ? = ?"]
        params: list[object] = [shards, shard]
        if integration is not None:
            where.append("s.integration = ?")
            params.append(integration)
        if connection_id is not None:
            where.append("s.connection_id = ?")
            params.append(connection_id)
        if enabled_only:
            where.append("c.enabled = 1 AND s.paused = 0")
        sql = (
            "SELECT s.*, c.enabled FROM sync_schedule s "
            "JOIN connections c ON c.connection_id = s.connection_id WHERE "
            + " AND ".join(where)
            + " ORDER BY s.due_at"
            + (f" LIMIT {int(limit)}" if limit is not None else "")
        )
        with control_db(self.home.control_store) as db:
            rows = db.execute(sql, params).fetchall()
        return [
            Entry(
                connection_id=r["connection_id"],
                integration=r["integration"],
                sync=r["sync"],
                due_at=datetime.fromtimestamp(r["due_at"], UTC),
                next_full_at=datetime.fromtimestamp(r["next_full_at"], UTC),
                running=r["claimed_until"] is not None and r["claimed_until"] >= _ts(now),
                last_started_at=_dt(r["last_started_at"]),
                last_finished_at=_dt(r["last_finished_at"]),
                last_status=r["last_status"],
                last_error=r["last_error"],
                last_run_id=r["last_run_id"],
            )
            for r in rows
        ]
