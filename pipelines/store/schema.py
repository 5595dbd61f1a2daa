"""The control store's schema: every table, in the order it was added.

One list for the whole store. Statement ``n`` is applied once, by the first process that
opens a store whose ``PRAGMA user_version`` is below ``n``; a new table or column is a new
statement at the end, never an edit of an old one.
"""

from __future__ import annotations

SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS connections (
        connection_id TEXT PRIMARY KEY,
        integration TEXT NOT NULL,
        credentials BLOB NOT NULL,
        config TEXT NOT NULL,
        frequency_seconds INTEGER,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS api_keys (
        name TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_endpoints (
        endpoint_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        connection_id TEXT,
        secret BLOB NOT NULL,
        previous_secret BLOB,
        previous_secret_until REAL,
        skip_empty INTEGER NOT NULL DEFAULT 0,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS webhook_endpoints_scope ON webhook_endpoints (coalesce(connection_id, ''))",
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
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        message_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        round INTEGER NOT NULL DEFAULT 1,
        next_attempt_at REAL,
        claimed_until REAL,
        last_status INTEGER,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        delivered_at REAL,
        PRIMARY KEY (message_id, endpoint_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at)",
    """
    CREATE TABLE IF NOT EXISTS webhook_attempts (
        attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        url TEXT NOT NULL,
        round INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        outcome TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        error TEXT,
        response_excerpt TEXT,
        attempted_at TEXT NOT NULL,
        next_attempt_at REAL
    )
    """,
    "CREATE INDEX IF NOT EXISTS webhook_attempts_message ON webhook_attempts (message_id)",
    """
    CREATE TABLE IF NOT EXISTS sync_schedule (
        connection_id TEXT NOT NULL,
        sync TEXT NOT NULL,
        integration TEXT NOT NULL,
        shard_key INTEGER NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        due_at REAL NOT NULL,
        next_incremental_at REAL NOT NULL,
        next_full_at REAL NOT NULL,
        claimed_until REAL,
        last_started_at REAL,
        last_finished_at REAL,
        last_full_at REAL,
        last_run_id TEXT,
        last_status TEXT,
        last_error TEXT,
        PRIMARY KEY (connection_id, sync)
    )
    """,
    "CREATE INDEX IF NOT EXISTS sync_schedule_due ON sync_schedule (due_at)",
    "ALTER TABLE connections ADD COLUMN max_deletions TEXT",
    # Providers' webhooks: the inbox of verified events, the secrets they are checked with,
    # and what syncs registered with providers that subscribe per customer.
    """
    CREATE TABLE IF NOT EXISTS provider_inbox (
        inbox_id INTEGER PRIMARY KEY AUTOINCREMENT,
        integration TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        url_connection_id TEXT,
        connection_id TEXT,
        route TEXT,
        model TEXT,
        record_id TEXT,
        locator TEXT,
        record TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        feed INTEGER NOT NULL DEFAULT 0,
        occurred_at TEXT,
        delivery_id TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        run_id TEXT,
        received_at REAL NOT NULL,
        applied_at REAL,
        UNIQUE (integration, event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS provider_inbox_due ON provider_inbox (status, next_attempt_at)",
    """
    CREATE TABLE IF NOT EXISTS provider_secrets (
        integration TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        secret BLOB NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (integration, connection_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS provider_subscriptions (
        integration TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        secret BLOB NOT NULL,
        url TEXT NOT NULL,
        expires_at REAL,
        details TEXT NOT NULL,
        created_at REAL NOT NULL,
        renewed_at REAL NOT NULL,
        PRIMARY KEY (integration, connection_id, resource)
    )
    """,
)
