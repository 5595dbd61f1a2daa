"""The sandboxes' read-by-id endpoints as their providers document them: HubSpot's
``POST /crm/v3/objects/{object}/batch/read`` and Gong's ``POST /v2/calls/extensive``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sources.gong.sandbox.server import NO_CALLS_MESSAGE, GongSandbox
from sources.hubspot.sandbox.server import HubSpotSandbox

TOKEN = "pat-na1-test-token"
KEY, SECRET = "ACCESSKEY7H2Q", "secret-7h2q"


@pytest.fixture
def hubspot() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(search_rate_per_second=None) as sb:
        sb.add_account(TOKEN, seed=7, contacts=120)
        yield sb


@pytest.fixture
def gong() -> Iterator[GongSandbox]:
    with GongSandbox(rate_limit_per_second=None, page_size=5) as sb:
        sb.add_account(KEY, SECRET, seed=7, calls=12)
        yield sb


def batch_read(sb: HubSpotSandbox, body: object, **params: str) -> requests.Response:
    return requests.post(
        f"{sb.base_url}/crm/v3/objects/contacts/batch/read",
        params=params,
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def test_hubspot_batch_read_answers_the_live_ids_and_names_the_rest(hubspot):
    ids = hubspot.ids(TOKEN, "contacts")
    hubspot.archive(TOKEN, "contacts", ids[1])
    body = {"inputs": [{"id": ids[0]}, {"id": ids[1]}, {"id": "404"}], "properties": ["email"]}

    answer = batch_read(hubspot, body)
    assert answer.status_code == 207
    data = answer.json()
    assert data["status"] == "COMPLETE" and data["numErrors"] == 1
    assert [r["id"] for r in data["results"]] == [ids[0]]
    assert set(data["results"][0]["properties"]) == {
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
    (error,) = data["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND" and error["context"] == {"ids": [ids[1], "404"]}

    archived = batch_read(hubspot, {"inputs": [{"id": ids[1]}]}, archived="true")
    assert archived.status_code == 200
    assert [r["archived"] for r in archived.json()["results"]] == [True]


@pytest.mark.parametrize(
    ("body", "params", "named"),
    [
        ({"inputs": [{"id": str(i)} for i in range(101)]}, {}, "maximum number of inputs"),
        ({"inputs": [{"id": "1"}], "idProperty": "email"}, {}, "idProperty"),
        (
            {"inputs": [{"id": "1"}], "propertiesWithHistory": ["email"]},
            {},
            "propertiesWithHistory",
        ),
        ({"inputs": [{"id": "1"}], "colour": "blue"}, {}, "colour"),
        ({"inputs": [{"id": 1}]}, {}, "string id"),
        ({"inputs": [{"id": "1"}]}, {"limit": "5"}, "limit"),
    ],
)
def test_hubspot_batch_read_refuses_what_it_does_not_take(hubspot, body, params, named):
    answer = batch_read(hubspot, body, **params)
    assert answer.status_code == 400
    assert named in answer.json()["message"]


def extensive(sb: GongSandbox, body: object) -> requests.Response:
    return requests.post(
        f"{sb.base_url}/v2/calls/extensive", json=body, auth=(KEY, SECRET), timeout=5
    )


def test_gong_extensive_pages_calls_by_id_with_their_metadata(gong):
    ids = gong.call_ids(KEY)
    wanted = ids[:7]
    first = extensive(gong, {"filter": {"callIds": wanted}})
    assert first.status_code == 200
    page = first.json()
    assert page["records"]["totalRecords"] == 7 and page["records"]["currentPageSize"] == 5
    assert [c["metaData"] for c in page["calls"]] == [gong.get_call(KEY, i) for i in wanted[:5]]
    rest = extensive(gong, {"filter": {"callIds": wanted}, "cursor": page["records"]["cursor"]})
    assert [c["metaData"]["id"] for c in rest.json()["calls"]] == wanted[5:]
    assert "cursor" not in rest.json()["records"]

    user = gong.get_call(KEY, ids[0])["primaryUserId"]
    hosted = extensive(gong, {"filter": {"primaryUserIds": [user]}}).json()["calls"]
    assert hosted and all(c["metaData"]["primaryUserId"] == user for c in hosted)

    none = extensive(gong, {"filter": {"callIds": ["123"]}})
    assert none.status_code == 404 and none.json()["errors"] == [NO_CALLS_MESSAGE]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "filter is required"),
        ({"filter": {"callIds": [1]}}, "callIds"),
        ({"filter": {"owner": "x"}}, "filter.owner"),
        ({"filter": {}, "contentSelector": {"exposedFields": {"media": True}}}, "exposedFields"),
        ({"filter": {}, "contentSelector": {"context": "Extended"}}, "contentSelector.context"),
        ({"filter": {}, "limit": 5}, "limit"),
    ],
)
def test_gong_extensive_refuses_what_it_does_not_simulate(gong, body, named):
    answer = extensive(gong, body)
    assert answer.status_code == 400
    assert named in " ".join(answer.json()["errors"])
