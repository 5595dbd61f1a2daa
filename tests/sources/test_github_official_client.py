"""The GitHub sandbox driven by PyGithub, GitHub's most-used Python client, as a new user would:
an independent check that the simulator answers what a real client expects (filters, comments,
reviews, labels, rate limits, paging through ``Link`` headers, errors in GitHub's body)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from github import Auth, BadCredentialsException, Github, GithubException
from github.Issue import Issue
from github.Milestone import Milestone
from github.NamedUser import NamedUser
from github.Repository import Repository

from sources.github.sandbox.server import GitHubSandbox

TOKEN = "ghp_pygithub_token_0123456789"
REPO = "acme/api"
AT = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[GitHubSandbox]:
    with GitHubSandbox() as sb:
        sb.add_account(TOKEN, login="acme-bot", seed=7)
        sb.add_repo(TOKEN, REPO, issues=60, pulls=25)
        yield sb


@pytest.fixture
def client(sandbox: GitHubSandbox) -> Iterator[Github]:
    g = Github(base_url=sandbox.base_url, auth=Auth.Token(TOKEN), seconds_between_requests=0)
    yield g
    g.close()


@pytest.fixture
def repo(client: Github) -> Repository:
    return client.get_repo(REPO)


def numbers(items: object) -> set[int]:
    return {i.number for i in items}  # type: ignore[attr-defined]


def everything(repo: Repository) -> list[Issue]:
    return list(repo.get_issues(state="all"))


def test_listing_pages_through_link_headers_and_counts(repo: Repository) -> None:
    issues = everything(repo)
    assert len(issues) == 85, "issues and pull requests, 30 a page"
    assert sorted(i.number for i in issues) == list(range(1, 86))
    assert sum(1 for i in issues if i.pull_request is not None) == 25
    assert repo.get_issues(state="all").totalCount == 85, "counted from the last page link"
    newest = repo.get_issues(state="all", sort="updated", direction="desc")
    assert [i.number for i in newest.reversed][:3] == [
        i.number for i in sorted(issues, key=lambda i: (i.updated_at, i.number))[:3]
    ]


def test_label_assignee_creator_and_milestone_filters_match_the_issues(repo: Repository) -> None:
    issues = everything(repo)
    labelled = {i.number for i in issues if "bug" in {label.name for label in i.labels}}
    assert labelled and len(labelled) < len(issues)
    assert numbers(repo.get_issues(state="all", labels=["bug"])) == labelled
    two = next(i for i in issues if len(i.labels) == 2)
    pair = [label.name for label in two.labels]
    both = {i.number for i in issues if set(pair) <= {label.name for label in i.labels}}
    assert numbers(repo.get_issues(state="all", labels=pair)) == both and two.number in both
    assert numbers(repo.get_issues(state="all", labels=["no-such-label"])) == set()

    someone = next(i.assignees[0] for i in issues if i.assignees)
    assigned = {i.number for i in issues if someone.login in {a.login for a in i.assignees}}
    assert numbers(repo.get_issues(state="all", assignee=someone)) == assigned
    assert numbers(repo.get_issues(state="all", assignee=someone.login.upper())) == assigned
    assert numbers(repo.get_issues(state="all", assignee="none")) == {
        i.number for i in issues if not i.assignees
    }
    assert numbers(repo.get_issues(state="all", assignee="*")) == {
        i.number for i in issues if i.assignees
    }

    author = issues[0].user
    assert numbers(repo.get_issues(state="all", creator=author)) == {
        i.number for i in issues if i.user.login == author.login
    }

    milestone = next(i.milestone for i in issues if i.milestone is not None)
    assert numbers(repo.get_issues(state="all", milestone=milestone)) == {
        i.number for i in issues if i.milestone and i.milestone.number == milestone.number
    }
    assert numbers(repo.get_issues(state="all", milestone="none")) == {
        i.number for i in issues if i.milestone is None
    }
    assert numbers(repo.get_issues(state="all", milestone="*")) == {
        i.number for i in issues if i.milestone is not None
    }
    assert numbers(repo.get_issues(state="all", type="none")) == {i.number for i in issues}
    assert numbers(repo.get_issues(state="all", type="Bug")) == set()

    open_bugs = {i.number for i in issues if i.state == "open" and i.number in labelled}
    assert numbers(repo.get_issues(labels=["bug"])) == open_bugs, "state defaults to open"


def test_mentioned_finds_a_login_in_the_body_or_the_comments(
    sandbox: GitHubSandbox, repo: Repository
) -> None:
    in_body = sandbox.create_issue(
        TOKEN, REPO, title="Ping", body="@dana-reviewer could you check?", at=AT
    )["number"]
    in_comment = sandbox.create_issue(TOKEN, REPO, title="Later", at=AT)["number"]
    sandbox.comment(TOKEN, REPO, in_comment, body="Thanks, cc @Dana-Reviewer.", at=AT)
    sandbox.create_issue(TOKEN, REPO, title="Lookalike", body="@dana-reviewers and me", at=AT)
    dana = named_user(repo, "dana-reviewer")
    assert numbers(repo.get_issues(state="all", mentioned=dana)) == {in_body, in_comment}
    nobody = named_user(repo, "nobody-at-all")
    assert numbers(repo.get_issues(state="all", mentioned=nobody)) == set()
    seeded = {i.number for i in everything(repo) if i.number < in_body}
    mentioned_in_seed = {
        n for n in seeded if any("@" in c.body for c in repo.get_issue(n).get_comments())
    }
    assert mentioned_in_seed, "the seeded comments mention people"


def named_user(repo: Repository, login: str) -> NamedUser:
    """The user ``login`` as PyGithub builds users out of any answer (PyGithub's ``mentioned``
    takes a user object, and the sandbox serves no ``/users/{login}``)."""
    return NamedUser(repo.requester, {}, {"login": login}, completed=True)


def test_issue_comments_with_since_and_the_repository_listing(
    sandbox: GitHubSandbox, repo: Repository
) -> None:
    issue = next(i for i in everything(repo) if i.comments >= 3)
    comments = list(issue.get_comments())
    assert len(comments) == issue.comments
    assert [c.id for c in comments] == sorted(c.id for c in comments), "ascending id"
    first = comments[0]
    assert first.issue_url.endswith(f"/issues/{issue.number}")
    assert first.html_url.endswith(f"#issuecomment-{first.id}")
    assert first.user.login and first.body and first.created_at <= first.updated_at

    later = datetime(2025, 6, 1, tzinfo=UTC)
    sandbox.comment(TOKEN, REPO, issue.number, body="Still seeing this.", user="lee", at=later)
    sandbox.edit_comment(TOKEN, REPO, first.id, "Edited.", at=later + timedelta(minutes=1))
    since = list(issue.get_comments(since=later))
    assert [(c.body, c.user.login) for c in since] == [
        ("Edited.", first.user.login),
        ("Still seeing this.", "lee"),
    ], "updated at or after since, in id order"
    assert repo.get_issue(issue.number).comments == issue.comments + 1
    assert repo.get_issue(issue.number).updated_at == later, "a new comment moves the issue"
    read = repo.get_pull(next(i.number for i in everything(repo) if i.pull_request))
    assert read.get_issue_comment(first.id).body == "Edited.", "GET .../issues/comments/{id}"

    every = list(repo.get_issues_comments())
    assert len(every) == sum(i.comments for i in everything(repo))
    assert [c.id for c in every] == sorted(c.id for c in every)
    recent = list(repo.get_issues_comments(sort="updated", direction="desc", since=later))
    assert [c.body for c in recent] == ["Edited.", "Still seeing this."]
    oldest_first = list(repo.get_issues_comments(sort="created", direction="asc"))
    assert [c.created_at for c in oldest_first] == sorted(c.created_at for c in every)


def test_pull_request_reviews(sandbox: GitHubSandbox, repo: Repository) -> None:
    pulls = list(repo.get_pulls(state="all"))
    reviewed = [p for p in pulls if p.get_reviews().totalCount]
    assert reviewed, "the seed reviews some pull requests"
    for pull in reviewed:
        reviews = list(pull.get_reviews())
        assert [r.submitted_at for r in reviews] == sorted(r.submitted_at for r in reviews)
        assert all(r.user.login != pull.user.login for r in reviews)
        assert {r.state for r in reviews} <= {
            "APPROVED",
            "CHANGES_REQUESTED",
            "COMMENTED",
            "DISMISSED",
        }
        if pull.merged:
            assert reviews[-1].state == "APPROVED"
        assert reviews[0].pull_request_url.endswith(f"/pulls/{pull.number}")
        assert reviews[0].html_url.endswith(f"#pullrequestreview-{reviews[0].id}")

    pull = next(p for p in pulls if p.state == "open")
    before = pull.get_reviews().totalCount
    sandbox.review(TOKEN, REPO, pull.number, state="CHANGES_REQUESTED", body="Add a test.", at=AT)
    sandbox.review(TOKEN, REPO, pull.number, at=AT + timedelta(hours=1))
    reviews = list(repo.get_pull(pull.number).get_reviews())
    assert len(reviews) == before + 2
    assert [(r.state, r.body) for r in reviews[-2:]] == [
        ("CHANGES_REQUESTED", "Add a test."),
        ("APPROVED", ""),
    ]
    assert reviews[-1].commit_id == pull.head.sha
    with pytest.raises(GithubException) as missing:
        list(repo.get_pull(pull.number + 1000).get_reviews())
    assert missing.value.status == 404


def test_labels_of_the_repository_and_of_an_issue(repo: Repository) -> None:
    labels = list(repo.get_labels())
    names = [label.name for label in labels]
    assert names == sorted(names, key=str.lower)
    assert {"bug", "good first issue", "needs-triage", "regression"} <= set(names)
    flags = {label.name: label.default for label in labels}
    assert flags["bug"] is True and flags["needs-triage"] is False
    spaced = repo.get_label("good first issue")
    assert (spaced.name, spaced.color) == ("good first issue", "7057ff")
    assert spaced.url.endswith("/labels/good%20first%20issue")

    issue = next(i for i in everything(repo) if len(i.labels) == 2)
    assert [label.name for label in issue.get_labels()] == [label.name for label in issue.labels]
    with pytest.raises(GithubException) as missing:
        repo.get_label("no such label")
    assert missing.value.status == 404


def test_rate_limit_resources_beyond_core(client: Github, repo: Repository) -> None:
    everything(repo)
    limits = client.get_rate_limit()
    core = limits.resources.core
    assert core.limit == 5000 and core.used >= 4 and core.remaining == 5000 - core.used
    assert limits.rate.remaining == core.remaining, "the deprecated rate mirrors core"
    assert (limits.resources.search.limit, limits.resources.search.used) == (30, 0)
    assert limits.resources.graphql.limit == 5000
    assert limits.resources.code_search.limit == 10
    assert limits.resources.integration_manifest.remaining == 5000
    assert limits.resources.code_scanning_upload.used == core.used
    assert limits.resources.dependency_snapshots.limit == 100
    assert client.get_rate_limit().resources.core.used == core.used, "/rate_limit is free"
    remaining, limit = client.rate_limiting
    assert limit == 5000 and remaining == core.remaining
    assert repo.raw_headers["x-ratelimit-resource"] == "core"
    assert repo.raw_headers["x-github-request-id"]


def test_refusals_in_githubs_error_body(sandbox: GitHubSandbox, client: Github) -> None:
    with pytest.raises(GithubException) as unknown:
        client.requester.requestJsonAndCheck(
            "GET", f"/repos/{REPO}/issues", parameters={"issue_field_values": "priority:High"}
        )
    assert unknown.value.status == 400
    assert "'issue_field_values'" in unknown.value.data["message"]
    assert unknown.value.data["documentation_url"].startswith("https://docs.github.com")

    repo = client.get_repo(REPO)
    with pytest.raises(GithubException) as invalid:
        list(repo.get_issues(state="all", milestone=milestone_numbered(repo, 99)))
    assert invalid.value.status == 422
    assert invalid.value.data["errors"] == [
        {"value": "99", "resource": "Issue", "field": "milestone", "code": "invalid"}
    ]

    wrong = Github(base_url=sandbox.base_url, auth=Auth.Token("ghp_wrong"))
    with pytest.raises(BadCredentialsException):
        wrong.get_repo(REPO)


def milestone_numbered(repo: Repository, number: int) -> Milestone:
    return Milestone(repo.requester, {}, {"number": number}, completed=True)


def test_deleted_and_transferred_issues(sandbox: GitHubSandbox, repo: Repository) -> None:
    sandbox.add_repo(TOKEN, "acme/archive")
    issue = next(i for i in everything(repo) if i.pull_request is None and i.comments)
    moved = sandbox.transfer_issue(TOKEN, REPO, issue.number, "acme/archive")
    followed = repo.get_issue(issue.number)
    assert followed.number == moved["number"] and followed.repository.full_name == "acme/archive"
    assert len(list(followed.get_comments())) == issue.comments, "comments move with it"

    gone = next(i for i in everything(repo) if i.pull_request is None)
    sandbox.delete_issue(TOKEN, REPO, gone.number)
    with pytest.raises(GithubException) as deleted:
        list(gone.get_comments())
    assert deleted.value.status == 410
