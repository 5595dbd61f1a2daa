"""The Gong sandbox over real loopback HTTP: auth, shapes, windows, paging, limits, faults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from sources.gong.sandbox.server import CALL_FIELDS, NO_CALLS_MESSAGE, GongSandbox
from sources.sandbox.client import SandboxAdminError, SandboxClient

KEY, SECRET = "ACCESSKEY7H2Q", "secret-7h2q"
OTHER, OTHER_SECRET = "ACCESSKEY9X4Z", "secret-9x4z"
WIDE = {"fromDateTime": "2000-01-01T00:00:00Z", "toDateTime": "2100-01-01T00:00:00Z"}
OFFSET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-07:00$")


@pytest.fixture
def sandbox() -> Iterator[GongSandbox]:
    with GongSandbox(rate_limit_per_second=None) as sb:
        sb.add_account(KEY, SECRET, seed=7, calls=250, utc_offset_minutes=-420)
        sb.add_account(OTHER, OTHER_SECRET, seed=8, calls=30)
        yield sb


def session(key: str = KEY, secret: str = SECRET) -> requests.Session:
    s = requests.Session()
    s.auth = (key, secret)
    return s


def list_all(sb: GongSandbox, key: str = KEY, secret: str = SECRET, **params: Any) -> list[dict]:
    """Every call of a window, following ``records.cursor`` as a client would."""
    s = session(key, secret)
    query = {**WIDE, **params}
    calls: list[dict] = []
    while True:
        response = s.get(f"{sb.base_url}/v2/calls", params=query, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        calls.extend(body["calls"])
        cursor = body["records"].get("cursor")
        if cursor is None:
            return calls
        query = {**query, "cursor": cursor}


def transcripts(sb: GongSandbox, body: dict[str, Any], key: str = KEY) -> requests.Response:
    return session(key, SECRET if key == KEY else OTHER_SECRET).post(
        f"{sb.base_url}/v2/calls/transcript", json=body, timeout=5
    )


def test_basic_auth_with_key_and_secret_is_required(sandbox: GongSandbox) -> None:
    url = f"{sandbox.base_url}/v2/calls"
    attempts = [
        requests.get(url, params=WIDE, timeout=5),
        session(KEY, "wrong").get(url, params=WIDE, timeout=5),
        session(OTHER, SECRET).get(url, params=WIDE, timeout=5),
        requests.get(url, params=WIDE, headers={"Authorization": f"Bearer {SECRET}"}, timeout=5),
    ]
    for response in attempts:
        assert response.status_code == 401
        body = response.json()
        assert set(body) == {"requestId", "errors"}
        assert body["errors"] and isinstance(body["errors"][0], str)
    assert session().get(url, params=WIDE, timeout=5).status_code == 200


def test_listing_pages_with_records_cursor(sandbox: GongSandbox) -> None:
    s = session()
    first = s.get(f"{sandbox.base_url}/v2/calls", params=WIDE, timeout=5).json()
    assert first["records"]["totalRecords"] == 250
    assert first["records"]["currentPageSize"] == 100
    assert first["records"]["currentPageNumber"] == 0
    assert first["records"]["cursor"].startswith("eyJ")
    assert first["requestId"]
    call = first["calls"][0]
    assert tuple(call) == CALL_FIELDS
    assert OFFSET_TIME.match(call["started"]), call["started"]
    assert re.fullmatch(r"\d{19}", call["id"])
    assert call["url"] == f"https://app.gong.io/call?id={call['id']}"

    calls = list_all(sandbox)
    ids = [c["id"] for c in calls]
    assert len(ids) == len(set(ids)) == 250
    assert ids == sandbox.call_ids(KEY)
    second = s.get(
        f"{sandbox.base_url}/v2/calls",
        params={**WIDE, "cursor": first["records"]["cursor"]},
        timeout=5,
    ).json()
    assert second["records"]["currentPageNumber"] == 1
    assert [c["id"] for c in second["calls"]] == ids[100:200]
    other = [c["id"] for c in list_all(sandbox, OTHER, OTHER_SECRET)]
    assert len(other) == 30 and set(other).isdisjoint(ids)


def test_window_is_inclusive_exclusive_and_uses_scheduled_time_of_conferences(
    sandbox: GongSandbox,
) -> None:
    at = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    phone = sandbox.create_call(KEY, {"title": "phone"}, started=at)
    late = sandbox.create_call(
        KEY, {"title": "conference"}, started=at + timedelta(minutes=7), conference=True
    )
    assert phone["started"] == "2025-06-01T03:00:00-07:00"
    assert late["scheduled"] == "2025-06-01T03:00:00-07:00"
    assert late["started"] == "2025-06-01T03:07:00-07:00"

    def window(since: datetime, until: datetime) -> list[str]:
        response = session().get(
            f"{sandbox.base_url}/v2/calls",
            params={"fromDateTime": since.isoformat(), "toDateTime": until.isoformat()},
            timeout=5,
        )
        if response.status_code == 404:
            return []
        return [c["title"] for c in response.json()["calls"]]

    second = timedelta(seconds=1)
    assert sorted(window(at, at + second)) == ["conference", "phone"]
    assert window(at - second, at) == []
    assert window(at + second, at + timedelta(hours=1)) == []
    pacific = datetime(2025, 6, 1, 3, 0, tzinfo=timezone(timedelta(hours=-7)))
    assert sorted(window(pacific, pacific + second)) == ["conference", "phone"]


def test_a_window_without_calls_is_answered_404(sandbox: GongSandbox) -> None:
    response = session().get(
        f"{sandbox.base_url}/v2/calls",
        params={"fromDateTime": "2030-01-01T00:00:00Z", "toDateTime": "2030-02-01T00:00:00Z"},
        timeout=5,
    )
    assert response.status_code == 404
    body = response.json()
    assert body["errors"] == [NO_CALLS_MESSAGE]
    assert body["requestId"]
    unknown = transcripts(sandbox, {"filter": {"callIds": ["1234567890123456789"]}})
    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [NO_CALLS_MESSAGE]


def test_bad_parameters_and_cursors_are_400(sandbox: GongSandbox) -> None:
    url = f"{sandbox.base_url}/v2/calls"
    s = session()
    bad = [
        {**WIDE, "fromDateTime": "2024-01-01T00:00:00"},
        {**WIDE, "fromDateTime": "last tuesday"},
        {"fromDateTime": WIDE["toDateTime"], "toDateTime": WIDE["fromDateTime"]},
    ]
    for params in bad:
        response = s.get(url, params=params, timeout=5)
        assert response.status_code == 400, params
        assert response.json()["errors"]
    cursor = s.get(url, params=WIDE, timeout=5).json()["records"]["cursor"]
    other_query = {**WIDE, "fromDateTime": "2001-01-01T00:00:00Z", "cursor": cursor}
    assert s.get(url, params=other_query, timeout=5).status_code == 400
    header, payload, signature = cursor.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert s.get(url, params={**WIDE, "cursor": forged}, timeout=5).status_code == 400
    assert s.get(url, params={**WIDE, "cursor": "nonsense"}, timeout=5).status_code == 400
    assert s.get(url, params={**WIDE, "cursor": cursor}, timeout=5).status_code == 200


def test_transcripts_by_call_ids_page_with_a_body_cursor(sandbox: GongSandbox) -> None:
    ids = sandbox.call_ids(KEY)[:100]
    first = transcripts(sandbox, {"filter": {"callIds": ids}})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["records"]["totalRecords"] == 100
    assert body["records"]["currentPageSize"] == 50
    page = body["callTranscripts"]
    second = transcripts(
        sandbox, {"filter": {"callIds": ids}, "cursor": body["records"]["cursor"]}
    ).json()
    assert "cursor" not in second["records"]
    got = page + second["callTranscripts"]
    assert [t["callId"] for t in got] == ids
    for entry in got:
        assert set(entry) == {"callId", "transcript"}
        assert entry["transcript"] == sandbox.get_transcript(KEY, entry["callId"])
        for monologue in entry["transcript"]:
            assert set(monologue) == {"speakerId", "topic", "sentences"}
            for sentence in monologue["sentences"]:
                assert set(sentence) == {"start", "end", "text"}
                assert isinstance(sentence["start"], int) and sentence["start"] < sentence["end"]

    other_ids = transcripts(sandbox, {"filter": {"callIds": ids[:10]}, "cursor": "x.y.z"})
    assert other_ids.status_code == 400
    assert transcripts(sandbox, {}).status_code == 400
    assert transcripts(sandbox, {"filter": {"callIds": [12]}}).status_code == 400
    mine_only = transcripts(sandbox, {"filter": {"callIds": ids[:3]}}, key=OTHER)
    assert mine_only.status_code == 404


def test_unprocessed_calls_stay_invisible_until_processed(sandbox: GongSandbox) -> None:
    held = sandbox.create_call(KEY, {"title": "still processing"}, processed=False)
    assert held["id"] not in sandbox.call_ids(KEY)
    assert held["id"] not in [c["id"] for c in list_all(sandbox)]
    single = session().get(f"{sandbox.base_url}/v2/calls/{held['id']}", timeout=5)
    assert single.status_code == 404
    assert transcripts(sandbox, {"filter": {"callIds": [held["id"]]}}).status_code == 404
    sandbox.finish_processing(KEY, held["id"])
    assert held["id"] in [c["id"] for c in list_all(sandbox)]
    found = session().get(f"{sandbox.base_url}/v2/calls/{held['id']}", timeout=5).json()
    assert found["call"]["title"] == "still processing"


def test_rate_limits_per_company() -> None:
    with GongSandbox(rate_limit_per_second=3, daily_limit=5) as sb:
        sb.add_account(KEY, SECRET, seed=1, calls=3)
        sb.add_account(OTHER, OTHER_SECRET, seed=2, calls=3)
        url = f"{sb.base_url}/v2/calls"
        s = session()
        statuses = [s.get(url, params=WIDE, timeout=5).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = s.get(url, params=WIDE, timeout=5)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert "per second" in limited.json()["errors"][0]
        assert not any(h.lower().startswith("x-ratelimit") for h in limited.headers)
        assert session(OTHER, OTHER_SECRET).get(url, params=WIDE, timeout=5).status_code == 200

        sb.reset_rate_limits()
        sb.rate_limit_per_second = None
        assert [s.get(url, params=WIDE, timeout=5).status_code for _ in range(6)] == [
            200,
            200,
            200,
            200,
            200,
            429,
        ]
        daily = s.get(url, params=WIDE, timeout=5)
        assert "per day" in daily.json()["errors"][0]
        assert int(daily.headers["Retry-After"]) >= 1


def test_injected_faults(sandbox: GongSandbox) -> None:
    url = f"{sandbox.base_url}/v2/calls"
    s = session()
    sandbox.inject_fault("429", retry_after=3, path_prefix="/v2/calls/transcript")
    assert s.get(url, params=WIDE, timeout=5).status_code == 200
    limited = transcripts(sandbox, {"filter": {"callIds": sandbox.call_ids(KEY)[:2]}})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert limited.json()["errors"]
    sandbox.inject_fault("500")
    broken = s.get(url, params=WIDE, timeout=5)
    assert broken.status_code == 500
    assert set(broken.json()) == {"requestId", "errors"}
    sandbox.inject_fault("cut")
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        s.get(url, params=WIDE, timeout=5)
    assert s.get(url, params=WIDE, timeout=5).status_code == 200
    assert [status for _, _, status in sandbox.requests_seen] == [200, 429, 500, 200, 200]


def test_same_seed_same_data_and_companies_differ() -> None:
    def snapshot(seed: int) -> list[Any]:
        with GongSandbox(rate_limit_per_second=None) as sb:
            sb.add_account(KEY, SECRET, seed=seed, calls=40)
            calls = list_all(sb)
            return [(c, sb.get_transcript(KEY, c["id"])) for c in calls]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


def test_python_api_mutations(sandbox: GongSandbox) -> None:
    call_id = sandbox.call_ids(KEY)[5]
    updated = sandbox.update_call(
        KEY, call_id, {"title": "Renamed", "started": datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)}
    )
    assert updated["title"] == "Renamed"
    assert updated["started"] == "2025-02-02T21:05:06-07:00"
    assert sandbox.get_call(KEY, call_id)["title"] == "Renamed"
    with pytest.raises(ValueError, match="unknown call fields"):
        sandbox.update_call(KEY, call_id, {"colour": "blue"})
    with pytest.raises(ValueError, match="cannot be changed"):
        sandbox.update_call(KEY, call_id, {"id": "1"})

    new = [{"speakerId": "1", "topic": None, "sentences": [{"start": 0, "end": 9, "text": "Hi"}]}]
    sandbox.set_transcript(KEY, call_id, new)
    assert sandbox.get_transcript(KEY, call_id) == new

    sandbox.delete_call(KEY, call_id)
    assert call_id not in sandbox.call_ids(KEY)
    with pytest.raises(KeyError):
        sandbox.get_call(KEY, call_id)

    new_secret = sandbox.rotate_secret(KEY)
    url = f"{sandbox.base_url}/v2/calls"
    assert session().get(url, params=WIDE, timeout=5).status_code == 401
    assert session(KEY, new_secret).get(url, params=WIDE, timeout=5).status_code == 200
    with pytest.raises(ValueError, match="already exists"):
        sandbox.add_account(KEY, "x")


def test_admin_endpoints_via_client(sandbox: GongSandbox) -> None:
    client = SandboxClient(sandbox.base_url)
    assert client.health()["status"] == "ok"
    client.add_account("REMOTE", "remote-secret", seed=5, calls=12, utc_offset_minutes=-420)
    with pytest.raises(SandboxAdminError):
        client.add_account("REMOTE", "again")
    ids = client.call_ids("REMOTE")
    assert len(ids) == 12

    at = datetime(2025, 5, 5, 5, 5, 5, tzinfo=UTC)
    created = client.create_call("REMOTE", {"title": "Remote"}, started=at, processed=False)
    assert created["started"] == "2025-05-04T22:05:05-07:00"
    assert created["id"] not in client.call_ids("REMOTE")
    client.finish_processing("REMOTE", created["id"])
    assert created["id"] in client.call_ids("REMOTE")
    assert client.update_call("REMOTE", created["id"], {"title": "Renamed"})["title"] == "Renamed"
    transcript = [{"speakerId": "9", "topic": "Pricing", "sentences": []}]
    assert client.set_transcript("REMOTE", created["id"], transcript) == transcript
    assert client.get_transcript("REMOTE", created["id"]) == transcript
    assert client.get_call("REMOTE", created["id"])["title"] == "Renamed"
    client.delete_call("REMOTE", created["id"])
    with pytest.raises(SandboxAdminError):
        client.get_call("REMOTE", created["id"])
    with pytest.raises(SandboxAdminError):
        client.update_call("REMOTE", ids[0], {"colour": "blue"})
    new_secret = client.rotate_secret("REMOTE")
    assert (
        session("REMOTE", "remote-secret")
        .get(f"{sandbox.base_url}/v2/calls", params=WIDE, timeout=5)
        .status_code
        == 401
    )
    assert (
        session("REMOTE", new_secret)
        .get(f"{sandbox.base_url}/v2/calls", params=WIDE, timeout=5)
        .status_code
        == 200
    )
    made = client.create("REMOTE", "calls", {"title": "From the command line"})
    assert client.update("REMOTE", "calls", made["id"], {"title": "Edited"})["title"] == "Edited"
    client.erase("REMOTE", "calls", made["id"])
    assert made["id"] not in client.call_ids("REMOTE")
    with pytest.raises(ValueError, match="holds 'calls'"):
        client.create("REMOTE", "contacts", {})

    client.clear_requests()
    client.inject_fault("429", retry_after=2, path_prefix="/v2/calls")
    assert client.faults()[0]["kind"] == "429"
    limited = session().get(f"{sandbox.base_url}/v2/calls", params=WIDE, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert client.requests_seen() == [("GET", "/v2/calls", 429)]
    client.close()


def test_no_handler_errors(sandbox: GongSandbox) -> None:
    s = session()
    s.post(f"{sandbox.base_url}/v2/calls/transcript", data=b"{not json", timeout=5)
    s.post(f"{sandbox.base_url}/v2/calls/transcript", json=[1, 2], timeout=5)
    s.get(f"{sandbox.base_url}/v2/calls", params={**WIDE, "toDateTime": 5}, timeout=5)
    s.get(f"{sandbox.base_url}/v2/calls/123", timeout=5)
    assert [status for _, _, status in sandbox.requests_seen] == [400, 400, 400, 404]
    assert sandbox.handler_errors == []
