"""The engine end to end against the Gong sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.gong.api import parse_time
from sources.gong.sandbox.server import GongSandbox
from tests.helpers import events as all_events
from tests.helpers import query

ACME, ACME_SECRET = "GONGKEYACME0001", "acme-secret-5f1c"


@pytest.fixture
def gong() -> Iterator[GongSandbox]:
    sandbox = GongSandbox(rate_limit_per_second=None).start()
    sandbox.add_account(ACME, ACME_SECRET, seed=1, calls=250, utc_offset_minutes=-420)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def add_gong(home: Home, sandbox: GongSandbox, connection_id: str = "acme", **config: str) -> None:
    Connections(home).add(
        "gong",
        connection_id,
        credentials={"access_key": ACME, "access_key_secret": ACME_SECRET},
        config={"base_url": sandbox.base_url, "requests_per_second": "1000", **config},
    )


def events(home: Home, run_id: str) -> list[tuple]:
    return all_events(home, run_id, order="model, record_id")


def requests_to(sandbox: GongSandbox, path: str) -> list[int]:
    return [status for _, p, status in sandbox.requests_seen if p == path]


def test_initial_sync_pages_calls_and_their_transcripts(home, gong, runner):
    add_gong(home, gong)
    (result,) = runner.run("acme")
    assert result.sync_type == "INITIAL"
    assert result.models["calls"].added == 250
    assert result.models["call_transcripts"].added == 250
    assert requests_to(gong, "/v2/calls") == [200, 200, 200]
    # Batches of 100, 100 and 50 call ids; the sandbox pages transcripts 50 at a time.
    assert requests_to(gong, "/v2/calls/transcript") == [200] * 5
    assert query(home, "select count(*), count(distinct id) from gong.calls") == [(250, 250)]
    assert query(home, "select count(*) from gong.call_transcripts") == [(250,)]

    call_id = gong.call_ids(ACME)[17]
    expected = gong.get_call(ACME, call_id)
    stored = query(
        home,
        "select title, started, primary_user_id, duration from gong.calls where id = ?",
        [call_id],
    )
    assert stored == [
        (
            expected["title"],
            parse_time(expected["started"]),
            expected["primaryUserId"],
            expected["duration"],
        )
    ]
    (row,) = query(
        home, "select call_id, transcript from gong.call_transcripts where id = ?", [call_id]
    )
    assert row[0] == call_id
    assert json.loads(row[1]) == gong.get_transcript(ACME, call_id)

    newest = max(parse_time(gong.get_call(ACME, i)["started"]) for i in gong.call_ids(ACME))
    newest = newest.astimezone(UTC)
    cursors = query(home, "select model, cursor from syncs.sync_state where connection_id = 'acme'")
    assert {m: json.loads(c) for m, c in cursors} == {
        "calls": {"since": newest.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "call_transcripts": {"since": newest.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def test_an_incremental_run_asks_one_window_of_new_calls(home, gong, runner):
    add_gong(home, gong)
    runner.run("acme")
    phone = gong.create_call(ACME, {"title": "Renewal call"})
    meeting = gong.create_call(ACME, {"title": "QBR"}, conference=True)
    gong.clear_requests()

    (result,) = runner.run("acme")
    assert events(home, result.run_id) == sorted(
        (model, call["id"], "ADDED", None)
        for model in ("call_transcripts", "calls")
        for call in (phone, meeting)
    )
    assert requests_to(gong, "/v2/calls") == [200]
    (window,) = query(
        home,
        "select url from syncs.api_requests where run_id = ? and url like '%/v2/calls?%'",
        [result.run_id],
    )
    assert "fromDateTime=2024-" in window[0], "from the newest call seen, less the lookback"


def test_lookback_catches_calls_gong_processed_late(home, gong, runner):
    add_gong(home, gong)
    runner.run("acme")
    now = datetime.now(UTC)
    seen = gong.create_call(ACME, {"title": "seen first"}, started=now - timedelta(minutes=20))
    late = gong.create_call(
        ACME, {"title": "processed late"}, started=now - timedelta(minutes=50), processed=False
    )
    (first,) = runner.run("acme")
    assert {r for m, r, _, _ in events(home, first.run_id) if m == "calls"} == {seen["id"]}

    gong.finish_processing(ACME, late["id"])
    (second,) = runner.run("acme")
    assert {(m, r, a) for m, r, a, _ in events(home, second.run_id)} == {
        ("calls", late["id"], "ADDED"),
        ("call_transcripts", late["id"], "ADDED"),
    }

    add_gong(home, gong, lookback_minutes="0")
    missed = gong.create_call(
        ACME, {"title": "missed"}, started=now - timedelta(minutes=40), processed=False
    )
    gong.finish_processing(ACME, missed["id"])
    (blind,) = runner.run("acme")
    assert events(home, blind.run_id) == []
    (full,) = runner.run("acme", mode="full")
    assert {r for m, r, _, _ in events(home, full.run_id) if m == "calls"} == {missed["id"]}


def test_a_corrected_transcript_is_found_by_the_full_refresh(home, gong, runner):
    add_gong(home, gong)
    runner.run("acme")
    call_id = gong.call_ids(ACME)[7]
    transcript = gong.get_transcript(ACME, call_id)
    transcript[0]["sentences"][0]["text"] = "Corrected transcription."
    gong.set_transcript(ACME, call_id, transcript)

    (incremental,) = runner.run("acme")
    assert events(home, incremental.run_id) == []
    (full,) = runner.run("acme", mode="full")
    assert events(home, full.run_id) == [("call_transcripts", call_id, "UPDATED", ["transcript"])]


def test_an_empty_window_is_an_empty_result(home, runner):
    with GongSandbox(rate_limit_per_second=None) as sandbox:
        sandbox.add_account(ACME, ACME_SECRET, seed=3, calls=0)
        add_gong(home, sandbox)
        (empty,) = runner.run("acme")
        assert empty.status == "success"
        assert empty.total("added") == 0
        assert requests_to(sandbox, "/v2/calls") == [404]
        assert requests_to(sandbox, "/v2/calls/transcript") == []

        call = sandbox.create_call(ACME, {"title": "first call"})
        (first,) = runner.run("acme")
        assert [(m, a) for m, _, a, _ in events(home, first.run_id)] == [
            ("call_transcripts", "ADDED"),
            ("calls", "ADDED"),
        ]
        sandbox.delete_call(ACME, call["id"])
        (nothing,) = runner.run("acme")
        assert nothing.status == "success"
        assert events(home, nothing.run_id) == []
        assert requests_to(sandbox, "/v2/calls")[-1] == 404


def test_a_secret_rotated_while_paging_fails_the_run_and_changes_nothing(home, runner):
    # Small pages, so that many requests remain when the secret is rotated after the first
    # page is processed (pages are fetched a few ahead of processing).
    with GongSandbox(rate_limit_per_second=None, page_size=10, transcript_page_size=10) as gong:
        gong.add_account(ACME, ACME_SECRET, seed=5, calls=200)
        add_gong(home, gong)
        runner.run("acme")
        before = query(home, "select count(*) from syncs.change_events")
        gone = gong.call_ids(ACME)[-2:]
        for call_id in gone:
            gong.delete_call(ACME, call_id)

        def revoke_after_first_page(model: str, pages: int, records: int) -> None:
            if model == "calls":
                gong.rotate_secret(ACME, "rotated-by-an-admin")

        with pytest.raises(SyncFailed) as failure:
            runner.run("acme", mode="full", progress=revoke_after_first_page)
        assert failure.value.result.error_type == "AuthenticationError"
        assert "'acme'" in str(failure.value)
        assert not failure.value.retryable
        assert 401 in [status for _, _, status in gong.requests_seen]
        assert query(home, "select count(*) from syncs.change_events") == before
        live = "select count(*) from gong.calls where _syncs_deleted_at is null"
        assert query(home, live) == [(200,)]
        status = query(
            home,
            "select status, error_type from syncs.sync_runs order by started_at desc limit 1",
        )
        assert status == [("failed", "AuthenticationError")]

        gong.rotate_secret(ACME, ACME_SECRET)
        (result,) = runner.run("acme", mode="full")
        assert events(home, result.run_id) == sorted(
            (m, i, "DELETED", None) for m in ("calls", "call_transcripts") for i in gone
        )


def test_paced_to_gongs_rate_limit(home, runner):
    with GongSandbox(rate_limit_per_second=3, page_size=10) as sandbox:
        sandbox.add_account(ACME, ACME_SECRET, seed=4, calls=30)
        add_gong(home, sandbox, requests_per_second="3")
        (paced,) = runner.run("acme")
        assert paced.models["calls"].added == 30
        assert requests_to(sandbox, "/v2/calls") == [200, 200, 200]
        assert 429 not in [status for _, _, status in sandbox.requests_seen]
        waits = query(
            home,
            "select count(*) from syncs.api_requests where run_id = ? and waited_ms > 200",
            [paced.run_id],
        )
        assert waits[0][0] >= 1

        sandbox.clear_requests()
        sandbox.reset_rate_limits()
        add_gong(home, sandbox, requests_per_second="1000")
        (unpaced,) = runner.run("acme", mode="full")
        assert unpaced.total("unchanged") == 60
        assert 429 in [status for _, _, status in sandbox.requests_seen]


def test_workspace_filter(home, gong, runner):
    elsewhere = gong.create_call(ACME, {"title": "other workspace", "workspaceId": "42"})
    add_gong(home, gong, workspace_id="42")
    (result,) = runner.run("acme")
    assert [(m, r) for m, r, _, _ in events(home, result.run_id)] == [
        ("call_transcripts", elsewhere["id"]),
        ("calls", elsewhere["id"]),
    ]


def test_a_negative_lookback_is_refused(home, gong):
    from sources.errors import ConfigError

    with pytest.raises(ConfigError, match="lookback_minutes"):
        add_gong(home, gong, lookback_minutes="-5")


def test_a_gong_listing_that_ends_before_its_total_fails_the_run(home, gong, runner):
    add_gong(home, gong)
    runner.run("acme")
    events_before = query(home, "select count(*) from syncs.change_events")
    gong.inject_page_fault("no_cursor")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme", mode="full")
    error = failure.value.result.error
    assert failure.value.result.error_type == "ApiError"
    assert "/v2/calls" in error and "after 100 of the 250 records" in error
    assert "records.totalRecords" in error
    assert query(home, "select count(*) from syncs.change_events") == events_before
    assert query(home, "select count(*) from gong.calls where _syncs_deleted_at is null") == [
        (len(gong.call_ids(ACME)),)
    ]
