"""Out of disk (the kernel refusing writes past ``RLIMIT_FSIZE`` in the sync's process, at
sizes from the landing files to the warehouse's write) and a read-only ``SYNCS_HOME`` (a
mount namespace of its own, with ``unshare -rm``). Each must end in one clear line and
lose nothing: the change events stay as they were, and the next run is exact."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from typing import Any

from reliability.harness import (
    OUTPUTS,
    Workspace,
    add_hubspot,
    compare_hubspot,
    hubspot_sandbox,
    query,
)
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-exhaustion-8d7c6b5a4e3f"


def limited(size: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def read_only(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    root = ws.home.root
    script = (
        f'mount --bind "{root}" "{root}" && mount -o remount,ro,bind "{root}" "{root}" && exec "$@"'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "pipelines.cli.main", *args],
        env=ws.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    OUTPUTS.add(done.stdout, done.stderr)
    return done


def scenario(result: Result, small: bool) -> None:
    sizes = [100_000, 600_000] if small else [50_000, 100_000, 200_000, 400_000, 600_000, 1_000_000]
    rows: list[dict[str, Any]] = []
    with Workspace("exhaustion") as ws:
        sandbox = hubspot_sandbox()
        try:
            sandbox.add_account(TOKEN, seed=1, contacts=3_000, companies=30, deals=20)
            add_hubspot(ws, sandbox, "acme", TOKEN)
            result.check(ws.syncs("run", "hubspot", "acme").code == 0, "the first run failed")
            for n, size in enumerate(sizes):
                for record_id in sandbox.ids(TOKEN, "contacts"):
                    sandbox.update(TOKEN, "contacts", record_id, {"jobtitle": f"disk {n}"})
                before = query(ws.home, "SELECT count(*), max(cursor) FROM syncs.change_events")
                done = ws.syncs("run", "hubspot", "acme", "--full-refresh", preexec=limited(size))
                after_fail = query(ws.home, "SELECT count(*), max(cursor) FROM syncs.change_events")
                clean = ws.syncs("run", "hubspot", "acme", "--full-refresh")
                compared = compare_hubspot(ws.home, sandbox, TOKEN, "acme")
                row = {
                    "file_size_limit": size,
                    "exit_code": done.code,
                    "out_of_disk_line": done.code != 0
                    and done.one_line_error
                    and "OutOfDiskError" in done.err,
                    "events_unchanged": done.code == 0 or after_fail == before,
                    "next_run_exact": clean.code == 0 and compared.exact,
                }
                rows.append(row)
                result.check(
                    done.code == 0 or row["out_of_disk_line"], f"at {size} bytes: {done.err!r}"
                )
                result.check(not done.traceback, f"at {size} bytes: a traceback")
                result.check(
                    row["events_unchanged"], f"at {size} bytes: events changed by a failed run"
                )
                result.check(
                    row["next_run_exact"], f"after {size} bytes: not exact {compared.summary()}"
                )
            ro: dict[str, Any] = {"available": shutil.which("unshare") is not None}
            if ro["available"] and read_only(ws, "integrations").returncode == 0:
                reads = [
                    ["connections", "list"],
                    ["connections", "show", "acme"],
                    ["changes"],
                    ["webhooks", "list"],
                ]
                writes = [["connections", "add", "hubspot", "b", "--credential", "access_token=x"],
                          ["run", "hubspot", "acme"], ["reset", "hubspot", "acme"]]  # fmt: skip
                read_ok = [read_only(ws, *a).returncode == 0 for a in reads]
                write_lines = []
                for args in writes:
                    done = read_only(ws, *args)
                    write_lines.append(
                        done.returncode != 0
                        and done.stderr.startswith("error: ")
                        and done.stderr.count("\n") == 1
                        and "read-only" in done.stderr.lower()
                    )
                ro.update(
                    reads_ok=sum(read_ok),
                    reads=len(reads),
                    writes_refused_in_one_line=sum(write_lines),
                    writes=len(writes),
                )
                result.check(all(read_ok) and all(write_lines), f"read-only home: {ro}")
                clean = ws.syncs("run", "hubspot", "acme")
                result.check(
                    clean.code == 0 and compare_hubspot(ws.home, sandbox, TOKEN, "acme").exact,
                    "after the read-only home: not exact",
                )
            else:
                ro["available"] = False
        finally:
            sandbox.stop()
    result.figures = {"out_of_disk": rows, "read_only_home": ro}


run = timed(scenario, "exhaustion", "Out of disk and a read-only home")

if __name__ == "__main__":
    main_of(run)
