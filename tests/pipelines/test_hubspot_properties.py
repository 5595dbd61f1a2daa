"""``<object>_properties=all``: every property the HubSpot account defines, discovered at the
start of each run, so a property added in HubSpot becomes a column on the next run, and
the records that have no value for it do not change."""

from __future__ import annotations

import pytest

from pipelines.store.connections import ConfigError, Connections
from sources.hubspot.api import OBJECTS
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import events, query


def columns(home, table: str) -> set[str]:
    rows = query(
        home,
        "select column_name from information_schema.columns "
        "where table_schema = 'hubspot' and table_name = ?",
        [table],
    )
    return {name for (name,) in rows}


def test_all_reads_every_defined_property(home, hubspot, runner):
    add_hubspot(home, hubspot, contacts_properties="all")
    (result,) = runner.run("acme")
    assert result.models["contacts"].added == 250
    beyond_defaults = {"hubspot_owner_id", "hs_analytics_source", "notes_last_updated"}
    assert beyond_defaults <= columns(home, "contacts")
    assert not beyond_defaults - {"hubspot_owner_id"} & columns(home, "companies")
    record = hubspot.get(ACME, "contacts", "1")["properties"]
    assert query(
        home, "select hubspot_owner_id, hs_analytics_source from hubspot.contacts where id = '1'"
    ) == [(record["hubspot_owner_id"], record["hs_analytics_source"])]
    asked = [r[1] for r in hubspot.requests_seen if r[1].startswith("/crm/v3/properties/")]
    assert asked == ["/crm/v3/properties/contacts"]


def test_a_new_property_becomes_a_column_without_false_updates(home, hubspot, runner):
    add_hubspot(home, hubspot, contacts_properties="all")
    add_hubspot(home, hubspot, "globex", GLOBEX)
    runner.run("acme")
    runner.run("globex")
    hubspot.create_property(
        ACME,
        "contacts",
        "favourite_colour",
        label="Favourite colour",
        type="enumeration",
        field_type="select",
        options=[{"label": "Teal", "value": "teal"}, {"label": "Rust", "value": "rust"}],
    )
    chosen = hubspot.ids(ACME, "contacts")[17]
    hubspot.update(ACME, "contacts", chosen, {"favourite_colour": "teal"})

    (incremental,) = runner.run("acme")
    assert events(home, incremental.run_id) == [
        ("contacts", chosen, "UPDATED", ["favourite_colour"])
    ]
    assert "favourite_colour" in columns(home, "contacts")
    assert query(
        home,
        "select connection_id, id from hubspot.contacts where favourite_colour is not null",
    ) == [("acme", chosen)]

    (full,) = runner.run("acme", mode="full")
    assert events(home, full.run_id) == []
    assert full.models["contacts"].unchanged == 250
    (other,) = runner.run("globex", mode="full")
    assert events(home, other.run_id) == []


def test_archived_properties_are_not_read(home, hubspot, runner):
    hubspot.create_property(ACME, "deals", "legacy_code")
    hubspot.update(ACME, "deals", hubspot.ids(ACME, "deals")[0], {"legacy_code": "X-1"})
    hubspot.archive_property(ACME, "deals", "legacy_code")
    add_hubspot(home, hubspot, deals_properties="all")
    runner.run("acme")
    assert "legacy_code" not in columns(home, "deals")
    assert "description" in columns(home, "deals")


def test_a_wider_list_reaches_old_records_only_by_a_full_refresh(home, hubspot, runner):
    """An incremental run reads only what changed since its cursor (and the records at the
    cursor's edge, read again each run), so it brings the new properties' values of those
    alone; a full refresh brings everyone's."""
    add_hubspot(home, hubspot)
    runner.run("acme")
    assert "hubspot_owner_id" not in columns(home, "contacts")
    add_hubspot(home, hubspot, contacts_properties="all")
    new = {"hubspot_owner_id", "hs_analytics_source", "notes_last_updated"}

    (incremental,) = runner.run("acme")
    edge = {r: set(f) for _, r, a, f in events(home, incremental.run_id) if a == "UPDATED"}
    assert len(edge) == len(events(home, incremental.run_id)) < 5
    assert all(fields <= new for fields in edge.values())
    assert query(home, "select count(hs_analytics_source) from hubspot.contacts") == [(len(edge),)]

    (full,) = runner.run("acme", mode="full")
    updated = {r: set(f) for _, r, a, f in events(home, full.run_id) if a == "UPDATED"}
    assert set(updated) == set(hubspot.ids(ACME, "contacts")) - set(edge)
    assert all("hs_analytics_source" in fields and fields <= new for fields in updated.values())
    assert query(home, "select count(hs_analytics_source) from hubspot.contacts") == [(250,)]


def test_named_properties_still_work_and_all_stands_alone(home, hubspot, runner):
    add_hubspot(home, hubspot, deals_properties="dealtype")
    runner.run("acme")
    assert "dealtype" in columns(home, "deals") and "description" not in columns(home, "deals")
    assert not [r for r in hubspot.requests_seen if r[1].startswith("/crm/v3/properties/")]
    with pytest.raises(ConfigError, match="'all' already includes every property"):
        Connections(home).add(
            "hubspot",
            "mixed",
            credentials={"access_token": ACME},
            config={"contacts_properties": "all,email"},
        )
    assert set(OBJECTS["deals"].default_properties) <= columns(home, "deals")
