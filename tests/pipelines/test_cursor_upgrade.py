"""An installation upgraded with cursors in the shapes integrations stored before cursors
were declared: its next run continues from them — no relisting, nothing skipped — and
stores them in the declared shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb

from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.github.sandbox.server import GitHubSandbox
from sources.gong.sandbox.server import GongSandbox
from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    GoogleDriveSandbox,
)
from sources.hubspot.api import to_millis
from tests.conftest import ACME, add_hubspot
from tests.helpers import events, query


def stored(home: Home, connection_id: str = "acme") -> dict[str, Any]:
    rows = query(
        home,
        "select model, cursor from syncs.sync_state where connection_id = ? order by model",
        [connection_id],
    )
    return {model: json.loads(cursor) for model, cursor in rows}


def store_as_before(home: Home, legacy: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite every stored cursor of ``acme`` into the shape it had before."""
    cursors = stored(home)
    con = duckdb.connect(str(home.warehouse))
    try:
        for model, cursor in cursors.items():
            con.execute(
                "UPDATE syncs.sync_state SET cursor = ? WHERE connection_id = 'acme' AND model = ?",
                [json.dumps(legacy(cursor)), model],
            )
    finally:
        con.close()


def test_hubspot_continues_from_modified_since_in_milliseconds(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    declared = stored(home)
    store_as_before(home, lambda c: {"modified_since": to_millis(c["since"].replace("Z", ""))})
    changed = hubspot.ids(ACME, "contacts")[:2]
    for record_id in changed:
        hubspot.update(ACME, "contacts", record_id, {"jobtitle": "Upgraded"})
    hubspot.requests_seen.clear()

    (result,) = runner.run("acme")
    assert result.sync_type == "INCREMENTAL"
    assert sorted((m, r, a) for m, r, a, _ in events(home, result.run_id)) == sorted(
        ("contacts", r, "UPDATED") for r in changed
    )
    listings = [p for m, p, _ in hubspot.requests_seen if m == "GET"]
    assert len(listings) == 3, "only the archived listings: nothing is listed whole again"
    after = stored(home)
    assert set(after) == set(declared) == {"contacts", "companies", "deals"}
    assert all(set(c) == {"since"} for c in after.values())
    assert all(after[m]["since"] >= declared[m]["since"] for m in after)


def test_gong_continues_from_started(home, runner):
    with GongSandbox(rate_limit_per_second=None) as gong:
        gong.add_account("KEY", "secret", seed=4, calls=40)
        Connections(home).add(
            "gong",
            "acme",
            credentials={"access_key": "KEY", "access_key_secret": "secret"},
            config={"base_url": gong.base_url, "requests_per_second": "1000"},
        )
        runner.run("acme")
        declared = stored(home)
        store_as_before(home, lambda c: {"started": c["since"]})
        call = gong.create_call("KEY", {"title": "After the upgrade"})
        gong.clear_requests()

        (result,) = runner.run("acme")
        assert result.sync_type == "INCREMENTAL"
        assert sorted((m, r, a) for m, r, a, _ in events(home, result.run_id)) == [
            ("call_transcripts", call["id"], "ADDED"),
            ("calls", call["id"], "ADDED"),
        ]
        (window,) = query(
            home,
            "select url from syncs.api_requests where run_id = ? and url like '%/v2/calls?%'",
            [result.run_id],
        )
        assert "fromDateTime=2000-" not in window[0], "read from the cursor, not the start"
        after = stored(home)
        assert after["calls"] == after["call_transcripts"] == {"since": after["calls"]["since"]}
        assert after["calls"]["since"] >= declared["calls"]["since"]


def test_github_per_repository_cursors_continue(home, runner):
    with GitHubSandbox(rate_limit=None) as github:
        github.add_account("ghp_token", login="bot", seed=3)
        github.add_repo("ghp_token", "acme/api", issues=30, pulls=5)
        Connections(home).add(
            "github",
            "acme",
            credentials={"access_token": "ghp_token"},
            config={"base_url": github.base_url, "repositories": "Acme/API"},
        )
        runner.run("acme")
        declared = stored(home)
        assert set(declared["issues"]["since"]) == {"acme/api"}
        store_as_before(home, lambda c: c)
        number = github.numbers("ghp_token", "acme/api", "issues")[0]
        github.comment("ghp_token", "acme/api", number)
        github.clear_requests()

        (result,) = runner.run("acme")
        assert result.sync_type == "INCREMENTAL"
        assert [(m, a, f) for m, _, a, f in events(home, result.run_id)] == [
            ("issues", "UPDATED", ["comments"])
        ]
        assert result.api_requests <= 4, "the repository, one page of issues and of pulls"
        assert set(stored(home)["issues"]["since"]) == {"acme/api"}


def test_google_drive_continues_from_page_token(home, runner):
    with GoogleDriveSandbox(rate_limit_per_minute=None) as drive:
        drive.add_account("ana@acme.example.com", refresh_token="1//r", seed=5, files=20)
        Connections(home).add(
            "google_drive",
            "acme",
            credentials={
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "refresh_token": "1//r",
            },
            config={"base_url": drive.base_url, "token_url": f"{drive.base_url}/token"},
        )
        runner.run("acme")
        declared = stored(home)["files"]
        store_as_before(home, lambda c: {"page_token": c["token"], **c["state"]})
        created = drive.create("ana@acme.example.com", "After the upgrade.txt")
        drive.clear_requests()

        (result,) = runner.run("acme")
        assert result.sync_type == "INCREMENTAL"
        assert [(r, a) for _, r, a, _ in events(home, result.run_id)] == [(created["id"], "ADDED")]
        assert {p for _, p, _ in drive.requests_seen} == {"/drive/v3/changes"}
        after = stored(home)["files"]
        assert set(after) == {"token", "state"} and after["state"] == declared["state"]
        assert after["token"] != declared["token"]
