"""The records API on real uvicorn over loopback, against data synced from the HubSpot sandbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests

from pipelines.api.server import ApiServer, create_app
from pipelines.home import Home
from pipelines.notify.endpoints import WebhookEndpoints
from pipelines.notify.receiver import WebhookReceiver
from pipelines.store.api_keys import ensure_api_key
from pipelines.store.connections import Connections
from sources.errors import ConfigError
from tests.conftest import ACME, add_hubspot
from tests.pipelines.test_hubspot_sync import query

CONTACTS = {"integration": "hubspot", "model": "contacts", "connection_id": "acme"}


@dataclass
class Api:
    url: str
    key: str

    def get(self, path: str, key: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return requests.get(self.url + path, params=params, headers=headers, timeout=30)

    def post(self, path: str, body: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return requests.post(self.url + path, json=body, headers=headers, timeout=30)

    def records(self, **params: Any) -> dict[str, Any]:
        response = self.get("/records", **{**CONTACTS, **params})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(home: Home) -> Iterator[Api]:
    hashes, key = ensure_api_key(home, env_key="")
    assert key is not None
    server = ApiServer(create_app(home, hashes)).start()
    try:
        yield Api(server.url, key)
    finally:
        server.stop()


def registered(home: Home) -> None:
    """A connection that has never synced (its API is never called)."""
    Connections(home).add(
        "hubspot",
        "acme",
        credentials={"access_token": ACME},
        config={"base_url": "http://127.0.0.1:9"},
    )


@pytest.fixture
def synced(home, hubspot, runner):
    add_hubspot(home, hubspot)
    (result,) = runner.run("acme")
    return result


def test_missing_or_wrong_key_is_401(home, synced, api):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {api.key}"}):
        response = requests.get(api.url + "/records", params=CONTACTS, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "API key" in response.json()["message"]
    assert api.get("/connections/acme/syncs", key="syncs_sk_guess").status_code == 401
    assert requests.get(api.url + "/openapi.json", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"limit": "0"}, "limit", "limit must be a whole number from 1 to 10,000, got '0'"),
        ({"limit": "10001"}, "limit", "from 1 to 10,000"),
        ({"limit": "many"}, "limit", "got 'many'"),
        ({"cursor": "-1"}, "cursor", "cursor must be a whole number of at least 0"),
        ({"filter": "added,created"}, "filter", "filter takes added, updated, deleted"),
        ({"modified_after": "yesterday"}, "modified_after", "ISO 8601"),
        ({"colour": "red"}, "colour", "unknown parameter 'colour'"),
        ({"model": ""}, "model", "model is required"),
    ],
)
def test_bad_parameters_are_400_naming_them(home, api, params, parameter, message):
    registered(home)
    response = api.get("/records", **{**CONTACTS, **params})
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == parameter
    assert message in body["message"]


def test_repeated_parameter_and_bad_trigger_bodies_are_400(home, api):
    registered(home)
    response = requests.get(
        f"{api.url}/records?integration=hubspot&model=contacts&connection_id=acme&limit=1&limit=2",
        headers={"Authorization": f"Bearer {api.key}"},
        timeout=10,
    )
    assert response.status_code == 400 and "more than once" in response.json()["message"]
    for body, parameter in (
        ([1], "body"),
        ({"connection_id": "acme", "mode": "sometimes"}, "mode"),
        ({"connection_id": "acme", "sync": "tickets"}, "sync"),
        ({"mode": "full"}, "connection_id"),
        ({"connection_id": "acme", "when": "now"}, "when"),
        (
            {"connection_id": "acme", "confirm_deletions": "yes", "mode": "full"},
            "confirm_deletions",
        ),
        ({"connection_id": "acme", "confirm_deletions": True}, "confirm_deletions"),
    ):
        response = api.post("/syncs/trigger", body)
        assert response.status_code == 400, body
        assert response.json()["parameter"] == parameter


def test_unknown_connection_integration_or_model_is_404(home, api):
    registered(home)
    for params, message in (
        ({"integration": "salesforce"}, "unknown integration 'salesforce'"),
        ({"model": "tickets"}, "hubspot has no model 'tickets'"),
        ({"connection_id": "nobody"}, "unknown connection 'nobody'"),
    ):
        response = api.get("/records", **{**CONTACTS, **params})
        assert response.status_code == 404
        assert message in response.json()["message"]
    assert api.get("/connections/nobody/syncs").status_code == 404
    assert api.post("/syncs/trigger", {"connection_id": "nobody"}).status_code == 404
    assert api.get("/changes", connection_id="nobody").status_code == 404
    assert api.get("/no/such/path").status_code == 404


def test_records_carry_metadata_and_filter(home, hubspot, runner, synced, api):
    page = api.records(limit=3)
    assert [r["_metadata"]["cursor"] for r in page["records"]] == sorted(
        r["_metadata"]["cursor"] for r in page["records"]
    )
    first = page["records"][0]
    assert set(first["_metadata"]) == {
        "first_seen_at",
        "last_modified_at",
        "last_action",
        "deleted_at",
        "cursor",
        "run_id",
        "sync_type",
        "rejected_reason",
        "rejected_at",
    }
    assert first["_metadata"]["sync_type"] == "INITIAL"
    assert first["_metadata"]["last_action"] == "ADDED" and first["_metadata"]["deleted_at"] is None
    assert first["_metadata"]["rejected_reason"] is None
    assert "connection_id" not in first and first["email"]
    assert page["next_cursor"] == page["records"][-1]["_metadata"]["cursor"] and page["has_more"]

    ids = hubspot.ids(ACME, "contacts")
    hubspot.update(ACME, "contacts", ids[0], {"jobtitle": "Head of Records"})
    hubspot.archive(ACME, "contacts", ids[1])
    (second,) = runner.run("acme")

    changed = api.records(modified_after=second.started_at.isoformat())["records"]
    assert {(r["id"], r["_metadata"]["last_action"]) for r in changed} == {
        (ids[0], "UPDATED"),
        (ids[1], "DELETED"),
    }
    since_webhook = api.records(cursor=second.models["contacts"].first_cursor - 1)["records"]
    assert {r["id"] for r in since_webhook} == {ids[0], ids[1]}
    (deleted,) = api.records(filter="deleted")["records"]
    assert deleted["id"] == ids[1] and deleted["_metadata"]["deleted_at"]
    picked = api.records(ids=f"{ids[0]},{ids[5]}")["records"]
    assert {r["id"] for r in picked} == {ids[0], ids[5]}
    assert next(r for r in picked if r["id"] == ids[0])["jobtitle"] == "Head of Records"
    end = api.records(cursor=10**9)
    assert end == {"records": [], "next_cursor": 10**9, "has_more": False}


def test_paging_never_skips_or_repeats_while_a_sync_runs(home, hubspot, runner, synced, api):
    ids = hubspot.ids(ACME, "contacts")
    for record_id in ids[::3]:
        hubspot.update(ACME, "contacts", record_id, {"jobtitle": "Paged Director"})
    for i in range(20):
        hubspot.create(ACME, "contacts", {"email": f"paging{i}@acme.example.com"})
    for record_id in ids[-10:]:
        hubspot.archive(ACME, "contacts", record_id)

    copy: dict[str, tuple[int, str, str | None]] = {}
    returned: list[int] = []
    cursor = 0

    def next_page() -> dict[str, Any]:
        nonlocal cursor
        page = api.records(cursor=cursor, limit=7)
        for record in page["records"]:
            meta = record["_metadata"]
            returned.append(meta["cursor"])
            copy[record["id"]] = (meta["cursor"], meta["last_action"], record["jobtitle"])
        cursor = page["next_cursor"]
        return page

    for _ in range(15):
        next_page()
    sync = threading.Thread(target=runner.run, args=("acme",))
    sync.start()
    pages_during = 0
    while sync.is_alive():
        next_page()
        pages_during += 1
    sync.join()
    while next_page()["records"]:
        pass

    assert returned == sorted(returned) and len(returned) == len(set(returned))
    final = {
        record_id: (cursor, action, title)
        for record_id, cursor, action, title in query(
            home,
            "select id, _syncs_cursor, _syncs_last_action, jobtitle from hubspot.contacts "
            "where connection_id = 'acme'",
        )
    }
    assert copy == final
    assert len(final) == 270
    assert sum(1 for c, a, _ in final.values() if a == "DELETED") == 10
    assert pages_during > 0


def test_change_feed_with_changed_fields(home, hubspot, runner, synced, api):
    ids = hubspot.ids(ACME, "contacts")
    (before,) = api.records(ids=ids[3])["records"]
    hubspot.update(ACME, "contacts", ids[3], {"jobtitle": "Chief Feed Officer"})
    runner.run("acme")
    (update,) = api.get("/changes", connection_id="acme", filter="updated").json()["changes"]
    assert update["record_id"] == ids[3] and update["model"] == "contacts"
    assert update["changed_fields"] == ["jobtitle"]
    assert update["changes"] == [
        {"field": "jobtitle", "old": before["jobtitle"], "new": "Chief Feed Officer"}
    ]

    seen, cursor = [], 0
    while True:
        page = api.get("/changes", integration="hubspot", cursor=cursor, limit=40).json()
        if not page["changes"]:
            break
        seen.extend(c["cursor"] for c in page["changes"])
        cursor = page["next_cursor"]
    assert seen == list(range(1, 302))
    response = api.get("/changes", model="contacts")
    assert response.status_code == 400 and response.json()["parameter"] == "model"


def test_connection_syncs_report_last_run_cursor_and_next_run(home, synced, api):
    status = api.get("/connections/acme/syncs").json()
    (crm,) = status["syncs"]
    assert crm["sync"] == "crm" and crm["running"] is False
    last = crm["last_run"]
    assert last["run_id"] == synced.run_id and last["status"] == "success"
    assert last["sync_type"] == "INITIAL"
    assert last["counts"] == {"added": 300, "updated": 0, "deleted": 0, "unchanged": 0}
    assert last["models"]["contacts"]["added"] == 250
    assert set(crm["cursors"]) == {"contacts", "companies", "deals"}
    assert all(crm["cursors"].values())
    assert crm["next_run_at"] == (synced.started_at + timedelta(minutes=30)).isoformat()


def test_trigger_runs_a_sync_in_the_background(home, hubspot, synced, api):
    hubspot.erase(ACME, "contacts", hubspot.ids(ACME, "contacts")[0])
    hubspot.inject_fault("slow", count=1, delay=1.5, path_prefix="/crm/v3/objects/contacts")
    accepted = api.post("/syncs/trigger", {"connection_id": "acme", "mode": "full"})
    assert accepted.status_code == 202, accepted.text
    trigger = accepted.json()
    assert accepted.headers["Location"] == f"/syncs/triggers/{trigger['trigger_id']}"
    busy = api.post("/syncs/trigger", {"connection_id": "acme"})
    assert busy.status_code == 409 and "already has a triggered sync" in busy.json()["message"]
    assert api.get("/connections/acme/syncs").json()["syncs"][0]["running"] is True

    deadline = time.monotonic() + 60
    while trigger["status"] == "running":
        assert time.monotonic() < deadline, "the triggered sync never finished"
        time.sleep(0.1)
        trigger = api.get(f"/syncs/triggers/{trigger['trigger_id']}").json()
    assert trigger["status"] == "success"
    (run,) = trigger["runs"]
    assert run["sync_type"] == "FULL" and run["counts"]["deleted"] == 1
    assert (
        api.get("/connections/acme/syncs").json()["syncs"][0]["last_run"]["run_id"]
        == (run["run_id"])
    )
    assert api.get("/syncs/triggers/trg_nope").status_code == 404


def test_openapi_describes_the_endpoints(api):
    doc = requests.get(api.url + "/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    names = [p["name"] for p in doc["paths"]["/records"]["get"]["parameters"]]
    assert names == [
        "integration",
        "model",
        "connection_id",
        "cursor",
        "modified_after",
        "filter",
        "limit",
        "ids",
        "as_of",
    ]
    limit = doc["paths"]["/records"]["get"]["parameters"][6]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 10_000, 100)
    assert {
        "/changes",
        "/connections/{connection_id}/syncs",
        "/syncs/trigger",
        "/records/{integration}/{model}/{record_id}/versions",
    } <= set(doc["paths"])
    versions = doc["paths"]["/records/{integration}/{model}/{record_id}/versions"]["get"]
    assert [p["name"] for p in versions["parameters"]] == [
        "integration",
        "model",
        "record_id",
        "connection_id",
        "cursor",
        "limit",
    ]
    assert "VersionPage" in doc["components"]["schemas"]


def test_api_key_is_generated_once_and_stored_hashed(home, monkeypatch):
    monkeypatch.delenv("SYNCS_API_KEY", raising=False)
    hashes, key = ensure_api_key(home)
    assert key is not None and key.encode() not in home.control_store.read_bytes()
    assert ensure_api_key(home) == (hashes, None)
    with pytest.raises(ConfigError, match="SYNCS_API_KEY must be at least"):
        ensure_api_key(home, env_key="short")
    chosen = "a-key-the-operator-chose-0123456789"
    monkeypatch.setenv("SYNCS_API_KEY", chosen)
    env_hashes, shown = ensure_api_key(home)
    assert shown is None and env_hashes != hashes
    server = ApiServer(create_app(home, env_hashes)).start()
    try:
        assert Api(server.url, chosen).get("/changes").status_code == 200
        assert Api(server.url, key).get("/changes").status_code == 401
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_syncs_serve_answers_records_and_delivers_webhooks(home, synced):
    receiver = WebhookReceiver().start()
    _, receiver.secret = WebhookEndpoints(home).add(receiver.url)
    port = free_port()
    env = {**os.environ, "SYNCS_HOME": str(home.root)}
    env.pop("SYNCS_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        key = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if "API key" in line:
                key = line.rsplit(" ", 1)[1].strip()
            if "records API on" in line:
                break
        assert key is not None
        api = Api(f"http://127.0.0.1:{port}", key)
        page = api.records(limit=5)
        assert len(page["records"]) == 5
        assert api.get("/records", key="wrong", **CONTACTS).status_code == 401

        runner_result = api.post("/syncs/trigger", {"connection_id": "acme"})
        assert runner_result.status_code == 202
        got = receiver.wait_for(3, timeout=60)
        assert len(got) == 3 and all(w.verified for w in got)
        assert {w.payload["sync_type"] for w in got if w.payload} == {"INCREMENTAL"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        receiver.stop()
    assert proc.returncode == 0


def test_nested_values_come_back_as_json(home, runner, api):
    from sources.gong.sandbox.server import GongSandbox
    from tests.pipelines.test_gong_sync import ACME as GONG_KEY
    from tests.pipelines.test_gong_sync import ACME_SECRET, add_gong

    with GongSandbox(rate_limit_per_second=None) as gong:
        gong.add_account(GONG_KEY, ACME_SECRET, seed=1, calls=12)
        add_gong(home, gong, "acme-gong")
        runner.run("acme-gong")
    page = api.get(
        "/records", integration="gong", model="call_transcripts", connection_id="acme-gong"
    ).json()
    assert len(page["records"]) == 12
    stored = query(
        home,
        "select transcript from gong.call_transcripts where id = ?",
        [page["records"][0]["id"]],
    )[0][0]
    transcript = page["records"][0]["transcript"]
    assert isinstance(transcript, list | dict) and transcript == json.loads(stored)


def wait_for(api: Api, trigger: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while trigger["status"] == "running":
        assert time.monotonic() < deadline, "the triggered sync never finished"
        time.sleep(0.1)
        trigger = api.get(f"/syncs/triggers/{trigger['trigger_id']}").json()
    return trigger


def test_held_deletions_show_and_a_trigger_confirms_them(home, hubspot, synced, api):
    for record_id in hubspot.ids(ACME, "contacts")[:150]:
        hubspot.erase(ACME, "contacts", record_id)
    held = wait_for(
        api, api.post("/syncs/trigger", {"connection_id": "acme", "mode": "full"}).json()
    )
    (run,) = held["runs"]
    assert run["counts"]["deleted"] == 0 and run["deletions_held"] == 150
    last = api.get("/connections/acme/syncs").json()["syncs"][0]["last_run"]
    assert last["suspicious"] is True and last["deletions_held"] == 150
    assert "150 of 250" in last["note"]
    assert last["models"]["contacts"]["deletions_held"] == 150
    assert last["models"]["companies"]["deletions_held"] == 0

    body = {"connection_id": "acme", "mode": "full", "confirm_deletions": True}
    accepted = api.post("/syncs/trigger", body)
    assert accepted.status_code == 202 and accepted.json()["confirm_deletions"] is True
    (run,) = wait_for(api, accepted.json())["runs"]
    assert run["counts"]["deleted"] == 150 and run["deletions_held"] == 0
    last = api.get("/connections/acme/syncs").json()["syncs"][0]["last_run"]
    assert last["suspicious"] is False and last["deletions_held"] == 0


def test_a_trigger_for_a_connection_syncing_elsewhere_is_409(home, hubspot, synced, api):
    from pipelines.engine.run_lock import RunLock

    with RunLock(home, "hubspot", "acme", "crm"):
        busy = api.post("/syncs/trigger", {"connection_id": "acme"})
    assert busy.status_code == 409, busy.text
    assert "'acme' is already running sync 'crm'" in busy.json()["message"]
    accepted = api.post("/syncs/trigger", {"connection_id": "acme"})
    assert accepted.status_code == 202
    assert wait_for(api, accepted.json())["status"] == "success"


def test_records_as_of_a_past_time_and_a_records_versions(home, hubspot, runner, synced, api):
    ids = hubspot.ids(ACME, "contacts")
    (before,) = api.records(ids=ids[0])["records"]
    hubspot.update(ACME, "contacts", ids[0], {"jobtitle": "Then and Now"})
    hubspot.archive(ACME, "contacts", ids[1])
    (second,) = runner.run("acme")
    created = hubspot.create(ACME, "contacts", {"email": "later@acme.example.com"})
    runner.run("acme")

    past = api.records(as_of=second.started_at.isoformat(), limit=1000)["records"]
    by_id = {r["id"]: r for r in past}
    assert len(past) == 250 and created["id"] not in by_id
    assert by_id[ids[0]]["jobtitle"] == before["jobtitle"]
    assert by_id[ids[0]]["_metadata"]["last_action"] == "ADDED"
    assert by_id[ids[1]]["_metadata"]["last_action"] == "ADDED"
    assert by_id[ids[0]]["_metadata"]["valid_to"] is not None
    now = api.records(as_of="2100-01-01T00:00:00Z", limit=1000)["records"]
    current = {r["id"]: r for r in now}
    assert len(now) == 251 and current[ids[0]]["jobtitle"] == "Then and Now"
    assert current[ids[1]]["_metadata"]["last_action"] == "DELETED"
    assert current[ids[1]]["_metadata"]["valid_to"] is None
    (deleted,) = api.records(as_of="2100-01-01T00:00:00Z", filter="deleted")["records"]
    assert deleted["id"] == ids[1]

    path = f"/records/hubspot/contacts/{ids[0]}/versions"
    page = api.get(path, connection_id="acme").json()
    versions = page["versions"]
    assert [(v["jobtitle"], v["_metadata"]["last_action"]) for v in versions] == [
        (before["jobtitle"], "ADDED"),
        ("Then and Now", "UPDATED"),
    ]
    assert versions[0]["_metadata"]["valid_to"] == versions[1]["_metadata"]["valid_from"]
    assert versions[1]["_metadata"]["valid_to"] is None and not page["has_more"]
    first = api.get(path, connection_id="acme", limit=1).json()
    assert [v["jobtitle"] for v in first["versions"]] == [before["jobtitle"]] and first["has_more"]
    rest = api.get(path, connection_id="acme", cursor=first["next_cursor"]).json()
    assert [v["jobtitle"] for v in rest["versions"]] == ["Then and Now"]
    gone = api.get(f"/records/hubspot/contacts/{ids[1]}/versions", connection_id="acme").json()
    assert [v["_metadata"]["last_action"] for v in gone["versions"]] == ["ADDED", "DELETED"]


def test_as_of_and_versions_bad_input(home, synced, api):
    response = api.get("/records", **CONTACTS, as_of="last tuesday")
    assert response.status_code == 400 and response.json()["parameter"] == "as_of"
    response = api.get("/records/hubspot/contacts/1/versions")
    assert response.status_code == 400 and response.json()["parameter"] == "connection_id"
    response = api.get("/records/hubspot/contacts/no-such-id/versions", connection_id="acme")
    assert response.status_code == 404 and "no-such-id" in response.json()["message"]
    response = api.get("/records/hubspot/nothing/1/versions", connection_id="acme")
    assert response.status_code == 404
    response = api.get("/records/hubspot/contacts/1/versions", connection_id="nobody")
    assert response.status_code == 404
