"""The HubSpot sandbox over real loopback HTTP: shapes, paging, search, limits and faults."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from sources.hubspot.sandbox.server import PROPERTIES, HubSpotSandbox
from sources.sandbox.client import SandboxAdminError, SandboxClient

TOKEN = "pat-na1-test-token"
OTHER = "pat-na1-other-token"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(search_rate_per_second=None) as sb:
        sb.add_account(TOKEN, seed=7, contacts=250, companies=40, deals=60)
        sb.add_account(OTHER, seed=8, contacts=30, companies=5, deals=5)
        yield sb


def session(token: str | None = TOKEN) -> requests.Session:
    s = requests.Session()
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def list_all(
    sb: HubSpotSandbox, object_type: str, token: str = TOKEN, **params: Any
) -> list[dict[str, Any]]:
    """Every record of a listing, following ``paging.next.link`` as a client would."""
    s = session(token)
    url: str | None = f"{sb.base_url}/crm/v3/objects/{object_type}"
    query: dict[str, Any] | None = {"limit": 100, **params}
    out: list[dict[str, Any]] = []
    while url is not None:
        response = s.get(url, params=query, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body["results"])
        nxt = body.get("paging", {}).get("next")
        url, query = (nxt["link"], None) if nxt else (None, None)
    return out


def search(
    sb: HubSpotSandbox, object_type: str, body: dict[str, Any], token: str = TOKEN
) -> requests.Response:
    return session(token).post(
        f"{sb.base_url}/crm/v3/objects/{object_type}/search", json=body, timeout=5
    )


def search_all(sb: HubSpotSandbox, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: str | None = "0"
    while after is not None:
        response = search(sb, object_type, {**body, "limit": 200, "after": after})
        assert response.status_code == 200, response.text
        page = response.json()
        out.extend(page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
    return out


def test_paging_covers_every_record_exactly_once(sandbox: HubSpotSandbox) -> None:
    for object_type, count in (("contacts", 250), ("companies", 40), ("deals", 60)):
        records = list_all(sandbox, object_type)
        ids = [r["id"] for r in records]
        assert len(ids) == count
        assert len(set(ids)) == count
        assert [int(i) for i in ids] == sorted(int(i) for i in ids)
        assert ids == sandbox.ids(TOKEN, object_type)

    s = session()
    first = s.get(f"{sandbox.base_url}/crm/v3/objects/contacts", timeout=5).json()
    assert len(first["results"]) == 10
    cursor = first["paging"]["next"]["after"]
    assert first["paging"]["next"]["link"].startswith(
        f"{sandbox.base_url}/crm/v3/objects/contacts?"
    )
    big = s.get(
        f"{sandbox.base_url}/crm/v3/objects/contacts",
        params={"limit": 1000, "after": cursor},
        timeout=5,
    ).json()
    assert len(big["results"]) == 100
    assert big["results"][0]["id"] == "11"

    last = s.get(
        f"{sandbox.base_url}/crm/v3/objects/contacts",
        params={"limit": 100, "after": big["paging"]["next"]["after"]},
        timeout=5,
    ).json()
    tail = s.get(
        f"{sandbox.base_url}/crm/v3/objects/contacts",
        params={"limit": 100, "after": last["paging"]["next"]["after"]},
        timeout=5,
    ).json()
    assert len(tail["results"]) == 40
    assert "paging" not in tail


def test_record_shape_and_values(sandbox: HubSpotSandbox) -> None:
    for record in list_all(sandbox, "contacts", properties=",".join(PROPERTIES["contacts"])):
        assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
        assert record["archived"] is False
        assert ISO_MS.match(record["createdAt"]) and ISO_MS.match(record["updatedAt"])
        assert record["createdAt"] <= record["updatedAt"] <= "2025-01-01T00:00:00.000Z"
        props = record["properties"]
        assert set(props) == set(PROPERTIES["contacts"])
        assert props["hs_object_id"] == record["id"]
        assert props["createdate"] == record["createdAt"]
        assert props["lastmodifieddate"] == record["updatedAt"]
        assert all(v is None or isinstance(v, str) for v in props.values())
    for record in list_all(sandbox, "deals"):
        assert record["properties"]["hs_lastmodifieddate"] == record["updatedAt"]


def test_default_and_selected_properties(sandbox: HubSpotSandbox) -> None:
    url = f"{sandbox.base_url}/crm/v3/objects"
    s = session()
    expected_defaults = {
        "contacts": {"firstname", "lastname", "email", "createdate", "lastmodifieddate"},
        "companies": {"name", "domain", "createdate", "hs_lastmodifieddate"},
        "deals": {
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "createdate",
            "hs_lastmodifieddate",
        },
    }
    for object_type, names in expected_defaults.items():
        body = s.get(f"{url}/{object_type}", params={"limit": 3}, timeout=5).json()
        for record in body["results"]:
            assert set(record["properties"]) == names | {"hs_object_id"}

    body = s.get(
        f"{url}/contacts",
        params={"limit": 5, "properties": "email,city,not_a_property", "archived": "false"},
        timeout=5,
    ).json()
    for record in body["results"]:
        assert set(record["properties"]) == {
            "email",
            "city",
            "hs_object_id",
            "createdate",
            "lastmodifieddate",
        }

    one = s.get(f"{url}/companies/3", params={"properties": "numberofemployees"}, timeout=5)
    assert one.status_code == 200
    assert one.json()["id"] == "3"
    assert set(one.json()["properties"]) == {
        "numberofemployees",
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
    }

    missing = s.get(f"{url}/companies/99999", timeout=5)
    assert missing.status_code == 404
    error = missing.json()
    assert error["status"] == "error"
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["message"] == "resource not found"
    assert error["correlationId"]

    unknown = s.get(f"{url}/widgets", timeout=5)
    assert unknown.status_code == 400
    assert unknown.json()["category"] == "VALIDATION_ERROR"


def test_archived_listing(sandbox: HubSpotSandbox) -> None:
    at = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    sandbox.archive(TOKEN, "contacts", "5", at=at)
    sandbox.archive(TOKEN, "contacts", "17", at=at)

    live = list_all(sandbox, "contacts")
    assert len(live) == 248
    assert {"5", "17"}.isdisjoint(r["id"] for r in live)

    archived = list_all(sandbox, "contacts", archived="true")
    assert [r["id"] for r in archived] == ["5", "17"]
    for record in archived:
        assert record["archived"] is True
        assert record["archivedAt"] == "2025-03-01T12:00:00.123Z"

    s = session()
    base = f"{sandbox.base_url}/crm/v3/objects/contacts/5"
    assert s.get(base, timeout=5).status_code == 404
    assert s.get(base, params={"archived": "true"}, timeout=5).json()["archived"] is True

    searched = [r["id"] for r in search_all(sandbox, "contacts", {})]
    assert len(searched) == 248
    assert {"5", "17"}.isdisjoint(searched)
    assert search(sandbox, "contacts", {"limit": 0}).json()["total"] == 248

    sandbox.restore(TOKEN, "contacts", "5")
    assert "5" in sandbox.ids(TOKEN, "contacts")
    assert sandbox.ids(TOKEN, "contacts", archived=True) == ["17"]


def test_search_gte_ascending_sort_and_total(sandbox: HubSpotSandbox) -> None:
    tie = datetime(2025, 6, 1, tzinfo=UTC)
    for record_id in ("30", "12", "200"):
        sandbox.update(TOKEN, "contacts", record_id, {"city": "Reykjavik"}, at=tie)
    cutoff = "2024-10-01T00:00:00.000Z"
    cutoff_ms = str(int(datetime(2024, 10, 1, tzinfo=UTC).timestamp() * 1000))

    expected = sorted(
        (
            (r["updatedAt"], int(r["id"]))
            for r in list_all(sandbox, "contacts")
            if r["updatedAt"] >= cutoff
        ),
    )
    assert expected[-3:] == [("2025-06-01T00:00:00.000Z", i) for i in (12, 30, 200)]

    seen: list[tuple[str, int]] = []
    after: str | None = "0"
    totals = set()
    while after is not None:
        response = search(
            sandbox,
            "contacts",
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": cutoff_ms,
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["city"],
                "limit": 7,
                "after": after,
            },
        )
        assert response.status_code == 200, response.text
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in response.headers)
        body = response.json()
        totals.add(body["total"])
        for record in body["results"]:
            assert set(record["properties"]) == {
                "city",
                "createdate",
                "hs_object_id",
                "lastmodifieddate",
            }
            seen.append((record["updatedAt"], int(record["id"])))
        nxt = body.get("paging", {}).get("next")
        assert nxt is None or set(nxt) == {"after"}
        after = nxt["after"] if nxt else None
    assert totals == {len(expected)}
    assert seen == expected

    iso = search(
        sandbox,
        "contacts",
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": cutoff}
                    ]
                }
            ],
            "limit": 1,
        },
    ).json()
    assert iso["total"] == len(expected)

    descending = search(
        sandbox,
        "contacts",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "city", "operator": "EQ", "value": "reykjavik"}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        },
    ).json()
    assert descending["total"] == 3
    assert [r["id"] for r in descending["results"]] == ["12", "30", "200"]
    assert "paging" not in descending


def test_search_not_in_leaves_out_the_records_named(sandbox: HubSpotSandbox) -> None:
    tie = datetime(2025, 6, 1, tzinfo=UTC)
    for record_id in ("30", "12", "200", "7"):
        sandbox.update(TOKEN, "contacts", record_id, {"city": "Reykjavik"}, at=tie)
    for seconds, record_id in enumerate(("9", "44", "3", "150"), start=1):
        sandbox.update(
            TOKEN, "contacts", record_id, {"city": "Oslo"}, at=tie + timedelta(seconds=seconds)
        )
    sandbox.erase(TOKEN, "contacts", "44")
    tie_ms = str(int(tie.timestamp() * 1000))

    def ids(not_in: list[str], *, also: dict | None = None, limit: int = 100) -> list[str]:
        filters = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": tie_ms}]
        filters.append({"propertyName": "hs_object_id", "operator": "NOT_IN", "values": not_in})
        if also:
            filters.append(also)
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "limit": limit,
        }
        found, after = [], None
        while True:
            page = search(sandbox, "contacts", {**body, **({"after": after} if after else {})})
            found += [r["id"] for r in page.json()["results"]]
            after = page.json().get("paging", {}).get("next", {}).get("after")
            if after is None:
                return found

    # The modified-time index answers the query alone; a filter it does not take sends it
    # record by record. Both leave out exactly the ids named, at the edge or later, in
    # one page or paged two at a time, and ignore a named id that is gone or unknown.
    by_record = {"propertyName": "city", "operator": "HAS_PROPERTY"}
    assert ids(["12", "200"]) == ["7", "30", "9", "3", "150"]
    assert ids(["9"]) == ["7", "12", "30", "200", "3", "150"]
    for not_in in (["12", "200"], ["9"], ["7", "3", "44", "999999"], ["150", "30"]):
        expected = ids(not_in, also=by_record)
        assert ids(not_in) == expected
        assert ids(not_in, limit=2) == expected
        assert not set(not_in) & set(expected)


def test_search_cap(sandbox: HubSpotSandbox) -> None:
    with HubSpotSandbox(search_cap=50, search_rate_per_second=None) as sb:
        sb.add_account(TOKEN, seed=1, contacts=120)
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "createdate", "operator": "HAS_PROPERTY"}]}
            ],
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "limit": 20,
        }
        pages = []
        after: str | None = "0"
        while after is not None:
            page = search(sb, "contacts", {**body, "after": after}).json()
            assert page["total"] == 120
            pages.append(len(page["results"]))
            after = page.get("paging", {}).get("next", {}).get("after")
        assert pages == [20, 20, 10]

        past = search(sb, "contacts", {**body, "after": "50"})
        assert past.status_code == 400
        error = past.json()
        assert error["status"] == "error"
        assert error["category"] == "VALIDATION_ERROR"
        assert error["correlationId"]

        assert search(sb, "contacts", {**body, "limit": 201}).status_code == 400


def test_wrong_or_missing_token_is_401(sandbox: HubSpotSandbox) -> None:
    url = f"{sandbox.base_url}/crm/v3/objects/contacts"
    for s in (session("nope"), session(None)):
        response = s.get(url, timeout=5)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found.")
        assert body["correlationId"]
    assert search(sandbox, "contacts", {}, token="nope").status_code == 401


def test_injected_429_carries_retry_after(sandbox: HubSpotSandbox) -> None:
    sandbox.inject_fault("429", count=2, retry_after=3)
    url = f"{sandbox.base_url}/crm/v3/objects/contacts"
    s = session()
    for _ in range(2):
        response = s.get(url, timeout=5)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        body = response.json()
        assert body["errorType"] == "RATE_LIMIT"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert body["correlationId"]
    assert s.get(url, timeout=5).status_code == 200
    assert [status for _, _, status in sandbox.requests_seen] == [429, 429, 200]


def test_rate_limit_per_token() -> None:
    with HubSpotSandbox(rate_limit_per_10s=3, search_rate_per_second=2) as sb:
        sb.add_account(TOKEN, seed=1, contacts=5)
        sb.add_account(OTHER, seed=2, contacts=5)
        url = f"{sb.base_url}/crm/v3/objects/contacts"
        s = session()
        remaining = []
        for _ in range(3):
            response = s.get(url, timeout=5)
            assert response.status_code == 200
            assert response.headers["X-HubSpot-RateLimit-Max"] == "3"
            assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
            assert "X-HubSpot-RateLimit-Daily" in response.headers
            assert "X-HubSpot-RateLimit-Daily-Remaining" in response.headers
            remaining.append(response.headers["X-HubSpot-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]

        limited = s.get(url, timeout=5)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert limited.json()["errorType"] == "RATE_LIMIT"

        assert session(OTHER).get(url, timeout=5).status_code == 200

        statuses = [search(sb, "contacts", {}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        second = search(sb, "contacts", {})
        assert second.json()["policyName"] == "SECONDLY"
        assert "Retry-After" in second.headers


def test_injected_500(sandbox: HubSpotSandbox) -> None:
    sandbox.inject_fault("500", path_prefix="/crm/v3/objects/deals")
    s = session()
    assert s.get(f"{sandbox.base_url}/crm/v3/objects/contacts", timeout=5).status_code == 200
    response = s.get(f"{sandbox.base_url}/crm/v3/objects/deals", timeout=5)
    assert response.status_code == 500
    assert response.json()["category"] == "INTERNAL_ERROR"
    assert response.json()["message"] == "internal error"
    assert s.get(f"{sandbox.base_url}/crm/v3/objects/deals", timeout=5).status_code == 200


def test_slow_fault(sandbox: HubSpotSandbox) -> None:
    url = f"{sandbox.base_url}/crm/v3/objects/contacts"
    sandbox.inject_fault("slow", delay=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session().get(url, timeout=0.2)
    sandbox.inject_fault("slow", delay=0.3)
    started = time.monotonic()
    response = session().get(url, timeout=5)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_cut_fault_breaks_the_response(sandbox: HubSpotSandbox) -> None:
    url = f"{sandbox.base_url}/crm/v3/objects/contacts"
    s = session()
    sandbox.inject_fault("cut")
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        s.get(url, params={"limit": 100}, timeout=5)
    assert s.get(url, params={"limit": 100}, timeout=5).status_code == 200


def test_same_seed_same_data_and_accounts_differ() -> None:
    def snapshot(seed: int) -> list[dict[str, Any]]:
        with HubSpotSandbox() as sb:
            sb.add_account(TOKEN, seed=seed, contacts=120, companies=10, deals=10)
            return [
                record
                for object_type in ("contacts", "companies", "deals")
                for record in list_all(
                    sb, object_type, properties=",".join(PROPERTIES[object_type])
                )
            ]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)

    with HubSpotSandbox() as sb:
        sb.add_account(TOKEN, seed=1, contacts=20)
        sb.add_account(OTHER, seed=2, contacts=20)
        mine = [r["properties"]["email"] for r in list_all(sb, "contacts")]
        theirs = [r["properties"]["email"] for r in list_all(sb, "contacts", token=OTHER)]
        assert len(mine) == len(theirs) == 20
        assert set(mine).isdisjoint(theirs)
        sb.create(TOKEN, "contacts", {"email": "only@mine.example"})
        assert len(sb.ids(TOKEN, "contacts")) == 21
        assert len(sb.ids(OTHER, "contacts")) == 20


def test_python_api_mutations(sandbox: HubSpotSandbox) -> None:
    at = datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    created = sandbox.create(
        TOKEN,
        "companies",
        {"name": "Odd Co", "numberofemployees": "lots"},
        at=datetime(2025, 1, 15, tzinfo=UTC),
    )
    assert created["createdAt"] == "2025-01-15T00:00:00.000Z"
    assert created["id"] == "41"
    assert created["properties"]["numberofemployees"] == "lots"
    updated = sandbox.update(TOKEN, "companies", created["id"], {"annualrevenue": 5}, at=at)
    assert updated["updatedAt"] == "2025-02-03T04:05:06.789Z"
    assert updated["properties"]["hs_lastmodifieddate"] == "2025-02-03T04:05:06.789Z"
    assert updated["properties"]["annualrevenue"] == "5"
    assert updated["properties"]["name"] == "Odd Co"
    assert sandbox.get(TOKEN, "companies", "41")["properties"]["numberofemployees"] == "lots"
    with pytest.raises(KeyError):
        sandbox.get(TOKEN, "companies", "999")


def test_admin_endpoints_via_client(sandbox: HubSpotSandbox) -> None:
    client = SandboxClient(sandbox.base_url)
    assert client.health()["status"] == "ok"
    client.add_account("remote-token", seed=5, contacts=12, companies=2, deals=3)
    with pytest.raises(SandboxAdminError):
        client.add_account("remote-token", seed=5)
    assert len(client.ids("remote-token", "contacts")) == 12

    at = datetime(2025, 5, 5, 5, 5, 5, 5000, tzinfo=UTC)
    created = client.create("remote-token", "contacts", {"email": "new@x.example"}, at=at)
    assert created["createdAt"] == "2025-05-05T05:05:05.005Z"
    assert created["properties"]["createdate"] == created["createdAt"]
    updated = client.update("remote-token", "contacts", created["id"], {"firstname": "Nova"})
    assert updated["properties"]["firstname"] == "Nova"
    assert updated["updatedAt"] > created["updatedAt"]
    archived = client.archive("remote-token", "contacts", created["id"], at=at)
    assert archived["archived"] is True
    assert client.ids("remote-token", "contacts", archived=True) == [created["id"]]
    restored = client.restore("remote-token", "contacts", created["id"])
    assert restored["archived"] is False
    assert (
        client.get("remote-token", "contacts", created["id"])["properties"]["firstname"] == "Nova"
    )
    with pytest.raises(SandboxAdminError):
        client.get("remote-token", "contacts", "9999")
    client.erase("remote-token", "contacts", "3")
    assert "3" not in client.ids("remote-token", "contacts")
    assert client.ids("remote-token", "contacts", archived=True) == []
    with pytest.raises(SandboxAdminError):
        client.get("remote-token", "contacts", "3")

    client.clear_requests()
    client.inject_fault("429", retry_after=2, path_prefix="/crm/v3/objects/deals")
    assert client.faults()[0]["kind"] == "429"
    s = session("remote-token")
    assert s.get(f"{sandbox.base_url}/crm/v3/objects/contacts", timeout=5).status_code == 200
    limited = s.get(f"{sandbox.base_url}/crm/v3/objects/deals", timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert client.requests_seen() == [
        ("GET", "/crm/v3/objects/contacts", 200),
        ("GET", "/crm/v3/objects/deals", 429),
    ]
    with pytest.raises(SandboxAdminError):
        client.inject_fault("teapot")
    client.close()


def test_no_handler_errors(sandbox: HubSpotSandbox) -> None:
    s = session()
    s.get(f"{sandbox.base_url}/crm/v3/objects/contacts", params={"limit": "x"}, timeout=5)
    s.post(f"{sandbox.base_url}/crm/v3/objects/contacts/search", data=b"{not json", timeout=5)
    bad_filter = search(
        sandbox,
        "contacts",
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]},
    )
    assert bad_filter.status_code == 400
    assert [status for _, _, status in sandbox.requests_seen] == [400, 400, 400]
    assert sandbox.handler_errors == []


def test_legacy_endpoints_peer_connectors_read(sandbox: HubSpotSandbox) -> None:
    s = session()
    legacy = s.get(f"{sandbox.base_url}/properties/v2/contacts/properties", timeout=5)
    assert legacy.status_code == 200
    by_name = {p["name"]: p for p in legacy.json()}
    assert set(PROPERTIES["contacts"]) <= set(by_name)
    assert by_name["createdate"]["readOnlyValue"] is True
    assert isinstance(by_name["createdate"]["createdAt"], int)

    pipelines = s.get(f"{sandbox.base_url}/crm-pipelines/v1/pipelines/deals", timeout=5)
    (deal_pipeline,) = pipelines.json()["results"]
    assert deal_pipeline["pipelineId"] == "default" and deal_pipeline["objectTypeId"] == "0-3"
    assert [st["stageId"] for st in deal_pipeline["stages"]][-2:] == ["closedwon", "closedlost"]
    assert s.get(f"{sandbox.base_url}/crm/v3/schemas", timeout=5).json() == {"results": []}


def test_parameters_hubspot_ignores_are_ignored_and_others_refused(
    sandbox: HubSpotSandbox,
) -> None:
    s = session()
    base = f"{sandbox.base_url}/crm/v3"
    assert s.get(f"{base}/properties/deals", params={"limit": 100}, timeout=5).ok
    assert s.get(f"{base}/objects/deals", params={"order_by": "x", "portalId": 1}, timeout=5).ok
    for path, params in (
        ("/objects/deals", {"colour": "red"}),
        ("/objects/deals/1", {"idProperty": "email"}),
        ("/owners", {"teamId": "1"}),
        ("/pipelines/deals", {"limit": 10}),
        ("/properties/deals", {"properties": "name"}),
    ):
        refused = s.get(f"{base}{path}", params=params, timeout=5)
        assert refused.status_code == 400, path
        assert "not simulated" in refused.json()["message"], path
    unknown_field = s.post(f"{base}/objects/deals/search", json={"filters": []}, timeout=5)
    assert unknown_field.status_code == 400 and "'filters'" in unknown_field.json()["message"]


def test_other_standard_objects_hold_what_is_created(sandbox: HubSpotSandbox) -> None:
    assert list_all(sandbox, "tickets") == []
    created = sandbox.create(TOKEN, "tickets", {"subject": "Printer on fire", "hs_pipeline": "0"})
    (ticket,) = list_all(sandbox, "tickets", properties="subject")
    assert ticket["id"] == created["id"] and ticket["properties"]["subject"] == "Printer on fire"
    note = sandbox.create(TOKEN, "notes", {"hs_note_body": "called back"})
    assert "hs_createdate" in note["properties"] and "createdate" not in note["properties"]
