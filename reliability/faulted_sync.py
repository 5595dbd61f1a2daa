"""A large sync through a faulty API: initial, incremental and full runs of HubSpot contacts
(with companies and deals) while a share of all API requests is answered 429 with
``Retry-After``, 500, slowly, cut mid-body or truncated with a ``Content-Length`` that agrees.
After each run the warehouse must hold exactly the sandbox's live records, field by field,
and the change events must be exactly the changes made."""

from __future__ import annotations

import random
from typing import Any

from reliability.harness import (
    Workspace,
    add_hubspot,
    compare_hubspot,
    hubspot_sandbox,
    query,
)
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-faulted-5f1c2e9a7b3d4c60"
KINDS = ["429", "500", "slow", "cut", "truncated"]
MODELS = ("contacts", "companies", "deals")


def scenario(result: Result, small: bool) -> None:
    contacts = 2_000 if small else 50_000
    rate = 0.08
    rng = random.Random(12)
    runs: list[dict[str, Any]] = []
    backoff = "0.05" if small else "0.2"
    with Workspace("faulted", RUNTIME__REQUEST_BACKOFF_FACTOR=backoff) as ws:
        sandbox = hubspot_sandbox()
        try:
            sandbox.add_account(TOKEN, seed=4, contacts=contacts, companies=300, deals=200)
            add_hubspot(ws, sandbox, "acme", TOKEN)
            last_cursor = 0
            for mode in ("initial", "incremental", "full"):
                expected: set[tuple[str, str, str]] = set()
                if mode == "initial":
                    expected = {(m, i, "ADDED") for m in MODELS for i in sandbox.ids(TOKEN, m)}
                else:
                    expected = change(sandbox, rng, contacts, full=mode == "full")
                sandbox.clear_requests()
                sandbox.faults_fired.clear()
                sandbox.random_faults(
                    rate, KINDS, seed=rng.randrange(1 << 30), delay=0.3 if small else 1.5
                )
                args = ["run", "hubspot", "acme"] + (["--full-refresh"] if mode == "full" else [])
                done = ws.syncs(*args)
                sandbox.clear_faults()
                requests = len(sandbox.requests_seen)
                fired = dict(sandbox.faults_fired)
                figures: dict[str, Any] = {
                    "mode": mode,
                    "exit_code": done.code,
                    "seconds": round(done.seconds, 1),
                    "api_requests": requests,
                    "faulted": sum(fired.values()),
                    "faulted_share": round(sum(fired.values()) / max(requests, 1), 4),
                    "faults": fired,
                }
                result.check(done.code == 0, f"{mode} run failed: {done.err.strip()}")
                for model in MODELS:
                    compared = compare_hubspot(ws.home, sandbox, TOKEN, "acme", model)
                    figures[model] = compared.summary()
                    result.check(
                        compared.exact,
                        f"{mode}: {model} differ from the sandbox: {compared.summary()}",
                    )
                got = query(
                    ws.home,
                    "SELECT model, record_id, action FROM syncs.change_events "
                    "WHERE connection_id = 'acme' AND cursor > ?",
                    [last_cursor],
                )
                last_cursor = query(ws.home, "SELECT max(cursor) FROM syncs.change_events")[0][0]
                events = {tuple(map(str, e)) for e in got}
                figures["events"] = len(got)
                figures["events_expected"] = len(expected)
                result.check(len(got) == len(events), f"{mode}: duplicate change events")
                result.check(
                    events == expected,
                    f"{mode}: events differ: {len(expected - events)} missing, "
                    f"{len(events - expected)} unexpected",
                )
                runs.append(figures)
        finally:
            sandbox.stop()
    total = sum(r["api_requests"] for r in runs)
    faulted = sum(r["faulted"] for r in runs)
    result.figures = {
        "contacts": contacts,
        "records": contacts + 500,
        "fault_rate_asked": rate,
        "api_requests": total,
        "faulted_requests": faulted,
        "faulted_share": round(faulted / max(total, 1), 4),
        "runs": runs,
    }
    result.check(faulted / max(total, 1) >= 0.05, f"only {faulted} of {total} requests faulted")


def change(
    sandbox: Any, rng: random.Random, contacts: int, *, full: bool
) -> set[tuple[str, str, str]]:
    """Update 1%, create and archive 0.2% of the contacts (and a few companies); the events
    those changes must give."""
    expected: set[tuple[str, str, str]] = set()
    ids = sandbox.ids(TOKEN, "contacts")
    count = max(contacts // 100, 5)
    picked = rng.sample(ids, count + count // 5)
    for record_id in picked[:count]:
        sandbox.update(TOKEN, "contacts", record_id, {"jobtitle": f"title {rng.random():.6f}"})
        expected.add(("contacts", record_id, "UPDATED"))
    for record_id in picked[count:]:
        sandbox.archive(TOKEN, "contacts", record_id)
        expected.add(("contacts", record_id, "DELETED"))
    for n in range(count // 5):
        made = sandbox.create(TOKEN, "contacts", {"email": f"new{n}-{rng.random()}@x.test"})
        expected.add(("contacts", made["id"], "ADDED"))
    for record_id in rng.sample(sandbox.ids(TOKEN, "companies"), 3):
        sandbox.update(TOKEN, "companies", record_id, {"city": f"city {rng.random():.6f}"})
        expected.add(("companies", record_id, "UPDATED"))
    return expected


run = timed(scenario, "faulted_sync", "A large sync through a faulty API")

if __name__ == "__main__":
    main_of(run)
