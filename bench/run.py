"""``make bench``: syncs against plain dlt and against the raw fetch floor.

Stages, each in its own process against one HubSpot sandbox holding N contacts, in this
order: b. plain dlt, a. fetch floor, c. syncs initial full refresh, d. syncs full refresh
after 1% updated and 0.5% deleted (its change events must be exactly those), e. syncs
incremental after another 1% updated; then c and e again at N/10. Peak memory (RSS) is
taken per stage process. Figures go to ``bench/results.json`` and ``bench/results.md``,
stages listed a to e. Then the real-time stage (``bench.realtime``, its own figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent


class Sandbox:
    def __init__(self, records: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sandbox", "--records", str(records)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE.parent,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.base_url: str = info["base_url"]
        self.token: str = info["token"]

    def command(self, line: str) -> dict[str, list[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def stage(name: str, sandbox: Sandbox, workdir: Path) -> dict[str, Any]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.stages",
            name,
            "--base-url",
            sandbox.base_url,
            "--token",
            sandbox.token,
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        cwd=HERE.parent,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"stage {name} failed with exit code {proc.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["records_per_second"] = round(result["records"] / result["seconds"])
    result["seconds"] = round(result["seconds"], 3)
    print(f"  {name:<12} {result['seconds']:>9.2f} s  {result['peak_rss_mb']:>8.0f} MB", flush=True)
    return result


def events_of(workdir: Path, run_id: str) -> dict[str, set[str]]:
    con = duckdb.connect(str(workdir / "home" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select action, record_id from syncs.change_events where run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    out: dict[str, set[str]] = {}
    for action, record_id in rows:
        out.setdefault(action, set()).add(record_id)
    return out


def syncs_series(records: int, with_baselines: bool, workdir: Path) -> dict[str, Any]:
    print(f"sandbox with {records:,} contacts", flush=True)
    sandbox = Sandbox(records)
    results: dict[str, Any] = {}
    try:
        if with_baselines:
            # The floor runs right before c, whose ratio to it is the point: measured
            # before plain dlt's ten minutes, it also measured how the machine drifted.
            results["b_plain_dlt"] = stage("plain", sandbox, workdir)
            results["a_fetch_floor"] = stage("floor", sandbox, workdir)
        results["c_initial"] = stage("initial", sandbox, workdir)
        if with_baselines:
            updated = set(sandbox.command("update 0.01 1")["update"])
            erased = set(sandbox.command("erase 0.005 2")["erase"])
            results["d_full_refresh"] = d = stage("full", sandbox, workdir)
            got = events_of(workdir, d["run_id"])
            d["events_exact"] = got == {"UPDATED": updated - erased, "DELETED": erased}
        updated = set(sandbox.command("update 0.01 3")["update"])
        results["e_incremental"] = e = stage("incremental", sandbox, workdir)
        e["events_exact"] = events_of(workdir, e["run_id"]) == {"UPDATED": updated}
    finally:
        sandbox.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as big_dir, tempfile.TemporaryDirectory() as small_dir:
        big = dict(sorted(syncs_series(n, True, Path(big_dir)).items()))
        small = syncs_series(max(n // 10, 1), False, Path(small_dir))
    a, b, c = big["a_fetch_floor"], big["b_plain_dlt"], big["c_initial"]
    e = big["e_incremental"]
    ratios = {
        "c_over_b": round(c["seconds"] / b["seconds"], 3),
        "c_over_a": round(c["seconds"] / a["seconds"], 3),
        "e_over_c": round(e["seconds"] / c["seconds"], 3),
        "compare_seconds_full_refresh": round(big["d_full_refresh"]["timings"]["compare"], 3),
        "apply_seconds_full_refresh": round(big["d_full_refresh"]["timings"]["apply"], 3),
        "peak_rss_c_mb": c["peak_rss_mb"],
        "peak_rss_c_over_small": round(c["peak_rss_mb"] / small["c_initial"]["peak_rss_mb"], 2),
    }
    targets = {
        "c_over_b": ratios["c_over_b"] <= 0.2,
        "c_over_a": ratios["c_over_a"] <= 1.3,
        "e_over_c": ratios["e_over_c"] <= 0.05,
        "compare_seconds_full_refresh": ratios["compare_seconds_full_refresh"] <= 0.5,
        "peak_rss_c_mb": ratios["peak_rss_c_mb"] < 1024,
        "peak_rss_c_over_small": ratios["peak_rss_c_over_small"] <= 1.5,
    }
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "records": n,
        "stages": big,
        "stages_at_n_over_10": small,
        "ratios": ratios,
        "targets_met": targets,
    }
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [
        f"# Benchmark: {n:,} HubSpot contacts ({report['measured_at']}, {os.cpu_count()} CPUs)",
        "",
        "| stage | seconds | records/s | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, data in [*big.items(), *((f"{k} (N/10)", v) for k, v in small.items())]:
        lines.append(
            f"| {label} | {data['seconds']:.2f} | {data['records_per_second']:,} | "
            f"{data['peak_rss_mb']:.0f} |"
        )
    lines += ["", "| ratio | value | target met |", "| --- | ---: | :---: |"]
    met = {True: "yes", False: "no", None: "(no target)"}
    lines += [f"| {k} | {v} | {met[targets.get(k)]} |" for k, v in ratios.items()]
    (args.output.with_suffix(".md")).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("\nreal time (python -m bench.realtime)", flush=True)
    subprocess.run([sys.executable, "-m", "bench.realtime"], cwd=HERE.parent, check=True)


if __name__ == "__main__":
    main()
