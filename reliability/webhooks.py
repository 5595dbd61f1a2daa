"""The application's receiver down for a long while (nothing listening: every attempt
refused), then answering 500, then too slow for the timeout, while the dispatcher
(``syncs webhooks dispatch``, its own process) is SIGKILLed and started again in each phase.
The retry schedule is shortened (``SYNCS_WEBHOOK_RETRY_SCHEDULE``), so a long outage is many
retries in seconds. Every message must be delivered, each ``webhook-id`` at least once,
verified with the ``standardwebhooks`` package; duplicates are counted."""

from __future__ import annotations

import base64
import random
import sqlite3
import subprocess
import time
from collections import Counter
from typing import Any

from pipelines.notify.receiver import WebhookReceiver
from pipelines.runs import sync_runner
from reliability.harness import Workspace, add_hubspot, free_port, hubspot_sandbox, kill
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-webhooks-6b2e1f0a9c8d"
SECRET = "whsec_" + base64.b64encode(b"reliability-webhooks-secret-24").decode()


def deliveries(ws: Workspace) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(ws.home.control_store, timeout=30)
    try:
        return db.execute("SELECT message_id, status, attempts FROM webhook_deliveries").fetchall()
    finally:
        db.close()


def scenario(result: Result, small: bool) -> None:
    down = 3.0 if small else 30.0
    errors = 5 if small else 40
    slow = 2 if small else 8
    runs = 2 if small else 10
    rng = random.Random(8)
    schedule = ",".join(["0"] + ["0.5"] * (80 if small else 400))
    env = {"SYNCS_WEBHOOK_RETRY_SCHEDULE": schedule, "SYNCS_WEBHOOK_TIMEOUT": "1"}
    kills: Counter[str] = Counter()
    with Workspace("webhooks", **env) as ws:
        sandbox = hubspot_sandbox()
        port = free_port()
        receiver = WebhookReceiver(SECRET, port=port)
        dispatcher: subprocess.Popen[str] | None = None
        try:
            sandbox.add_account(TOKEN, seed=3, contacts=60, companies=5, deals=5)
            add_hubspot(ws, sandbox, "acme", TOKEN)
            url = f"http://127.0.0.1:{port}{receiver.path}"
            added = ws.syncs("webhooks", "add", url, "--secret", SECRET)
            result.check(added.code == 0, f"webhooks add failed: {added.err}")
            runner = sync_runner(ws.home)

            def sync(n: int) -> None:
                for _ in range(n):
                    record_id = rng.choice(sandbox.ids(TOKEN, "contacts"))
                    sandbox.update(TOKEN, "contacts", record_id, {"city": f"c{rng.random()}"})
                    runner.run("acme")

            def restart(phase: str, within: float) -> subprocess.Popen[str]:
                nonlocal dispatcher
                time.sleep(rng.uniform(within / 2, within))
                if dispatcher is not None:
                    kill(dispatcher)
                    kills[phase] += 1
                dispatcher = ws.start("webhooks", "dispatch", "--interval", "0.2")
                return dispatcher

            sync(runs // 2)
            restart("start", 0)
            # Down: nothing listens at the receiver's address.
            clock = time.monotonic()
            sync(runs - runs // 2)
            while time.monotonic() - clock < down:
                restart("down", min(down / 3, down - (time.monotonic() - clock)))
            refused = sum(a for _, _, a in deliveries(ws))
            # Up, answering 500, then too slow for the timeout.
            receiver.answer_next(500, errors)
            receiver.start()
            restart("500", 0.5)
            _wait(lambda: len(receiver.received) >= errors, 120)
            receiver.inject_fault("slow", count=slow, delay=1.5)
            if not small:
                restart("slow", 1.0)
            _wait(lambda: not receiver.pending_faults, 180)
            messages = _outbox(ws)
            _wait(lambda: all(s == "delivered" for _, s, _ in deliveries(ws)), 240)
        finally:
            if dispatcher is not None:
                kill(dispatcher)
            receiver.stop()
            sandbox.stop()
        final = deliveries(ws)
    accepted = Counter(w.message_id for w in receiver.received if w.status == 200 and w.verified)
    undelivered = [m for m in messages if accepted.get(m, 0) == 0]
    result.check(not undelivered, f"{len(undelivered)} of {len(messages)} messages never arrived")
    result.check(
        all(s == "delivered" for _, s, _ in final),
        f"deliveries not delivered: {Counter(s for _, s, _ in final)}",
    )
    result.check(
        all(w.verified for w in receiver.received if w.payload is not None),
        "a webhook failed its signature check",
    )
    result.figures = {
        "messages": len(messages),
        "delivered": sum(s == "delivered" for _, s, _ in final),
        "received_at_least_once": len(messages) - len(undelivered),
        "duplicates": sum(n - 1 for n in accepted.values() if n > 1),
        "messages_received_twice_or_more": sum(n > 1 for n in accepted.values()),
        "attempts": sum(a for _, _, a in final),
        "attempts_refused_while_down": refused,
        "answered_500": errors,
        "answered_too_slowly": slow,
        "down_seconds": down,
        "max_attempts_of_a_message": max((a for _, _, a in final), default=0),
        "dispatcher_kills": dict(kills),
    }


def _outbox(ws: Workspace) -> list[str]:
    db = sqlite3.connect(ws.home.control_store, timeout=30)
    try:
        return [m for (m,) in db.execute("SELECT message_id FROM outbox")]
    finally:
        db.close()


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


run = timed(scenario, "webhooks", "The application's receiver down, failing and slow")

if __name__ == "__main__":
    main_of(run)
