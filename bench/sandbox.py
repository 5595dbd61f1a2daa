"""The benchmark's HubSpot sandbox, in its own process, driven through stdin.

It holds one account with N contacts, no rate limits, and serves every list page from
pre-serialized JSON (a warm-up pass renders each record once), so the server is not what
the benchmark measures. Commands on stdin, one per line, each answered with one JSON line:
``update FRACTION SEED``, ``erase FRACTION SEED``, ``quit``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import requests

from sources.hubspot.api import OBJECTS
from sources.hubspot.sandbox import HubSpotSandbox

TOKEN = "bench-token"


def warm_search_index(session: requests.Session, base_url: str) -> None:
    """One search, so the sandbox re-sorts its modified-time index now, as HubSpot keeps its
    own up to date, rather than inside the stage that is being measured."""
    session.post(
        f"{base_url}/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 1,
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None, daily_limit=None)
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
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        verb, fraction, seed = words[0], float(words[1]), int(words[2])
        ids = sandbox.ids(TOKEN, "contacts")
        chosen = random.Random(seed).sample(ids, int(len(ids) * fraction))
        for record_id in chosen:
            if verb == "update":
                sandbox.update(TOKEN, "contacts", record_id, {"jobtitle": f"Bench title {seed}"})
            else:
                sandbox.erase(TOKEN, "contacts", record_id)
        warm_search_index(session, sandbox.base_url)
        time.sleep(0.01)
        print(json.dumps({verb: sorted(chosen)}), flush=True)
    sandbox.stop()


if __name__ == "__main__":
    main()
