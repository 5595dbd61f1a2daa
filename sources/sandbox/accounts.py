"""The accounts a sandbox holds, keyed by the credential the provider knows them by.

A HubSpot private-app token, a GitHub token, a Gong access key, a Google user: whatever a
request's credentials name, the registry answers with the account, and an admin operation
naming an unknown one gets a ``KeyError`` that says what was looked for (a 404 over HTTP).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

A = TypeVar("A")


class Accounts(Generic[A]):
    """``key -> account``, safe to use from the server's threads.

    ``kind`` names the key in messages ("account token", "access key", "account").
    """

    def __init__(self, kind: str = "account", lock: threading.RLock | None = None) -> None:
        self.kind = kind
        self._lock = lock or threading.RLock()
        self._by_key: dict[str, A] = {}

    def add(self, key: str, account: A) -> A:
        """Register ``account`` under ``key``; ValueError if the key is empty or taken."""
        if not key:
            raise ValueError(f"the {self.kind} must be a non-empty string")
        with self._lock:
            if key in self._by_key:
                raise ValueError(f"account {key!r} already exists")
            self._by_key[key] = account
        return account

    def __getitem__(self, key: str) -> A:
        with self._lock:
            account = self._by_key.get(key)
        if account is None:
            raise KeyError(f"unknown {self.kind} {key!r}")
        return account

    def get(self, key: str | None) -> A | None:
        if key is None:
            return None
        with self._lock:
            return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._by_key

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._by_key)

    def values(self) -> list[A]:
        with self._lock:
            return list(self._by_key.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)
