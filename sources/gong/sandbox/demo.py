"""The Gong sandbox as the demo uses it: two customers, and changes to make between runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sources.gong.sandbox.server import GongSandbox
from sources.sandbox.demo import SandboxDemo
from sources.spec import DemoAccount

CUSTOMERS = (("acme", 11, -420), ("globex", 23, 60))


@dataclass
class GongDemo(SandboxDemo):
    sandbox: GongSandbox

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        """Record a few new calls for one customer; say what was done.

        With ``deep``, also retitle a call, redo a transcript and delete calls: Gong reports
        none of that to a reader of new calls, so only a full refresh notices.
        """
        key = account.credentials["access_key"]
        box = self.client
        self.step += 1
        now = datetime.now(UTC)
        for i in range(3):
            box.create_call(
                key,
                {"title": f"Demo call {self.step}.{i} with {account.connection_id}"},
                started=now - timedelta(minutes=40 - 10 * i),
                conference=i % 2 == 0,
            )
        done = ["recorded 3 new calls"]
        if deep:
            ids = box.call_ids(key)
            box.update_call(key, ids[0], {"title": "Renamed after the call"})
            transcript = box.get_transcript(key, ids[1])
            if transcript and transcript[0].get("sentences"):
                transcript[0]["sentences"][0]["text"] = "Corrected transcription."
                box.set_transcript(key, ids[1], transcript)
            for call_id in ids[2:4]:
                box.delete_call(key, call_id)
            done.append(
                "retitled 1 call, corrected 1 transcript, deleted 2 calls "
                "(seen only by a full refresh)"
            )
        return done


def start_demo_sandbox(port: int = 0, records: int = 200, **_: Any) -> GongDemo:
    sandbox = GongSandbox(port=port).start()
    demo = GongDemo(sandbox)
    box = demo.client
    for name, seed, offset in CUSTOMERS:
        key, secret = f"demo-key-{name}", f"demo-secret-{name}"
        scale = 1 if name == "acme" else 2
        box.add_account(
            key,
            secret,
            seed=seed,
            calls=max(records // 4, 1) * scale,
            utc_offset_minutes=offset,
        )
        demo.accounts.append(
            DemoAccount(
                connection_id=f"{name}-gong",
                credentials={"access_key": key, "access_key_secret": secret},
                config={"base_url": sandbox.base_url},
            )
        )
    return demo
