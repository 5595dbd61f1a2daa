"""The engine end to end against the HubSpot sandbox over real HTTP."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sources.hubspot.api import SEARCH_PAGE_SIZE
from sources.hubspot.sandbox.server import HubSpotSandbox
from tests.conftest import ACME, add_hubspot
from tests.helpers import events, query


def test_listings_take_100_a_page_and_incremental_runs_search_naming_what_changed(
    home, hubspot, runner
):
    add_hubspot(home, hubspot)
    runner.run("acme")
    listed = [r for r in hubspot.requests_seen if r[1] == "/crm/v3/objects/contacts"]
    assert len(listed) == 3, "250 contacts, HubSpot's largest page of 100"
    ids = hubspot.ids(ACME, "contacts")
    for record_id in ids[:5]:
        hubspot.update(ACME, "contacts", record_id, {"jobtitle": "Chief Sync Officer"})
    hubspot.requests_seen.clear()

    (result,) = runner.run("acme")
    got = events(home, result.run_id)
    assert {(r, tuple(f)) for _, r, _, f in got} == {(i, ("jobtitle",)) for i in ids[:5]}, (
        "lastmodifieddate moved too, but it is volatile: never a change of its own"
    )
    searches = [r for r in hubspot.requests_seen if r[1].endswith("/search")]
    assert searches, "incremental runs use the search endpoint"


def test_an_archived_record_restored_comes_back_as_added(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    victim = hubspot.ids(ACME, "contacts")[10]
    hubspot.archive(ACME, "contacts", victim)
    (archived,) = runner.run("acme")
    assert events(home, archived.run_id) == [("contacts", victim, "DELETED", None)]

    hubspot.restore(ACME, "contacts", victim)
    (back,) = runner.run("acme")
    assert events(home, back.run_id) == [("contacts", victim, "ADDED", None)]
    assert query(home, "select _syncs_deleted_at from hubspot.contacts where id = ?", [victim]) == [
        (None,)
    ]


@contextmanager
def bulk_updated(home, runner, *, seed: int, count: int, at, **options) -> Iterator[tuple]:
    """A sandbox of 700 contacts, synced once, whose first ``count`` contacts are then
    updated at ``at(i)``; yields the sandbox and the ids updated."""
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None, **options)
    sandbox.start()
    try:
        sandbox.add_account(ACME, seed=seed, contacts=700)
        add_hubspot(home, sandbox)
        runner.run("acme")
        ids = sandbox.ids(ACME, "contacts")[:count]
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        for i, record_id in enumerate(ids):
            sandbox.update(ACME, "contacts", record_id, {"city": f"City {i}"}, at=at(moment, i))
        sandbox.requests_seen.clear()
        yield sandbox, ids
    finally:
        sandbox.stop()


def test_search_cap_continuation_and_shared_edge_timestamps(home, runner):
    # 250 records share one timestamp: wider than a page, straddling query windows.
    def at(moment, i):
        return moment if i < 250 else moment + timedelta(milliseconds=i)

    with bulk_updated(home, runner, seed=3, count=650, at=at, search_cap=400) as (sandbox, ids):
        (result,) = runner.run("acme", sync="crm")
        got = [r for m, r, a, _ in events(home, result.run_id) if m == "contacts"]
        assert sorted(got) == sorted(ids)
        assert len(got) == len(set(got))
        statuses = {s for _, path, s in sandbox.requests_seen if path.endswith("/search")}
        assert statuses == {200}


def test_records_sharing_milliseconds_cost_no_extra_search_pages(home, runner):
    # A bulk update: 75 records in each millisecond, so pages end inside a tie.
    def at(moment, i):
        return moment + timedelta(milliseconds=i // 75)

    with bulk_updated(home, runner, seed=4, count=700, at=at) as (sandbox, ids):
        (result,) = runner.run("acme", sync="crm")
        got = [r for m, r, a, _ in events(home, result.run_id) if m == "contacts"]
        assert sorted(got) == sorted(ids)
        searches = [p for _, p, _ in sandbox.requests_seen if p.endswith("contacts/search")]
        assert len(searches) == math.ceil(700 / SEARCH_PAGE_SIZE)
