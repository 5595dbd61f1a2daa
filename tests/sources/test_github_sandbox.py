"""The GitHub sandbox over real loopback HTTP: shapes, paging, filters, auth, limits, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from sources.github.api import SECONDARY_LIMIT_PAUSE, pace
from sources.github.sandbox.demo import start_demo_sandbox
from sources.github.sandbox.server import GitHubSandbox
from sources.sandbox.client import SandboxAdminError, SandboxClient

TOKEN = "ghp_test_token_0123456789"
OTHER = "github_pat_other_token_9876543210"
REPO = "acme/api"


@pytest.fixture
def sandbox() -> Iterator[GitHubSandbox]:
    with GitHubSandbox() as sb:
        sb.add_account(TOKEN, login="acme-bot", seed=7)
        sb.add_repo(TOKEN, REPO, issues=60, pulls=25)
        sb.add_repo(TOKEN, "acme/web", issues=5, pulls=0)
        sb.add_account(OTHER, login="globex-bot", seed=8)
        sb.add_repo(OTHER, "globex/platform", issues=10, pulls=4)
        yield sb


def session(token: str | None = TOKEN) -> requests.Session:
    s = requests.Session()
    s.headers["Accept"] = "application/vnd.github+json"
    s.headers["X-GitHub-Api-Version"] = "2022-11-28"
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def follow(sb: GitHubSandbox, path: str, token: str = TOKEN, **params: Any) -> list[list[dict]]:
    """Every page of a listing, following ``rel="next"`` as GitHub's guide says."""
    s = session(token)
    response = s.get(f"{sb.base_url}{path}", params=params, timeout=5)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        nxt = response.links.get("next", {}).get("url")
        if nxt is None:
            return pages
        response = s.get(nxt, timeout=5)


def test_issues_listing_defaults_and_shapes(sandbox: GitHubSandbox) -> None:
    s = session()
    response = s.get(f"{sandbox.base_url}/repos/{REPO}/issues", timeout=5)
    assert response.status_code == 200
    assert response.headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"
    body = response.json()
    assert len(body) == 30
    assert {i["state"] for i in body} == {"open"}
    created = [i["created_at"] for i in body]
    assert created == sorted(created, reverse=True)

    everything = [i for page in follow(sandbox, f"/repos/{REPO}/issues", state="all") for i in page]
    assert len(everything) == 85
    pulls = [i for i in everything if "pull_request" in i]
    issues = [i for i in everything if "pull_request" not in i]
    assert len(pulls) == 25 and len(issues) == 60
    assert sorted(i["number"] for i in everything) == list(range(1, 86))
    issue = issues[0]
    for key in (
        "id",
        "node_id",
        "number",
        "title",
        "user",
        "labels",
        "state",
        "state_reason",
        "locked",
        "assignees",
        "milestone",
        "comments",
        "created_at",
        "updated_at",
        "closed_at",
        "author_association",
        "body",
        "html_url",
        "reactions",
    ):
        assert key in issue, key
    assert issue["url"] == f"{sandbox.base_url}/repos/{REPO}/issues/{issue['number']}"
    assert issue["html_url"] == f"https://github.com/{REPO}/issues/{issue['number']}"
    assert datetime.strptime(issue["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    pull_item = pulls[0]
    assert set(pull_item["pull_request"]) == {
        "url",
        "html_url",
        "diff_url",
        "patch_url",
        "merged_at",
    }
    pull = sandbox.pull(TOKEN, REPO, pull_item["number"])
    assert pull["id"] != pull_item["id"], "the issues endpoint gives a pull request's issue id"
    assert pull_item["pull_request"]["url"] == pull["url"]


def test_link_header_pages_with_repository_id_urls(sandbox: GitHubSandbox) -> None:
    s = session()
    first = s.get(
        f"{sandbox.base_url}/repos/{REPO}/issues",
        params={"state": "all", "per_page": 20},
        timeout=5,
    )
    repo_id = s.get(f"{sandbox.base_url}/repos/{REPO}", timeout=5).json()["id"]
    links = first.links
    assert set(links) == {"next", "last"}
    assert links["next"]["url"].startswith(f"{sandbox.base_url}/repositories/{repo_id}/issues?")
    assert "per_page=20" in links["next"]["url"] and "state=all" in links["next"]["url"]
    assert links["last"]["url"].endswith("page=5")
    middle = s.get(links["next"]["url"], timeout=5)
    assert set(middle.links) == {"prev", "next", "last", "first"}
    assert middle.links["first"]["url"].endswith("page=1")

    pages = follow(sandbox, f"/repos/{REPO}/issues", state="all", per_page=20)
    assert [len(p) for p in pages] == [20, 20, 20, 20, 5]
    numbers = [i["number"] for p in pages for i in p]
    assert len(numbers) == len(set(numbers)) == 85

    beyond = s.get(
        f"{sandbox.base_url}/repos/{REPO}/issues", params={"state": "all", "page": 99}, timeout=5
    )
    assert beyond.json() == []
    capped = s.get(
        f"{sandbox.base_url}/repos/{REPO}/issues",
        params={"state": "all", "per_page": 500},
        timeout=5,
    )
    assert len(capped.json()) == 85 and "Link" not in capped.headers


def test_since_is_inclusive_and_sort_updated_ascending(sandbox: GitHubSandbox) -> None:
    moment = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    numbers = sandbox.numbers(TOKEN, REPO, "all")
    sandbox.comment(TOKEN, REPO, numbers[3], at=moment)
    sandbox.comment(TOKEN, REPO, numbers[1], at=moment)
    sandbox.comment(TOKEN, REPO, numbers[9], at=moment + timedelta(seconds=1))
    listed = [
        i
        for p in follow(
            sandbox,
            f"/repos/{REPO}/issues",
            state="all",
            sort="updated",
            direction="asc",
            since="2025-03-01T12:00:00Z",
            per_page=2,
        )
        for i in p
    ]
    assert [(i["number"], i["updated_at"]) for i in listed] == [
        (numbers[1], "2025-03-01T12:00:00Z"),
        (numbers[3], "2025-03-01T12:00:00Z"),
        (numbers[9], "2025-03-01T12:00:01Z"),
    ]
    newest_first = follow(
        sandbox,
        f"/repos/{REPO}/issues",
        state="all",
        sort="updated",
        direction="desc",
        since="2025-03-01T12:00:00Z",
    )[0]
    assert [i["number"] for i in newest_first] == [numbers[9], numbers[3], numbers[1]]
    ascending = [
        i["updated_at"]
        for p in follow(
            sandbox, f"/repos/{REPO}/issues", state="all", sort="updated", direction="asc"
        )
        for i in p
    ]
    assert ascending == sorted(ascending)

    pulls = session().get(
        f"{sandbox.base_url}/repos/{REPO}/pulls",
        params={"state": "all", "since": "2025-03-01T12:00:00Z", "per_page": 100},
        timeout=5,
    )
    assert pulls.status_code == 400, "the pulls endpoint has no since filter: not ignored"
    assert "'since'" in pulls.json()["message"]


def test_pulls_listing_defaults_and_shapes(sandbox: GitHubSandbox) -> None:
    s = session()
    url = f"{sandbox.base_url}/repos/{REPO}/pulls"
    open_only = s.get(url, timeout=5).json()
    assert open_only and {p["state"] for p in open_only} == {"open"}
    by_created = [p["created_at"] for p in s.get(url, params={"state": "all"}, timeout=5).json()]
    assert by_created == sorted(by_created, reverse=True)
    by_updated = [
        p["updated_at"]
        for p in s.get(url, params={"state": "all", "sort": "updated"}, timeout=5).json()
    ]
    assert by_updated == sorted(by_updated), "sorting by update defaults to ascending"
    listed = s.get(url, params={"state": "all", "per_page": 100}, timeout=5).json()
    assert len(listed) == 25
    merged = [p for p in listed if p["merged_at"]]
    assert merged and all(p["state"] == "closed" and p["merge_commit_sha"] for p in merged)
    pull = listed[0]
    for key in ("id", "node_id", "number", "head", "base", "draft", "requested_reviewers"):
        assert key in pull, key
    assert {"label", "ref", "sha", "user", "repo"} <= set(pull["head"])
    assert "merged" not in pull and "commits" not in pull, "only the single pull has these"
    single = s.get(f"{url}/{pull['number']}", timeout=5).json()
    assert single["merged"] is (pull["merged_at"] is not None)
    assert {"commits", "additions", "deletions", "changed_files", "mergeable"} <= set(single)
    issue_number = sandbox.numbers(TOKEN, REPO, "issues")[0]
    assert s.get(f"{url}/{issue_number}", timeout=5).status_code == 404


def test_authentication_user_agent_and_version(sandbox: GitHubSandbox) -> None:
    url = f"{sandbox.base_url}/repos/{REPO}/issues"
    bad = session("ghp_wrong").get(url, timeout=5)
    assert bad.status_code == 401
    assert bad.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert session(None).get(url, timeout=5).status_code == 404, "private repos hide as 404"
    assert session(None).get(f"{sandbox.base_url}/user", timeout=5).status_code == 401
    token_scheme = requests.get(url, headers={"Authorization": f"token {TOKEN}"}, timeout=5)
    assert token_scheme.status_code == 200
    assert session().get(f"{sandbox.base_url}/user", timeout=5).json()["login"] == "acme-bot"
    assert session(OTHER).get(url, timeout=5).status_code == 404, "another account's repo"

    no_agent = session()
    no_agent.headers["User-Agent"] = ""
    refused = no_agent.get(url, timeout=5)
    assert refused.status_code == 403 and "User-Agent" in refused.json()["message"]
    old = session()
    old.headers["X-GitHub-Api-Version"] = "2019-01-01"
    assert old.get(url, timeout=5).status_code == 400


def test_validation_errors(sandbox: GitHubSandbox) -> None:
    url = f"{sandbox.base_url}/repos/{REPO}/issues"
    for params, field in (
        ({"state": "done"}, "state"),
        ({"sort": "votes"}, "sort"),
        ({"direction": "up"}, "direction"),
        ({"since": "yesterday"}, "since"),
    ):
        response = session().get(url, params=params, timeout=5)
        assert response.status_code == 422
        body = response.json()
        assert body["message"] == "Validation Failed"
        assert body["errors"][0]["field"] == field
    assert session().get(f"{sandbox.base_url}/repos/{REPO}/nope", timeout=5).json()["message"] == (
        "Not Found"
    )


def test_primary_rate_limit_headers_and_refusal() -> None:
    with GitHubSandbox(rate_limit=3) as sb:
        sb.add_account(TOKEN, seed=1)
        sb.add_repo(TOKEN, REPO, issues=3)
        sb.add_account(OTHER, seed=2)
        sb.add_repo(OTHER, REPO, issues=3)
        url = f"{sb.base_url}/repos/{REPO}/issues"
        s = session()
        seen = []
        for _ in range(3):
            response = s.get(url, timeout=5)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "3"
            assert response.headers["x-ratelimit-resource"] == "core"
            seen.append(
                (response.headers["x-ratelimit-remaining"], response.headers["x-ratelimit-used"])
            )
        assert seen == [("2", "1"), ("1", "2"), ("0", "3")]
        refused = s.get(url, timeout=5)
        assert refused.status_code == 403
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time())
        assert refused.json()["message"].startswith("API rate limit exceeded for user ID")
        assert pace(refused) > 0
        rate = s.get(f"{sb.base_url}/rate_limit", timeout=5).json()
        assert rate["resources"]["core"]["remaining"] == 0, "/rate_limit itself is free"
        assert session(OTHER).get(url, timeout=5).status_code == 200, "limits are per token"
        sb.reset_rate_limits()
        assert s.get(url, timeout=5).status_code == 200

    with GitHubSandbox(rate_limit=1, limit_status=429) as sb:
        sb.add_account(TOKEN)
        sb.add_repo(TOKEN, REPO)
        sb.exhaust_rate_limit(TOKEN)
        assert session().get(f"{sb.base_url}/repos/{REPO}", timeout=5).status_code == 429


def test_pacer_reads_the_budget_and_secondary_limits() -> None:
    with GitHubSandbox(rate_limit=3, rate_window=30) as sb:
        sb.add_account(TOKEN)
        sb.add_repo(TOKEN, REPO, issues=1)
        url = f"{sb.base_url}/repos/{REPO}"
        s = session()
        assert pace(s.get(url, timeout=5)) == 0, "2 left: no pause"
        paused = pace(s.get(url, timeout=5))
        assert 0 < paused <= 31, "1 left: wait for the reset"

        sb.reset_rate_limits()
        sb.inject_secondary_limit(retry_after=None)
        silent = s.get(url, timeout=5)
        assert silent.status_code == 403 and "retry-after" not in silent.headers
        assert "secondary rate limit" in silent.json()["message"]
        assert silent.json()["documentation_url"].endswith("#about-secondary-rate-limits")
        assert pace(silent) == SECONDARY_LIMIT_PAUSE
        sb.reset_rate_limits()
        sb.inject_secondary_limit(retry_after=7, status=429)
        told = s.get(url, timeout=5)
        assert told.status_code == 429 and told.headers["retry-after"] == "7"
        assert pace(told) == 0, "the retry waits retry-after; no extra pause"
        assert s.get(url, timeout=5).status_code == 200


def test_injected_faults(sandbox: GitHubSandbox) -> None:
    url = f"{sandbox.base_url}/repos/{REPO}/issues"
    s = session()
    sandbox.inject_fault("429", retry_after=3, path_prefix=f"/repos/{REPO}/issues")
    limited = s.get(url, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert "secondary rate limit" in limited.json()["message"]
    sandbox.inject_fault("500")
    failed = s.get(url, timeout=5)
    assert failed.status_code == 500 and failed.json()["message"] == "Server Error"
    sandbox.inject_fault("cut")
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        s.get(url, params={"state": "all", "per_page": 100}, timeout=5)
    sandbox.inject_fault("slow", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        s.get(url, timeout=0.2)
    assert s.get(url, timeout=5).status_code == 200


def test_mutations_move_updated_at(sandbox: GitHubSandbox) -> None:
    at = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
    created = sandbox.create_issue(
        TOKEN, REPO, title="Sync stalls", labels=["bug"], assignees=["acme-bot"], at=at
    )
    assert created["number"] == 86
    assert created["created_at"] == created["updated_at"] == "2025-06-01T08:30:00Z"
    assert [label["name"] for label in created["labels"]] == ["bug"]
    commented = sandbox.comment(TOKEN, REPO, 86, at=at + timedelta(hours=1))
    assert commented["comments"] == 1 and commented["updated_at"] == "2025-06-01T09:30:00Z"
    closed = sandbox.update_issue(TOKEN, REPO, 86, state="closed", at=at + timedelta(hours=2))
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    assert closed["closed_at"] == "2025-06-01T10:30:00Z"
    assert closed["closed_by"]["login"] == "acme-bot"
    reopened = sandbox.update_issue(TOKEN, REPO, 86, state="open", milestone="v2.0")
    assert reopened["state_reason"] == "reopened" and reopened["closed_at"] is None
    assert reopened["milestone"]["title"] == "v2.0"
    with pytest.raises(ValueError):
        sandbox.update_issue(TOKEN, REPO, 86, labels=["no-such-label"])
    with pytest.raises(ValueError):
        sandbox.update_issue(TOKEN, REPO, 86, colour="red")

    pull = sandbox.create_pull(TOKEN, REPO, title="Fix stall", head="fix-stall", at=at)
    assert pull["number"] == 87 and pull["head"]["ref"] == "fix-stall"
    assert pull["state"] == "open" and pull["merged"] is False
    pushed = sandbox.update_pull(TOKEN, REPO, 87, push=True, at=at + timedelta(minutes=5))
    assert pushed["head"]["sha"] != pull["head"]["sha"] and pushed["commits"] == 2
    merged = sandbox.merge_pull(TOKEN, REPO, 87, at=at + timedelta(minutes=9))
    assert merged["merged"] is True and merged["merged_at"] == "2025-06-01T08:39:00Z"
    assert merged["state"] == "closed" and merged["merge_commit_sha"]
    with pytest.raises(ValueError):
        sandbox.merge_pull(TOKEN, REPO, 87)
    assert sandbox.issue(TOKEN, REPO, 87)["pull_request"]["merged_at"] == merged["merged_at"]
    with pytest.raises(KeyError):
        sandbox.pull(TOKEN, REPO, 86)


def test_deleted_issue_is_gone_and_transferred_issue_moves(sandbox: GitHubSandbox) -> None:
    s = session()
    issues = sandbox.numbers(TOKEN, REPO, "issues")
    victim, moved = issues[0], issues[1]
    sandbox.update_issue(TOKEN, REPO, moved, labels=["bug"], milestone="v1.0")
    before = sandbox.issue(TOKEN, REPO, moved)
    sandbox.delete_issue(TOKEN, REPO, victim)
    arrived = sandbox.transfer_issue(TOKEN, REPO, moved, "acme/web")
    assert arrived["number"] == 6 and arrived["id"] != before["id"]
    assert [label["name"] for label in arrived["labels"]] == ["bug"]
    assert arrived["milestone"] is None and arrived["title"] == before["title"]

    listed = {i["number"] for p in follow(sandbox, f"/repos/{REPO}/issues", state="all") for i in p}
    assert victim not in listed and moved not in listed and len(listed) == 83
    gone = s.get(f"{sandbox.base_url}/repos/{REPO}/issues/{victim}", timeout=5)
    assert gone.status_code == 410 and gone.json()["message"] == "This issue was deleted"
    redirected = s.get(f"{sandbox.base_url}/repos/{REPO}/issues/{moved}", timeout=5)
    assert redirected.history[0].status_code == 301
    assert redirected.json()["id"] == arrived["id"]
    pull_number = sandbox.numbers(TOKEN, REPO, "pulls")[0]
    with pytest.raises(ValueError):
        sandbox.delete_issue(TOKEN, REPO, pull_number)
    with pytest.raises(ValueError):
        sandbox.transfer_issue(TOKEN, REPO, pull_number, "acme/web")


def test_same_seed_same_data_and_accounts_differ() -> None:
    def snapshot(seed: int) -> list[dict]:
        with GitHubSandbox() as sb:
            sb.add_account(TOKEN, seed=seed)
            sb.add_repo(TOKEN, REPO, issues=40, pulls=15)
            items = follow(sb, f"/repos/{REPO}/issues", state="all", per_page=100)[0]
            pulls = follow(sb, f"/repos/{REPO}/pulls", state="all", per_page=100)[0]
            port = f":{sb.port}"
            return [
                {k: str(v).replace(port, "") for k, v in r.items() if k != "url"}
                for r in items + pulls
            ]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


def test_admin_endpoints_via_client(sandbox: GitHubSandbox) -> None:
    with SandboxClient(sandbox.base_url) as client:
        assert client.health()["sandbox"] == "github"
        client.add_account("remote", login="remote-bot", seed=3)
        with pytest.raises(SandboxAdminError):
            client.add_account("remote")
        repo = client.add_repo("remote", "remote/app", issues=8, pulls=2)
        assert repo["full_name"] == "remote/app"
        assert len(client.numbers("remote", "remote/app", "all")) == 10
        created = client.create_issue("remote", "remote/app", title="Hi", labels=["question"])
        assert created["number"] == 11
        updated = client.update_issue("remote", "remote/app", 11, state="closed")
        assert updated["state"] == "closed"
        assert client.comment("remote", "remote/app", 11)["comments"] == 1
        pull = client.create_pull("remote", "remote/app", title="Go", head="go")
        client.update_pull("remote", "remote/app", pull["number"], push=True)
        assert client.merge_pull("remote", "remote/app", pull["number"])["merged"] is True
        assert client.pull("remote", "remote/app", pull["number"])["merged"] is True
        client.add_repo("remote", "remote/old")
        moved = client.transfer_issue("remote", "remote/app", 11, "remote/old")
        assert moved["number"] == 1
        client.delete_issue("remote", "remote/app", client.numbers("remote", "remote/app")[0])
        assert len(client.numbers("remote", "remote/app")) == 7
        with pytest.raises(SandboxAdminError):
            client.issue("remote", "remote/app", 999)
        client.remove_repo("remote", "remote/old")
        client.inject_secondary_limit(retry_after=2, status=429)
        limited = session("remote").get(f"{sandbox.base_url}/repos/remote/app", timeout=5)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert (
            session("remote").get(f"{sandbox.base_url}/repos/remote/old", timeout=5).status_code
            == 404
        )
        client.exhaust_rate_limit("remote")
        spent = session("remote").get(f"{sandbox.base_url}/repos/remote/app", timeout=5)
        assert spent.status_code == 403 and spent.headers["x-ratelimit-remaining"] == "0"
        assert [s for _, _, s in client.requests_seen()] == [429, 404, 403]


def test_demo_sandbox_and_changes() -> None:
    demo = start_demo_sandbox(records=40)
    try:
        assert [a.connection_id for a in demo.accounts] == ["acme-github", "globex-github"]
        acme = demo.accounts[0]
        token = acme.credentials["access_token"]
        assert acme.config["repositories"] == "acme/api,acme/web"
        assert len(demo.sandbox.numbers(token, "acme/api", "issues")) == 20
        before = len(demo.sandbox.numbers(token, "acme/api", "all"))
        done = demo.change(acme)
        assert "opened 2 issues" in done
        assert len(demo.sandbox.numbers(token, "acme/api", "all")) == before + 3
        deep = demo.change(acme, deep=True)
        assert any("full refresh" in line for line in deep)
        assert len(demo.sandbox.numbers(token, "acme/archive", "issues")) == 6
    finally:
        demo.stop()


def test_no_handler_errors(sandbox: GitHubSandbox) -> None:
    s = session()
    s.get(f"{sandbox.base_url}/repos/{REPO}/issues", params={"per_page": "x"}, timeout=5)
    s.get(f"{sandbox.base_url}/repos/{REPO}/issues/0", timeout=5)
    s.get(f"{sandbox.base_url}/repositories/1/issues", timeout=5)
    s.post(f"{sandbox.base_url}/_sandbox/operations/add_account", data=b"{nope", timeout=5)
    assert [status for _, _, status in sandbox.requests_seen] == [200, 404, 404]
    assert sandbox.handler_errors == []


def test_client_treats_rate_limits_as_transient_and_other_refusals_as_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sources.errors import AuthenticationError, TransientError
    from sources.github.api import GitHubApi, make_client, rate_limited
    from sources.http import RateLimitHeaders

    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    with GitHubSandbox(rate_limit=2, rate_window=600) as sb:
        sb.add_account(TOKEN)
        sb.add_repo(TOKEN, REPO)
        url = f"{sb.base_url}/repos/{REPO}"
        ok = session().get(url, timeout=5)
        assert not rate_limited(ok)
        assert RateLimitHeaders()(ok) == 0, "1 left and no reserve: no pause"
        assert 0 < RateLimitHeaders(reserve=1)(ok) <= 601
        assert RateLimitHeaders(reserve=1, max_pause=5)(ok) == 5

        def api(token: str = TOKEN) -> GitHubApi:
            return GitHubApi(make_client(sb.base_url, token, "acme", None))

        sb.exhaust_rate_limit(TOKEN)
        assert rate_limited(session().get(url, timeout=5))
        with pytest.raises(TransientError, match=r"'acme'.*rate limited.*403"):
            api().repository(REPO)
        sb.reset_rate_limits()
        sb.inject_secondary_limit(retry_after=None)
        secondary = session().get(url, timeout=5)
        assert secondary.headers["x-ratelimit-remaining"] != "0"
        assert rate_limited(secondary)
        sb.inject_secondary_limit(retry_after=None)
        with pytest.raises(TransientError, match="secondary rate limit"):
            api().repository(REPO)
        refused = session("ghp_wrong").get(url, timeout=5)
        assert not rate_limited(refused)
        with pytest.raises(AuthenticationError, match="'acme'"):
            api("ghp_wrong").repository(REPO)


def test_command_line_drives_a_running_sandbox(sandbox: GitHubSandbox, capsys) -> None:
    from pipelines.cli.main import drive_sandbox
    from sources.registry import get_integration

    spec = get_integration("github")

    def drive(*words: str) -> str:
        assert drive_sandbox(spec, sandbox.base_url, list(words)) == 0
        return capsys.readouterr().out

    opened = drive("create", TOKEN, REPO, "title=From the shell", "labels=bug,question")
    assert '"number": 86' in opened
    assert sandbox.issue(TOKEN, REPO, 86)["labels"][1]["name"] == "question"
    drive("update", TOKEN, REPO, "86", "milestone=v1.1", "locked=true")
    assert sandbox.issue(TOKEN, REPO, 86)["milestone"]["title"] == "v1.1"
    assert sandbox.issue(TOKEN, REPO, 86)["locked"] is True
    drive("archive", TOKEN, REPO, "86")
    assert sandbox.issue(TOKEN, REPO, 86)["state"] == "closed"
    drive("restore", TOKEN, REPO, "86")
    assert sandbox.issue(TOKEN, REPO, 86)["state_reason"] == "reopened"
    drive("comment", TOKEN, REPO, "86")
    assert sandbox.issue(TOKEN, REPO, 86)["comments"] == 1
    drive("create", TOKEN, REPO, "title=Shell PR", "head=shell", "draft=true")
    assert sandbox.pull(TOKEN, REPO, 87)["draft"] is True
    drive("update", TOKEN, REPO, "87", "draft=false", "push=true")
    assert sandbox.pull(TOKEN, REPO, 87)["commits"] == 2
    drive("merge_pull", TOKEN, REPO, "87")
    with pytest.raises(SandboxAdminError):
        drive("restore", TOKEN, REPO, "87")
    drive("erase", TOKEN, REPO, "86")
    assert 86 not in sandbox.numbers(TOKEN, REPO)
    drive("fault", "500", "count=1")
    assert session().get(f"{sandbox.base_url}/repos/{REPO}", timeout=5).status_code == 500
