"""The snapshot compare on a real DuckDB file: stored row hashes and repeated records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from pydantic import BaseModel

from pipelines.api.queries import read_records
from pipelines.engine.compare import ModelResult, apply_snapshot
from pipelines.engine.sync import SyncRunner
from pipelines.engine.warehouse import ensure_platform_tables
from pipelines.home import Home
from sources.hubspot.sandbox.server import HubSpotSandbox
from sources.spec import ModelSpec
from tests.conftest import add_hubspot
from tests.helpers import query


class Item(BaseModel):
    id: str
    name: str | None = None
    seen: int | None = None


ITEMS = ModelSpec("items", Item, frozenset({"seen"}))


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_platform_tables(con)
    con.execute("CREATE SCHEMA land")
    con.execute(
        "CREATE TABLE land.items (id VARCHAR, name VARCHAR, seen BIGINT, "
        "_syncs_run_id VARCHAR, _syncs_seq BIGINT)"
    )
    yield con
    con.close()


def land_and_apply(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: list[tuple],
    *,
    full: bool = True,
    names: tuple[str, ...] = ("id", "name", "seen"),
) -> ModelResult:
    """Land ``rows`` (values of ``names``) as one run, in fetch order, and compare them."""
    con.execute("DELETE FROM land.items")
    listed = ", ".join([*names, "_syncs_run_id", "_syncs_seq"])
    marks = ", ".join("?" * (len(names) + 2))
    for seq, row in enumerate(rows):
        con.execute(f"INSERT INTO land.items ({listed}) VALUES ({marks})", [*row, run_id, seq])
    con.execute("BEGIN TRANSACTION")
    result = apply_snapshot(
        con,
        integration="test",
        sync="all",
        model=ITEMS,
        connection_id="c1",
        run_id=run_id,
        fresh='"land"."items"',
        tombstones=None,
        full_listing=full,
        now=datetime.now(UTC),
    )
    con.execute("COMMIT")
    return result


def run_events(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    return con.execute(
        "SELECT record_id, action, changed_fields FROM syncs.change_events "
        "WHERE run_id = ? ORDER BY record_id",
        [run_id],
    ).fetchall()


def test_a_repeated_record_counts_once_and_the_last_fetched_wins(warehouse):
    land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1)])

    result = land_and_apply(
        warehouse, "r2", [("a", "Anna", 2), ("b", "Bob", 1), ("a", "Annie", 3), ("b", "Bob", 1)]
    )

    assert run_events(warehouse, "r2") == [("a", "UPDATED", ["name"])]
    assert (result.updated, result.fetched, result.unchanged) == (1, 4, 3)
    rows = warehouse.execute("SELECT id, name, seen FROM test.items ORDER BY id").fetchall()
    assert rows == [("a", "Annie", 3), ("b", "Bob", 1)]


@pytest.mark.parametrize(
    ("copies", "events", "name"),
    [
        # The change comes first and the unchanged copy last: the last one wins, no change.
        ([("a", "Anna", 1), ("a", "Ann", 1)], [], "Ann"),
        # The unchanged copy comes first: the change is the last word.
        ([("a", "Ann", 1), ("a", "Anna", 1)], [("a", "UPDATED", ["name"])], "Anna"),
    ],
)
def test_a_record_repeated_changed_and_unchanged_keeps_the_last_copy(
    warehouse, copies, events, name
):
    land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1)])

    land_and_apply(warehouse, "r2", [*copies, ("b", "Bob", 1)])

    assert run_events(warehouse, "r2") == events
    rows = warehouse.execute("SELECT id, name FROM test.items ORDER BY id").fetchall()
    assert rows == [("a", name), ("b", "Bob")]


def test_a_repeated_new_record_is_added_once(warehouse):
    result = land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("a", "Ann", 2)])

    assert run_events(warehouse, "r1") == [("a", "ADDED", None)]
    assert result.added == 1
    assert warehouse.execute("SELECT id, seen FROM test.items").fetchall() == [("a", 2)]


def test_a_first_run_adds_every_row_with_its_events_cursor(warehouse):
    result = land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1), ("c", "Cy", 1)])

    rows = warehouse.execute(
        "SELECT t.id, t._syncs_cursor, e.cursor, t._syncs_last_action FROM test.items t "
        "JOIN syncs.change_events e ON e.record_id = t.id AND e.run_id = 'r1' ORDER BY t.id"
    ).fetchall()
    assert [(i, action) for i, _, _, action in rows] == [
        ("a", "ADDED"),
        ("b", "ADDED"),
        ("c", "ADDED"),
    ]
    assert all(row_cursor == event_cursor for _, row_cursor, event_cursor, _ in rows)
    cursors = sorted(c for _, c, _, _ in rows)
    assert (result.added, result.first_cursor, result.last_cursor) == (3, cursors[0], cursors[-1])
    assert len(set(cursors)) == 3


def test_refreshed_rows_keep_when_they_were_first_seen(warehouse):
    land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1)])
    first = dict(warehouse.execute("SELECT id, _syncs_first_seen_at FROM test.items").fetchall())

    land_and_apply(warehouse, "r2", [("a", "Anna", 1), ("b", "Bob", 2)])

    rows = warehouse.execute(
        "SELECT id, _syncs_first_seen_at, _syncs_last_action, _syncs_run_id FROM test.items "
        "ORDER BY id"
    ).fetchall()
    assert rows == [("a", first["a"], "UPDATED", "r2"), ("b", first["b"], "ADDED", "r1")]
    assert run_events(warehouse, "r2") == [("a", "UPDATED", ["name"])]


def test_an_update_names_each_changed_field_with_its_old_and_new_value(warehouse):
    warehouse.execute("ALTER TABLE land.items ADD COLUMN city VARCHAR")
    names = ("id", "name", "seen", "city")
    land_and_apply(
        warehouse,
        "r1",
        [("a", "Ann", 1, None), ("b", "Bob", 1, "Oslo"), ("c", "Cy", 1, "Rome")],
        names=names,
    )

    land_and_apply(
        warehouse,
        "r2",
        [("a", "Ann", 2, "Lima"), ("b", None, 1, "Oslo"), ("c", "Cyd", 1, None)],
        names=names,
    )

    described = warehouse.execute(
        "SELECT record_id, changed_fields, changes FROM syncs.change_events "
        "WHERE run_id = 'r2' ORDER BY record_id"
    ).fetchall()
    assert [(r, f, json.loads(c)) for r, f, c in described] == [
        ("a", ["city"], [{"field": "city", "old": None, "new": "Lima"}]),
        ("b", ["name"], [{"field": "name", "old": "Bob", "new": None}]),
        (
            "c",
            ["name", "city"],
            [
                {"field": "name", "old": "Cy", "new": "Cyd"},
                {"field": "city", "old": "Rome", "new": None},
            ],
        ),
    ]


def test_hashes_from_another_duckdb_are_computed_again_not_taken_for_changes(warehouse):
    land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1)])
    warehouse.execute("UPDATE test.items SET _syncs_hash = 0, _syncs_volatile_hash = 0")
    warehouse.execute(
        "UPDATE syncs.row_hashes SET hashed_with = ?",
        [json.dumps({"duckdb": "0.0.1", "stable": ["name"], "volatile": ["seen"]})],
    )

    result = land_and_apply(warehouse, "r2", [("a", "Ann", 1), ("b", "Bob", 1)])

    assert run_events(warehouse, "r2") == []
    assert (result.updated, result.unchanged) == (0, 2)
    (hashed_with,) = warehouse.execute("SELECT hashed_with FROM syncs.row_hashes").fetchone()
    assert json.loads(hashed_with)["duckdb"] == duckdb.__version__


def test_a_new_column_is_hashed_in_before_the_compare(warehouse):
    land_and_apply(warehouse, "r1", [("a", "Ann", 1), ("b", "Bob", 1)])
    # The API starts sending a field the table does not have yet.
    warehouse.execute("ALTER TABLE land.items ADD COLUMN title VARCHAR")

    land_and_apply(
        warehouse,
        "r2",
        [("a", "Ann", 1, "CEO"), ("b", "Bob", 1, None)],
        names=("id", "name", "seen", "title"),
    )

    assert run_events(warehouse, "r2") == [("a", "UPDATED", ["title"])]
    rows = warehouse.execute("SELECT id, title FROM test.items ORDER BY id").fetchall()
    assert rows == [("a", "CEO"), ("b", None)]


def test_hash_columns_stay_out_of_the_records_api_rows(home: Home, hubspot: HubSpotSandbox):
    add_hubspot(home, hubspot)
    SyncRunner(home).run("acme")
    page = read_records(
        home, integration="hubspot", model="contacts", connection_id="acme", limit=5
    )
    assert page["records"]
    assert not any(key.startswith("_syncs") for key in page["records"][0])
    stored = query(home, "select count(*) from hubspot.contacts where _syncs_hash is null")
    assert stored == [(0,)]


def test_loaded_packages_and_landed_files_are_deleted_once_the_run_commits(
    home: Home, hubspot: HubSpotSandbox
):
    add_hubspot(home, hubspot)
    runner = SyncRunner(home)
    runner.run("acme")
    runner.run("acme", mode="full")

    assert list(home.dlt_dir.glob("*/load/loaded/*")) == []
    assert list(home.dlt_dir.glob("landing/*/*/*.parquet")) == []
    assert query(home, "select count(*) from hubspot.contacts") == [(250,)]


def test_a_landing_schema_left_in_the_warehouse_is_dropped(home: Home, hubspot: HubSpotSandbox):
    add_hubspot(home, hubspot)
    runner = SyncRunner(home)
    runner.run("acme")
    con = duckdb.connect(str(home.warehouse))
    con.execute("CREATE SCHEMA _landing_hubspot__acme__crm")
    con.execute("CREATE TABLE _landing_hubspot__acme__crm.contacts AS SELECT 1 AS id")
    con.close()

    runner.run("acme")

    schemas = query(
        home, "select schema_name from duckdb_schemas() where starts_with(schema_name, '_landing')"
    )
    assert schemas == []
