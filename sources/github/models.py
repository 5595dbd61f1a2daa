"""GitHub issues and pull requests as stored: one flat row each.

People, labels and milestones are kept by name (logins, label names, milestone title) rather
than as nested objects whose avatar URLs and counters change without the record changing.
Lists are sorted, so the order GitHub happens to return them in never looks like a change.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class GitHubRecord(BaseModel):
    id: str
    node_id: str | None = None
    repository: str
    number: int
    title: str
    body: str | None = None
    state: str
    locked: bool = False
    active_lock_reason: str | None = None
    user_login: str | None = None
    user_id: int | None = None
    author_association: str | None = None
    labels: list[str] = []
    assignees: list[str] = []
    milestone: str | None = None
    html_url: str | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class Issue(GitHubRecord):
    """An issue (never a pull request) from ``GET /repos/{owner}/{repo}/issues``."""

    state_reason: str | None = None
    comments: int = 0


class PullRequest(GitHubRecord):
    """A pull request from ``GET /repos/{owner}/{repo}/pulls``; ``id`` is the pull request id."""

    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    head_ref: str | None = None
    head_sha: str | None = None
    head_repository: str | None = None
    base_ref: str | None = None
    requested_reviewers: list[str] = []
    requested_teams: list[str] = []
