"""What the users' copy of the warehouse (``query.duckdb``) costs, and what the other way costs.

``python -m bench.query_copy --records N`` fills a warehouse with N HubSpot contacts (a syncs
initial run against the benchmark's sandbox), then measures, on that file:

- the refresh syncs make after each write: a copy of the file's bytes, put in place by
  rename, under the shared lock (so the time it takes is the time it keeps a writer waiting);
- the alternative of rewriting the data into a new file (``COPY FROM DATABASE``);
- an incremental sync after 1% of the contacts changed, with the copy on and off in turn
  (medians of three each; each run also re-reads the minute before its cursor).

Figures go to ``bench/query_copy.json`` and ``bench/query_copy.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.run import HERE, Sandbox, stage


def timed_refresh(workdir: Path, repeat: int) -> dict[str, Any]:
    os.environ["SYNCS_HOME"] = str(workdir / "home")
    from pipelines.engine import query_copy
    from pipelines.engine.warehouse import connect, warehouse_lock
    from pipelines.home import Home

    home = Home.from_env()
    seconds = []
    for _ in range(repeat):
        with warehouse_lock(home, exclusive=False):
            started = time.perf_counter()
            assert query_copy.refresh(home)
            seconds.append(time.perf_counter() - started)
    rewritten = workdir / "rewritten.duckdb"
    started = time.perf_counter()
    con = connect(rewritten, read_only=False, key=None)
    con.execute(f"ATTACH '{home.warehouse}' AS source (READ_ONLY)")
    con.execute("COPY FROM DATABASE source TO rewritten")
    con.close()
    rewrite = time.perf_counter() - started
    return {
        "warehouse_mb": round(home.warehouse.stat().st_size / 2**20, 1),
        "copy_mb": round(home.query_copy.stat().st_size / 2**20, 1),
        "refresh_seconds_median": round(statistics.median(seconds), 3),
        "refresh_seconds_max": round(max(seconds), 3),
        "rewrite_seconds": round(rewrite, 3),
        "rewrite_mb": round(rewritten.stat().st_size / 2**20, 1),
    }


def incremental(sandbox: Sandbox, workdir: Path, seed: int, copy: bool) -> dict[str, Any]:
    os.environ["SYNCS_QUERY_COPY"] = "true" if copy else "false"
    try:
        sandbox.command(f"update 0.01 {seed}")
        result = stage("incremental", sandbox, workdir)
    finally:
        os.environ.pop("SYNCS_QUERY_COPY", None)
    return {"seconds": result["seconds"], "records": result["records"]}


def measure(records: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sandbox = Sandbox(records)
        try:
            initial = stage("initial", sandbox, workdir)
            refresh = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "bench.query_copy", "--refresh-only", str(workdir)],
                    cwd=HERE.parent,
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "REPEAT": str(repeat)},
                ).stdout
            )
            with_copy, without = [], []
            for i in range(3):
                with_copy.append(incremental(sandbox, workdir, 10 + i, True))
                without.append(incremental(sandbox, workdir, 20 + i, False))
        finally:
            sandbox.stop()
    return {
        "records": records,
        "initial_seconds": initial["seconds"],
        **refresh,
        "incremental_seconds_with_copy": statistics.median(r["seconds"] for r in with_copy),
        "incremental_seconds_without_copy": statistics.median(r["seconds"] for r in without),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refresh-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.refresh_only:
        print(json.dumps(timed_refresh(args.refresh_only, int(os.environ.get("REPEAT", "5")))))
        return
    rows = [measure(n, args.repeat) for n in args.records]
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "sizes": rows,
    }
    (HERE / "query_copy.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# The users' copy ({report['measured_at']}, {os.cpu_count()} CPUs)",
        "",
        "| contacts | warehouse MB | refresh s (median, max) | rewrite s | rewritten MB | "
        "incremental s, copy on | copy off |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['records']:,} | {r['warehouse_mb']} | {r['refresh_seconds_median']}, "
            f"{r['refresh_seconds_max']} | {r['rewrite_seconds']} | {r['rewrite_mb']} | "
            f"{r['incremental_seconds_with_copy']:.2f} | "
            f"{r['incremental_seconds_without_copy']:.2f} |"
        )
    (HERE / "query_copy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
