"""A record that fails validation is never a deletion: its row keeps the last good version,
marked with the reason, and the next run reads it again by id until a good version lands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pipelines.store.connections import Connections
from sources.gong.sandbox.server import GongSandbox
from tests.conftest import ACME, add_hubspot
from tests.helpers import events, query

STORED = (
    "select numberofemployees, city, _syncs_last_action, _syncs_deleted_at, "
    "_syncs_rejected_reason, _syncs_rejected_at from hubspot.companies where id = ?"
)


def batch_reads(sandbox, model: str) -> list[int]:
    path = f"/crm/v3/objects/{model}/batch/read"
    return [status for _, p, status in sandbox.requests_seen if p == path]


def due(home) -> list[tuple]:
    return query(home, "select connection_id, model, record_id from syncs.due_records")


def test_hubspot_record_made_invalid_keeps_its_last_good_version_until_fixed(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    bad = hubspot.ids(ACME, "companies")[2]
    ((employees, city, *_),) = query(home, STORED, [bad])
    hubspot.update(ACME, "companies", bad, {"numberofemployees": "lots", "city": "Nowhere"})

    (first,) = runner.run("acme")
    companies = first.models["companies"]
    assert (companies.rejected, companies.updated, companies.deleted) == (1, 0, 0)
    assert companies.unchanged == companies.fetched, "the rejected one is not unchanged"
    assert events(home, first.run_id) == []
    ((kept_employees, kept_city, action, deleted_at, reason, rejected_at),) = query(
        home, STORED, [bad]
    )
    assert (kept_employees, kept_city, action, deleted_at) == (employees, city, "ADDED", None)
    assert "numberofemployees" in reason and "lots" in reason and rejected_at is not None
    assert due(home) == [("acme", "companies", bad)]

    (full,) = runner.run("acme", mode="full")
    companies = full.models["companies"]
    assert events(home, full.run_id) == [], "a rejected record is not DELETED then ADDED"
    assert (companies.rejected, companies.deleted, companies.unchanged) == (1, 0, 29)
    assert companies.rows_total == 30
    assert query(home, STORED, [bad])[0][2:] == ("ADDED", None, reason, rejected_at)
    assert batch_reads(hubspot, "companies") == [], "a full listing reads it anyway"
    assert due(home) == [("acme", "companies", bad)]

    # Fixed, stamped before the cursor: no search finds it any more, the read by id does.
    # (After the stored version, which the seed stamped before 2025: an older one would not
    # replace it.)
    hubspot.update(
        ACME, "companies", bad, {"numberofemployees": "120"}, at=datetime(2025, 6, 1, tzinfo=UTC)
    )
    hubspot.requests_seen.clear()
    (fixed,) = runner.run("acme")
    assert events(home, fixed.run_id) == [
        ("companies", bad, "UPDATED", ["city", "numberofemployees"])
    ]
    assert batch_reads(hubspot, "companies") == [200]
    assert fixed.models["companies"].rejected == 0
    assert query(home, STORED, [bad]) == [(120, "Nowhere", "UPDATED", None, None, None)]
    assert due(home) == []

    (again,) = runner.run("acme")
    assert events(home, again.run_id) == [] and batch_reads(hubspot, "companies") == [200]


def test_hubspot_record_gone_while_rejected_is_deleted_by_its_read_by_id(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    bad = hubspot.ids(ACME, "companies")[5]
    hubspot.update(ACME, "companies", bad, {"numberofemployees": "many"})
    runner.run("acme")
    hubspot.erase(ACME, "companies", bad)
    hubspot.requests_seen.clear()

    (result,) = runner.run("acme")
    assert events(home, result.run_id) == [("companies", bad, "DELETED", None)]
    assert batch_reads(hubspot, "companies") == [207]
    assert due(home) == []


def test_gong_call_rejected_on_its_first_appearance_is_added_once_fixed(home, runner):
    with GongSandbox(rate_limit_per_second=None) as gong:
        gong.add_account("KEY", "secret", seed=6, calls=30)
        Connections(home).add(
            "gong",
            "acme",
            credentials={"access_key": "KEY", "access_key_secret": "secret"},
            config={"base_url": gong.base_url, "requests_per_second": "1000"},
        )
        runner.run("acme")
        # Started two days ago: far before the incremental window.
        late = gong.create_call(
            "KEY", {"duration": "about an hour"}, started=datetime.now(UTC) - timedelta(days=2)
        )
        (full,) = runner.run("acme", mode="full")
        assert full.models["calls"].rejected == 1 and full.models["calls"].deleted == 0
        assert events(home, full.run_id) == [("call_transcripts", late["id"], "ADDED", None)]
        assert query(home, "select count(*) from gong.calls where id = ?", [late["id"]]) == [(0,)]
        assert due(home) == [("acme", "calls", late["id"])]

        gong.update_call("KEY", late["id"], {"duration": 3600})
        gong.clear_requests()
        (fixed,) = runner.run("acme")
        assert events(home, fixed.run_id) == [("calls", late["id"], "ADDED", None)]
        assert [s for _, p, s in gong.requests_seen if p == "/v2/calls/extensive"] == [200]
        assert query(home, "select duration from gong.calls where id = ?", [late["id"]]) == [
            (3600,)
        ]
        assert due(home) == []


def test_github_issue_rejected_is_read_again_by_its_repository_and_number(home, runner):
    from sources.github.sandbox.server import GitHubSandbox

    with GitHubSandbox(rate_limit=None) as github:
        github.add_account("ghp_t", login="bot", seed=5)
        github.add_repo("ghp_t", "acme/api", issues=20, pulls=2)
        Connections(home).add(
            "github",
            "acme",
            credentials={"access_token": "ghp_t"},
            config={"base_url": github.base_url, "repositories": "acme/api"},
        )
        runner.run("acme")
        number = github.numbers("ghp_t", "acme/api", "issues")[4]
        record_id = str(github.issue("ghp_t", "acme/api", number)["id"])
        github.update_issue("ghp_t", "acme/api", number, title=None)
        (rejected,) = runner.run("acme")
        assert rejected.models["issues"].rejected == 1
        (locator,) = query(home, "select locator from syncs.due_records")
        assert json.loads(locator[0]) == {"repository": "acme/api", "number": number}

        github.update_issue(
            "ghp_t", "acme/api", number, title="Named again", at=datetime(2001, 1, 1, tzinfo=UTC)
        )
        github.clear_requests()
        (fixed,) = runner.run("acme")
        assert events(home, fixed.run_id) == [("issues", record_id, "UPDATED", ["title"])]
        assert github.requests_to(f"/repos/acme/api/issues/{number}") == [
            ("GET", f"/repos/acme/api/issues/{number}", 200)
        ]
        assert due(home) == []
