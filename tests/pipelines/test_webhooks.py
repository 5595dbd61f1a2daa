"""Outgoing webhooks: signatures, routing, retries, 410, restarts, reconcile and replay.

Every webhook goes over real HTTP to a receiver on loopback and is verified with the
independent ``standardwebhooks`` package. Retry timing is exercised with the dispatcher's
own clock argument (``now``), so the real schedule is tested without waiting for it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipelines.cli.main import main
from pipelines.engine.compare import ModelResult
from pipelines.engine.results import SyncResult
from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.notify.dispatcher import RetryPolicy, attempts, deliver_due, reconcile, replay
from pipelines.notify.endpoints import WebhookEndpoints
from pipelines.notify.outbox import enqueue, message_id
from pipelines.notify.receiver import WebhookReceiver
from pipelines.notify.signing import new_secret, sign, webhook_headers
from pipelines.store.connections import Connections
from tests.conftest import ACME, add_hubspot

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    box = WebhookReceiver().start()
    try:
        yield box
    finally:
        box.stop()


def connection(home: Home, connection_id: str = "acme") -> None:
    """A registered connection; these tests write its runs' messages themselves."""
    Connections(home).add(
        "hubspot",
        connection_id,
        credentials={"access_token": ACME},
        config={"base_url": "http://127.0.0.1:9"},
    )


def finished_run(
    home: Home,
    connection_id: str = "acme",
    *,
    added: int = 2,
    updated: int = 1,
    deleted: int = 0,
    failed: bool = False,
    models: tuple[str, ...] = ("contacts",),
) -> SyncResult:
    started = datetime.now(UTC)
    result = SyncResult(
        run_id=f"{started:%Y%m%dT%H%M%S}-{os.urandom(6).hex()}",
        connection_id=connection_id,
        integration="hubspot",
        sync="crm",
        mode="incremental",
        sync_type="INCREMENTAL",
        status="failed" if failed else "success",
        started_at=started,
        finished_at=started,
    )
    if failed:
        result.error_type = "TransientError"
        result.error = "HubSpot answered 503 five times"
    else:
        for model in models:
            result.models[model] = ModelResult(
                model,
                added=added,
                updated=updated,
                deleted=deleted,
                first_cursor=10,
                last_cursor=12,
            )
    enqueue(home, result, list(models))
    return result


def endpoint(home: Home, receiver: WebhookReceiver, **options) -> str:
    added, secret = WebhookEndpoints(home).add(receiver.url, **options)
    receiver.secret = secret
    return added.endpoint_id


def verified(receiver: WebhookReceiver, secret: str) -> list[dict]:
    out = []
    for got in receiver.received:
        body = Webhook(secret).verify(got.body, got.headers)
        out.append(body)
    return out


def test_our_signature_is_the_standard_one():
    body = b'{"test": 2432232314}'
    ours = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert ours == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    secret = new_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {"test": 2432232314}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_a_sync_sends_one_verified_webhook_per_model(home, hubspot, runner, receiver):
    add_hubspot(home, hubspot)
    endpoint(home, receiver)
    (result,) = runner.run("acme")
    done = deliver_due(home)
    assert [a.outcome for a in done] == ["delivered"] * 3
    bodies = {b["model"]: b for b in verified(receiver, receiver.secret)}
    assert set(bodies) == {"contacts", "companies", "deals"}
    contacts = bodies["contacts"]
    assert contacts == {
        "type": "sync",
        "connection_id": "acme",
        "integration": "hubspot",
        "sync": "crm",
        "model": "contacts",
        "sync_type": "INITIAL",
        "success": True,
        "modified_after": result.started_at.isoformat(),
        "run_id": result.run_id,
        "counts": {"added": 250, "updated": 0, "deleted": 0},
        "cursor": {
            "first": result.models["contacts"].first_cursor,
            "last": result.models["contacts"].last_cursor,
        },
    }
    ids = [w.message_id for w in receiver.received]
    assert sorted(ids) == sorted(message_id(result.run_id, m) for m in bodies)
    assert deliver_due(home) == []


def test_500_twice_then_200_is_the_same_message_three_times(home, receiver):
    connection(home)
    endpoint(home, receiver)
    result = finished_run(home)
    receiver.answer_next(500, count=2)
    start = time.time()

    first = deliver_due(home, now=start)
    assert [(a.status, a.outcome) for a in first] == [(500, "retry")]
    assert 4.5 <= first[0].next_attempt_at - start <= 5.5
    assert deliver_due(home, now=start + 4) == []
    second = deliver_due(home, now=start + 6)
    assert [(a.status, a.outcome) for a in second] == [(500, "retry")]
    assert 270 <= second[0].next_attempt_at - (start + 6) <= 330
    assert deliver_due(home, now=start + 200) == []
    third = deliver_due(home, now=start + 400)
    assert [(a.status, a.outcome) for a in third] == [(200, "delivered")]

    mid = message_id(result.run_id, "contacts")
    assert [w.message_id for w in receiver.received] == [mid] * 3
    assert [w.status for w in receiver.received] == [500, 500, 200]
    assert all(w.verified for w in receiver.received)
    log = attempts(home, message_id=mid)
    assert [(a["attempt"], a["status"], a["outcome"]) for a in log] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 200, "delivered"),
    ]
    assert all(a["duration_ms"] >= 0 and a["response_excerpt"] for a in log)
    assert deliver_due(home, now=start + 100_000) == []


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(400, "failed"), (404, "failed"), (408, "retry"), (429, "retry"), (503, "retry")],
)
def test_which_answers_are_retried(home, receiver, status, outcome):
    connection(home)
    endpoint(home, receiver)
    finished_run(home)
    receiver.answer_next(status)
    (attempt,) = deliver_due(home)
    assert (attempt.status, attempt.outcome) == (status, outcome)
    later = deliver_due(home, now=time.time() + 60)
    assert [a.outcome for a in later] == ([] if outcome == "failed" else ["delivered"])


def test_retry_schedule_runs_out_after_eight_attempts(home, receiver):
    connection(home)
    endpoint(home, receiver)
    finished_run(home)
    receiver.answer_next(500, count=8)
    now = time.time()
    outcomes = []
    for _ in range(8):
        (attempt,) = deliver_due(home, now=now)
        outcomes.append(attempt.outcome)
        now = attempt.next_attempt_at or now
    assert outcomes == ["retry"] * 7 + ["failed"]
    assert deliver_due(home, now=now + 10**6) == []


def test_410_disables_the_endpoint_until_enabled(home, receiver, capsys):
    connection(home)
    endpoint_id = endpoint(home, receiver)
    finished_run(home)
    receiver.answer_next(410)
    (attempt,) = deliver_due(home)
    assert (attempt.status, attempt.outcome) == (410, "disabled")
    disabled = WebhookEndpoints(home).get(endpoint_id)
    assert not disabled.enabled and "410" in (disabled.disabled_reason or "")

    later = finished_run(home)
    assert deliver_due(home, now=time.time() + 3600) == []
    assert len(receiver.received) == 1

    assert main(["webhooks", "enable", endpoint_id]) == 0
    (sent,) = deliver_due(home)
    assert sent.outcome == "delivered"
    assert sent.message_id == message_id(later.run_id, "contacts")


def test_receiver_down_across_a_dispatcher_restart(home, receiver):
    connection(home)
    endpoint(home, receiver)
    port = receiver.port
    receiver.stop()
    result = finished_run(home)
    mid = message_id(result.run_id, "contacts")
    env = {
        **os.environ,
        "SYNCS_HOME": str(home.root),
        "SYNCS_WEBHOOK_RETRY_SCHEDULE": "0,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3",
        "SYNCS_WEBHOOK_TIMEOUT": "2",
    }

    def dispatcher() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.cli.main",
                "webhooks",
                "dispatch",
                "--interval",
                "0.1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = dispatcher()
    deadline = time.monotonic() + 30
    while len(attempts(home, message_id=mid)) < 2:
        assert time.monotonic() < deadline, "the dispatcher never tried"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    failed = attempts(home, message_id=mid)
    assert all(a["status"] is None and a["outcome"] == "retry" for a in failed)
    assert "Connection" in failed[0]["error"]

    back = WebhookReceiver(receiver.secret, port=port).start()
    second = dispatcher()
    try:
        got = back.wait_for(1, timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
        back.stop()
    assert [w.message_id for w in got] == [mid]
    assert got[0].verified
    final = attempts(home, message_id=mid)
    assert final[-1]["outcome"] == "delivered"
    assert [a["attempt"] for a in final] == list(range(1, len(final) + 1))


def test_failed_run_sends_a_failure_webhook(home, hubspot, runner, receiver):
    add_hubspot(home, hubspot, token="not-a-valid-token-000000")
    endpoint(home, receiver)
    with pytest.raises(SyncFailed):
        runner.run("acme")
    deliver_due(home)
    bodies = verified(receiver, receiver.secret)
    assert {b["model"] for b in bodies} == {"contacts", "companies", "deals"}
    for body in bodies:
        assert body["success"] is False
        assert body["error"]["type"] == "AuthenticationError"
        assert "acme" in body["error"]["message"]
        assert body["counts"] == {"added": 0, "updated": 0, "deleted": 0}


def test_skip_empty_leaves_out_runs_that_changed_nothing(home, receiver):
    connection(home)
    endpoint(home, receiver, skip_empty=True)
    finished_run(home, added=0, updated=0, deleted=0)
    failed = finished_run(home, failed=True)
    changed = finished_run(home, added=0, updated=0, deleted=1)
    deliver_due(home)
    assert sorted(w.message_id for w in receiver.received) == sorted(
        [message_id(failed.run_id, "contacts"), message_id(changed.run_id, "contacts")]
    )


def test_connection_endpoint_overrides_the_environment(home, receiver):
    connection(home, "acme")
    connection(home, "globex")
    other = WebhookReceiver().start()
    try:
        endpoint(home, receiver)
        _, other.secret = WebhookEndpoints(home).add(other.url, connection_id="globex")
        acme, globex = finished_run(home, "acme"), finished_run(home, "globex")
        deliver_due(home)
        assert [w.message_id for w in receiver.received] == [message_id(acme.run_id, "contacts")]
        assert [w.message_id for w in other.received] == [message_id(globex.run_id, "contacts")]
        assert all(w.verified for w in receiver.received + other.received)
    finally:
        other.stop()


def test_rotation_signs_with_both_secrets_then_the_new_one(home, receiver):
    connection(home)
    endpoint_id = endpoint(home, receiver)
    old = receiver.secret
    endpoints = WebhookEndpoints(home)
    _, new = endpoints.rotate(endpoint_id)
    receiver.secret = new
    finished_run(home)
    deliver_due(home)
    (got,) = receiver.received
    assert len(got.signature.split(" ")) == 2
    assert Webhook(old).verify(got.body, got.headers)["type"] == "sync"
    assert Webhook(new).verify(got.body, got.headers)["type"] == "sync"

    _, newest = endpoints.rotate(endpoint_id, overlap=timedelta(0))
    receiver.secret = newest
    finished_run(home)
    deliver_due(home)
    latest = receiver.received[-1]
    assert len(latest.signature.split(" ")) == 1 and latest.verified
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(latest.body, latest.headers)


def test_secrets_are_encrypted_at_rest(home, receiver):
    connection(home)
    endpoint_id = endpoint(home, receiver)
    _, rotated = WebhookEndpoints(home).rotate(endpoint_id)
    raw = home.control_store.read_bytes()
    for secret in (receiver.secret, rotated):
        assert secret.encode() not in raw
        assert secret.removeprefix("whsec_").encode() not in raw


def test_reconcile_writes_messages_a_crash_lost(home, hubspot, runner, receiver):
    add_hubspot(home, hubspot)
    endpoint(home, receiver)
    (result,) = runner.run("acme")
    db = sqlite3.connect(home.control_store)
    written = dict(
        db.execute("SELECT message_id, payload FROM outbox WHERE run_id = ?", [result.run_id])
    )
    db.execute("DELETE FROM outbox")
    db.execute("DELETE FROM webhook_deliveries")
    db.commit()
    db.close()

    assert sorted(reconcile(home)) == sorted(written)
    db = sqlite3.connect(home.control_store)
    again = dict(db.execute("SELECT message_id, payload FROM outbox"))
    db.close()
    assert {k: json.loads(v) for k, v in again.items()} == {
        k: json.loads(v) for k, v in written.items()
    }
    assert reconcile(home) == []
    deliver_due(home)
    assert sorted(w.message_id for w in receiver.received) == sorted(written)


def test_replay_sends_again_with_the_original_id(home, receiver, capsys):
    connection(home)
    endpoint(home, receiver)
    one, two = finished_run(home), finished_run(home)
    deliver_due(home)
    assert len(receiver.received) == 2
    mid = message_id(one.run_id, "contacts")
    assert replay(home, message_ids=[mid]) == [(mid, WebhookEndpoints(home).list()[0].endpoint_id)]
    deliver_due(home)
    assert [w.message_id for w in receiver.received[2:]] == [mid]
    assert [a["round"] for a in attempts(home, message_id=mid)] == [1, 2]

    assert main(["webhooks", "replay", "--since", "1h"]) == 0
    assert "2 message(s)" in capsys.readouterr().out
    deliver_due(home)
    assert sorted(w.message_id for w in receiver.received[3:]) == sorted(
        [mid, message_id(two.run_id, "contacts")]
    )
    assert main(["webhooks", "replay", "msg_nope"]) == 2
    assert "unknown message 'msg_nope'" in capsys.readouterr().err


def test_webhooks_commands(home, receiver, capsys):
    connection(home)
    assert main(["webhooks", "add", receiver.url]) == 0
    out = capsys.readouterr().out
    secret = out.split("signing secret (shown once, keep it with the receiver): ")[1].strip()
    assert secret.startswith("whsec_")
    assert main(["webhooks", "list"]) == 0
    listed = capsys.readouterr().out
    assert receiver.url in listed and "environment" in listed and secret not in listed
    endpoint_id = listed.split()[0]

    receiver.secret = secret
    finished_run(home)
    assert main(["webhooks", "dispatch", "--once"]) == 0
    assert "delivered" in capsys.readouterr().out
    assert main(["webhooks", "deliveries"]) == 0
    assert "attempt 1  200" in capsys.readouterr().out

    for args, message in (
        (["webhooks", "add", "ftp://x"], "not an http(s) URL"),
        (["webhooks", "add", receiver.url], f"already has endpoint {endpoint_id}"),
        (["webhooks", "add", receiver.url, "--connection", "nobody"], "unknown connection"),
        (["webhooks", "add", receiver.url, "--connection", "acme", "--secret", "abc"], "whsec_"),
        (["webhooks", "rotate", "ep_nope"], "unknown webhook endpoint 'ep_nope'"),
        (["webhooks", "replay", "--since", "yesterday"], "--since 'yesterday'"),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1

    assert main(["webhooks", "remove", endpoint_id]) == 0
    assert WebhookEndpoints(home).list() == []


def test_retry_policy_from_environment(monkeypatch):
    monkeypatch.setenv("SYNCS_WEBHOOK_RETRY_SCHEDULE", "0,1,2")
    assert RetryPolicy.from_env().delays == (0, 1, 2)
    monkeypatch.setenv("SYNCS_WEBHOOK_RETRY_SCHEDULE", "soon")
    with pytest.raises(Exception, match="SYNCS_WEBHOOK_RETRY_SCHEDULE"):
        RetryPolicy.from_env()
