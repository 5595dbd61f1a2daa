"""Every integration as a plain dlt source, run in plain dlt pipelines against its sandbox.

Parametrized over the registry: a new integration is covered by its demo sandbox (its
customers and the changes ``demo.change`` makes between runs). What a table should hold
is what a fresh pipeline lists from the sandbox at that moment.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.cursors import SAFETY_MARGIN
from sources.dlt_source import DELETED, REJECTED, row_versions
from sources.errors import AuthenticationError, ConfigError, SyncsError
from sources.registry import INTEGRATIONS
from sources.sandbox.demo import SandboxDemo
from sources.spec import DemoAccount, IntegrationSpec

RECORDS = 24
Rows = dict[str, dict[str, dict[str, Any]]]


@dataclass
class Case:
    spec: IntegrationSpec
    demo: SandboxDemo
    account: DemoAccount
    tmp: Path

    @property
    def source(self) -> Any:
        return importlib.import_module(f"sources.{self.spec.name}").source

    def build(self, **kwargs: Any) -> Any:
        return self.source(
            config=self.account.config, credentials=self.account.credentials, **kwargs
        )

    def pipeline(self, name: str, destination: str = "duckdb") -> dlt.Pipeline:
        target = (
            dlt.destinations.duckdb(str(self.tmp / f"{name}.duckdb"))
            if destination == "duckdb"
            else dlt.destinations.filesystem(str(self.tmp / name))
        )
        return dlt.pipeline(
            pipeline_name=f"{self.spec.name}_{name}",
            pipelines_dir=str(self.tmp / "dlt"),
            destination=target,
            dataset_name=self.spec.name,
        )

    def listed(self, name: str) -> Rows:
        """Everything the sandbox holds now, read by a pipeline of its own."""
        self.pipeline(name).run(self.build())
        return tables(self.tmp / f"{name}.duckdb", self.spec)


@pytest.fixture(params=sorted(INTEGRATIONS))
def case(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Case]:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
    spec = INTEGRATIONS[request.param]
    assert spec.sandbox is not None, f"{spec.name} ships no demo sandbox"
    demo = spec.sandbox(records=RECORDS)
    try:
        yield Case(spec, demo, demo.accounts[0], tmp_path)
    finally:
        demo.stop()


def _row(columns: list[str], values: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """A record's fields, without dlt's and the load's columns; a null is a missing field."""
    return {
        c: v
        for c, v in zip(columns, values, strict=True)
        if v is not None and not c.startswith(("_dlt_", "_syncs_"))
    }


def tables(
    path: Path, spec: IntegrationSpec, where: str = "", models: list[str] | None = None
) -> Rows:
    with duckdb.connect(str(path), read_only=True) as con:
        out: Rows = {}
        for model in spec.models if models is None else models:
            relation = con.sql(f'SELECT * FROM "{spec.name}"."{model}" {where}')
            out[model] = {
                row["id"]: row for row in (_row(relation.columns, r) for r in relation.fetchall())
            }
        return out


def files(bucket: Path, spec: IntegrationSpec) -> tuple[Rows, dict[str, list[dict[str, Any]]]]:
    """The records a filesystem destination's Parquet files say are live (the latest row per
    id: the latest load, then the latest read), and the rows of its latest load."""
    live: Rows = {}
    latest: dict[str, list[dict[str, Any]]] = {}
    for model in spec.models:
        paths = sorted(
            (bucket / spec.name / model).glob("*.parquet"),
            key=lambda p: float(".".join(p.name.split(".")[:2])),
        )
        last_load = ".".join(paths[-1].name.split(".")[:2])
        rows: dict[str, dict[str, Any]] = {}
        latest[model] = []
        for path in paths:
            batch = pq.read_table(path).sort_by("_syncs_seq").to_pylist()
            if path.name.startswith(last_load + "."):
                latest[model].extend(batch)
            for row in batch:
                if row.get(DELETED):
                    rows.pop(row["id"], None)
                else:
                    rows[row["id"]] = _row(list(row), list(row.values()))
        live[model] = rows
    return live, latest


def test_a_second_run_merges_exactly_what_changed(case: Case) -> None:
    spec = case.spec
    merged = case.pipeline("merged")
    in_files = case.pipeline("files", destination="filesystem")
    as_models = case.source(
        config=spec.config_model.model_validate(case.account.config),
        credentials=spec.credentials_model.model_validate(case.account.credentials),
    )
    merged.run(as_models)
    in_files.run(case.build(), loader_file_format="parquet")
    before = tables(case.tmp / "merged.duckdb", spec)
    assert before == case.listed("before")

    assert case.demo.change(case.account)
    merged.run(case.build())
    read = merged.last_trace.last_normalize_info.row_counts
    in_files.run(case.build(), loader_file_format="parquet")
    after = tables(case.tmp / "merged.duckdb", spec)
    expected = case.listed("expected")

    assert after == expected
    assert after != before
    # The second run read what changed, not everything again.
    assert sum(read.get(m, 0) for m in spec.models) < sum(len(r) for r in expected.values())
    live, last_load = files(case.tmp / "files", spec)
    assert live == expected
    for model in spec.models:
        assert len(last_load[model]) < len(before[model]) + len(expected[model])
        # Deletions the API reported are hard deletes.
        gone = set(before[model]) - set(expected[model])
        tombstoned = {row["id"] for row in last_load[model] if row.get(DELETED)}
        assert gone <= tombstoned
        assert not tombstoned & set(after[model])


def test_a_full_refresh_is_a_run_with_its_resources_dropped(case: Case) -> None:
    merged = case.pipeline("merged")
    merged.run(case.build())
    case.demo.change(case.account, deep=True)
    merged.run(case.build(), refresh="drop_resources")
    expected = case.listed("expected")
    assert tables(case.tmp / "merged.duckdb", case.spec) == expected


def test_scd2_keeps_every_version(case: Case) -> None:
    spec = case.spec
    history = case.pipeline("history")
    history.run(case.build(write_disposition="scd2"))
    before = tables(case.tmp / "history.duckdb", spec)
    case.demo.change(case.account)
    history.run(case.build(write_disposition="scd2"))
    expected = case.listed("expected")
    path = case.tmp / "history.duckdb"
    active = tables(path, spec, f"WHERE _dlt_valid_to IS NULL AND {DELETED} IS NOT TRUE")
    retired = tables(path, spec, "WHERE _dlt_valid_to IS NOT NULL")
    deleted = tables(path, spec, f"WHERE _dlt_valid_to IS NULL AND {DELETED}")
    versions = 0
    for model, model_spec in spec.models.items():
        old = _stable(before[model], model_spec.volatile_fields)
        new = _stable(expected[model], model_spec.volatile_fields)
        assert _stable(active[model], model_spec.volatile_fields) == new
        changed = {i for i in old if i in new and old[i] != new[i]}
        gone = set(old) - set(new)
        versions += len(changed) + len(gone) + len(set(new) - set(old))
        # The version each change retired is the one the first run loaded; a record that
        # did not change keeps its one version.
        assert _stable(retired[model], model_spec.volatile_fields) == {
            i: old[i] for i in changed | gone
        }
        assert set(deleted[model]) == gone
    assert versions


def _stable(rows: dict[str, dict[str, Any]], volatile: frozenset[str]) -> dict[str, Any]:
    return {i: {k: v for k, v in r.items() if k not in volatile} for i, r in rows.items()}


def _syncs_error(error: BaseException) -> SyncsError | None:
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, SyncsError):
            return current
        nested = getattr(current, "exception", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return None


def _syncs_message(home: Home, case: Case, **changes: Any) -> str:
    with pytest.raises(ConfigError) as refused:
        Connections(home).add(
            case.spec.name,
            "acme",
            config={**case.account.config, **changes.get("config", {})},
            credentials=changes.get("credentials", case.account.credentials),
        )
    return str(refused.value)


def test_bad_config_and_missing_credentials_are_the_errors_syncs_gives(
    case: Case, home: Home
) -> None:
    config = {**case.account.config, "no_such_key": "1"}
    with pytest.raises(ConfigError) as bad_key:
        case.source(config=config, credentials=case.account.credentials)
    assert "unknown config key 'no_such_key'" in str(bad_key.value)
    assert str(bad_key.value) == _syncs_message(home, case, config={"no_such_key": "1"})

    first, *_ = case.account.credentials
    missing = {k: v for k, v in case.account.credentials.items() if k != first}
    with pytest.raises(ConfigError) as no_credential:
        case.source(config=case.account.config, credentials=missing)
    assert f"missing credential {first!r}" in str(no_credential.value)
    assert str(no_credential.value) == _syncs_message(home, case, credentials=missing)


def _without_times(message: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d(%3A|:)\d\d(%3A|:)\d\dZ", "<time>", message)


def test_refused_credentials_fail_the_run_with_the_error_syncs_gives(
    case: Case, home: Home
) -> None:
    wrong = {k: f"not-{v}" for k, v in case.account.credentials.items()}
    pipeline = case.pipeline("refused")
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(
            case.source(config=case.account.config, credentials=wrong, connection_id="acme")
        )
    ours = _syncs_error(failed.value)
    assert isinstance(ours, AuthenticationError)
    assert str(ours) in str(failed.value)

    Connections(home).add(case.spec.name, "acme", config=case.account.config, credentials=wrong)
    with pytest.raises(SyncFailed) as engine:
        sync_runner(home).run("acme")
    assert isinstance(engine.value.cause, AuthenticationError)
    assert _without_times(str(ours)) == _without_times(str(engine.value.cause))
    assert "\n" not in str(ours)


def test_resources_declare_keys_cursors_and_columns(case: Case) -> None:
    source = case.build()
    models = set(case.spec.models)
    assert models | {REJECTED} == set(source.selected_resources)
    for name, model in case.spec.models.items():
        resource = source.resources[name]
        assert resource.write_disposition == "merge"
        schema = resource.compute_table_schema()
        assert schema["columns"]["id"]["primary_key"] is True
        assert schema["columns"][DELETED]["hard_delete"] is True
        assert schema["columns"]["_syncs_seq"]["dedup_sort"] == "desc"
        assert set(model.schema.model_fields) <= set(schema["columns"])
        cursor = model.cursor
        if cursor.kind == "timestamp" and cursor.key is None:
            assert resource.incremental is not None
            assert resource.incremental.cursor_path == cursor.field
            config = case.spec.config_model.model_validate(case.account.config)
            lag = cursor.lookback_for(config) + SAFETY_MARGIN
            assert resource.incremental.lag == lag.total_seconds()
        else:
            assert resource.incremental is None


def test_a_row_version_ignores_volatile_fields_and_missing_columns() -> None:
    first = pa.table({"id": ["1", "2"], "name": ["a", "b"], "seen": [1, 2]})
    volatile_only = pa.table({"id": ["1", "2"], "name": ["a", "b"], "seen": [5, 6]})
    with_nulls = first.append_column("extra", pa.nulls(2, pa.string()))
    changed = pa.table({"id": ["1", "2"], "name": ["a", "c"], "seen": [1, 2]})
    versions = row_versions(first, {"seen"}).to_pylist()
    assert row_versions(volatile_only, {"seen"}).to_pylist() == versions
    assert row_versions(with_nulls, {"seen"}).to_pylist() == versions
    assert row_versions(changed, {"seen"}).to_pylist()[0] == versions[0]
    assert row_versions(changed, {"seen"}).to_pylist()[1] != versions[1]
    assert len(set(versions)) == 2


def test_credentials_come_from_dlt_secrets_when_left_out(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = f"SOURCES__{case.spec.name.upper()}__CREDENTIALS"
    monkeypatch.setenv(variable, json.dumps(case.account.credentials))
    pipeline = case.pipeline("secrets")
    pipeline.run(case.source(config=case.account.config))
    loaded = tables(case.tmp / "secrets.duckdb", case.spec)
    assert all(loaded[model] for model in case.spec.models)


def test_rejected_records_are_kept_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sources.hubspot import source

    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
    spec = INTEGRATIONS["hubspot"]
    demo = spec.sandbox(records=RECORDS)
    try:
        account = demo.accounts[0]
        token = account.credentials["access_token"]
        company = demo.client.ids(token, "companies")[0]
        demo.client.update(token, "companies", company, {"numberofemployees": "many"})
        path = tmp_path / "crm.duckdb"
        pipeline = dlt.pipeline(
            "crm",
            pipelines_dir=str(tmp_path / "dlt"),
            destination=dlt.destinations.duckdb(str(path)),
            dataset_name="hubspot",
        )
        pipeline.run(source(config=account.config, credentials=account.credentials))
    finally:
        demo.stop()
    with duckdb.connect(str(path), read_only=True) as con:
        rejected = con.sql(
            f"SELECT model, record_id, reason, payload FROM hubspot.{REJECTED}"
        ).fetchall()
        kept = con.sql("SELECT count(*) FROM hubspot.companies WHERE id = ?", params=[company])
        assert kept.fetchone() == (0,)
    assert [(m, r) for m, r, _, _ in rejected] == [("companies", company)]
    assert "numberofemployees" in rejected[0][2]
    assert json.loads(rejected[0][3])["properties"]["numberofemployees"] == "many"


def test_a_source_with_some_resources_loads_those(case: Case) -> None:
    first, *others = case.spec.models
    pipeline = case.pipeline("some")
    pipeline.run(case.build().with_resources(first))
    case.demo.change(case.account)
    pipeline.run(case.build().with_resources(first))
    read = pipeline.last_trace.last_normalize_info.row_counts
    expected = case.listed("expected")
    assert read[first] < len(expected[first])
    with duckdb.connect(str(case.tmp / "some.duckdb"), read_only=True) as con:
        loaded = {
            name
            for (name,) in con.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                params=[case.spec.name],
            ).fetchall()
        }
    assert first in loaded
    assert not loaded & set(others)
    assert tables(case.tmp / "some.duckdb", case.spec, models=[first]) == {first: expected[first]}


def test_models_left_out_are_not_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sources.hubspot import source

    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
    demo = INTEGRATIONS["hubspot"].sandbox(records=RECORDS)
    try:
        account = demo.accounts[0]
        pipeline = dlt.pipeline(
            "crm",
            pipelines_dir=str(tmp_path / "dlt"),
            destination=dlt.destinations.duckdb(str(tmp_path / "crm.duckdb")),
            dataset_name="hubspot",
        )
        built = source(config=account.config, credentials=account.credentials)
        pipeline.run(built.with_resources("contacts"))
        assert demo.sandbox.requests_to("/crm/v3/objects/contacts")
        assert not demo.sandbox.requests_to("/crm/v3/objects/companies")
        assert not demo.sandbox.requests_to("/crm/v3/objects/deals")
    finally:
        demo.stop()
