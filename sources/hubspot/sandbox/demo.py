"""The HubSpot sandbox as the demo uses it: two customers, and changes to make between runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sources.hubspot.sandbox.server import HubSpotSandbox
from sources.hubspot.sandbox.webhooks import portal_of
from sources.sandbox.demo import SandboxDemo
from sources.spec import DemoAccount

CUSTOMERS = (("acme", 7), ("globex", 42))
CHANNELS = ("Email", "Phone", "Chat")


@dataclass
class HubSpotDemo(SandboxDemo):
    sandbox: HubSpotSandbox

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        """Add, update and archive a few records of one customer; say what was done.

        With ``deep``, also erase records for good (a GDPR delete), which only a full
        refresh can notice.
        """
        token = account.credentials["access_token"]
        box = self.client
        self.step += 1
        done: list[str] = []
        contacts = box.ids(token, "contacts")
        for i in range(3):
            box.create(
                token,
                "contacts",
                {
                    "email": f"new{self.step}.{i}@{account.connection_id}.example.com",
                    "firstname": f"New{i}",
                    "lastname": f"Customer{self.step}",
                },
            )
        done.append("added 3 contacts")
        for record_id in contacts[:4]:
            box.update(token, "contacts", record_id, {"jobtitle": f"Director, wave {self.step}"})
        done.append("updated 4 contacts' job titles")
        if self.step == 1:
            box.create_property(
                token,
                "contacts",
                "preferred_channel",
                label="Preferred channel",
                type="enumeration",
                field_type="select",
                options=[{"label": label, "value": label.lower()} for label in CHANNELS],
            )
            box.update(token, "contacts", contacts[0], {"preferred_channel": "email"})
            done.append("added the custom contact property preferred_channel, set on 1 of them")
        for record_id in contacts[-2:]:
            box.archive(token, "contacts", record_id)
        done.append("archived 2 contacts")
        companies = box.ids(token, "companies")
        if companies:
            box.update(token, "companies", companies[0], {"numberofemployees": "1234"})
            done.append("updated 1 company")
        deals = box.ids(token, "deals")
        if deals:
            box.archive(token, "deals", deals[-1])
            done.append("archived 1 deal")
        if deep:
            victims = box.ids(token, "contacts")[4:6]
            for record_id in victims:
                box.erase(token, "contacts", record_id)
            done.append(f"erased {len(victims)} contacts for good (seen only by a full refresh)")
        return done


def start_demo_sandbox(port: int = 0, records: int = 200, **_: Any) -> HubSpotDemo:
    sandbox = HubSpotSandbox(port=port).start()
    demo = HubSpotDemo(sandbox)
    box = demo.client
    for name, seed in CUSTOMERS:
        token = f"demo-token-{name}"
        scale = 1 if name == "acme" else 2
        box.add_account(
            token,
            seed=seed,
            contacts=records * scale // 2,
            companies=max(records // 10, 1) * scale,
            deals=max(records // 8, 1) * scale,
        )
        demo.accounts.append(
            DemoAccount(
                connection_id=f"{name}-hubspot",
                credentials={"access_token": token},
                config={
                    "base_url": sandbox.base_url,
                    "portal_id": str(portal_of(token)),
                    # acme syncs every contact property, so the one the demo adds shows up
                    **({"contacts_properties": "all"} if name == "acme" else {}),
                },
            )
        )
    return demo
