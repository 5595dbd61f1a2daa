"""Gong's webhooks end to end: an automation rule on the sandbox posts each processed call
to the connection's URL with an RS256 JWT; the call is applied as sent and its transcript
read by id, as one WEBHOOK run, and the app gets its own webhook."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from pipelines.home import Home
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.gong.sandbox.server import GongSandbox
from tests.realtime import Served, events, scalar, wait_until

KEY, SECRET = "gong-access-key-realtime", "gong-access-secret-realtime"


@pytest.fixture
def box() -> Iterator[GongSandbox]:
    sandbox = GongSandbox(rate_limit_per_second=None).start()
    sandbox.add_account(KEY, SECRET, seed=6, calls=8)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def served(home: Home, box: GongSandbox) -> Iterator[Served]:
    Connections(home).add(
        "gong",
        "acme-gong",
        credentials={"access_key": KEY, "access_key_secret": SECRET},
        config={"base_url": box.base_url, "requests_per_second": "1000"},
    )
    ProviderSecrets(home).set("gong", box.webhook_public_key(), "acme-gong")
    sync_runner(home).run("acme-gong")
    stack = Served(home)
    box.subscribe(KEY, stack.hook_url("gong", "acme-gong"), "unused")
    try:
        yield stack
    finally:
        stack.stop()


def test_a_processed_call_arrives_with_its_transcript_as_one_run_and_one_app_webhook_each(
    home, box, served
):
    call = box.create_call(KEY, {"title": "Pushed by the rule"})
    served.settled(2)
    wait_until(lambda: len(served.webhooks(sync_type="WEBHOOK")) == 2, what="the app's webhooks")
    assert sorted(events(home, "sync_type = 'WEBHOOK'")) == [
        ("call_transcripts", call["id"], "ADDED", "WEBHOOK"),
        ("calls", call["id"], "ADDED", "WEBHOOK"),
    ]
    assert scalar(home, "SELECT title FROM gong.calls WHERE id = ?", [call["id"]]) == (
        "Pushed by the rule"
    )
    assert {w.payload["model"] for w in served.webhooks(sync_type="WEBHOOK")} == {
        "calls",
        "call_transcripts",
    }
    assert len({w.payload["run_id"] for w in served.webhooks(sync_type="WEBHOOK")}) == 1
    # The next poll reads the same call and reports nothing again.
    (result,) = sync_runner(home).run("acme-gong")
    assert result.total("added") == 0 and result.total("updated") == 0


def _post(served: Served, body: bytes, token: str | None, url: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    return requests.post(
        url or served.hook_url("gong", "acme-gong"), data=body, headers=headers, timeout=10
    )


def _jwt(key, body: bytes, url: str, *, exp: int | None = None) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "webhook_url": url,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "iat": now,
            "exp": exp if exp is not None else now + 300,
        },
        key,
        algorithm="RS256",
    )


def test_forged_expired_altered_misdirected_unsigned_and_replayed_requests(home, box, served):
    call = box.get_call(KEY, box.call_ids(KEY)[0])
    body = json.dumps({"callData": {"metaData": call}, "isTest": False}).encode()
    url = served.hook_url("gong", "acme-gong")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gong_key = box._signing_key
    assert _post(served, body, None).status_code == 401
    assert _post(served, body, _jwt(other, body, url)).status_code == 401
    assert (
        _post(served, body, _jwt(gong_key, body, url, exp=int(time.time()) - 120)).status_code
        == 401
    )
    assert _post(served, body + b" ", _jwt(gong_key, body, url)).status_code == 401
    assert (
        _post(served, body, _jwt(gong_key, body, served.hook_url("gong", "other"))).status_code
        == 401
    )
    assert served.inbox.counts() == {}
    box.inject_delivery_fault("bad_signature")
    box.create_call(KEY, {"title": "Signed by another key"})
    wait_until(lambda: len(box.deliveries()) == 2, what="the sandbox's retry")
    assert [d["status"] for d in box.deliveries()] == [401, 200]
    served.settled(2)
    token = _jwt(gong_key, body, url)
    assert _post(served, body, token).json() == {"received": 2, "duplicates": 0}
    assert _post(served, body, token).json() == {"received": 0, "duplicates": 2}
    served.settled(4)
    assert len(served.inbox.list()) == 4


def test_a_call_for_no_connection_is_kept_unmatched(home, box, served):
    box.subscribe(KEY, served.hook_url("gong", "nobody"), "unused")
    ProviderSecrets(home).set("gong", box.webhook_public_key())
    box.create_call(KEY, {"title": "Two rules"})
    statuses = {e["url_connection_id"]: e["status"] for e in served.settled(4)}
    assert statuses == {"acme-gong": "applied", "nobody": "unmatched"}


def test_duplicate_reordered_and_dropped_deliveries(home, box, served):
    box.inject_delivery_fault("duplicate")
    first = box.create_call(KEY, {"title": "Twice"})
    box.inject_delivery_fault("reorder")
    second = box.create_call(KEY, {"title": "Late"})
    third = box.create_call(KEY, {"title": "Early"})
    box.flush_webhooks()
    served.settled(6)
    wait_until(lambda: len(events(home, "sync_type = 'WEBHOOK' AND model = 'calls'")) == 3)
    assert sorted(
        e[1] for e in events(home, "sync_type = 'WEBHOOK' AND model = 'calls'")
    ) == sorted([first["id"], second["id"], third["id"]])
    box.inject_delivery_fault("drop")
    dropped = box.create_call(KEY, {"title": "Dropped"})
    box.flush_webhooks()
    sync_runner(home).run("acme-gong")
    sync_runner(home).run("acme-gong")
    assert [e[2:] for e in events(home, f"record_id = '{dropped['id']}' AND model = 'calls'")] == [
        ("ADDED", "INCREMENTAL")
    ]


def test_a_poll_racing_a_webhook_reports_the_call_once(home, box, served):
    """Gong gives no version: a poll and a webhook that read the same processed call change
    it once between them, whichever commits first."""
    call = box.create_call(KEY, {"title": "Raced"}, processed=False)
    box.finish_processing(KEY, call["id"])
    sync_runner(home).run("acme-gong")
    served.settled(2)
    rows = events(home, f"record_id = '{call['id']}' AND model = 'calls'")
    assert [e[2] for e in rows] == ["ADDED"]
