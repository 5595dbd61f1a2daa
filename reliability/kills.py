"""Runs killed with SIGKILL at random moments of every phase, across initial, incremental and
full runs; the next run must be exact, with no change event missing or twice, and no false
delete.

The phase a run is in is observed from outside, the way an operator could see it, with no
hook in the product: the sandbox answering its requests (extract), dlt's packages moving
from ``normalize/extracted`` to ``load/normalized`` (normalize, load), the warehouse's
exclusive lock held without a write-ahead log (compare) and with one (commit), and the lock
let go after being held (after commit). The kill goes at a random delay into the target
phase; the phase recorded is the one seen right before the signal.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.engine.sync import pipeline_name
from reliability.harness import (
    OUTPUTS,
    Workspace,
    add_hubspot,
    compare_hubspot,
    hubspot_sandbox,
    query,
    warehouse_lock_held,
)
from reliability.result import Result, main_of, timed
from sources.hubspot.sandbox.server import HubSpotSandbox

TOKEN = "pat-na1-kills-0c9e8d7f6a5b4c3d"
PHASES = ("extract", "normalize", "load", "compare", "commit", "after commit")
MODES = ("initial", "incremental", "full")
CONNECTION = "k.one"


class Observer:
    """The phase of one run, from its files, the warehouse lock and the sandbox."""

    def __init__(self, ws: Workspace, sandbox: HubSpotSandbox) -> None:
        self.home = ws.home
        self.sandbox = sandbox
        self.folder = ws.home.dlt_dir / pipeline_name("hubspot", CONNECTION, "crm")
        self.wal = Path(f"{ws.home.warehouse}.wal")
        self.locked_once = False
        self.started = len(sandbox.requests_seen)

    def phase(self) -> str | None:
        if warehouse_lock_held(self.home):
            self.locked_once = True
            return "commit" if self.wal.exists() else "compare"
        if self.locked_once:
            return "after commit"
        if _has_package(self.folder / "load" / "normalized"):
            return "load"
        if _has_package(self.folder / "normalize" / "extracted") or _has_package(
            self.folder / "load" / "new"
        ):
            return "normalize"
        if len(self.sandbox.requests_seen) > self.started:
            return "extract"
        return None


def _has_package(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except FileNotFoundError:
        return False


def kill_in(
    ws: Workspace, sandbox: HubSpotSandbox, args: list[str], target: str, rng: random.Random
) -> str | None:
    """Start ``syncs ARGS`` and SIGKILL it once it is in ``target`` (at a random delay into
    a long phase); the phase seen right before the kill, or None if it ended first."""
    observer = Observer(ws, sandbox)
    proc = ws.start(*args)
    entered: float | None = None
    delay = rng.uniform(0, 0.6) if target == "extract" else rng.uniform(0, 0.01)
    seen: str | None = None
    try:
        while proc.poll() is None:
            seen = observer.phase()
            if seen == target:
                now = time.monotonic()
                entered = entered or now
                if now - entered >= delay:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            elif entered is not None and seen != target:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        else:
            seen = None
    finally:
        out, err = proc.communicate(timeout=60)
        OUTPUTS.add(out, err)
    return seen if proc.returncode == -signal.SIGKILL else None


def mutate(sandbox: HubSpotSandbox, rng: random.Random, round_no: int) -> set[tuple[str, str]]:
    """Contacts updated, archived and created in the sandbox; the events they must give."""
    ids = sandbox.ids(TOKEN, "contacts")
    picked = rng.sample(ids, 60)
    expected = set()
    for record_id in picked[:40]:
        sandbox.update(
            TOKEN, "contacts", record_id, {"jobtitle": f"round {round_no} {rng.random()}"}
        )
        expected.add((record_id, "UPDATED"))
    for record_id in picked[40:]:
        sandbox.archive(TOKEN, "contacts", record_id)
        expected.add((record_id, "DELETED"))
    for n in range(10):
        made = sandbox.create(TOKEN, "contacts", {"email": f"r{round_no}-{n}@kills.test"})
        expected.add((made["id"], "ADDED"))
    return expected


def scenario(result: Result, small: bool) -> None:
    contacts = 1_500 if small else 20_000
    kills = 3 if small else 24
    # Every (phase, mode) pair comes once in 18 attempts; the small version takes three
    # of the short phases.
    first = 3 if small else 0
    rng = random.Random(21)
    rounds: list[dict[str, Any]] = []
    phases: Counter[str] = Counter()
    per_mode: Counter[str] = Counter()
    with Workspace("kills") as ws:
        sandbox = hubspot_sandbox()
        try:
            sandbox.add_account(TOKEN, seed=7, contacts=contacts, companies=20, deals=20)
            add_hubspot(ws, sandbox, CONNECTION, TOKEN)
            result.check(ws.syncs("run", "hubspot", CONNECTION).code == 0, "the first run failed")
            attempt = first
            while len(rounds) < kills and attempt < first + kills * 3:
                target = PHASES[attempt % len(PHASES)]
                mode = MODES[(attempt + attempt // len(PHASES)) % len(MODES)]
                attempt += 1
                checkpoint = query(
                    ws.home, "SELECT coalesce(max(cursor), 0) FROM syncs.change_events"
                )[0][0]
                if mode == "initial":
                    done = ws.syncs("connections", "remove", CONNECTION)
                    result.check(done.code == 0, f"remove failed: {done.err.strip()}")
                    add_hubspot(ws, sandbox, CONNECTION, TOKEN)
                    mutate(sandbox, rng, attempt)
                    expected = {(i, "ADDED") for i in sandbox.ids(TOKEN, "contacts")}
                else:
                    expected = mutate(sandbox, rng, attempt)
                args = ["run", "hubspot", CONNECTION] + (
                    ["--full-refresh"] if mode == "full" else []
                )
                seen = kill_in(ws, sandbox, args, target, rng)
                after = ws.syncs("run", "hubspot", CONNECTION)
                compared = compare_hubspot(ws.home, sandbox, TOKEN, CONNECTION)
                got = query(
                    ws.home,
                    "SELECT record_id, action FROM syncs.change_events "
                    "WHERE connection_id = ? AND model = 'contacts' AND cursor > ?",
                    [CONNECTION, checkpoint],
                )
                events = Counter((str(i), str(a)) for i, a in got)
                duplicates = sum(n - 1 for n in events.values() if n > 1)
                missing = len(expected - set(events))
                unexpected = len(set(events) - expected)
                row = {
                    "mode": mode,
                    "target": target,
                    "killed_in": seen,
                    "next_run_exit": after.code,
                    "exact": compared.exact,
                    "duplicate_events": duplicates,
                    "missing_events": missing,
                    "unexpected_events": unexpected,
                    "false_deletes": len(compared.false_deletes),
                }
                problem = (
                    after.code != 0 or not compared.exact or duplicates or missing or unexpected
                )
                result.check(
                    not problem,
                    f"after a kill in {seen} of a {mode} run: {row} {after.err.strip()} {compared.summary()}",
                )
                if seen is None:
                    continue
                phases[seen] += 1
                per_mode[mode] += 1
                rounds.append(row)
        finally:
            sandbox.stop()
    result.figures = {
        "contacts": contacts,
        "kills": len(rounds),
        "kills_by_phase": {p: phases.get(p, 0) for p in PHASES},
        "kills_by_mode": dict(per_mode),
        "next_runs_exact": sum(r["exact"] and r["next_run_exit"] == 0 for r in rounds),
        "duplicate_events": sum(r["duplicate_events"] for r in rounds),
        "missing_events": sum(r["missing_events"] for r in rounds),
        "false_deletes": sum(r["false_deletes"] for r in rounds),
        "missed_targets": attempt - first - len(rounds),
        "rounds": rounds,
    }
    result.check(len(rounds) >= kills, f"only {len(rounds)} of {kills} kills landed in a run")
    if not small:
        result.check(all(phases.get(p) for p in PHASES), f"not every phase was hit: {dict(phases)}")


run = timed(scenario, "kills", "SIGKILL at random moments of every phase")

if __name__ == "__main__":
    main_of(run)
