"""GitHub: issues and pull requests of the repositories a connection lists.

One listing of ``/issues`` per repository feeds both models: issues go to ``issues``, and the
pull requests it also returns are only noted, because a pull request's own fields come from
``/pulls`` (it lands in ``pull_requests``, never in both). The cursor is, per repository and
model, the newest ``updated_at`` seen, by the shared rule of ``sources.cursors``.
GitHub has no deletion feed: deleted and transferred issues are found by a full refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sources.cursors import SAFETY_MARGIN, advance
from sources.github.api import (
    GitHubApi,
    is_pull_request,
    issue_row,
    make_client,
    pace,
    pull_row,
    to_since,
)
from sources.github.config import GitHubConfig, GitHubCredentials
from sources.github.models import Issue, PullRequest
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    SyncSpec,
    imported_on_call,
)


def _advance(since: str | None, newest: str | None, ceiling: datetime) -> str:
    """The shared time-cursor rule, on GitHub's timestamps."""

    def when(stamp: str | None) -> datetime | None:
        return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return to_since(advance(when(since), when(newest), ceiling))


def _stored(ctx: ExtractContext, model: str) -> dict[str, str]:
    cursor = ctx.cursors.get(model) or {}
    return dict(cursor.get("since") or {}) if not ctx.full_listing else {}


@dataclass
class _Seen:
    """What one listing saw: the newest ``updated_at`` and the numbers."""

    newest: str | None = None
    numbers: set[int] = field(default_factory=set)

    def note(self, raw: dict[str, Any]) -> None:
        self.numbers.add(int(raw["number"]))
        updated = to_since(raw["updated_at"])
        self.newest = updated if self.newest is None else max(self.newest, updated)


def _issues(
    api: GitHubApi, repository: str, since: str | None, seen: _Seen, pull_numbers: set[int]
) -> Iterator[Page]:
    """Issues to ``issues``; the pull requests this listing also returns are only noted."""
    for page in api.issues_since(repository, since):
        rows = []
        for raw in page:
            seen.note(raw)
            if is_pull_request(raw):
                pull_numbers.add(int(raw["number"]))
            else:
                rows.append(issue_row(raw, repository))
        if rows:
            yield Page("issues", rows)


def _pulls(
    api: GitHubApi, repository: str, since: str | None, changed: set[int], seen: _Seen
) -> Iterator[Page]:
    """Pull requests from ``/pulls``, then any of ``changed`` that listing did not return."""
    for page in api.pulls(repository, since):
        for raw in page:
            seen.note(raw)
        yield Page("pull_requests", [pull_row(raw, repository) for raw in page])
    for number in sorted(changed - seen.numbers):
        raw = api.pull(repository, number)
        if raw is not None:
            seen.note(raw)
            yield Page("pull_requests", [pull_row(raw, repository)])


def extract(ctx: ExtractContext) -> Iterator[Page]:
    config: GitHubConfig = ctx.config
    credentials: GitHubCredentials = ctx.credentials
    api = GitHubApi(
        make_client(
            config.base_url,
            credentials.access_token.get_secret_value(),
            ctx.connection_id,
            ctx.http,
        )
    )
    ceiling = datetime.now(UTC) - SAFETY_MARGIN
    old_issues, old_pulls = _stored(ctx, "issues"), _stored(ctx, "pull_requests")
    new_issues: dict[str, str] = {}
    new_pulls: dict[str, str] = {}
    for name in config.repositories:
        key = name.lower()
        repository = str(api.repository(name)["full_name"])
        issues = _Seen()
        changed_pulls: set[int] = set()
        yield from _issues(api, repository, old_issues.get(key), issues, changed_pulls)
        new_issues[key] = _advance(old_issues.get(key), issues.newest, ceiling)
        pulls = _Seen()
        yield from _pulls(api, repository, old_pulls.get(key), changed_pulls, pulls)
        new_pulls[key] = _advance(old_pulls.get(key), pulls.newest, ceiling)
    ctx.new_cursors["issues"] = {"since": new_issues}
    ctx.new_cursors["pull_requests"] = {"since": new_pulls}


SPEC = IntegrationSpec(
    name="github",
    title="GitHub",
    description="issues and pull requests of the configured repositories (REST API)",
    config_model=GitHubConfig,
    credentials_model=GitHubCredentials,
    models={
        "issues": ModelSpec(
            "issues", Issue, frozenset({"updated_at"}), "issues (pull requests excluded)"
        ),
        "pull_requests": ModelSpec(
            "pull_requests",
            PullRequest,
            frozenset({"updated_at", "merge_commit_sha"}),
            "pull requests with their branches and merge state",
        ),
    },
    syncs={
        "repositories": SyncSpec(
            "repositories",
            ("issues", "pull_requests"),
            default_frequency=timedelta(minutes=15),
            full_refresh_frequency=timedelta(days=1),
            description="issues and pull requests of the configured repositories",
        )
    },
    extract=extract,
    rate_limit_pacer=pace,
    sandbox=imported_on_call("sources.github.sandbox.demo", "start_demo_sandbox"),
)
