"""What the contract tests share: connecting a kit's account, reading what a run did, the
state a failed run must leave alone, where secrets must not be."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
from pydantic import BaseModel, SecretStr

from pipelines.engine.results import SyncResult
from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.sandbox.contract import ContractKit, KitAccount, RecordKey
from sources.spec import IntegrationSpec
from tests.helpers import query

RECORDS = 16
PAGE = 3

Event = tuple[str, str, str]


def connect(home: Home, kit: ContractKit, account: KitAccount, connection_id: str = "acme") -> None:
    Connections(home).add(
        kit.integration, connection_id, credentials=account.credentials, config=account.config
    )


def of_runs(home: Home, sql: str, results: Sequence[SyncResult]) -> list[tuple[Any, ...]]:
    """The rows ``sql`` answers for each run (its one parameter is the run id), in turn."""
    return [row for result in results for row in query(home, sql, [result.run_id])]


def events(home: Home, results: Sequence[SyncResult]) -> list[Event]:
    """``(model, record_id, action)`` of the runs' change events, in order."""
    sql = (
        "select model, record_id, action from syncs.change_events where run_id = ? order by cursor"
    )
    return [(m, r, a) for m, r, a in of_runs(home, sql, results)]


def exactly(home: Home, results: Sequence[SyncResult]) -> set[Event]:
    """The runs' events as a set, after checking no record changed twice."""
    got = events(home, results)
    assert len(got) == len(set(got)), f"events repeated: {sorted(got)}"
    return set(got)


def expect(keys: Iterable[RecordKey], action: str) -> set[Event]:
    return {(model, record_id, action) for model, record_id in keys}


def total(results: Sequence[SyncResult], name: str) -> int:
    return sum(r.total(name) for r in results)


def model_result(results: Sequence[SyncResult], model: str) -> Any:
    (found,) = [r.models[model] for r in results if model in r.models]
    return found


def live_ids(home: Home, integration: str, model: str, connection_id: str = "acme") -> list[str]:
    rows = query(
        home,
        f'select id from "{integration}"."{model}" '
        "where connection_id = ? and _syncs_deleted_at is null order by id",
        [connection_id],
    )
    return [r[0] for r in rows]


def live_counts(home: Home, spec: IntegrationSpec, connection_id: str = "acme") -> dict[str, int]:
    return {m: len(live_ids(home, spec.name, m, connection_id)) for m in spec.models}


def snapshot(home: Home, spec: IntegrationSpec) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a run commits: the record tables, change events, cursors, records due.

    The run bookkeeping (``sync_runs``, ``api_requests``) is left out: a failed run is
    recorded there by design."""
    tables = [f'"{spec.name}"."{m}"' for m in spec.models]
    tables += ["syncs.change_events", "syncs.sync_state", "syncs.due_records"]
    return {t: query(home, f"select * from {t} order by all") for t in tables}


def cursors(home: Home, connection_id: str) -> list[tuple[Any, ...]]:
    return query(
        home,
        "select sync, model, cursor from syncs.sync_state where connection_id = ? order by all",
        [connection_id],
    )


def secret_values(credentials: BaseModel) -> list[str]:
    return [v.get_secret_value() for _, v in credentials if isinstance(v, SecretStr)]


def secrets_of(home: Home, connection_id: str, account: KitAccount) -> list[str]:
    """The connection's secret values as stored (refreshed tokens included), and the
    encoded forms the kit names."""
    connections = Connections(home)
    stored = connections.credentials(connections.get(connection_id))
    return [v for v in [*secret_values(stored), *account.secrets] if v]


def assert_no_secret_stored(home: Home, secrets: Iterable[str]) -> None:
    """No file under ``SYNCS_HOME`` holds a secret, and no text column of the warehouse
    (whose pages are compressed, so a file's bytes alone would not show it)."""
    wanted = sorted({s for s in secrets if s})
    assert wanted, "no secrets to look for"
    files = [p for p in home.root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for secret in wanted:
            assert secret.encode() not in content, f"{path} holds a secret"
    if not home.warehouse.exists():
        return
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON')"
        ).fetchall()
        for schema, table, column in columns:
            matches = " or ".join(f'contains("{column}"::varchar, ?)' for _ in wanted)
            (hits,) = con.execute(
                f'select count(*) from "{schema}"."{table}" where {matches}', wanted
            ).fetchone()
            assert hits == 0, f"{schema}.{table}.{column} holds a secret"
    finally:
        con.close()


def cli_args(account: KitAccount, *, credentials: bool = True, config: bool = True) -> list[str]:
    """``--credential``/``--config`` arguments for the account's connection."""
    args: list[str] = []
    if credentials:
        for key, value in account.credentials.items():
            args += ["--credential", f"{key}={value}"]
    if config:
        for key, value in account.config.items():
            args += ["--config", f"{key}={value}"]
    return args
