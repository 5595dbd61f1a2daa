"""GitHub: issues and pull requests of the repositories a connection lists.

One listing of ``/issues`` per repository feeds both models: issues go to ``issues``, and the
pull requests it also returns are only noted, because a pull request's own fields come from
``/pulls`` (it lands in ``pull_requests``, never in both). Both models keep their cursor per
repository: the newest ``updated_at`` seen in it (the pull requests the issues listing
returned count for the issues cursor, as that listing read them).
GitHub has no deletion feed: deleted and transferred issues are found by a full refresh, or
at once through the repository hooks syncs registers (``webhooks``), whose events carry the
whole record; ``updated_at`` is a record's version.
Records are read by id with ``GET /repos/{owner}/{repo}/issues/{number}`` and
``/pulls/{number}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from sources.cursors import CursorSpec, ModelCursor
from sources.dlt_source import integration_source
from sources.github.api import (
    GitHubApi,
    is_pull_request,
    issue_row,
    make_client,
    pull_row,
    to_since,
)
from sources.github.config import GitHubConfig, GitHubCredentials
from sources.github.models import Issue, PullRequest
from sources.github.webhooks import WEBHOOKS
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    RecordRef,
    SyncSpec,
    imported_on_call,
)

ISSUES = "issues"
PULLS = "pull_requests"
Context = ExtractContext[GitHubConfig, GitHubCredentials]


def connect(ctx: Context) -> GitHubApi:
    token = ctx.credentials.access_token.get_secret_value()
    return GitHubApi(make_client(ctx.config.base_url, token, ctx.connection_id, ctx.request_log))


def _since(cursor: ModelCursor, repository: str) -> str | None:
    since = cursor.since(repository)
    return None if since is None else to_since(since)


def _issues(
    api: GitHubApi, repository: str, cursor: ModelCursor, pull_numbers: set[int]
) -> Iterator[Page]:
    """Issues to ``issues``; the pull requests this listing also returns are only noted."""
    for page in api.issues_since(repository, _since(cursor, repository)):
        rows = []
        for raw in page:
            if is_pull_request(raw):
                pull_numbers.add(int(raw["number"]))
                cursor.saw(raw["updated_at"], repository)
            else:
                rows.append(issue_row(raw, repository))
        if rows:
            yield Page(ISSUES, rows)


def _pulls(
    api: GitHubApi, repository: str, cursor: ModelCursor, changed: set[int]
) -> Iterator[Page]:
    """Pull requests from ``/pulls``, then any of ``changed`` that listing did not return."""
    listed: set[int] = set()
    for page in api.pulls(repository, _since(cursor, repository)):
        listed.update(int(raw["number"]) for raw in page)
        yield Page(PULLS, [pull_row(raw, repository) for raw in page])
    for number in sorted(changed - listed):
        raw = api.pull(repository, number)
        if raw is not None:
            yield Page(PULLS, [pull_row(raw, repository)])


def extract(ctx: Context) -> Iterator[Page]:
    api = connect(ctx)
    issues, pulls = ctx.cursor(ISSUES), ctx.cursor(PULLS)
    for name in ctx.config.repositories:
        repository = str(api.repository(name)["full_name"])
        changed_pulls: set[int] = set()
        yield from _issues(api, repository, issues, changed_pulls)
        yield from _pulls(api, repository, pulls, changed_pulls)


def fetch(ctx: Context, model: str, refs: Sequence[RecordRef]) -> Iterator[Page]:
    """Issues or pull requests by id, looked up by their repository and number. One that is
    gone, moved to another repository or (for ``issues``) a pull request is a tombstone;
    one of a repository the connection no longer lists is left for the full refresh."""
    api = connect(ctx)
    listed = {name.lower() for name in ctx.config.repositories}
    for ref in refs:
        repository, number = ref.locator.get("repository"), ref.locator.get("number")
        if not isinstance(repository, str) or repository.lower() not in listed:
            continue
        if not isinstance(number, int) or isinstance(number, bool):
            continue
        raw = api.issue(repository, number) if model == ISSUES else api.pull(repository, number)
        if (
            raw is None
            or not _same(raw, ref.id, repository)
            or (model == ISSUES and is_pull_request(raw))
        ):
            yield Page(model, [{"id": ref.id}], deleted=True)
        else:
            row = issue_row if model == ISSUES else pull_row
            yield Page(model, [row(raw, repository)])


def _same(raw: dict[str, Any], record_id: str, repository: str) -> bool:
    """Whether GitHub answered with the record asked for, in that repository (a
    transferred issue redirects to its new place)."""
    url = str(raw.get("repository_url") or raw.get("url") or "")
    return str(raw.get("id")) == record_id and f"/repos/{repository.lower()}" in url.lower()


# Repository names are case-insensitive on GitHub: keys are kept in lower case.
REPOSITORY_CURSOR = CursorSpec.timestamp("updated_at", key="repository", key_ignores_case=True)

SPEC = IntegrationSpec(
    name="github",
    title="GitHub",
    description="issues and pull requests of the configured repositories (REST API)",
    config_model=GitHubConfig,
    credentials_model=GitHubCredentials,
    models={
        ISSUES: ModelSpec(
            ISSUES,
            Issue,
            frozenset({"updated_at"}),
            "issues (pull requests excluded)",
            cursor=REPOSITORY_CURSOR,
            locator=("repository", "number"),
            version="updated_at",
        ),
        PULLS: ModelSpec(
            PULLS,
            PullRequest,
            frozenset({"updated_at", "merge_commit_sha"}),
            "pull requests with their branches and merge state",
            cursor=REPOSITORY_CURSOR,
            locator=("repository", "number"),
            version="updated_at",
        ),
    },
    syncs={
        "repositories": SyncSpec(
            "repositories",
            (ISSUES, PULLS),
            default_frequency=timedelta(minutes=15),
            full_refresh_frequency=timedelta(days=1),
            description="issues and pull requests of the configured repositories",
        )
    },
    extract=extract,
    fetch=fetch,
    sandbox=imported_on_call("sources.github.sandbox.demo", "start_demo_sandbox"),
    webhooks=WEBHOOKS,
)

source = integration_source(SPEC)
