"""``python -m bench.realtime``: provider webhooks in, the app's webhooks out, on loopback.

``syncs serve`` runs in its own process over a fresh ``SYNCS_HOME`` with one HubSpot
connection (1,000 contacts, synced once); the HubSpot sandbox and the app's receiver run
here.

* latency: one contact at a time is changed in the sandbox, which sends HubSpot's signed
  webhook to the ingress; the time until the app's receiver holds the WEBHOOK run's webhook
  for it, p50 and p95 (target p95 at most 250 ms);
* throughput: signed HubSpot requests of 100 events, ten a second (1,000 events a second)
  for ``--seconds``, a tenth of them for a portal no connection has; every event must be
  accepted (200) and end applied or unmatched in the inbox, none lost.

Figures go to ``bench/realtime.json`` and ``bench/realtime.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
SECRET = "bench-hubspot-client-secret"
TOKEN = "bench-realtime-token"
API_KEY = "bench-api-key-" + "x" * 24


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=HERE / "realtime.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        os.environ["SYNCS_HOME"] = str(Path(workdir) / "home")
        report = run(args)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    lat, thr = report["latency"], report["throughput"]
    lines = [
        f"# Real time ({report['measured_at']}, {report['machine']['cpus']} CPUs, loopback)",
        "",
        "| measure | value | target | met |",
        "| --- | ---: | ---: | :---: |",
        f"| provider webhook in -> app webhook out, p50 | {lat['p50_ms']:.0f} ms | | |",
        f"| provider webhook in -> app webhook out, p95 | {lat['p95_ms']:.0f} ms | 250 ms | "
        f"{'yes' if lat['p95_ms'] <= 250 else 'no'} |",
        f"| events accepted per second ({thr['seconds']} s) | {thr['accepted_per_second']:,.0f} "
        f"| {args.rate:,} | {'yes' if thr['accepted_per_second'] >= 0.99 * args.rate else 'no'} |",
        f"| events lost (neither applied nor kept unmatched) | {thr['lost']} | 0 | "
        f"{'yes' if thr['lost'] == 0 else 'no'} |",
        f"| ingress answer p95 | {thr['answer_p95_ms']:.0f} ms | | |",
        f"| inbox drained after the last request | {thr['drained_after_s']:.1f} s | | |",
        f"| WEBHOOK runs for {thr['sent']:,} events | {thr['runs']:,} | | |",
    ]
    (args.output.with_suffix(".md")).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.home import Home
    from pipelines.ingress.inbox import Inbox
    from pipelines.ingress.secrets import ProviderSecrets
    from pipelines.notify.endpoints import WebhookEndpoints
    from pipelines.notify.receiver import WebhookReceiver
    from pipelines.notify.signing import new_secret
    from pipelines.runs import sync_runner
    from pipelines.store.connections import Connections
    from sources.hubspot.sandbox.server import HubSpotSandbox
    from sources.hubspot.webhooks import signature

    home = Home.from_env()
    box = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    box.add_account(TOKEN, seed=9, contacts=1000, companies=10, deals=10)
    portal = box.portal(TOKEN)
    Connections(home).add(
        "hubspot",
        "bench",
        credentials={"access_token": TOKEN},
        config={"base_url": box.base_url, "portal_id": str(portal)},
    )
    ProviderSecrets(home).set("hubspot", SECRET)
    sync_runner(home).run("bench")
    app_secret = new_secret()
    app = WebhookReceiver(app_secret).start()
    WebhookEndpoints(home).add(app.url, secret=app_secret, skip_empty=True)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
        env={**os.environ, "SYNCS_API_KEY": API_KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=HERE.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("syncs serve did not start")
            time.sleep(0.1)
        hook = f"{base}/webhooks/hubspot"
        box.subscribe(TOKEN, hook, SECRET)
        ids = box.ids(TOKEN, "contacts")
        # latency
        samples: list[float] = []
        for i in range(args.samples + 5):
            before = len(app.received)
            started = time.perf_counter()
            box.update(TOKEN, "contacts", ids[i % len(ids)], {"jobtitle": f"Realtime {i}"})
            if len(app.wait_for(before + 1, timeout=10)) <= before:
                raise SystemExit(f"change {i} never reached the app")
            if i >= 5:
                samples.append((time.perf_counter() - started) * 1000)
        latency = {
            "samples": len(samples),
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(_percentile(samples, 0.95), 1),
            "max_ms": round(max(samples), 1),
        }
        print(f"latency p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms", flush=True)
        box.unsubscribe(box.list_subscriptions(TOKEN)[0]["id"])
        inbox = Inbox(home)
        already = sum(inbox.counts().values())
        runs_before = _runs(home)
        throughput = _flood(args, hook, portal, ids, signature, inbox, already)
        throughput["runs"] = _runs(home) - runs_before
        print(json.dumps(throughput), flush=True)
    finally:
        server.terminate()
        server.wait(30)
        app.stop()
        box.stop()
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "latency": latency,
        "throughput": throughput,
    }


def _runs(home: Any) -> int:
    from pipelines.engine.warehouse import read_connection

    with read_connection(home) as con:
        assert con is not None
        row = con.execute("SELECT count(*) FROM syncs.sync_runs WHERE sync_type = 'WEBHOOK'")
        return int(row.fetchone()[0])  # type: ignore[index]


def _flood(
    args: argparse.Namespace,
    hook: str,
    portal: int,
    ids: list[str],
    signature: Any,
    inbox: Any,
    already: int,
) -> dict[str, Any]:
    per_request = 100
    interval = per_request / args.rate
    counter = itertools.count(10_000_000)
    sent = accepted = 0
    answers: list[float] = []
    session = requests.Session()
    start = time.perf_counter()
    for n in range(int(args.seconds * args.rate / per_request)):
        due = start + n * interval
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        now_ms = int(time.time() * 1000)
        events = []
        for k in range(per_request):
            event_id = next(counter)
            events.append(
                {
                    "eventId": event_id,
                    "subscriptionId": 1000001,
                    "portalId": portal if k % 10 else 1,
                    "appId": 1,
                    "occurredAt": now_ms,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": int(ids[event_id % len(ids)]),
                    "propertyName": "jobtitle",
                    "propertyValue": "flood",
                    "changeSource": "CRM",
                }
            )
        body = json.dumps(events, separators=(",", ":")).encode()
        stamp = str(int(time.time() * 1000))
        clock = time.perf_counter()
        answer = session.post(
            hook,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": signature(SECRET, "POST", hook, body, stamp),
                "X-HubSpot-Request-Timestamp": stamp,
            },
            timeout=30,
        )
        answers.append((time.perf_counter() - clock) * 1000)
        sent += per_request
        if answer.status_code == 200:
            accepted += answer.json()["received"]
    elapsed = time.perf_counter() - start
    finished = time.perf_counter()
    settled = 0
    while time.perf_counter() - finished < 600:
        counts = inbox.counts()
        settled = counts.get("applied", 0) + counts.get("unmatched", 0) - already
        if settled >= sent or not counts.get("received"):
            break
        time.sleep(0.5)
    drained = time.perf_counter() - finished
    counts = inbox.counts()
    return {
        "seconds": round(elapsed, 1),
        "sent": sent,
        "accepted": accepted,
        "accepted_per_second": round(accepted / elapsed, 1),
        "answer_p50_ms": round(statistics.median(answers), 1),
        "answer_p95_ms": round(_percentile(answers, 0.95), 1),
        "applied_or_unmatched": settled,
        "lost": sent - settled,
        "drained_after_s": round(drained, 1),
        "inbox": counts,
    }


if __name__ == "__main__":
    main()
