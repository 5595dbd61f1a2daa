"""The engine end to end against the GitHub sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.errors import ConfigError
from sources.github.sandbox.server import GitHubSandbox
from tests.helpers import events, query

ACME = "ghp_acme_0123456789abcdef"
API = "acme/api"
WEB = "acme/web"


@pytest.fixture
def github() -> Iterator[GitHubSandbox]:
    sandbox = GitHubSandbox(rate_limit=None).start()
    sandbox.add_account(ACME, login="acme-bot", seed=1)
    sandbox.add_repo(ACME, API, issues=250, pulls=80)
    sandbox.add_repo(ACME, WEB, issues=30, pulls=10)
    sandbox.add_repo(ACME, "acme/archive", issues=2)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def add_github(
    home: Home,
    sandbox: GitHubSandbox,
    connection_id: str = "acme",
    token: str = ACME,
    repositories: str = f"{API},{WEB}",
    **config: str,
) -> None:
    Connections(home).add(
        "github",
        connection_id,
        credentials={"access_token": token},
        config={"base_url": sandbox.base_url, "repositories": repositories, **config},
    )


def ids(sandbox: GitHubSandbox, repo: str, numbers: list[int], token: str = ACME) -> list[str]:
    """Record ids: the issue id of an issue, the pull request id of a pull request."""
    out = []
    for number in numbers:
        issue = sandbox.issue(token, repo, number)
        is_pull = "pull_request" in issue
        out.append(str(sandbox.pull(token, repo, number)["id"] if is_pull else issue["id"]))
    return out


def api_requests(home: Home, run_id: str) -> list[tuple]:
    return query(
        home,
        "select status, attempt, waited_ms, url from syncs.api_requests where run_id = ? "
        "order by requested_at",
        [run_id],
    )


def test_initial_sync_pages_and_routes_pull_requests_to_their_model(home, github, runner):
    add_github(home, github)
    (result,) = runner.run("acme")
    assert result.sync_type == "INITIAL"
    assert result.models["issues"].added == 280
    assert result.models["pull_requests"].added == 90
    assert len(events(home, result.run_id)) == 370

    pages = github.requests_to(f"/repos/{API}/issues")
    assert len(pages) >= 4, "330 issues and pull requests, 100 a page"
    issue_ids = set(ids(github, API, github.numbers(ACME, API, "issues")))
    issue_ids |= set(ids(github, WEB, github.numbers(ACME, WEB, "issues")))
    pull_ids = set(ids(github, API, github.numbers(ACME, API, "pulls")))
    pull_ids |= set(ids(github, WEB, github.numbers(ACME, WEB, "pulls")))
    assert {i for (i,) in query(home, "select id from github.issues")} == issue_ids
    assert {i for (i,) in query(home, "select id from github.pull_requests")} == pull_ids
    pull_issue_ids = {
        str(github.issue(ACME, API, n)["id"]) for n in github.numbers(ACME, API, "pulls")
    }
    assert not pull_issue_ids & {i for (i,) in query(home, "select id from github.issues")}

    merged = github.pull(
        ACME,
        API,
        next(n for n in github.numbers(ACME, API, "pulls") if github.pull(ACME, API, n)["merged"]),
    )
    row = query(
        home,
        "select repository, number, state, merged, merged_at is not null, head_sha, base_ref "
        "from github.pull_requests where id = ?",
        [str(merged["id"])],
    )
    assert row == [(API, merged["number"], "closed", True, True, merged["head"]["sha"], "main")]
    labelled = query(
        home,
        "select labels from github.issues where labels <> '[]' and repository = ? limit 1",
        [API],
    )
    assert labelled and labelled[0][0].startswith('["')


def test_each_kind_of_change_names_the_fields_it_moves(home, github, runner):
    add_github(home, github)
    runner.run("acme")
    issues = github.numbers(ACME, API, "issues")
    pulls = github.numbers(ACME, API, "pulls")
    open_pulls = [n for n in pulls if github.pull(ACME, API, n)["state"] == "open"]
    for number in issues[:3]:
        github.comment(ACME, API, number)
    github.update_issue(ACME, WEB, github.numbers(ACME, WEB)[0], labels=["wontfix"])
    new_issue = github.create_issue(ACME, API, title="Export is empty")
    new_pull = github.create_pull(ACME, WEB, title="Fix export", head="fix-export")
    github.merge_pull(ACME, API, open_pulls[0])
    github.update_pull(ACME, API, open_pulls[1], push=True)
    github.update_issue(ACME, API, open_pulls[2], title="Renamed through the issues API")

    (result,) = runner.run("acme")
    assert result.sync_type == "INCREMENTAL"
    got = events(home, result.run_id)
    expected = (
        [("issues", i, "UPDATED", ["comments"]) for i in ids(github, API, issues[:3])]
        + [("issues", ids(github, WEB, github.numbers(ACME, WEB)[:1])[0], "UPDATED", ["labels"])]
        + [("issues", str(new_issue["id"]), "ADDED", None)]
        + [("pull_requests", str(new_pull["id"]), "ADDED", None)]
        + [
            (
                "pull_requests",
                ids(github, API, open_pulls[:1])[0],
                "UPDATED",
                ["state", "closed_at", "merged", "merged_at"],
            ),
            ("pull_requests", ids(github, API, open_pulls[1:2])[0], "UPDATED", ["head_sha"]),
            ("pull_requests", ids(github, API, open_pulls[2:3])[0], "UPDATED", ["title"]),
        ]
    )
    assert sorted(got, key=str) == sorted(expected, key=str)
    issue_queries = [p for _, p, _ in github.requests_to(f"/repos/{API}/issues")]
    assert issue_queries, "incremental runs list issues since the cursor"
    assert result.api_requests <= 8, "one page per endpoint and repository, plus the repos"


class UpdatesWhilePaging(GitHubSandbox):
    """GitHub, where people keep working: right after the first page of a full listing of
    issues, and again of pull requests, the five oldest records of that page are updated.
    They move to the end, and every record behind them moves up five places."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.meddled: list[str] = []

    def _listing(self, request, account, repo, kind, state, sort, direction, since):
        response = super()._listing(request, account, repo, kind, state, sort, direction, since)
        first_page = request.arg("page") in (None, "1") and since is None
        if first_page and kind not in self.meddled:
            self.meddled.append(kind)
            page = [item["number"] for item in json.loads(response.body)][:5]
            for number in page:
                if kind == "pulls":
                    self.update_pull(account.token, repo.full_name, number, push=True)
                else:
                    self.comment(account.token, repo.full_name, number)
        return response


def test_records_updated_while_paging_are_neither_skipped_nor_lost(home, runner):
    sandbox = UpdatesWhilePaging(rate_limit=None).start()
    try:
        sandbox.add_account(ACME, seed=5)
        sandbox.add_repo(ACME, API, issues=150, pulls=250)
        add_github(home, sandbox, repositories=API)
        (result,) = runner.run("acme")
        assert sandbox.meddled == ["issues", "pulls"]
        assert result.models["issues"].added == 150
        assert result.models["pull_requests"].added == 250
        (full,) = runner.run("acme", mode="full")
        assert full.total("deleted") == 0
        assert full.models["pull_requests"].rows_total == 250
    finally:
        sandbox.stop()


def test_a_second_shared_by_more_than_a_page_follows_the_link(home, github, runner):
    add_github(home, github, repositories=API)
    runner.run("acme")
    issues = github.numbers(ACME, API, "issues")
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    for number in issues[:150]:
        github.comment(ACME, API, number, at=moment)
    for i, number in enumerate(issues[150:200]):
        github.comment(ACME, API, number, at=moment + timedelta(seconds=1 + i % 3))
    github.clear_requests()
    (result,) = runner.run("acme")
    got = [r for m, r, a, _ in events(home, result.run_id) if m == "issues"]
    assert sorted(got) == sorted(ids(github, API, issues[:200]))
    assert len(got) == len(set(got))
    followed = [p for _, p, _ in github.requests_seen if p.startswith("/repositories/")]
    assert followed, "rel=next is followed inside one shared second"
    assert {s for _, _, s in github.requests_seen} == {200}


def test_deleted_and_transferred_issues_are_found_by_a_full_refresh(home, github, runner):
    add_github(home, github)
    runner.run("acme")
    issues = github.numbers(ACME, API, "issues")
    deleted = ids(github, API, issues[10:12])
    moved_out = ids(github, API, issues[20:21])
    moved_in = ids(github, API, issues[21:22])
    for number in issues[10:12]:
        github.delete_issue(ACME, API, number)
    github.transfer_issue(ACME, API, issues[20], "acme/archive")
    arrived = github.transfer_issue(ACME, API, issues[21], WEB)

    (incremental,) = runner.run("acme")
    assert events(home, incremental.run_id) == [("issues", str(arrived["id"]), "ADDED", None)]
    (full,) = runner.run("acme", mode="full")
    gone = sorted(r for m, r, a, _ in events(home, full.run_id) if a == "DELETED")
    assert gone == sorted(deleted + moved_out + moved_in)
    assert {a for _, _, a, _ in events(home, full.run_id)} == {"DELETED"}
    assert full.models["issues"].rows_total == 280 - 4 + 1
    assert query(
        home,
        "select count(*) from github.issues where _syncs_deleted_at is not null "
        "and _syncs_last_action = 'DELETED'",
    ) == [(4,)]


def test_failed_full_refresh_deletes_nothing_and_names_the_repository(home, github, runner):
    add_github(home, github)
    runner.run("acme")
    victim = ids(github, API, github.numbers(ACME, API, "issues")[:1])
    github.delete_issue(ACME, API, github.numbers(ACME, API, "issues")[0])
    github.remove_repo(ACME, WEB)
    before = query(home, "select count(*) from syncs.change_events")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme", mode="full")
    assert failure.value.result.error_type == "ApiError"
    assert "'acme/web'" in str(failure.value) and "repositories" in str(failure.value)
    assert query(home, "select count(*) from syncs.change_events") == before
    assert query(home, "select count(*) from github.issues where _syncs_deleted_at is null") == [
        (280,)
    ]

    add_github(home, github, repositories=API)
    (full,) = runner.run("acme", mode="full")
    gone = {r for m, r, a, _ in events(home, full.run_id) if m == "issues" and a == "DELETED"}
    assert set(victim) <= gone and len(gone) == 1 + 30, "acme/web left the connection"


def test_primary_rate_limit_is_paced_before_it_is_hit(home, runner):
    sandbox = GitHubSandbox(rate_limit=3, rate_window=2).start()
    try:
        sandbox.add_account(ACME)
        sandbox.add_repo(ACME, API, issues=120, pulls=30)
        add_github(home, sandbox, repositories=API)
        (result,) = runner.run("acme")
        assert result.models["issues"].added == 120
        assert result.models["pull_requests"].added == 30
        assert {s for _, _, s in sandbox.requests_seen} == {200}
        attempts = api_requests(home, result.run_id)
        assert len(attempts) == 4 and {a for _, a, _, _ in attempts} == {1}
        assert any(waited > 0 for _, _, waited, _ in attempts), "the client paused"
    finally:
        sandbox.stop()


def test_exhausted_budget_is_waited_out_until_the_reset(home, runner):
    sandbox = GitHubSandbox(rate_limit=50, rate_window=2).start()
    try:
        sandbox.add_account(ACME)
        sandbox.add_repo(ACME, API, issues=20, pulls=5)
        add_github(home, sandbox, repositories=API)
        sandbox.exhaust_rate_limit(ACME)
        (result,) = runner.run("acme")
        assert result.status == "success" and result.total("added") == 25
        attempts = api_requests(home, result.run_id)
        assert attempts[0][:2] == (403, 1)
        assert attempts[1][:2] == (200, 2)
        assert attempts[1][2] > 0
    finally:
        sandbox.stop()


def test_secondary_limits_are_waited_out_as_retry_after_says(home, github, runner):
    add_github(home, github, repositories=WEB)
    github.inject_secondary_limit(count=1, retry_after=1, status=403)
    github.inject_secondary_limit(count=1, retry_after=1, status=429)
    (result,) = runner.run("acme")
    assert result.models["issues"].added == 30
    attempts = api_requests(home, result.run_id)
    assert [a[:2] for a in attempts[:3]] == [(403, 1), (429, 2), (200, 3)]
    assert attempts[1][2] >= 950 and attempts[2][2] >= 950


def test_repositories_are_owner_slash_repo_and_required(home, github):
    with pytest.raises(ConfigError, match="'acme' is not a repository; write it as owner/repo"):
        add_github(home, github, repositories="acme")
    with pytest.raises(ConfigError, match="missing config 'repositories'"):
        Connections(home).add(
            "github", "bare", credentials={"access_token": ACME}, config={"base_url": "http://x"}
        )
