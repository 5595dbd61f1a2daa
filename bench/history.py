"""What keeping every record's history costs the engine: ``python -m bench.history``.

The stages of ``make bench`` that write (c. initial, d. full refresh after 1% updated and
0.5% deleted, e. incremental after another 1% updated), each in its own process against
one HubSpot sandbox of N contacts, then the history read back: every contact as of a
time between d and e, and one record's versions. Prints one JSON object: each stage's
seconds, its compare and apply timings and peak memory, the warehouse's size after each,
and the reads' seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.run import Sandbox, stage


def _size_mb(workdir: Path) -> float:
    return round((workdir / "home" / "warehouse.duckdb").stat().st_size / 1e6, 1)


def _reads(workdir: Path, as_of: str) -> dict[str, Any]:
    con = duckdb.connect(str(workdir / "home" / "warehouse.duckdb"), read_only=True)
    try:
        has_view = con.execute(
            "select count(*) from duckdb_views() where schema_name = 'hubspot' "
            "and view_name = 'contacts__history'"
        ).fetchone()
        if not (has_view and has_view[0]):
            return {}
        clock = time.perf_counter()
        (live,) = con.execute(  # type: ignore[misc]
            "select count(*) from hubspot.contacts__history where _syncs_valid_from <= ? "
            "and (_syncs_valid_to is null or _syncs_valid_to > ?) "
            "and _syncs_action <> 'DELETED'",
            [as_of, as_of],
        ).fetchone()
        as_of_seconds = time.perf_counter() - clock
        (record_id,) = con.execute(  # type: ignore[misc]
            "select id from hubspot.contacts where _syncs_last_action = 'UPDATED' limit 1"
        ).fetchone()
        clock = time.perf_counter()
        versions = con.execute(
            "select count(*) from hubspot.contacts__history where connection_id = 'bench' "
            "and id = ?",
            [record_id],
        ).fetchone()
        versions_seconds = time.perf_counter() - clock
    finally:
        con.close()
    return {
        "as_of_count": live,
        "as_of_seconds": round(as_of_seconds, 3),
        "versions_of_one": versions[0] if versions else 0,
        "versions_seconds": round(versions_seconds, 3),
    }


def series(records: int, workdir: Path) -> dict[str, Any]:
    sandbox = Sandbox(records)
    out: dict[str, Any] = {"records": records}
    try:
        for name, change in (
            ("c_initial", None),
            ("d_full_refresh", ("update 0.01 1", "erase 0.005 2")),
            ("e_incremental", ("update 0.01 3",)),
        ):
            between = None
            for command in change or ():
                sandbox.command(command)
            if name == "e_incremental":
                between = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                time.sleep(1)
            result = stage(
                "initial" if name == "c_initial" else name.split("_")[1], sandbox, workdir
            )
            out[name] = {
                "seconds": result["seconds"],
                "compare": round(result["timings"].get("compare", 0.0), 3),
                "apply": round(result["timings"].get("apply", 0.0), 3),
                "history": round(result["timings"].get("history", 0.0), 3),
                "lock_held": round(result["timings"].get("lock_held", 0.0), 3),
                "peak_rss_mb": result["peak_rss_mb"],
                "warehouse_mb": _size_mb(workdir),
            }
            if between is not None:
                out["reads"] = _reads(workdir, between)
    finally:
        sandbox.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        print(json.dumps(series(args.records, Path(workdir)), indent=2))


if __name__ == "__main__":
    main()
