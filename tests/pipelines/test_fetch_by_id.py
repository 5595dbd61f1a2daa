"""Each integration's ``fetch``: ids in, pages of the records the API has out, tombstones for
the ids it says are gone — against its sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sources.cursors import open_cursors
from sources.http import RequestLog
from sources.registry import INTEGRATIONS, get_integration
from sources.spec import ExtractContext, RecordRef
from tests.conftest import ACME


def context(
    integration: str,
    config: dict[str, Any],
    credentials: dict[str, Any],
    stored: dict[str, Any] | None = None,
) -> ExtractContext[Any, Any]:
    spec = get_integration(integration)
    sync = next(iter(spec.syncs.values()))
    validated = spec.config_model.model_validate(config)
    return ExtractContext(
        connection_id="acme",
        sync=sync,
        mode="incremental",
        config=validated,
        credentials=spec.credentials_model.model_validate(credentials),
        request_log=RequestLog(),
        cursors=open_cursors(spec, sync, "incremental", validated, stored or {}),
    )


def fetched(
    ctx: ExtractContext[Any, Any], model: str, refs: Sequence[RecordRef | str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The records the integration's fetch returned, by id, and the ids it tombstoned."""
    (spec,) = [s for s in INTEGRATIONS.values() if isinstance(ctx.config, s.config_model)]
    assert spec.fetch is not None
    records: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    asked = [r if isinstance(r, RecordRef) else RecordRef(r) for r in refs]
    for page in spec.fetch(ctx, model, asked):
        assert page.model == model
        if page.deleted:
            gone.extend(str(r["id"]) for r in page.records)
        else:
            records.update({str(r["id"]): r for r in page.records})
    return records, sorted(gone)


def test_hubspot_reads_a_hundred_ids_a_request_and_archived_ones_are_gone(hubspot):
    ctx = context("hubspot", {"base_url": hubspot.base_url}, {"access_token": ACME})
    ids = hubspot.ids(ACME, "contacts")
    archived, erased = ids[3], ids[4]
    hubspot.archive(ACME, "contacts", archived)
    hubspot.erase(ACME, "contacts", erased)
    live = [i for i in ids if i not in (archived, erased)][:148]
    hubspot.requests_seen.clear()

    records, gone = fetched(ctx, "contacts", [*live, archived, erased, "999999"])

    assert sorted(records) == sorted(live)
    assert gone == sorted([archived, erased, "999999"])
    assert (
        records[live[0]]["properties"]["email"]
        == hubspot.get(ACME, "contacts", live[0])["properties"]["email"]
    )
    reads = [s for _, p, s in hubspot.requests_seen if p.endswith("/batch/read")]
    assert reads == [200, 207], "151 ids: a full batch of 100, then 51 with three gone"


def test_github_reads_issues_and_pull_requests_by_number(home):
    from sources.github.sandbox.server import GitHubSandbox

    with GitHubSandbox(rate_limit=None) as github:
        github.add_account("ghp_t", login="bot", seed=1)
        github.add_repo("ghp_t", "acme/api", issues=6, pulls=3)
        github.add_repo("ghp_t", "acme/web", issues=1)
        github.add_repo("ghp_t", "acme/other", issues=1)
        config = {"base_url": github.base_url, "repositories": "acme/api,acme/web"}
        ctx = context("github", config, {"access_token": "ghp_t"})
        issues = github.numbers("ghp_t", "acme/api", "issues")
        pulls = github.numbers("ghp_t", "acme/api", "pulls")
        kept, deleted, moved = issues[0], issues[1], issues[2]
        refs = {
            n: RecordRef(
                str(github.issue("ghp_t", "acme/api", n)["id"]),
                {"repository": "acme/api", "number": n},
            )
            for n in (kept, deleted, moved)
        }
        github.delete_issue("ghp_t", "acme/api", deleted)
        github.transfer_issue("ghp_t", "acme/api", moved, "acme/web")
        pull = github.pull("ghp_t", "acme/api", pulls[0])
        pull_as_issue = str(github.issue("ghp_t", "acme/api", pulls[0])["id"])
        other = github.issue("ghp_t", "acme/other", github.numbers("ghp_t", "acme/other")[0])

        records, gone = fetched(
            ctx,
            "issues",
            [
                *refs.values(),
                # A pull request read as an issue (its issue id): not one of the issues.
                RecordRef(pull_as_issue, {"repository": "acme/api", "number": pulls[0]}),
                # Not listed by the connection, or nothing to look it up by: left alone.
                RecordRef(str(other["id"]), {"repository": "acme/other", "number": 1}),
                RecordRef("2"),
            ],
        )
        assert list(records) == [refs[kept].id]
        assert records[refs[kept].id]["number"] == kept
        assert records[refs[kept].id]["repository"] == "acme/api"
        assert gone == sorted([refs[deleted].id, refs[moved].id, pull_as_issue])

        ref = RecordRef(str(pull["id"]), {"repository": "acme/api", "number": pulls[0]})
        missing = RecordRef("404", {"repository": "acme/api", "number": 999})
        records, gone = fetched(ctx, "pull_requests", [ref, missing])
        assert list(records) == [ref.id] and records[ref.id]["head_ref"] == pull["head"]["ref"]
        assert gone == ["404"]


def test_gong_reads_calls_and_transcripts_by_call_id(home):
    from sources.gong.sandbox.server import GongSandbox

    with GongSandbox(rate_limit_per_second=None, page_size=10) as gong:
        gong.add_account("KEY", "secret", seed=2, calls=30)
        ctx = context(
            "gong",
            {"base_url": gong.base_url, "requests_per_second": "1000"},
            {"access_key": "KEY", "access_key_secret": "secret"},
        )
        ids = gong.call_ids("KEY")
        gong.delete_call("KEY", ids[0])
        gong.clear_requests()

        records, gone = fetched(ctx, "calls", [*ids[:25], "123"])
        assert sorted(records) == sorted(ids[1:25])
        assert records[ids[5]] == gong.get_call("KEY", ids[5])
        assert gone == sorted([ids[0], "123"])
        extensive = [s for _, p, s in gong.requests_seen if p == "/v2/calls/extensive"]
        assert extensive == [200, 200, 200], "24 calls, 10 a page"

        records, gone = fetched(ctx, "call_transcripts", [ids[0], ids[7]])
        assert list(records) == [ids[7]]
        assert records[ids[7]]["transcript"] == gong.get_transcript("KEY", ids[7])
        assert gone == [ids[0]]

        gong.delete_call("KEY", ids[7])
        assert fetched(ctx, "calls", [ids[0], ids[7]]) == ({}, sorted([ids[0], ids[7]]))


@pytest.mark.parametrize("scoped", [False, True])
def test_google_drive_reads_files_by_id_within_the_scope(home, scoped):
    from sources.google_drive.sandbox.server import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        GoogleDriveSandbox,
    )

    email = "ana@acme.example.com"
    with GoogleDriveSandbox(rate_limit_per_minute=None) as drive:
        drive.add_account(email, refresh_token="1//r", seed=3, files=30, folders=3)
        inside, outside = drive.ids(email, folders_only=True)[:2]
        config: dict[str, Any] = {
            "base_url": drive.base_url,
            "token_url": f"{drive.base_url}/token",
        }
        stored = None
        if scoped:
            config["folders"] = inside
            stored = {
                "files": {
                    "token": "1",
                    "state": {"folders": [inside], "shared_drives": [], "tree": {}},
                }
            }
        credentials = {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": "1//r",
        }
        ctx = context("google_drive", config, credentials, stored)
        kept = drive.create(email, "kept.txt", parent=inside)["id"]
        trashed = drive.create(email, "trashed.txt", parent=inside)["id"]
        deleted = drive.create(email, "deleted.txt", parent=inside)["id"]
        elsewhere = drive.create(email, "elsewhere.txt", parent=outside)["id"]
        drive.trash(email, trashed)
        drive.delete(email, deleted)

        records, gone = fetched(ctx, "files", [kept, trashed, deleted, elsewhere, "no/such"])
        expected = {kept} if scoped else {kept, elsewhere}
        assert set(records) == expected
        assert records[kept]["name"] == "kept.txt" and records[kept]["parents"] == [inside]
        assert set(gone) == {trashed, deleted, kept, trashed, deleted, elsewhere} - expected
