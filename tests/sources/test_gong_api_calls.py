"""The Gong sandbox called exactly as Gong's API documentation shows, with plain ``requests``
(Gong has no official Python client): ``Authorization: Basic base64(accessKey:secret)``, cursors
from ``records.cursor``. An independent check of the simulator for the calls a new user makes
first: calls without a date window, users, workspaces, and ``/v2/calls/extensive``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sources.gong.sandbox.server import GongSandbox

KEY, SECRET = "ACCESSKEYDOCS01", "secret-docs-01"


@pytest.fixture
def sandbox() -> Iterator[GongSandbox]:
    with GongSandbox(rate_limit_per_second=None, page_size=40) as sb:
        sb.add_account(KEY, SECRET, seed=11, calls=90, workspace_name="EMEA Sales")
        yield sb


def gong(sb: GongSandbox) -> requests.Session:
    """A session authenticated the way Gong's docs say: Basic, key and secret joined by ':'."""
    token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    s = requests.Session()
    s.headers.update({"Authorization": f"Basic {token}", "Accept": "application/json"})
    return s


def every_page(sb: GongSandbox, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """A GET listing followed through ``records.cursor`` until it is left out."""
    s, items = gong(sb), []
    while True:
        answer = s.get(f"{sb.base_url}{path}", params=params, timeout=5)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body[key])
        assert body["records"]["currentPageSize"] == len(body[key])
        if "cursor" not in body["records"]:
            assert body["records"]["totalRecords"] == len(items)
            return items
        params = {**params, "cursor": body["records"]["cursor"]}


def extensive(sb: GongSandbox, body: dict[str, Any]) -> requests.Response:
    return gong(sb).post(f"{sb.base_url}/v2/calls/extensive", json=body, timeout=5)


def test_calls_without_a_date_window_are_all_calls(sandbox: GongSandbox) -> None:
    calls = every_page(sandbox, "/v2/calls", "calls")
    assert [c["id"] for c in calls] == sandbox.call_ids(KEY), "oldest first, three pages"
    middle = calls[45]
    start = middle["scheduled"] if middle["direction"] == "Conference" else middle["started"]
    after = every_page(sandbox, "/v2/calls", "calls", fromDateTime=start)
    before = every_page(sandbox, "/v2/calls", "calls", toDateTime=start)
    assert [c["id"] for c in before + after] == [c["id"] for c in calls]
    assert after[0]["id"] == middle["id"], "fromDateTime is inclusive, toDateTime exclusive"


def test_users_page_by_cursor_and_read_one_by_one(sandbox: GongSandbox) -> None:
    small = GongSandbox(rate_limit_per_second=None, page_size=2).start()
    try:
        small.add_account(KEY, SECRET, seed=11, calls=3)
        users = every_page(small, "/v2/users", "users")
        with_avatars = every_page(small, "/v2/users", "users", includeAvatars="true")
    finally:
        small.stop()
    assert 3 <= len(users) <= 6 and len(with_avatars) == len(users) + 1
    avatar = next(u for u in with_avatars if u not in users)
    assert avatar["emailAddress"].endswith("@gong.io")
    for user in users:
        assert user["id"].isdigit() and user["emailAddress"].endswith("@example.com")
        assert set(user["settings"]) >= {"webConferencesRecorded", "telephonyCallsImported"}
        assert [lang["primary"] for lang in user["spokenLanguages"]].count(True) == 1
    managers = [u for u in users if u["managerId"] is None]
    assert len(managers) == 1 and all(
        u["managerId"] == managers[0]["id"] for u in users if u is not managers[0]
    )

    hosts = {c["primaryUserId"] for c in every_page(sandbox, "/v2/calls", "calls")}
    listed = {u["id"]: u for u in every_page(sandbox, "/v2/users", "users")}
    assert hosts <= set(listed), "every call's host is a user"
    one = next(iter(listed.values()))
    answer = gong(sandbox).get(f"{sandbox.base_url}/v2/users/{one['id']}", timeout=5)
    assert answer.status_code == 200 and answer.json()["user"] == one
    missing = gong(sandbox).get(f"{sandbox.base_url}/v2/users/1234567890", timeout=5)
    assert missing.status_code == 404 and missing.json()["errors"] == ["User not found"]


def test_workspaces_list_the_workspace_the_calls_belong_to(sandbox: GongSandbox) -> None:
    answer = gong(sandbox).get(f"{sandbox.base_url}/v2/workspaces", timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["requestId"] and len(body["workspaces"]) == 1
    workspace = body["workspaces"][0]
    assert workspace["name"] == "EMEA Sales" and workspace["description"]
    calls = every_page(sandbox, "/v2/calls", "calls", workspaceId=workspace["id"])
    assert len(calls) == 90 and {c["workspaceId"] for c in calls} == {workspace["id"]}


def test_extensive_parties_topics_and_interaction_come_from_the_transcript(
    sandbox: GongSandbox,
) -> None:
    ids = sandbox.call_ids(KEY)[:12]
    selector = {
        "context": "None",
        "exposedFields": {
            "parties": True,
            "content": {"topics": True, "trackers": False},
            "interaction": {"speakers": True, "questions": True},
        },
    }
    answer = extensive(sandbox, {"filter": {"callIds": ids}, "contentSelector": selector})
    assert answer.status_code == 200, answer.text
    calls = {c["metaData"]["id"]: c for c in answer.json()["calls"]}
    transcripts = gong(sandbox).post(
        f"{sandbox.base_url}/v2/calls/transcript", json={"filter": {"callIds": ids}}, timeout=5
    )
    users = {u["id"]: u for u in every_page(sandbox, "/v2/users", "users")}
    for entry in transcripts.json()["callTranscripts"]:
        call = calls[entry["callId"]]
        monologues = entry["transcript"]
        spoke = {m["speakerId"] for m in monologues}
        parties = call["parties"]
        assert {p["speakerId"] for p in parties if "speakerId" in p} == spoke
        host = parties[0]
        assert host["userId"] == call["metaData"]["primaryUserId"]
        assert host["affiliation"] == "Internal"
        assert host["emailAddress"] == users[host["userId"]]["emailAddress"]
        if call["metaData"]["scope"] == "External":
            assert any(p["affiliation"] == "External" for p in parties)

        by_party = {p["id"]: p["speakerId"] for p in parties if "speakerId" in p}
        talk = {s["id"]: s["talkTime"] for s in call["interaction"]["speakers"]}
        for party, speaker in by_party.items():
            spoken = sum(
                s["end"] - s["start"]
                for m in monologues
                if m["speakerId"] == speaker
                for s in m["sentences"]
            )
            assert talk[party] == pytest.approx(spoken / 1000, abs=0.01)
        topics = {m["topic"] for m in monologues if m["topic"]}
        assert {t["name"] for t in call["content"]["topics"]} == topics
        asked = sum(s["text"].endswith("?") for m in monologues for s in m["sentences"])
        questions = call["interaction"]["questions"]
        assert questions["companyCount"] + questions["nonCompanyCount"] == asked
        assert "media" not in call and "collaboration" not in call

    again = extensive(sandbox, {"filter": {"callIds": ids}, "contentSelector": selector})
    assert again.json()["calls"] == answer.json()["calls"], "the same participants every read"
    plain = extensive(sandbox, {"filter": {"callIds": ids[:1]}}).json()["calls"][0]
    assert set(plain) == {"metaData"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"contentSelector": {"exposedFields": {"media": True}}}, "exposedFields.media"),
        (
            {"contentSelector": {"exposedFields": {"collaboration": {"publicComments": True}}}},
            "collaboration.publicComments",
        ),
        (
            {"contentSelector": {"exposedFields": {"content": {"trackers": True}}}},
            "content.trackers",
        ),
        ({"contentSelector": {"exposedFields": {"content": {"colour": True}}}}, "colour"),
        ({"contentSelector": {"exposedFields": {"parties": "yes"}}}, "parties"),
        ({"contentSelector": {"context": "Extended"}}, "context"),
        ({"contentSelector": {"contextTiming": ["Now"]}}, "contextTiming"),
        ({"limit": 5}, "limit"),
    ],
)
def test_extensive_refuses_what_the_sandbox_does_not_simulate(
    sandbox: GongSandbox, body: dict[str, Any], named: str
) -> None:
    answer = extensive(sandbox, {"filter": {}, **body})
    assert answer.status_code == 400
    assert named in " ".join(answer.json()["errors"])


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v2/calls", {"limit": "10"}, "limit"),
        ("/v2/users", {"includeAvatars": "maybe"}, "includeAvatars"),
        ("/v2/users", {"active": "true"}, "active"),
        ("/v2/workspaces", {"name": "x"}, "name"),
    ],
)
def test_query_parameters_it_does_not_simulate_are_400(
    sandbox: GongSandbox, path: str, params: dict[str, str], named: str
) -> None:
    answer = gong(sandbox).get(f"{sandbox.base_url}{path}", params=params, timeout=5)
    assert answer.status_code == 400
    assert named in answer.json()["errors"][0] and answer.json()["requestId"]
