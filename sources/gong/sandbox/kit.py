"""The Gong sandbox as the contract suite drives it (``sources.sandbox.contract``).

A call comes with its transcript, so each mutation of a call answers both records. Gong
lists calls by start time and reports neither edits nor deletions: an incremental run
reads the calls that started since the cursor, and the full refresh sees the rest.
"""

from __future__ import annotations

import base64
from typing import Any

from sources.gong import CALLS, TRANSCRIPTS
from sources.gong.sandbox.server import GongSandbox
from sources.sandbox.contract import Capabilities, KitAccount, RecordKey, SandboxKit


class GongKit(SandboxKit[GongSandbox]):
    integration = "gong"
    capabilities = Capabilities(tombstones=False, incremental_updates=False)
    models = (CALLS,)
    deletable = (CALLS,)
    rejectable = (CALLS,)
    api_path = "/v2/"

    def __init__(self) -> None:
        super().__init__(GongSandbox(rate_limit_per_second=None))

    def account(self, name: str, records: int) -> KitAccount:
        key = f"GONGKEY{name.upper()}{self.seed(name):08X}"
        secret = f"{name}-secret-{self.seed(name):08x}"
        self.sandbox.add_account(key, secret, seed=self.seed(name), calls=records)
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        return KitAccount(
            name,
            key,
            {"access_key": key, "access_key_secret": secret},
            {"base_url": self.sandbox.base_url, "requests_per_second": "1000"},
            secrets=(basic,),
        )

    def ids(self, account: KitAccount, model: str) -> list[str]:
        return self.sandbox.call_ids(account.key)

    def add(self, account: KitAccount, model: str) -> list[RecordKey]:
        call = self.sandbox.create_call(account.key, {"title": f"Added {next(self.serial)}"})
        return [(CALLS, call["id"]), (TRANSCRIPTS, call["id"])]

    def change(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.update_call(account.key, record_id, {"title": f"Changed {next(self.serial)}"})
        return [(CALLS, record_id)]

    def delete(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        return self.erase(account, model, record_id)

    def erase(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.delete_call(account.key, record_id)
        return [(CALLS, record_id), (TRANSCRIPTS, record_id)]

    def reject(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.update_call(account.key, record_id, {"duration": "about an hour"})
        return [(CALLS, record_id)]

    def invalid_credentials(self, account: KitAccount) -> dict[str, Any]:
        return {"access_key": account.key, "access_key_secret": "not-the-secret"}


KIT = GongKit
