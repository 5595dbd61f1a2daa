"""Malformed upstream pages: wrong types, missing ids, ids as numbers, paging cut short,
null results and bodies that are not JSON, in full listings and incremental searches. No
case may delete a live record; each must fail the run, reject the record (keeping its last
good version) or hold the deletions, as the README says; the clean run after it is exact."""

from __future__ import annotations

from typing import Any

from reliability.harness import Workspace, add_hubspot, compare_hubspot, hubspot_sandbox, query
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-malformed-3a9d0c2b1e4f"
LISTING = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"

# (fault, mode, what must happen): failed, rejected, held or unchanged.
CASES: list[tuple[str, str, str]] = [
    ("null_results", "full", "failed"),
    ("null_results", "incremental", "failed"),
    ("no_next", "full", "held"),
    ("missing_ids", "full", "held"),
    ("missing_ids", "incremental", "rejected"),
    ("wrong_types", "full", "rejected"),
    ("wrong_types", "incremental", "rejected"),
    ("numeric_ids", "full", "unchanged"),
    ("numeric_ids", "incremental", "unchanged"),
    ("invalid_json", "full", "failed"),
    ("invalid_json", "incremental", "failed"),
]
SMALL = {
    ("no_next", "full"),
    ("missing_ids", "full"),
    ("wrong_types", "incremental"),
    ("invalid_json", "full"),
}


def outcome(done: Any, models: list[tuple[Any, ...]]) -> str:
    if done.code != 0:
        return "failed"
    _, rejected, held, *_ = models[0] if models else (None, 0, 0)
    if held:
        return "held"
    if rejected:
        return "rejected"
    return "unchanged"


def scenario(result: Result, small: bool) -> None:
    cases = [c for c in CASES if (c[0], c[1]) in SMALL] if small else CASES
    rows: list[dict[str, Any]] = []
    with Workspace("malformed", RUNTIME__REQUEST_BACKOFF_FACTOR="0.05") as ws:
        sandbox = hubspot_sandbox()
        try:
            sandbox.add_account(
                TOKEN, seed=9, contacts=400 if small else 3_000, companies=5, deals=5
            )
            add_hubspot(ws, sandbox, "acme", TOKEN)
            result.check(ws.syncs("run", "hubspot", "acme").code == 0, "the first run failed")
            for n, (fault, mode, expected) in enumerate(cases):
                if mode == "incremental":
                    for record_id in sandbox.ids(TOKEN, "contacts")[n * 5 : n * 5 + 5]:
                        sandbox.update(TOKEN, "contacts", record_id, {"city": f"case {n}"})
                prefix = SEARCH if mode == "incremental" else LISTING
                if fault == "invalid_json":
                    sandbox.inject_fault("truncated", count=5, path_prefix=prefix)
                else:
                    sandbox.inject_page_fault(
                        fault, count=1 if fault != "numeric_ids" else 40, path_prefix=prefix
                    )
                args = ["run", "hubspot", "acme", "--sync", "crm"] + (
                    ["--full-refresh"] if mode == "full" else []
                )
                done = ws.syncs(*args)
                sandbox.clear_faults()
                models = (
                    query(
                        ws.home,
                        "SELECT m.model, m.rejected, m.deletions_held, m.deleted FROM syncs.sync_run_models m "
                        "JOIN syncs.sync_runs r USING (run_id) WHERE m.model = 'contacts' "
                        "ORDER BY r.started_at DESC LIMIT 1",
                    )
                    if done.code == 0
                    else []
                )
                got = outcome(done, models)
                during = compare_hubspot(ws.home, sandbox, TOKEN, "acme")
                clean = ws.syncs(
                    "run", "hubspot", "acme", *(["--full-refresh"] if mode == "full" else [])
                )
                after = compare_hubspot(ws.home, sandbox, TOKEN, "acme")
                row = {
                    "fault": fault,
                    "mode": mode,
                    "expected": expected,
                    "got": got,
                    "one_line_error": done.one_line_error if done.code else None,
                    "false_deletes": len(during.false_deletes),
                    "next_run_exact": clean.code == 0 and after.exact,
                }
                rows.append(row)
                result.check(
                    got == expected,
                    f"{fault} in a {mode} run: {got}, not {expected} ({done.err.strip()[:300]})",
                )
                result.check(
                    not during.false_deletes, f"{fault} in a {mode} run deleted live records"
                )
                result.check(not done.code or not done.traceback, f"{fault}: a traceback")
                result.check(
                    not done.code or done.one_line_error, f"{fault}: not one line: {done.err!r}"
                )
                result.check(
                    row["next_run_exact"],
                    f"after {fault} ({mode}) the next run is not exact: {after.summary()}",
                )
        finally:
            sandbox.stop()
    result.figures = {
        "cases": len(rows),
        "as_expected": sum(r["got"] == r["expected"] for r in rows),
        "false_deletes": sum(r["false_deletes"] for r in rows),
        "table": rows,
    }


run = timed(scenario, "malformed", "Malformed upstream pages")

if __name__ == "__main__":
    main_of(run)
