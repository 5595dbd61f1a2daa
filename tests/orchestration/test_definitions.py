"""The Dagster definitions load, and follow the integration registry with no code per model."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from dagster import AssetKey
from pydantic import BaseModel, ConfigDict

from orchestration.assets import RETRY_POLICY
from orchestration.definitions import build_definitions, defs
from sources.registry import INTEGRATIONS
from sources.spec import IntegrationSpec, ModelSpec, SyncSpec

ROOT = Path(__file__).resolve().parents[2]


def test_dagster_validates_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "SYNCS_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Validation successful for code location orchestration.definitions" in (
        done.stdout + done.stderr
    )


def test_hubspot_models_are_assets_partitioned_by_connection():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"hubspot/contacts", "hubspot/companies", "hubspot/deals"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0]
        if key.path[0] != "syncs":
            assert node.partitions_def.name == f"{key.path[0]}_connections"
    assert {"syncs/connections", "syncs/change_events", "syncs/notifications"} <= keys
    contacts = graph.get(AssetKey(["hubspot", "contacts"]))
    columns = {c.name: c.description for c in contacts.metadata["dagster/column_schema"].columns}
    assert columns["email"] == "Primary email address."
    assert columns["_syncs_deleted_at"].startswith("When it was deleted")
    assert "table `hubspot.contacts`" in contacts.description
    job = defs.resolve_job_def("hubspot_crm_sync")
    assert job.executor_def.name == "in_process"
    assert defs.resolve_assets_def(AssetKey(["hubspot", "deals"])).op.retry_policy == RETRY_POLICY
    sensors = {s.name for s in defs.sensors}
    assert {"hubspot_connections", "sync_workers", "webhook_dispatcher"} <= sensors
    assert defs.resolve_job_def("sync_worker").executor_def.name == "in_process"
    checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    for model in ("contacts", "companies", "deals"):
        for name in ("sync_succeeded", "no_duplicate_ids", "no_rejected_records", "fresh"):
            assert (f"hubspot/{model}", name) in checks


class Widget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    size: int | None = None


class Nothing(BaseModel):
    model_config = ConfigDict(extra="forbid")


def test_every_registered_integration_has_its_assets_partitions_and_sensors():
    graph = defs.resolve_asset_graph()
    sensors = {s.name for s in defs.sensors}
    for spec in INTEGRATIONS.values():
        assert f"{spec.name}_connections" in sensors
        for sync in spec.syncs.values():
            assert defs.resolve_job_def(f"{spec.name}_{sync.name}_sync")
            for model in sync.models:
                assert graph.get(AssetKey([spec.name, model])).group_name == spec.name


def test_a_new_integration_appears_without_changing_orchestration():
    toy = IntegrationSpec(
        name="toy",
        title="Toy",
        config_model=Nothing,
        credentials_model=Nothing,
        models={"widgets": ModelSpec("widgets", Widget), "gadgets": ModelSpec("gadgets", Widget)},
        syncs={
            "fast": SyncSpec("fast", ("widgets",), default_frequency=timedelta(seconds=15)),
            "slow": SyncSpec("slow", ("gadgets",), full_refresh_frequency=timedelta(days=1)),
        },
        extract=lambda ctx: iter(()),
    )
    extended = build_definitions({**INTEGRATIONS, "toy": toy})
    graph = extended.resolve_asset_graph()
    assert {AssetKey(["toy", "widgets"]), AssetKey(["toy", "gadgets"])} <= set(
        graph.get_all_asset_keys()
    )
    assert graph.get(AssetKey(["toy", "widgets"])).partitions_def.name == "toy_connections"
    names = {s.name for s in extended.sensors}
    assert "toy_connections" in names
    assert extended.resolve_job_def("toy_slow_sync").executor_def.name == "in_process"
