"""HubSpot's webhooks end to end: the sandbox sends them as HubSpot does (v3-signed, thin,
batched), ``syncs serve``'s ingress keeps them, the applier reads the records by id and
commits them as WEBHOOK runs, and the app gets its own webhook, all over loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from pipelines.home import Home
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.hubspot.sandbox.server import HubSpotSandbox
from sources.hubspot.webhooks import signature
from tests.realtime import Served, events, scalar, wait_until

TOKEN = "token-realtime-hubspot"
SECRET = "hubspot-app-client-secret"


@pytest.fixture
def box() -> Iterator[HubSpotSandbox]:
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    sandbox.add_account(TOKEN, seed=3, contacts=30, companies=4, deals=3)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def served(home: Home, box: HubSpotSandbox) -> Iterator[Served]:
    Connections(home).add(
        "hubspot",
        "acme",
        credentials={"access_token": TOKEN},
        config={"base_url": box.base_url, "portal_id": str(box.portal(TOKEN))},
    )
    ProviderSecrets(home).set("hubspot", SECRET)
    sync_runner(home).run("acme")
    stack = Served(home)
    box.subscribe(TOKEN, stack.hook_url("hubspot"), SECRET)
    try:
        yield stack
    finally:
        stack.stop()


def jobtitle(home: Home, record_id: str) -> str | None:
    return scalar(
        home,
        "SELECT jobtitle FROM hubspot.contacts WHERE connection_id = 'acme' AND id = ?",
        [record_id],
    )


def test_a_signed_event_updates_the_copy_with_one_change_and_one_app_webhook(home, box, served):
    box.update(TOKEN, "contacts", "3", {"jobtitle": "Chief Realtime Officer"})
    served.settled(1)
    wait_until(lambda: served.webhooks(sync_type="WEBHOOK"), what="the app's webhook")
    assert jobtitle(home, "3") == "Chief Realtime Officer"
    assert events(home, "sync_type = 'WEBHOOK'") == [("contacts", "3", "UPDATED", "WEBHOOK")]
    (hook,) = served.webhooks(sync_type="WEBHOOK")
    assert hook.payload["model"] == "contacts"
    assert hook.payload["counts"] == {"added": 0, "updated": 1, "deleted": 0}
    changes = requests.get(
        f"{served.url}/changes",
        params={"connection_id": "acme", "cursor": hook.payload["cursor"]["first"] - 1},
        headers={"Authorization": f"Bearer {served.key}"},
        timeout=10,
    ).json()["changes"]
    assert [(c["record_id"], c["sync_type"]) for c in changes] == [("3", "WEBHOOK")]
    record = requests.get(
        f"{served.url}/records",
        params={"integration": "hubspot", "model": "contacts", "connection_id": "acme", "ids": "3"},
        headers={"Authorization": f"Bearer {served.key}"},
        timeout=10,
    ).json()["records"][0]
    assert record["_metadata"]["sync_type"] == "WEBHOOK"


def test_deletion_and_creation_events(home, box, served):
    created = box.create(TOKEN, "contacts", {"email": "new@example.com"})
    box.archive(TOKEN, "contacts", "5")
    served.settled(2)
    wait_until(lambda: len(events(home, "sync_type = 'WEBHOOK'")) == 2, what="two changes")
    assert sorted(events(home, "sync_type = 'WEBHOOK'")) == sorted(
        [("contacts", "5", "DELETED", "WEBHOOK"), ("contacts", created["id"], "ADDED", "WEBHOOK")]
    )


def post(served: Served, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(served.hook_url("hubspot"), data=body, headers=headers, timeout=10)


def signed(served: Served, body: bytes, *, at: datetime | None = None, secret: str = SECRET):
    stamp = str(int((at or datetime.now(UTC)).timestamp() * 1000))
    url = served.hook_url("hubspot")
    return {
        "X-HubSpot-Signature-v3": signature(secret, "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def event_body(box: HubSpotSandbox, object_id: int = 4) -> bytes:
    return (
        b'[{"eventId":77,"subscriptionId":1000001,"portalId":%d,"appId":1,"occurredAt":%d,'
        b'"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":%d,'
        b'"propertyName":"jobtitle","propertyValue":"x","changeSource":"CRM"}]'
        % (box.portal(TOKEN), int(time.time() * 1000), object_id)
    )


def test_forged_expired_unsigned_and_replayed_requests_keep_nothing(home, box, served):
    body = event_body(box)
    assert post(served, body, signed(served, body, secret="not-the-secret")).status_code == 401
    old = signed(served, body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert post(served, body, old).status_code == 401
    assert post(served, body, {"Content-Type": "application/json"}).status_code == 401
    assert served.inbox.counts() == {}
    # A delivery signed with the wrong secret is refused; the sandbox's retry, signed right,
    # is what gets in.
    box.inject_delivery_fault("bad_signature")
    box.update(TOKEN, "contacts", "4", {"jobtitle": "Signed right"})
    wait_until(lambda: len(box.deliveries()) == 2, what="the retry")
    assert [(d["fault"], d["status"]) for d in box.deliveries()] == [
        ("bad_signature", 401),
        (None, 200),
    ]
    served.settled(1)
    body = event_body(box, object_id=13)
    good = signed(served, body)
    first = post(served, body, good)
    replay = post(served, body, good)
    assert (first.status_code, first.json()["received"]) == (200, 1)
    assert (replay.status_code, replay.json()) == (200, {"received": 0, "duplicates": 1})
    served.settled(2)
    assert len(served.inbox.list()) == 2
    assert post(served, b"{not json", signed(served, b"{not json")).status_code == 400


def test_duplicate_and_reordered_deliveries(home, box, served):
    box.inject_delivery_fault("duplicate")
    box.update(TOKEN, "contacts", "6", {"jobtitle": "Twice"})
    box.flush_webhooks()
    served.settled(1)
    box.inject_delivery_fault("reorder")
    box.update(TOKEN, "contacts", "7", {"jobtitle": "First"})
    box.update(TOKEN, "contacts", "7", {"jobtitle": "Second"})
    box.flush_webhooks()
    served.settled(3)
    wait_until(lambda: jobtitle(home, "7") == "Second", what="the latest job title")
    assert [e for e in events(home, "sync_type = 'WEBHOOK'") if e[1] == "6"] == [
        ("contacts", "6", "UPDATED", "WEBHOOK")
    ]


def test_a_dropped_webhook_is_caught_by_the_next_poll_once(home, box, served):
    box.inject_delivery_fault("drop")
    box.update(TOKEN, "contacts", "8", {"jobtitle": "Dropped"})
    box.flush_webhooks()
    assert served.inbox.counts() == {}
    sync_runner(home).run("acme")
    sync_runner(home).run("acme")
    assert jobtitle(home, "8") == "Dropped"
    assert [e for e in events(home, "record_id = '8'") if e[2] == "UPDATED"] == [
        ("contacts", "8", "UPDATED", "INCREMENTAL")
    ]


def test_a_poll_racing_a_webhook_never_leaves_the_older_version(home, box, served):
    """Both ways: a poll that read an older version after a webhook wrote a newer one,
    and a webhook whose read is older than what a poll wrote. The sandbox gives the record
    an older ``updatedAt`` (``at``) to stand for the answer read before the other."""
    later = datetime.now(UTC) + timedelta(minutes=5)
    box.update(TOKEN, "contacts", "9", {"jobtitle": "Newer"}, at=later)
    served.settled(1)
    wait_until(lambda: jobtitle(home, "9") == "Newer", what="the webhook's version")
    box.update(TOKEN, "contacts", "9", {"jobtitle": "Older"}, at=later - timedelta(minutes=1))
    served.settled(2)
    sync_runner(home).run("acme", mode="full")
    assert jobtitle(home, "9") == "Newer"
    # The other way: the poll wrote the newest; a webhook reads an older answer.
    box.update(TOKEN, "contacts", "10", {"jobtitle": "Polled"}, at=later)
    served.settled(3)
    box.update(TOKEN, "contacts", "10", {"jobtitle": "Stale"}, at=later - timedelta(minutes=2))
    served.settled(4)
    assert jobtitle(home, "10") == "Polled"
    assert [a for _, rid, a, _ in events(home, "record_id IN ('9', '10')")].count("UPDATED") == 2


def test_unmatched_and_paused_events_are_kept(home, box, served):
    other = "token-nobody-knows"
    box.add_account(other, contacts=2)
    box.subscribe(other, served.hook_url("hubspot"), SECRET)
    box.update(other, "contacts", "1", {"jobtitle": "Unknown"})
    (event,) = served.settled(1)
    assert event["status"] == "unmatched"
    assert f"portal:{box.portal(other)}" in event["reason"]
    listed = requests.get(
        f"{served.url}/inbox",
        params={"status": "unmatched"},
        headers={"Authorization": f"Bearer {served.key}"},
        timeout=10,
    ).json()
    assert [e["event_type"] for e in listed["events"]] == ["contact.propertyChange"]
    Connections(home).set_enabled("acme", False)
    box.update(TOKEN, "contacts", "11", {"jobtitle": "While paused"})
    paused = served.settled(2)[-1]
    assert paused["status"] == "paused"
    assert jobtitle(home, "11") != "While paused"
    Connections(home).set_enabled("acme", True)
    served.realtime.applier.wake()
    wait_until(lambda: jobtitle(home, "11") == "While paused", what="the paused event")


def test_a_server_killed_between_ingress_and_apply_applies_the_event_once_on_restart(
    home: Home, box: HubSpotSandbox, tmp_path: Path
):
    Connections(home).add(
        "hubspot",
        "acme",
        credentials={"access_token": TOKEN},
        config={"base_url": box.base_url, "portal_id": str(box.portal(TOKEN))},
    )
    ProviderSecrets(home).set("hubspot", SECRET)
    sync_runner(home).run("acme")

    def serve(port: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SYNCS_API_KEY": "k" * 32}
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _up(port), 30, "syncs serve")
        return process

    port = _free_port()
    box.subscribe(TOKEN, f"http://127.0.0.1:{port}/webhooks/hubspot", SECRET)
    # The applier's read by id hangs, so the event waits in the inbox when the kill comes.
    box.inject_fault("slow", delay=30, path_prefix="/crm/v3/objects/contacts/batch")
    first = serve(port)
    box.update(TOKEN, "contacts", "12", {"jobtitle": "Survived"})
    box.flush_webhooks()
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    box.clear_faults()
    from pipelines.ingress.inbox import Inbox

    assert [e["status"] for e in Inbox(home).list()] == ["received"]
    second = serve(port)
    try:
        wait_until(lambda: jobtitle(home, "12") == "Survived", 30, "the event applied")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert events(home, "record_id = '12' AND sync_type = 'WEBHOOK'") == [
        ("contacts", "12", "UPDATED", "WEBHOOK")
    ]
    assert [e["status"] for e in Inbox(home).list()] == ["applied"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False
