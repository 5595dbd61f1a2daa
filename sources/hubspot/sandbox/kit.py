"""The HubSpot sandbox as the contract suite drives it (``sources.sandbox.contract``)."""

from __future__ import annotations

from typing import Any

from sources.hubspot.sandbox.server import HubSpotSandbox
from sources.sandbox.contract import Capabilities, KitAccount, RecordKey, SandboxKit

# A property each model keeps as free text, and one its model parses (numbers).
CHANGED = {"contacts": "jobtitle", "companies": "city", "deals": "dealname"}
UNPARSABLE = {"companies": "numberofemployees", "deals": "amount"}
NAMED = {"contacts": "email", "companies": "name", "deals": "dealname"}


class HubSpotKit(SandboxKit[HubSpotSandbox]):
    """Archiving is HubSpot's deletion (listed with ``archived=true``); erasing is its GDPR
    delete, which leaves nothing to list."""

    integration = "hubspot"
    capabilities = Capabilities()
    models = ("contacts", "companies", "deals")
    deletable = models
    rejectable = ("companies", "deals")
    api_path = "/crm/v3/"

    def __init__(self) -> None:
        super().__init__(HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None))

    def account(self, name: str, records: int) -> KitAccount:
        token = f"pat-na1-{name}-{self.seed(name):08x}"
        self.sandbox.add_account(
            token, seed=self.seed(name), contacts=records, companies=records, deals=records
        )
        return KitAccount(name, token, {"access_token": token}, {"base_url": self.sandbox.base_url})

    def ids(self, account: KitAccount, model: str) -> list[str]:
        return self.sandbox.ids(account.key, model)

    def add(self, account: KitAccount, model: str) -> list[RecordKey]:
        value = f"added{next(self.serial)}@{account.name}.example.com"
        created = self.sandbox.create(account.key, model, {NAMED[model]: value})
        return [(model, created["id"])]

    def change(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self._set(account, model, record_id, {CHANGED[model]: f"changed {next(self.serial)}"})
        return [(model, record_id)]

    def delete(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.archive(account.key, model, record_id)
        return [(model, record_id)]

    def erase(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self.sandbox.erase(account.key, model, record_id)
        return [(model, record_id)]

    def reject(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        self._set(account, model, record_id, {UNPARSABLE[model]: "lots"})
        return [(model, record_id)]

    def invalid_credentials(self, account: KitAccount) -> dict[str, Any]:
        return {"access_token": f"pat-na1-revoked-{account.name}"}

    def _set(self, account: KitAccount, model: str, record_id: str, values: dict[str, Any]) -> None:
        self.sandbox.update(account.key, model, record_id, values)


KIT = HubSpotKit
