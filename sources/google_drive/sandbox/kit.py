"""The Google Drive sandbox as the contract suite drives it (``sources.sandbox.contract``).

An account is a user's My Drive (a few folders holding the files), synced whole. Trashing
is the deletion users make; deleting for good is the erasure, which Drive's changes feed
reports too. A folder takes everything under it along. Drive sends no file its model
refuses.
"""

from __future__ import annotations

from typing import Any

from sources.google_drive import MODEL
from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    GoogleDriveSandbox,
)
from sources.sandbox.contract import Capabilities, KitAccount, RecordKey, SandboxKit


class GoogleDriveKit(SandboxKit[GoogleDriveSandbox]):
    integration = "google_drive"
    capabilities = Capabilities(silent_erasure=False)
    models = (MODEL,)
    deletable = (MODEL,)
    api_path = "/drive/v3/"

    def __init__(self) -> None:
        super().__init__(GoogleDriveSandbox(rate_limit_per_minute=None))

    def account(self, name: str, records: int) -> KitAccount:
        email = f"it@{name}.example.com"
        refresh_token = f"1//{name}-refresh-{self.seed(name):08x}"
        self.sandbox.add_account(
            email,
            refresh_token=refresh_token,
            seed=self.seed(name),
            files=records,
            folders=max(records // 8, 1),
        )
        credentials = {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": refresh_token,
        }
        config = {"base_url": self.sandbox.base_url, "token_url": f"{self.sandbox.base_url}/token"}
        return KitAccount(name, email, credentials, config)

    def ids(self, account: KitAccount, model: str) -> list[str]:
        return self.sandbox.ids(account.key, drive_id="my")

    def add(self, account: KitAccount, model: str) -> list[RecordKey]:
        created = self.sandbox.create(account.key, f"Added {next(self.serial)}.txt")
        return [(MODEL, created["id"])]

    def change(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.update(account.key, record_id, name=f"Changed {next(self.serial)}")
        return [(MODEL, record_id)]

    def delete(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        gone = self._with_contents(account, record_id)
        self.sandbox.trash(account.key, record_id)
        return gone

    def erase(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        gone = self._with_contents(account, record_id)
        self.sandbox.delete(account.key, record_id)
        return gone

    def reject(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        raise NotImplementedError("Drive sends no file its model refuses")

    def invalid_credentials(self, account: KitAccount) -> dict[str, Any]:
        return {
            **account.credentials,
            "refresh_token": f"1//{account.name}-revoked",
            "access_token": None,
            "expires_at": None,
        }

    def _with_contents(self, account: KitAccount, file_id: str) -> list[RecordKey]:
        under = self.sandbox.ids(account.key, under=file_id)
        return [(MODEL, i) for i in (file_id, *under)]


KIT = GoogleDriveKit
