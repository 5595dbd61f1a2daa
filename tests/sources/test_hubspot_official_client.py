"""The HubSpot sandbox driven by HubSpot's own Python client (``hubspot-api-client``), with
only its host changed: an independent check that the simulator answers what the official
client sends and that its answers deserialize into the client's models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.objects import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sources.hubspot.sandbox.catalog import ARCHIVED_OWNER_ID, OWNER_IDS
from sources.hubspot.sandbox.server import HubSpotSandbox

TOKEN = "pat-na1-official-client"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None) as sb:
        sb.add_account(TOKEN, seed=3, contacts=120, companies=12, deals=30)
        yield sb


@pytest.fixture(scope="module")
def client(sandbox: HubSpotSandbox) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sandbox.base_url)


def test_listing_pages_through_every_contact(sandbox, client):
    everyone = client.crm.contacts.get_all(properties=["email", "lifecyclestage"])
    assert [c.id for c in everyone] == sandbox.ids(TOKEN, "contacts")
    first = everyone[0]
    stored = sandbox.get(TOKEN, "contacts", first.id)
    assert first.properties["email"] == stored["properties"]["email"]
    assert first.properties["lifecyclestage"] == stored["properties"]["lifecyclestage"]
    assert first.created_at.isoformat(timespec="milliseconds").startswith(stored["createdAt"][:23])

    page = client.crm.contacts.basic_api.get_page(limit=50)
    second = client.crm.contacts.basic_api.get_page(limit=50, after=page.paging.next.after)
    assert [c.id for c in page.results + second.results] == sandbox.ids(TOKEN, "contacts")[:100]


def test_reads_carry_associations_consistent_with_the_records(sandbox, client):
    contact = client.crm.contacts.basic_api.get_by_id(
        "1", properties=["company"], associations=["companies"]
    )
    links = contact.associations["companies"].results
    assert {a.type for a in links} == {"contact_to_company", "contact_to_company_unlabeled"}
    (company_id,) = {a.id for a in links}
    company = client.crm.companies.basic_api.get_by_id(company_id, properties=["name"])
    assert company.properties["name"] == contact.properties["company"]

    deals = client.crm.deals.basic_api.get_page(limit=100, associations=["companies", "contacts"])
    assert len(deals.results) == 30
    for deal in deals.results:
        (buyer,) = {a.id for a in deal.associations["companies"].results}
        contacts = (deal.associations or {}).get("contacts")
        for link in contacts.results if contacts else []:
            person = client.crm.objects.basic_api.get_by_id(
                "contacts", link.id, associations=["companies"]
            )
            assert buyer in {a.id for a in person.associations["companies"].results}


def test_batch_read_names_the_ids_it_does_not_have(sandbox, client):
    sandbox.archive(TOKEN, "contacts", "7")
    try:
        answer = client.crm.objects.batch_api.read(
            "contacts",
            BatchReadInputSimplePublicObjectId(
                inputs=[{"id": "5"}, {"id": "7"}, {"id": "999999"}],
                properties=["email"],
                properties_with_history=[],
            ),
        )
    finally:
        sandbox.restore(TOKEN, "contacts", "7")
    assert [r.id for r in answer.results] == ["5"]
    assert (
        answer.results[0].properties["email"]
        == sandbox.get(TOKEN, "contacts", "5")["properties"]["email"]
    )
    (error,) = answer.errors
    assert error.category == "OBJECT_NOT_FOUND"
    assert sorted(error.context["ids"]) == ["7", "999999"]


def test_search_filters_and_counts(sandbox, client):
    leads = [
        i
        for i in sandbox.ids(TOKEN, "contacts")
        if sandbox.get(TOKEN, "contacts", i)["properties"]["lifecyclestage"] == "lead"
    ]
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]}
        ],
        properties=["lifecyclestage"],
        limit=5,
    )
    page = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert page.total == len(leads)
    assert [r.id for r in page.results] == leads[:5]
    assert {r.properties["lifecyclestage"] for r in page.results} == {"lead"}


def test_property_definitions_cover_the_records_and_custom_properties(sandbox, client):
    definitions = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert set(sandbox.get(TOKEN, "contacts", "1")["properties"]) <= set(definitions)
    stage = definitions["lifecyclestage"]
    assert (stage.type, stage.field_type, stage.hubspot_defined) == ("enumeration", "radio", True)
    assert "customer" in {o.value for o in stage.options}
    assert definitions["createdate"].modification_metadata.read_only_value is True
    assert definitions["hubspot_owner_id"].referenced_object_type == "OWNER"

    sandbox.create_property(
        TOKEN,
        "deals",
        "renewal_risk",
        label="Renewal risk",
        type="enumeration",
        field_type="select",
        options=[{"label": "Low", "value": "low"}, {"label": "High", "value": "high"}],
    )
    risk = client.crm.properties.core_api.get_by_name("deals", "renewal_risk")
    assert (risk.label, risk.type, risk.field_type) == ("Renewal risk", "enumeration", "select")
    assert [o.value for o in risk.options] == ["low", "high"]
    assert not risk.hubspot_defined and risk.created_user_id
    sandbox.update(TOKEN, "deals", "3", {"renewal_risk": "high"})
    deal = client.crm.deals.basic_api.get_by_id("3", properties=["renewal_risk"])
    assert deal.properties["renewal_risk"] == "high"

    sandbox.archive_property(TOKEN, "deals", "renewal_risk")
    live = {p.name for p in client.crm.properties.core_api.get_all("deals").results}
    archived = client.crm.properties.core_api.get_all("deals", archived=True).results
    assert "renewal_risk" not in live and [p.name for p in archived] == ["renewal_risk"]
    assert archived[0].archived and archived[0].archived_at is not None
    deal = client.crm.deals.basic_api.get_by_id("3", properties=["renewal_risk"])
    assert "renewal_risk" not in deal.properties
    with pytest.raises(PropertiesApiException) as missing:
        client.crm.properties.core_api.get_by_name("deals", "renewal_risk")
    assert missing.value.status == 404


def test_owners_page_and_the_records_point_at_them(sandbox, client):
    first = client.crm.owners.owners_api.get_page(limit=3)
    rest = client.crm.owners.owners_api.get_page(limit=3, after=first.paging.next.after)
    owners = first.results + rest.results
    assert [o.id for o in owners] == list(OWNER_IDS) and rest.paging is None
    assert all(o.type == "PERSON" and o.email and o.user_id for o in owners)
    assert [o.id for o in client.crm.owners.get_all(archived=True)] == [ARCHIVED_OWNER_ID]
    by_email = client.crm.owners.owners_api.get_page(email=owners[1].email.upper())
    assert [o.id for o in by_email.results] == [owners[1].id]
    assert (
        client.crm.owners.owners_api.get_by_id(int(OWNER_IDS[2])).last_name == owners[2].last_name
    )

    deals = client.crm.deals.get_all(properties=["hubspot_owner_id"])
    owned = {d.properties["hubspot_owner_id"] for d in deals} - {None}
    assert owned and owned <= set(OWNER_IDS)


def test_deal_pipeline_and_stages_match_the_deals(sandbox, client):
    (pipeline,) = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert (pipeline.id, pipeline.label) == ("default", "Sales Pipeline")
    stages = {s.id: s for s in pipeline.stages}
    won = client.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "closedwon")
    assert won.metadata == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedwon"].label == won.label == "Closed Won"
    dealstage = client.crm.properties.core_api.get_by_name("deals", "dealstage")
    assert {o.value for o in dealstage.options} == set(stages)
    deals = client.crm.deals.get_all(properties=["dealstage", "pipeline"])
    assert {d.properties["dealstage"] for d in deals} <= set(stages)
    assert {d.properties["pipeline"] for d in deals} == {"default"}


def test_v4_associations_agree_in_both_directions(sandbox, client):
    associations = client.crm.associations.v4
    people = associations.basic_api.get_page("companies", "1", "contacts").results
    assert people, "the first company employs someone"
    for person in people:
        assert {t.type_id for t in person.association_types} == {2, 280}
        back = associations.basic_api.get_page("contacts", person.to_object_id, "companies")
        (employer,) = back.results
        assert employer.to_object_id == "1"
        assert {(t.type_id, t.label) for t in employer.association_types} == {
            (1, "Primary"),
            (279, None),
        }

    first = associations.basic_api.get_page("companies", "1", "contacts", limit=1)
    assert len(first.results) == 1 and (first.paging is not None) == (len(people) > 1)

    loner = sandbox.create(TOKEN, "companies", {"name": "Nobody Works Here"})
    batch = associations.batch_api.get_page(
        "companies",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "1"}, {"id": loner["id"]}]),
    )
    (found,) = batch.results
    assert found._from.id == "1"
    assert [t.to_object_id for t in found.to] == [p.to_object_id for p in people]
    (error,) = batch.errors
    assert error.context == {"fromObjectId": [loner["id"]]}


def test_parameters_the_sandbox_does_not_simulate_are_refused(client):
    with pytest.raises(ObjectsApiException) as refused:
        client.crm.objects.basic_api.get_page("contacts", properties_with_history=["email"])
    assert refused.value.status == 400
    assert "propertiesWithHistory is not simulated" in refused.value.body
    with pytest.raises(ObjectsApiException) as unknown:
        client.crm.objects.basic_api.get_page("contacts", associations=["widgets"])
    assert unknown.value.status == 400
    assert "Unable to infer object type from: widgets" in unknown.value.body


def test_the_other_standard_objects_exist_and_hold_nothing(sandbox, client):
    tickets = client.crm.objects.basic_api.get_page("tickets", limit=10)
    assert tickets.results == [] and tickets.paging is None
    names = {p.name for p in client.crm.properties.core_api.get_all("calls").results}
    assert {"hs_timestamp", "hs_call_body", "hs_createdate", "hs_object_id"} <= names
    (support,) = client.crm.pipelines.pipelines_api.get_all("tickets").results
    assert [s.label for s in support.stages] == [
        "New",
        "Waiting on contact",
        "Waiting on us",
        "Closed",
    ]
    contact = client.crm.contacts.basic_api.get_by_id("1", associations=["tickets", "companies"])
    assert set(contact.associations) == {"companies"}
    none = client.crm.associations.v4.basic_api.get_page("contacts", "1", "tickets")
    assert none.results == []
