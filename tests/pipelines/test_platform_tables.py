"""The platform tables of a warehouse made by an earlier release are brought up to date."""

from __future__ import annotations

import duckdb

from pipelines.engine.warehouse import PLATFORM_DDL, ensure_platform_tables


def test_run_tables_made_with_primary_keys_lose_them_and_keep_their_rows(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE SCHEMA syncs")
    old = next(sql for sql in PLATFORM_DDL if "syncs.sync_runs (" in sql).replace(
        "run_id VARCHAR NOT NULL,", "run_id VARCHAR PRIMARY KEY,"
    )
    con.execute(old)
    con.execute(
        "INSERT INTO syncs.sync_runs (run_id, connection_id, integration, sync, mode, "
        "sync_type, started_at, status) VALUES ('r1', 'acme', 'hubspot', 'crm', "
        "'incremental', 'INITIAL', now(), 'success')"
    )
    assert con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'sync_runs' "
        "AND constraint_type = 'PRIMARY KEY'"
    ).fetchone() == (1,)

    ensure_platform_tables(con)
    ensure_platform_tables(con)

    assert con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'syncs' "
        "AND constraint_type = 'PRIMARY KEY' AND table_name IN ('sync_runs', 'sync_run_models')"
    ).fetchone() == (0,)
    assert con.execute("SELECT run_id, connection_id, status FROM syncs.sync_runs").fetchall() == [
        ("r1", "acme", "success")
    ]
