"""The benchmark's HubSpot sandbox, in its own process, driven through stdin.

It holds one account with N contacts, no rate limits, and serves every list page from
pre-serialized JSON (a warm-up pass renders each record once), so the server is not what
the benchmark measures. Commands on stdin, one per line, each answered with one JSON line:
``update FRACTION SEED``, ``erase FRACTION SEED``, ``quit``. Each change is an admin operation
of the sandbox (``update_sample``, ``erase_sample``), called through its admin endpoint as any
other driver would.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import requests

from sources.hubspot.api import OBJECTS
from sources.hubspot.sandbox.server import HubSpotSandbox
from sources.sandbox.client import SandboxClient
from sources.sandbox.operations import admin_operation

TOKEN = "bench-token"


class BenchSandbox(HubSpotSandbox):
    """HubSpot without rate limits, with the benchmark's bulk changes."""

    def _sample(self, fraction: float, seed: int) -> list[str]:
        ids = self.ids(TOKEN, "contacts")
        return random.Random(seed).sample(ids, int(len(ids) * fraction))

    @admin_operation
    def update_sample(self, fraction: float, seed: int) -> list[str]:
        """Give a ``fraction`` of the contacts, chosen by ``seed``, a new job title."""
        chosen = self._sample(fraction, seed)
        for record_id in chosen:
            self.update(TOKEN, "contacts", record_id, {"jobtitle": f"Bench title {seed}"})
        return sorted(chosen)

    @admin_operation
    def erase_sample(self, fraction: float, seed: int) -> list[str]:
        """Erase a ``fraction`` of the contacts, chosen by ``seed``, for good."""
        chosen = self._sample(fraction, seed)
        for record_id in chosen:
            self.erase(TOKEN, "contacts", record_id)
        return sorted(chosen)


def warm_search(session: requests.Session, base_url: str, since_ms: int) -> None:
    """Page through the records changed since ``since_ms`` once, as the incremental stage will.

    The sandbox then re-sorts its modified-time index and serializes the changed records
    now, rather than inside the stage being measured: HubSpot keeps its own index current.
    Offset paging stops at the search cap; records past it are served cold.
    """
    after = 0
    while True:
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "lastmodifieddate",
                            "operator": "GTE",
                            "value": str(since_ms),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(OBJECTS["contacts"].default_properties),
            "limit": 200,
        }
        if after:
            body["after"] = str(after)
        response = session.post(
            f"{base_url}/crm/v3/objects/contacts/search",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        if response.status_code == 400:
            return
        response.raise_for_status()
        page = response.json()
        if not page.get("paging"):
            return
        after = int(page["paging"]["next"]["after"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()
    sandbox = BenchSandbox(rate_limit_per_10s=None, search_rate_per_second=None, daily_limit=None)
    sandbox.add_account(TOKEN, seed=11, contacts=args.records)
    sandbox.start()
    properties = ",".join(OBJECTS["contacts"].default_properties)
    session = requests.Session()
    after = None
    while True:
        params = {"limit": 100, "properties": properties, "archived": "false"}
        if after:
            params["after"] = after
        page = session.get(
            f"{sandbox.base_url}/crm/v3/objects/contacts",
            params=params,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    print(json.dumps({"base_url": sandbox.base_url, "token": TOKEN}), flush=True)
    client = SandboxClient(sandbox.base_url, timeout=600)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        verb, fraction, seed = words[0], float(words[1]), int(words[2])
        started_ms = int(time.time() * 1000) - 1
        chosen = client.call(f"{verb}_sample", fraction, seed)
        warm_search(session, sandbox.base_url, started_ms)
        time.sleep(0.01)
        print(json.dumps({verb: chosen}), flush=True)
    client.close()
    sandbox.stop()


if __name__ == "__main__":
    main()
