"""One benchmark stage in its own process, so its peak memory is its own.

Prints one JSON line: the stage's seconds, records and what else it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests

from sources.hubspot.api import OBJECTS


def fetch_floor(base_url: str, token: str) -> dict[str, float]:
    """Every page with ``requests`` and ``json``: what fetching alone costs."""
    properties = ",".join(OBJECTS["contacts"].default_properties)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    records = 0
    after = None
    while True:
        params = {"limit": 100, "properties": properties, "archived": "false"}
        if after:
            params["after"] = after
        page = session.get(f"{base_url}/crm/v3/objects/contacts", params=params).json()
        records += len(page["results"])
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    return {"seconds": time.perf_counter() - started, "records": records}


def plain_dlt(base_url: str, token: str, workdir: Path) -> dict[str, float]:
    """The obvious dlt pipeline: a rest_api source, dlt's defaults, merge on id."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {"base_url": base_url, "auth": {"type": "bearer", "token": token}},
            "resources": [
                {
                    "name": "contacts",
                    "primary_key": "id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "crm/v3/objects/contacts",
                        "params": {
                            "limit": 100,
                            "archived": "false",
                            "properties": ",".join(OBJECTS["contacts"].default_properties),
                        },
                        "data_selector": "results",
                        "paginator": {
                            "type": "cursor",
                            "cursor_path": "paging.next.after",
                            "cursor_param": "after",
                        },
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_plain",
        pipelines_dir=str(workdir / "dlt"),
        destination=dlt.destinations.duckdb(credentials=str(workdir / "plain.duckdb")),
        dataset_name="hubspot",
    )
    started = time.perf_counter()
    pipeline.run(source)
    seconds = time.perf_counter() - started
    import duckdb

    con = duckdb.connect(str(workdir / "plain.duckdb"), read_only=True)
    (records,) = con.execute("select count(*) from hubspot.contacts").fetchone()  # type: ignore[misc]
    con.close()
    return {"seconds": seconds, "records": records}


def syncs_run(base_url: str, token: str, workdir: Path, mode: str) -> dict[str, object]:
    """One syncs run of the bench connection, in a home under ``workdir``."""
    os.environ["SYNCS_HOME"] = str(workdir / "home")
    from pipelines.home import Home
    from pipelines.runs import sync_runner
    from pipelines.store.connections import Connections

    home = Home.from_env()
    connections = Connections(home)
    if not any(c.connection_id == "bench" for c in connections.list()):
        connections.add(
            "hubspot", "bench", credentials={"access_token": token}, config={"base_url": base_url}
        )
    runner = sync_runner(home)
    started = time.perf_counter()
    (result,) = runner.run("bench", mode=mode)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    contacts = result.models["contacts"]
    return {
        "seconds": seconds,
        "records": contacts.fetched,
        "sync_type": result.sync_type,
        "added": contacts.added,
        "updated": contacts.updated,
        "deleted": contacts.deleted,
        "run_id": result.run_id,
        "timings": result.timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["floor", "plain", "initial", "full", "incremental"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    if args.stage == "floor":
        out: dict[str, object] = fetch_floor(args.base_url, args.token)
    elif args.stage == "plain":
        out = plain_dlt(args.base_url, args.token, args.workdir)
    else:
        mode = "full" if args.stage == "full" else "incremental"
        out = syncs_run(args.base_url, args.token, args.workdir, mode)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
