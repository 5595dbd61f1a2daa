"""The Google Drive sandbox as the demo uses it: two customers, and changes to make between runs.

Acme syncs the user's whole Drive; Globex syncs two folders and a shared drive, so the demo
shows both scopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FOLDER,
    GoogleDriveSandbox,
)
from sources.sandbox.demo import SandboxDemo
from sources.spec import DemoAccount

CUSTOMERS = (("acme", 11), ("globex", 23))


@dataclass
class GoogleDriveDemo(SandboxDemo):
    sandbox: GoogleDriveSandbox
    emails: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _roots(account: DemoAccount) -> tuple[list[str], list[str]]:
        folders = [f for f in str(account.config.get("folders", "")).split(",") if f]
        drives = [d for d in str(account.config.get("shared_drives", "")).split(",") if d]
        return folders, drives

    def _in_scope(self, account: DemoAccount) -> list[str]:
        email = self.emails[account.connection_id]
        folders, drives = self._roots(account)
        if not folders and not drives:
            return self.client.ids(email, drive_id="my")
        ids: list[str] = []
        for folder in folders:
            ids += self.client.ids(email, under=folder)
        for drive in drives:
            ids += self.client.ids(email, drive_id=drive)
        return list(dict.fromkeys(ids))

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        """Add, edit, rename and trash a few files of one customer; say what was done.

        With ``deep``, also delete files for good, skipping the trash.
        """
        email = self.emails[account.connection_id]
        box = self.client
        self.step += 1
        done: list[str] = []
        ids = [i for i in self._in_scope(account) if box.get(email, i)["mimeType"] != FOLDER]
        folders, drives = self._roots(account)
        parent = (folders or drives or [None])[0]
        for i in range(3):
            box.create(
                email,
                f"Meeting notes {self.step}.{i}.txt",
                parent=parent,
                content=f"notes {self.step} {i}",
            )
        done.append("added 3 files")
        for file_id in ids[:3]:
            box.update(email, file_id, content=f"edit {self.step}")
        done.append("edited 3 files")
        if len(ids) > 3:
            name = box.get(email, ids[3])["name"]
            box.update(email, ids[3], name=f"{name} (renamed {self.step})")
            done.append("renamed 1 file")
        for file_id in ids[-2:]:
            box.trash(email, file_id)
        done.append("trashed 2 files")
        if deep:
            victims = ids[4:6]
            for file_id in victims:
                box.delete(email, file_id)
            done.append(f"deleted {len(victims)} files for good")
        return done


def start_demo_sandbox(port: int = 0, records: int = 200, **_: Any) -> GoogleDriveDemo:
    sandbox = GoogleDriveSandbox(port=port).start()
    demo = GoogleDriveDemo(sandbox)
    box = demo.client
    for name, seed in CUSTOMERS:
        email = f"it@{name}.example.com"
        refresh_token = f"1//demo-refresh-{name}"
        scale = 1 if name == "acme" else 2
        box.add_account(
            email,
            refresh_token=refresh_token,
            seed=seed,
            files=records * scale // 2,
            folders=max(records // 20, 1) * scale,
            shared_drives=1,
            shared_drive_files=max(records // 4, 1),
        )
        config: dict[str, Any] = {
            "base_url": sandbox.base_url,
            "token_url": f"{sandbox.base_url}/token",
        }
        if name == "globex":
            top = box.ids(email, folders_only=True, drive_id="my")[:2]
            config["folders"] = ",".join(top)
            config["shared_drives"] = ",".join(box.drive_ids(email))
        demo.emails[f"{name}-drive"] = email
        demo.accounts.append(
            DemoAccount(
                connection_id=f"{name}-drive",
                credentials={
                    "client_id": DEFAULT_CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET,
                    "refresh_token": refresh_token,
                },
                config=config,
            )
        )
    return demo
