"""The engine end to end against the HubSpot sandbox over real HTTP."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.engine.sync import SyncFailed, SyncRunner
from pipelines.home import Home
from sources.hubspot.api import SEARCH_PAGE_SIZE
from sources.hubspot.sandbox.server import HubSpotSandbox
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import events, query


def test_initial_sync_pages_through_everything(home, hubspot, runner):
    add_hubspot(home, hubspot)
    (result,) = runner.run("acme")
    assert result.sync_type == "INITIAL"
    assert result.models["contacts"].added == 250
    assert result.models["companies"].added == 30
    assert result.models["deals"].added == 20
    pages = [r for r in hubspot.requests_seen if r[1].startswith("/crm/v3/objects/contacts")]
    assert len(pages) == 3
    rows = query(home, "select count(*), count(distinct id) from hubspot.contacts")
    assert rows == [(250, 250)]
    actions = query(
        home,
        "select _syncs_last_action, count(*) from hubspot.contacts group by 1",
    )
    assert actions == [("ADDED", 250)]
    assert len(events(home, result.run_id)) == 300


def test_incremental_picks_up_exactly_the_changes(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    ids = hubspot.ids(ACME, "contacts")
    for record_id in ids[:5]:
        hubspot.update(ACME, "contacts", record_id, {"jobtitle": "Chief Sync Officer"})
    created = hubspot.create(ACME, "contacts", {"email": "new@acme.example.com"})
    hubspot.update(
        ACME, "companies", hubspot.ids(ACME, "companies")[0], {"city": "Lisbon-upon-Sync"}
    )

    (result,) = runner.run("acme")
    assert result.sync_type == "INCREMENTAL"
    got = events(home, result.run_id)
    assert sorted((m, r, a) for m, r, a, _ in got) == sorted(
        [("contacts", i, "UPDATED") for i in ids[:5]]
        + [("contacts", created["id"], "ADDED")]
        + [("companies", hubspot.ids(ACME, "companies")[0], "UPDATED")]
    )
    assert {tuple(f) for m, _, a, f in got if a == "UPDATED" and m == "contacts"} == {("jobtitle",)}
    changes = query(
        home,
        "select changes from syncs.change_events where run_id = ? and model = 'companies'",
        [result.run_id],
    )
    assert '"new":"Lisbon-upon-Sync"' in changes[0][0]
    searches = [r for r in hubspot.requests_seen if r[1].endswith("/search")]
    assert searches, "incremental runs use the search endpoint"


def test_rerun_with_nothing_changed_makes_no_events(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    (again,) = runner.run("acme")
    assert events(home, again.run_id) == []
    (full,) = runner.run("acme", mode="full")
    assert full.sync_type == "FULL"
    assert events(home, full.run_id) == []
    assert full.total("unchanged") == 300


def test_archived_records_become_deleted_and_can_come_back(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    victim = hubspot.ids(ACME, "contacts")[10]
    hubspot.archive(ACME, "contacts", victim)
    (result,) = runner.run("acme")
    assert events(home, result.run_id) == [("contacts", victim, "DELETED", None)]
    row = query(
        home,
        "select _syncs_last_action, _syncs_deleted_at is not null from hubspot.contacts "
        "where id = ?",
        [victim],
    )
    assert row == [("DELETED", True)]

    hubspot.restore(ACME, "contacts", victim)
    (back,) = runner.run("acme")
    assert events(home, back.run_id) == [("contacts", victim, "ADDED", None)]
    assert query(home, "select _syncs_deleted_at from hubspot.contacts where id = ?", [victim]) == [
        (None,)
    ]


def test_full_refresh_finds_records_gone_for_good(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    gone = hubspot.ids(ACME, "contacts")[20:23]
    for record_id in gone:
        hubspot.erase(ACME, "contacts", record_id)
    (incremental,) = runner.run("acme")
    assert events(home, incremental.run_id) == []
    (full,) = runner.run("acme", mode="full")
    assert sorted(r for _, r, a, _ in events(home, full.run_id) if a == "DELETED") == sorted(gone)
    assert full.models["contacts"].rows_total == 247


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


def test_failed_full_refresh_deletes_nothing_and_next_run_is_exact(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    before = query(home, "select count(*) from syncs.change_events")
    updated = hubspot.ids(ACME, "contacts")[0]
    hubspot.update(ACME, "contacts", updated, {"phone": "+1 555 0100"})
    hubspot.inject_fault("500", count=50, path_prefix="/crm/v3/objects/contacts")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme", mode="full")
    assert failure.value.result.status == "failed"
    assert failure.value.retryable
    assert query(home, "select count(*) from syncs.change_events") == before
    assert query(home, "select count(*) from hubspot.contacts where _syncs_deleted_at is null") == [
        (250,)
    ]
    status = query(
        home, "select status, error_type from syncs.sync_runs order by started_at desc limit 1"
    )
    assert status == [("failed", "TransientError")]
    hubspot.clear_faults()
    (result,) = runner.run("acme")
    assert events(home, result.run_id) == [("contacts", updated, "UPDATED", ["phone"])]


def test_empty_full_listing_deletes_nothing_and_is_flagged(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    for model in ("contacts", "companies", "deals"):
        for record_id in hubspot.ids(ACME, model):
            hubspot.erase(ACME, model, record_id)
    (result,) = runner.run("acme", mode="full")
    assert result.suspicious
    assert events(home, result.run_id) == []
    assert query(
        home, "select suspicious from syncs.sync_runs where run_id = ?", [result.run_id]
    ) == [(True,)]


def test_two_connections_stay_isolated(home, hubspot, runner):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    runner.run("acme")
    runner.run("globex")
    counts = query(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    )
    assert counts == [("acme", 250), ("globex", 120)]
    for record_id in hubspot.ids(GLOBEX, "contacts")[:3]:
        hubspot.erase(GLOBEX, "contacts", record_id)
    hubspot.update(ACME, "contacts", hubspot.ids(ACME, "contacts")[0], {"city": "Oslo"})
    (globex,) = runner.run("globex", mode="full")
    (acme,) = runner.run("acme")
    assert {
        c
        for (c,) in query(
            home,
            "select distinct connection_id from syncs.change_events where run_id = ?",
            [globex.run_id],
        )
    } == {"globex"}
    assert globex.total("deleted") == 3
    assert acme.total("updated") == 1 and acme.total("deleted") == 0
    state = query(
        home, "select connection_id, count(*) from syncs.sync_state group by 1 order by 1"
    )
    assert state == [("acme", 3), ("globex", 3)]


def test_rejected_records_are_kept_with_reasons(home, hubspot, runner):
    add_hubspot(home, hubspot)
    bad = hubspot.ids(ACME, "companies")[2]
    hubspot.update(ACME, "companies", bad, {"numberofemployees": "lots"})
    (result,) = runner.run("acme")
    assert result.models["companies"].rejected == 1
    assert result.models["companies"].added == 29
    rows = query(
        home,
        "select model, record_id, reason, payload from syncs.rejected_records where run_id = ?",
        [result.run_id],
    )
    assert len(rows) == 1
    model, record_id, reason, payload = rows[0]
    assert (model, record_id) == ("companies", bad)
    assert "numberofemployees" in reason and "lots" in reason
    assert '"numberofemployees":"lots"' in payload


def test_retry_after_is_honoured_and_logged(home, hubspot, runner):
    add_hubspot(home, hubspot)
    hubspot.inject_fault("429", count=1, retry_after=1, path_prefix="/crm/v3/objects/contacts")
    (result,) = runner.run("acme")
    assert result.models["contacts"].added == 250
    attempts = query(
        home,
        "select status, attempt, waited_ms from syncs.api_requests where run_id = ? "
        "and url like '%/contacts%' order by requested_at limit 2",
        [result.run_id],
    )
    assert attempts[0][:2] == (429, 1)
    assert attempts[1][:2] == (200, 2)
    assert attempts[1][2] >= 950


def test_wrong_token_fails_with_authentication_error(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    add_hubspot(home, hubspot, token="not-a-valid-token")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    assert failure.value.result.error_type == "AuthenticationError"
    assert "'acme'" in str(failure.value)
    assert not failure.value.retryable
    assert query(home, "select count(*) from hubspot.contacts where _syncs_deleted_at is null") == [
        (250,)
    ]


def test_unknown_config_key_is_refused(home, hubspot):
    from sources.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown config key 'colour'"):
        add_hubspot(home, hubspot, colour="blue")


def test_secrets_never_stored_in_plain(home, hubspot, runner):
    add_hubspot(home, hubspot)
    hubspot.inject_fault("500", count=1)
    runner.run("acme")
    secret = ACME.encode()
    for path in home.root.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    text_columns = query(
        home,
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON')",
    )
    for schema, table, column in text_columns:
        hits = query(
            home,
            f'select count(*) from "{schema}"."{table}" where "{column}"::varchar like ?',
            [f"%{ACME}%"],
        )
        assert hits == [(0,)], (schema, table, column)


def test_two_runners_in_one_home_do_not_collide(home, hubspot):
    import threading

    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    errors: list[BaseException] = []

    def go(cid: str) -> None:
        try:
            SyncRunner(Home.from_env()).run(cid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(c,)) for c in ("acme", "globex")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    counts = query(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    )
    assert counts == [("acme", 250), ("globex", 120)]
