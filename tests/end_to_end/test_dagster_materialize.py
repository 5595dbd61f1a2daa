"""The real ``dagster asset materialize`` command, several partitions at once, against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from orchestration.partitions import sync_partitions
from pipelines.engine.warehouse import open_duckdb
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, GLOBEX, add_hubspot

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = {
    "acme": (ACME, 250),
    "globex": (GLOBEX, 120),
    "initech": ("token-initech-00112233", 60),
}


def test_partitions_materialized_together_by_the_cli_all_land(home, hubspot, tmp_path):
    for seed, (cid, (token, contacts)) in enumerate(CUSTOMERS.items(), start=10):
        if token not in (ACME, GLOBEX):
            hubspot.add_account(token, seed=seed, contacts=contacts, companies=5, deals=5)
        add_hubspot(home, hubspot, cid, token)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        sync_partitions(instance, INTEGRATIONS.values(), home)

    env = {**os.environ, "SYNCS_HOME": str(home.root), "DAGSTER_HOME": str(dagster_home)}
    commands = {
        cid: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "--select",
                "hubspot/contacts",
                "--partition",
                cid,
                "-m",
                "orchestration.definitions",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for cid in CUSTOMERS
    }
    outputs = {cid: p.communicate(timeout=240)[0] for cid, p in commands.items()}
    for cid, process in commands.items():
        assert process.returncode == 0, outputs[cid][-3000:]

    con = open_duckdb(home, read_only=True)
    try:
        contacts = dict(
            con.execute(
                "select connection_id, count(*) from hubspot.contacts group by 1"
            ).fetchall()
        )
        runs = con.execute(
            "select connection_id, status, sync_type from syncs.sync_runs order by 1"
        ).fetchall()
    finally:
        con.close()
    assert contacts == {cid: count for cid, (_, count) in CUSTOMERS.items()}
    assert runs == [(cid, "success", "INITIAL") for cid in sorted(CUSTOMERS)]

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for model in ("contacts", "deals"):
            records = instance.fetch_materializations(
                AssetKey(["hubspot", model]), limit=10
            ).records
            assert sorted(r.partition_key for r in records) == sorted(CUSTOMERS)
        added = {
            r.partition_key: r.asset_materialization.metadata["added"].value
            for r in instance.fetch_materializations(
                AssetKey(["hubspot", "contacts"]), limit=10
            ).records
        }
    assert added == {cid: count for cid, (_, count) in CUSTOMERS.items()}
