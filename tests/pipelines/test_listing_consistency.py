"""A listing whose pages contradict themselves fails the run instead of looking complete
(Gong's listing that ends before its total: ``test_gong_sync``)."""

from __future__ import annotations

import pytest

from pipelines.engine.sync import SyncFailed
from tests.conftest import ACME, add_hubspot
from tests.helpers import query

CONTACTS = "/crm/v3/objects/contacts"


def _unchanged(home):
    return query(
        home,
        "select (select count(*) from syncs.change_events), "
        "(select list(cursor order by model) from syncs.sync_state), "
        "(select count(*) from hubspot.contacts where _syncs_deleted_at is null)",
    )


def test_a_page_with_null_results_and_a_next_link_fails_the_run(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    before = _unchanged(home)
    for record_id in hubspot.ids(ACME, "contacts")[:5]:
        hubspot.erase(ACME, "contacts", record_id)
    hubspot.inject_page_fault("null_results", path_prefix=CONTACTS)
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme", mode="full")
    result = failure.value.result
    assert result.error_type == "ApiError"
    assert CONTACTS in result.error and "null or missing" in result.error
    assert _unchanged(home) == before
    assert query(home, "select status from syncs.sync_runs where run_id = ?", [result.run_id]) == [
        ("failed",)
    ]


def test_a_search_page_with_null_results_fails_the_incremental_run(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    before = _unchanged(home)
    hubspot.update(ACME, "contacts", hubspot.ids(ACME, "contacts")[3], {"city": "Nowhere"})
    hubspot.inject_page_fault("null_results", path_prefix=CONTACTS + "/search")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    assert failure.value.result.error_type == "ApiError"
    assert "/crm/v3/objects/contacts/search" in failure.value.result.error
    assert _unchanged(home) == before


def test_a_full_listing_holding_a_record_without_id_deletes_nothing(home, hubspot, runner):
    """Which stored record the id-less one is, the listing cannot say: every record it did
    not list may be that one, so its deletions are held like a listing cut short."""
    add_hubspot(home, hubspot)
    runner.run("acme")
    gone = hubspot.ids(ACME, "contacts")[-3:]
    for record_id in gone:
        hubspot.erase(ACME, "contacts", record_id)
    hubspot.inject_page_fault("missing_ids", path_prefix=CONTACTS)
    (result,) = runner.run("acme", mode="full")
    contacts = result.models["contacts"]
    assert (contacts.rejected, contacts.deleted, contacts.deletions_held) == (1, 0, 4)
    assert contacts.suspicious and "no id" in contacts.note
    assert query(home, "select count(*) from hubspot.contacts where _syncs_deleted_at is null") == [
        (250,)
    ]
    (after,) = runner.run("acme", mode="full")
    assert (after.models["contacts"].deleted, after.models["contacts"].deletions_held) == (3, 0)


def test_a_search_page_holding_a_record_without_id_rejects_it(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    changed = hubspot.ids(ACME, "contacts")[:3]
    for record_id in changed:
        hubspot.update(ACME, "contacts", record_id, {"city": "Elsewhere"})
    hubspot.inject_page_fault("missing_ids", path_prefix=CONTACTS + "/search")
    (result,) = runner.run("acme")
    contacts = result.models["contacts"]
    assert result.status == "success" and contacts.rejected == 1 and contacts.deleted == 0


def test_ids_sent_as_numbers_change_nothing(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    hubspot.inject_page_fault("numeric_ids", count=3, path_prefix=CONTACTS)
    (result,) = runner.run("acme", mode="full")
    contacts = result.models["contacts"]
    assert (contacts.unchanged, contacts.rejected, contacts.deleted) == (250, 0, 0)
