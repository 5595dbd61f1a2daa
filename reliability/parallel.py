"""Ten connections whose ids differ only in punctuation and case, synced at once by ten
processes, while users keep DuckDB sessions open — read-only and read-write on
``query.duckdb`` (what the README tells them to open), and read-only on ``warehouse.duckdb``
itself for a while — and an application reads the records API in a loop. Every run must
succeed, every connection hold exactly its own account's records, and the API answer."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import requests

from reliability.harness import (
    Workspace,
    add_hubspot,
    compare_hubspot,
    finish,
    free_port,
    hubspot_sandbox,
    kill,
    percentile,
    query,
)
from reliability.result import Result, main_of, timed

IDS = ["z.eu", "z-eu", "Z_eu", "z_eu", "Z.EU", "zeu", "Z-eu", "z.EU", "ZEU", "z_Eu"]
API_KEY = "syncs_sk_reliability_parallel_0123456789"

SESSION = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("select count(*) from hubspot.contacts").fetchone()[0], flush=True)
if sys.argv[2] == "rw":
    con.execute("create or replace table main.scratch as select 1 as x")
hold = float(sys.argv[3])
if hold > 0:
    time.sleep(hold)
else:
    sys.stdin.readline()
print(con.execute("select count(*) from hubspot.contacts").fetchone()[0], flush=True)
"""


def token(i: int) -> str:
    return f"pat-na1-parallel-{i:02d}-7e3b9c1d"


class Reader(threading.Thread):
    """The application reading the records API in a loop: latencies and answers."""

    def __init__(self, url: str, emails: dict[str, dict[str, str]]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.emails = emails
        self.connections = sorted(emails)
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.rng = random.Random(3)

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        while not self.stop.is_set():
            connection = self.rng.choice(self.connections)
            params = {
                "integration": "hubspot",
                "model": "contacts",
                "connection_id": connection,
                "limit": "200",
                "cursor": str(self.rng.randrange(0, 5000)),
            }
            clock = time.monotonic()
            try:
                answer = session.get(f"{self.url}/records", params=params, timeout=60)
            except requests.RequestException as error:
                self.errors.append(type(error).__name__)
                continue
            self.latencies.append(time.monotonic() - clock)
            self.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                own = self.emails[connection]
                wrong = [
                    r for r in answer.json()["records"] if own.get(r["id"], "") != r.get("email")
                ]
                if wrong:
                    self.errors.append(f"{len(wrong)} rows of another connection in {connection}")
            elif answer.status_code != 404:
                self.errors.append(f"{answer.status_code}: {answer.text[:200]}")


def session(path: str, mode: str, hold: float = 0.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION, path, mode, str(hold)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def scenario(result: Result, small: bool) -> None:
    ids = IDS[:4] if small else IDS
    base = 150 if small else 3_000
    hold = 2.0 if small else 8.0
    rounds: list[dict[str, Any]] = []
    with Workspace("parallel", SYNCS_API_KEY=API_KEY, SYNCS_ENCRYPT_WAREHOUSE="false") as ws:
        sandbox = hubspot_sandbox()
        server: subprocess.Popen[str] | None = None
        reader: Reader | None = None
        sessions: list[subprocess.Popen[str]] = []
        try:
            for i, cid in enumerate(ids):
                sandbox.add_account(
                    token(i), seed=100 + i, contacts=base + 37 * i, companies=10, deals=10
                )
                add_hubspot(ws, sandbox, cid, token(i))
            port = free_port()
            server = ws.start("serve", "--port", str(port))
            url = f"http://127.0.0.1:{port}"
            _wait_for(url)
            emails = {
                cid: {
                    i: sandbox.get(token(n), "contacts", i)["properties"]["email"]
                    for i in sandbox.ids(token(n), "contacts")
                }
                for n, cid in enumerate(ids)
            }
            reader = Reader(url, emails)
            reader.start()
            rng = random.Random(5)
            for round_no, mode in enumerate(("initial", "incremental", "full")):
                # DuckDB lets one read-write or many read-only sessions open one file: the
                # read-only one opens the copy a later refresh replaced.
                if round_no == 1:
                    sessions.append(session(str(ws.home.query_copy), "rw"))
                    # The warehouse itself, held for a while: syncs wait for it, not fail.
                    sessions.append(session(str(ws.home.warehouse), "ro", hold))
                if round_no == 2:
                    sessions.append(session(str(ws.home.query_copy), "ro"))
                if round_no:
                    for i in range(len(ids)):
                        for record_id in rng.sample(sandbox.ids(token(i), "contacts"), 5):
                            sandbox.update(
                                token(i), "contacts", record_id, {"city": f"c{rng.random()}"}
                            )
                        sandbox.archive(token(i), "contacts", sandbox.ids(token(i), "contacts")[0])
                args = ["--full-refresh"] if mode == "full" else []
                clock = time.monotonic()
                procs = [ws.start("run", "hubspot", cid, *args) for cid in ids]
                done = [finish(p) for p in procs]
                seconds = time.monotonic() - clock
                failed = [d.err.strip() for d in done if d.code != 0]
                result.check(not failed, f"{mode}: {len(failed)} runs failed: {failed[:2]}")
                inexact = []
                for i, cid in enumerate(ids):
                    compared = compare_hubspot(ws.home, sandbox, token(i), cid)
                    if not compared.exact:
                        inexact.append((cid, compared.summary()))
                result.check(
                    not inexact, f"{mode}: connections differ from their accounts: {inexact[:2]}"
                )
                rounds.append(
                    {
                        "mode": mode,
                        "runs": len(done),
                        "failed": len(failed),
                        "seconds": round(seconds, 1),
                        "inexact": len(inexact),
                    }
                )
            counts = dict(
                query(ws.home, "SELECT connection_id, count(*) FROM hubspot.contacts GROUP BY 1")
            )
            expected = {cid: base + 37 * i for i, cid in enumerate(ids)}
            result.check(counts == expected, f"rows per connection {counts} != {expected}")
            folders = {p.name for p in ws.home.dlt_dir.iterdir() if p.name.startswith("hubspot__")}
            result.check(
                len(folders) == len(ids), f"{len(folders)} pipeline folders for {len(ids)} ids"
            )
        finally:
            if reader is not None:
                reader.stop.set()
                reader.join(timeout=60)
            ended = []
            for proc in sessions:
                if proc.poll() is None and proc.stdin is not None:
                    _out, err = proc.communicate("\n", timeout=60)
                else:
                    _out, err = proc.communicate(timeout=60)
                ended.append((proc.returncode, err.strip()[-200:]))
            if server is not None:
                kill(server)
            sandbox.stop()
    result.check(all(code == 0 for code, _ in ended), f"a user's session failed: {ended}")
    assert reader is not None
    latencies = reader.latencies
    result.check(not reader.errors, f"records API: {Counter(reader.errors).most_common(3)}")
    result.figures = {
        "connections": ids,
        "processes_at_once": len(ids),
        "sessions": [
            "query.duckdb read-write (from the incremental round on)",
            "query.duckdb read-only (from the full round on)",
            f"warehouse.duckdb read-only for {hold:.0f} s of the incremental round",
        ],
        "rounds": rounds,
        "api_requests": len(latencies),
        "api_statuses": {str(k): v for k, v in sorted(reader.statuses.items())},
        "api_p50_ms": round((percentile(latencies, 0.5) or 0) * 1000, 1),
        "api_p95_ms": round((percentile(latencies, 0.95) or 0) * 1000, 1),
        "api_max_ms": round(max(latencies, default=0) * 1000, 1),
    }


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"the records API did not answer at {url}")


run = timed(scenario, "parallel", "Ten look-alike connections at once, with users' sessions")

if __name__ == "__main__":
    main_of(run)
