"""Peer HubSpot connectors run against the HubSpot sandbox with only their base URL changed.

    python -m bench.hubspot_peers dlt PATH          # dlt's verified HubSpot source folder
    python -m bench.hubspot_peers singer PYTHON     # a Python with meltano-tap-hubspot
    python -m bench.hubspot_peers airbyte PYTHON    # a Python with airbyte-source-hubspot

None of them is a dependency of the project (each brings its own framework): dlt's verified
source is the folder ``dlt init hubspot duckdb`` writes, and the Singer and Airbyte sources
install from PyPI into an environment of their own. Each hard-codes HubSpot's URL, so the
runner points it at a sandbox seeded with one account (the dlt source through its
``BASE_URL``, the Singer tap through its streams' ``url_base``, the Airbyte source through a
copy of its package with the URL replaced), syncs into a throwaway place, and prints the
records per stream and every request the sandbox refused.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sources.hubspot.sandbox.server import HubSpotSandbox

TOKEN = "peer-token"
HUBSPOT = "https://api.hubapi.com"

SINGER = """
import contextlib, inspect, io, sys
import tap_hubspot.client, tap_hubspot.streams
from tap_hubspot.tap import TapHubspot

base, token = sys.argv[1:3]
for module in (tap_hubspot.client, tap_hubspot.streams):
    for _, cls in inspect.getmembers(module, inspect.isclass):
        prop = cls.__dict__.get("url_base")
        if isinstance(prop, property):
            cls.url_base = property(lambda self, p=prop: p.fget(self).replace({hubspot!r}, base))
tap = TapHubspot(config={{"access_token": token, "start_date": "2015-01-01T00:00:00Z"}})
for name, stream in tap.streams.items():
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            stream.sync()
        print(name, out.getvalue().count('"type":"RECORD"') + out.getvalue().count('"type": "RECORD"'))
    except Exception as exc:
        print(name, "failed:", str(exc).splitlines()[0][:160])
"""

AIRBYTE = """
import shutil, sys
from pathlib import Path
import source_hubspot

base, copy = sys.argv[1], Path(sys.argv[2])
shutil.copytree(Path(source_hubspot.__file__).parent, copy / "source_hubspot")
for path in (copy / "source_hubspot").rglob("*"):
    if path.suffix in (".py", ".yaml"):
        path.write_text(path.read_text().replace({hubspot!r}, base))
"""

AIRBYTE_STREAMS = ("contacts", "companies", "deals", "owners", "deal_pipelines")


def seeded() -> HubSpotSandbox:
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    sandbox.add_account(TOKEN, seed=3, contacts=120, companies=12, deals=30)
    return sandbox


def refused(sandbox: HubSpotSandbox) -> list[tuple[str, str, int]]:
    return sorted({r for r in sandbox.requests_seen if r[2] >= 400})


def run_dlt(sandbox: HubSpotSandbox, folder: Path) -> dict[str, Any]:
    """The verified source loaded under a name of its own (its folder is ``hubspot``, the
    name of HubSpot's client package too), into a DuckDB file in a temporary folder."""
    import dlt

    spec = importlib.util.spec_from_file_location(
        "dlt_verified_hubspot", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    spec.loader.exec_module(package)
    helpers: Any = sys.modules[f"{spec.name}.helpers"]
    helpers.BASE_URL = sandbox.base_url + "/"
    with tempfile.TemporaryDirectory() as work:
        pipeline = dlt.pipeline(
            "hubspot_peer",
            destination=dlt.destinations.duckdb(f"{work}/peer.duckdb"),
            dataset_name="hubspot",
            pipelines_dir=work,
        )
        pipeline.run(package.hubspot(api_key=TOKEN))
        counts: dict[str, Any] = {}
        with pipeline.sql_client() as client:
            for table in sorted(pipeline.default_schema.data_table_names()):
                try:
                    rows = client.execute_sql(f"select count(*) from {table}") or [[0]]
                except Exception:
                    rows = [[0]]
                counts[table] = rows[0][0]
        return counts


def run_singer(sandbox: HubSpotSandbox, python: str) -> dict[str, Any]:
    script = SINGER.format(hubspot=HUBSPOT)
    done = subprocess.run(
        [python, "-c", script, sandbox.base_url, TOKEN], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)


def run_airbyte(sandbox: HubSpotSandbox, python: str) -> dict[str, Any]:
    """``check``, then a ``read`` of the CRM streams from a catalog written by hand
    (``discover`` needs HubSpot's forms, which the sandbox does not simulate)."""
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [python, "-c", AIRBYTE.format(hubspot=HUBSPOT), sandbox.base_url, work], check=True
        )
        config = Path(work, "config.json")
        config.write_text(
            json.dumps(
                {
                    "credentials": {
                        "credentials_title": "Private App Credentials",
                        "access_token": TOKEN,
                    },
                    "start_date": "2015-01-01T00:00:00Z",
                }
            )
        )
        catalog = Path(work, "catalog.json")
        streams = [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in AIRBYTE_STREAMS
        ]
        catalog.write_text(json.dumps({"streams": streams}))
        run = (
            "import sys; from source_hubspot.run import run; sys.argv[0] = 'source-hubspot'; run()"
        )
        env = {"PYTHONPATH": work}
        out: dict[str, Any] = {}
        for command in (
            ["check", "--config", str(config)],
            ["read", "--config", str(config), "--catalog", str(catalog)],
        ):
            done = subprocess.run(
                [python, "-c", run, *command], capture_output=True, text=True, env=env
            )
            records: collections.Counter[str] = collections.Counter()
            errors = []
            for line in done.stdout.splitlines():
                if not line.startswith("{"):
                    continue
                message = json.loads(line)
                if message["type"] == "RECORD":
                    records[message["record"]["stream"]] += 1
                elif message["type"] == "CONNECTION_STATUS":
                    out["check"] = message["connectionStatus"]["status"]
                elif message["type"] == "TRACE" and message["trace"].get("type") == "ERROR":
                    errors.append(message["trace"]["error"]["message"][:160])
            out.update(records)
            if errors:
                out[f"{command[0]} errors"] = errors
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=("dlt", "singer", "airbyte"))
    parser.add_argument("where", help="dlt: the source folder; singer, airbyte: a Python")
    args = parser.parse_args(argv)
    sandbox = seeded()
    try:
        if args.peer == "dlt":
            result = run_dlt(sandbox, Path(args.where))
        elif args.peer == "singer":
            result = run_singer(sandbox, args.where)
        else:
            result = run_airbyte(sandbox, args.where)
    finally:
        sandbox.stop()
    print(json.dumps({"peer": args.peer, "result": result, "refused": refused(sandbox)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
