"""The snapshot compare and rejected records: never deleted, never unchanged, marked until a
good version arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from pydantic import BaseModel

from pipelines.engine.compare import ModelResult, apply_snapshot
from pipelines.engine.warehouse import ensure_platform_tables
from sources.spec import ModelSpec


class Item(BaseModel):
    id: str
    name: str | None = None


ITEMS = ModelSpec("items", Item)


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_platform_tables(con)
    con.execute("CREATE SCHEMA land")
    con.execute(
        "CREATE TABLE land.items (id VARCHAR, name VARCHAR, _syncs_run_id VARCHAR, "
        "_syncs_seq BIGINT)"
    )
    con.execute(
        "CREATE TABLE land.rejected (model VARCHAR, record_id VARCHAR, reason VARCHAR, "
        "payload VARCHAR, _syncs_run_id VARCHAR, _syncs_seq BIGINT)"
    )
    yield con
    con.close()


def run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: list[tuple[str, str]],
    rejected: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    *,
    full: bool = True,
    tombstones: tuple[str, ...] | list[str] = (),
) -> ModelResult:
    con.execute("DELETE FROM land.items")
    con.execute("DELETE FROM land.rejected")
    con.execute(
        "CREATE OR REPLACE TABLE land.gone (model VARCHAR, record_id VARCHAR, "
        "deleted_at TIMESTAMPTZ, _syncs_run_id VARCHAR, _syncs_seq BIGINT)"
    )
    for seq, (record_id, name) in enumerate(rows):
        con.execute("INSERT INTO land.items VALUES (?, ?, ?, ?)", [record_id, name, run_id, seq])
    for seq, (record_id, reason) in enumerate(rejected):
        con.execute(
            "INSERT INTO land.rejected VALUES ('items', ?, ?, '{}', ?, ?)",
            [record_id, reason, run_id, seq],
        )
    for record_id in tombstones:
        con.execute("INSERT INTO land.gone VALUES ('items', ?, NULL, ?, 0)", [record_id, run_id])
    con.execute("BEGIN TRANSACTION")
    result = apply_snapshot(
        con,
        integration="test",
        sync="all",
        model=ITEMS,
        connection_id="c1",
        run_id=run_id,
        fresh='"land"."items"',
        tombstones='"land"."gone"' if tombstones else None,
        full_listing=full,
        now=datetime.now(UTC),
        rejected='"land"."rejected"' if rejected else None,
    )
    con.execute("COMMIT")
    return result


def rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT id, name, _syncs_last_action, _syncs_deleted_at IS NOT NULL, "
        "_syncs_rejected_reason FROM test.items ORDER BY id"
    ).fetchall()


def actions(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    return con.execute(
        "SELECT record_id, action FROM syncs.change_events WHERE run_id = ? ORDER BY record_id",
        [run_id],
    ).fetchall()


def test_a_rejected_record_is_held_out_of_a_full_listing_and_marked(warehouse):
    run(warehouse, "r1", [("a", "Ann"), ("b", "Bob"), ("c", "Cy")])

    result = run(warehouse, "r2", [("a", "Ann")], [("b", "name: too long")], tombstones=["b"])

    assert actions(warehouse, "r2") == [("c", "DELETED")]
    assert (result.deleted, result.unchanged, result.fetched) == (1, 1, 1)
    assert rows(warehouse) == [
        ("a", "Ann", "ADDED", False, None),
        ("b", "Bob", "ADDED", False, "name: too long"),
        ("c", "Cy", "DELETED", True, None),
    ]
    (first_rejected,) = warehouse.execute(
        "SELECT _syncs_rejected_at FROM test.items WHERE id = 'b'"
    ).fetchone()

    run(warehouse, "r3", [("a", "Ann")], [("b", "name: still too long")])
    assert actions(warehouse, "r3") == []
    assert warehouse.execute(
        "SELECT _syncs_rejected_reason, _syncs_rejected_at FROM test.items WHERE id = 'b'"
    ).fetchall() == [("name: still too long", first_rejected)]


def test_a_good_version_clears_the_mark_changed_or_not(warehouse):
    run(warehouse, "r1", [("a", "Ann"), ("b", "Bob")])
    run(warehouse, "r2", [], [("a", "bad"), ("b", "bad")], full=False)
    assert [r[4] for r in rows(warehouse)] == ["bad", "bad"]

    result = run(warehouse, "r3", [("a", "Ann"), ("b", "Bobby")], full=False)

    assert actions(warehouse, "r3") == [("b", "UPDATED")]
    assert (result.unchanged, result.updated) == (1, 1)
    assert rows(warehouse) == [
        ("a", "Ann", "ADDED", False, None),
        ("b", "Bobby", "UPDATED", False, None),
    ]


def test_a_record_both_rejected_and_good_in_one_run_takes_the_good_version(warehouse):
    run(warehouse, "r1", [("a", "Ann")])
    run(warehouse, "r2", [("a", "Anna")], [("a", "bad copy")])
    assert rows(warehouse) == [("a", "Anna", "UPDATED", False, None)]
