"""The records API's bearer key: set by ``SYNCS_API_KEY`` or generated once, stored hashed.

A generated key is 32 random bytes, so a plain SHA-256 of it is as good as a slow hash
and lets every request be checked in microseconds; only the hash is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from pipelines import settings
from pipelines.home import Home
from pipelines.store.db import control_db
from sources.errors import ConfigError

KEY_PREFIX = "syncs_sk_"
MIN_ENV_KEY_CHARS = 24


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _store(home: Home, name: str, key: str) -> None:
    with control_db(home.control_store) as db:
        db.execute(
            """
            INSERT INTO api_keys (name, key_hash, created_at) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash,
                created_at = excluded.created_at
            """,
            (name, hash_key(key), datetime.now(UTC).isoformat()),
        )


def ensure_api_key(
    home: Home, *, env_key: str | None = None, regenerate: bool = False
) -> tuple[frozenset[str], str | None]:
    """The hashes of the keys the API accepts, and a newly generated key to show once.

    With ``SYNCS_API_KEY`` (or ``env_key``) set, that key alone is accepted. Otherwise a
    key is generated on first start (or with ``regenerate``) and kept, hashed.
    """
    env_key = env_key if env_key is not None else settings.api_key()
    if env_key:
        if len(env_key) < MIN_ENV_KEY_CHARS:
            raise ConfigError(
                f"SYNCS_API_KEY must be at least {MIN_ENV_KEY_CHARS} characters; unset it to "
                "have a key generated"
            )
        _store(home, "environment", env_key)
        return frozenset({hash_key(env_key)}), None
    with control_db(home.control_store) as db:
        row = db.execute("SELECT key_hash FROM api_keys WHERE name = 'generated'").fetchone()
    if row is not None and not regenerate:
        return frozenset({row["key_hash"]}), None
    key = new_key()
    _store(home, "generated", key)
    return frozenset({hash_key(key)}), key


def key_matches(key: str, hashes: Iterable[str]) -> bool:
    presented = hash_key(key)
    return any(hmac.compare_digest(presented, h) for h in hashes)
