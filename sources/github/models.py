"""GitHub issues and pull requests as stored: one flat row each.

People, labels and milestones are kept by name (logins, label names, milestone title) rather
than as nested objects whose avatar URLs and counters change without the record changing.
Lists are sorted, so the order GitHub happens to return them in never looks like a change.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class GitHubRecord(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """GitHub's id of the issue or pull request."""
    node_id: str | None = None
    """GraphQL node id."""
    repository: str
    """The repository, owner/name."""
    number: int
    """Number within the repository."""
    title: str
    """Title."""
    body: str | None = None
    """Description, Markdown."""
    state: str
    """open or closed."""
    locked: bool = False
    """Whether the conversation is locked."""
    active_lock_reason: str | None = None
    """Why the conversation is locked."""
    user_login: str | None = None
    """Login of the author."""
    user_id: int | None = None
    """Id of the author."""
    author_association: str | None = None
    """The author's relation to the repository (OWNER, MEMBER, CONTRIBUTOR, ...)."""
    labels: list[str] = []
    """Label names, sorted."""
    assignees: list[str] = []
    """Assignees' logins, sorted."""
    milestone: str | None = None
    """Milestone title."""
    html_url: str | None = None
    """Web page."""
    created_at: datetime
    """When it was opened."""
    updated_at: datetime
    """When it last changed."""
    closed_at: datetime | None = None
    """When it was closed."""


class Issue(GitHubRecord):
    """An issue (never a pull request) from ``GET /repos/{owner}/{repo}/issues``."""

    state_reason: str | None = None
    """Why the issue was closed (completed, not_planned, reopened)."""
    comments: int = 0
    """Number of comments."""


class PullRequest(GitHubRecord):
    """A pull request from ``GET /repos/{owner}/{repo}/pulls``; ``id`` is the pull request id."""

    draft: bool = False
    """Whether the pull request is a draft."""
    merged: bool = False
    """Whether it was merged."""
    merged_at: datetime | None = None
    """When it was merged."""
    merge_commit_sha: str | None = None
    """The merge commit (or the test merge GitHub prepares)."""
    head_ref: str | None = None
    """Branch it merges from."""
    head_sha: str | None = None
    """Last commit of the head branch."""
    head_repository: str | None = None
    """Repository of the head branch, owner/name."""
    base_ref: str | None = None
    """Branch it merges into."""
    requested_reviewers: list[str] = []
    """Logins asked to review, sorted."""
    requested_teams: list[str] = []
    """Team slugs asked to review, sorted."""
