"""GitHub's REST API: the endpoints syncs reads and their quirks.

* ``GET /repos/{owner}/{repo}/issues`` lists issues *and* pull requests (those carry a
  ``pull_request`` key, and their ``id`` is the issue id, not the pull request's). It filters
  on ``since`` (updated at or after, whole seconds) and pages by page number through the
  ``Link`` header. Page numbers shift when a record is updated while we page: it moves to the
  end of the ascending sort and every later record moves up one place, so one would be
  skipped. So each page is its own query from the last ``updated_at`` seen (keyset paging),
  and records sharing that second are skipped by id; ``rel="next"`` is followed only when a
  whole page shares one second.
* ``GET /repos/{owner}/{repo}/issues/{number}`` answers 410 for a deleted issue and
  redirects (301) to a transferred one's new repository.
* ``GET /repos/{owner}/{repo}/pulls`` has no ``since``. A full listing pages through it in
  ascending update order; an incremental run reads it newest first and stops at the first
  pull request older than the cursor. A pull request that the issues listing saw but the
  pulls listing missed (shifted pages, or updated in between) is read on its own.
* Every answer carries ``x-ratelimit-remaining``/``x-ratelimit-reset``; a rate limit is
  answered with 403 or 429, with ``retry-after`` for secondary limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

from sources.errors import ApiError
from sources.http import ApiClient, BearerAuth, RateLimitHeaders, RequestLog

PAGE_SIZE = 100
API_VERSION = "2022-11-28"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
SECONDARY_LIMIT_PAUSE = 60.0

_budget = RateLimitHeaders(reserve=1)


def pace(response: requests.Response) -> float:
    """Wait for the reset before the hourly budget runs out.

    A secondary rate limit without ``retry-after`` asks for at least a minute's pause.
    """
    pause = _budget(response)
    if (
        response.status_code in (403, 429)
        and "retry-after" not in response.headers
        and "secondary rate limit" in response.text.lower()
    ):
        pause = max(pause, SECONDARY_LIMIT_PAUSE)
    return pause


def rate_limited(response: requests.Response) -> bool:
    """GitHub's ways of saying "slow down": 429, or 403 with ``x-ratelimit-remaining: 0``,
    a ``retry-after``, or a message about a (secondary) rate limit. Any other 403 is a
    refusal of the token."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers:
        return True
    return "rate limit" in response.text.lower()


def to_since(value: str | datetime) -> str:
    """GitHub's timestamp format, whole seconds in UTC: ``2024-01-02T03:04:05Z``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _logins(users: Any) -> list[str]:
    return sorted(u["login"] for u in users or () if isinstance(u, dict) and u.get("login"))


def _common(raw: dict[str, Any], repository: str) -> dict[str, Any]:
    user = raw.get("user") if isinstance(raw.get("user"), dict) else {}
    milestone = raw.get("milestone") if isinstance(raw.get("milestone"), dict) else {}
    return {
        "id": str(raw["id"]),
        "node_id": raw.get("node_id"),
        "repository": repository,
        "number": raw.get("number"),
        "title": raw.get("title"),
        "body": raw.get("body"),
        "state": raw.get("state"),
        "locked": raw.get("locked", False),
        "active_lock_reason": raw.get("active_lock_reason"),
        "user_login": user.get("login"),
        "user_id": user.get("id"),
        "author_association": raw.get("author_association"),
        "labels": sorted(
            label["name"] if isinstance(label, dict) else str(label)
            for label in raw.get("labels") or ()
        ),
        "assignees": _logins(raw.get("assignees")),
        "milestone": milestone.get("title"),
        "html_url": raw.get("html_url"),
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
        "closed_at": raw.get("closed_at"),
    }


def issue_row(raw: dict[str, Any], repository: str) -> dict[str, Any]:
    """One issue of the issues listing as a flat row."""
    return {
        **_common(raw, repository),
        "state_reason": raw.get("state_reason"),
        "comments": raw.get("comments", 0),
    }


def pull_row(raw: dict[str, Any], repository: str) -> dict[str, Any]:
    """One pull request (listed or read alone: the same fields) as a flat row."""
    head = raw.get("head") if isinstance(raw.get("head"), dict) else {}
    base = raw.get("base") if isinstance(raw.get("base"), dict) else {}
    head_repo = head.get("repo") if isinstance(head.get("repo"), dict) else {}
    return {
        **_common(raw, repository),
        "draft": bool(raw.get("draft", False)),
        "merged": raw.get("merged_at") is not None,
        "merged_at": raw.get("merged_at"),
        "merge_commit_sha": raw.get("merge_commit_sha"),
        "head_ref": head.get("ref"),
        "head_sha": head.get("sha"),
        "head_repository": head_repo.get("full_name"),
        "base_ref": base.get("ref"),
        "requested_reviewers": _logins(raw.get("requested_reviewers")),
        "requested_teams": sorted(
            t["slug"] for t in raw.get("requested_teams") or () if isinstance(t, dict)
        ),
    }


def is_pull_request(raw: dict[str, Any]) -> bool:
    return "pull_request" in raw


class GitHubApi:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def repository(self, name: str) -> dict[str, Any]:
        """The repository (its canonical ``full_name`` and ``id``); a clear error if unseen."""
        response = self.client.get(f"/repos/{name}", ok=(404,))
        if response.status_code == 404:
            raise ApiError(
                f"connection {self.client.connection_id!r}: repository {name!r} was not found "
                "or the token cannot read it; fix the connection's repositories config "
                "(`syncs connections add github ... --config repositories=owner/repo,...`) "
                "or give the token access"
            )
        return dict(response.json())

    def issues_since(self, repository: str, since: str | None) -> Iterator[list[dict[str, Any]]]:
        """Issues and pull requests updated at or after ``since``, oldest first, each once."""
        window = since
        edge: set[int] = set()
        while True:
            params: dict[str, Any] = {
                "state": "all",
                "sort": "updated",
                "direction": "asc",
                "per_page": PAGE_SIZE,
            }
            if window is not None:
                params["since"] = window
            paginator = HeaderLinkPaginator()
            restart: str | None = None
            for page in self.client.paginate(
                f"/repos/{repository}/issues", params=params, paginator=paginator
            ):
                items: list[dict[str, Any]] = list(page)
                stamps = [to_since(r["updated_at"]) for r in items]
                fresh = [
                    r
                    for r, stamp in zip(items, stamps, strict=True)
                    if not (stamp == window and r["id"] in edge)
                ]
                if fresh:
                    yield fresh
                if not items or not paginator.has_next_page:
                    return
                last = stamps[-1]
                if window is None or last > window:
                    restart = last
                    edge = {r["id"] for r, s in zip(items, stamps, strict=True) if s == last}
                    break
                edge.update(r["id"] for r in items)
            if restart is None:
                return
            window = restart

    def pulls(self, repository: str, since: str | None) -> Iterator[list[dict[str, Any]]]:
        """Every pull request (``since`` None), or those updated at or after ``since``."""
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc" if since is None else "desc",
            "per_page": PAGE_SIZE,
        }
        for page in self.client.paginate(
            f"/repos/{repository}/pulls", params=params, paginator=HeaderLinkPaginator()
        ):
            items: list[dict[str, Any]] = list(page)
            fresh = (
                items if since is None else [p for p in items if to_since(p["updated_at"]) >= since]
            )
            if fresh:
                yield fresh
            if len(fresh) < len(items):
                return

    def pull(self, repository: str, number: int) -> dict[str, Any] | None:
        response = self.client.get(f"/repos/{repository}/pulls/{number}", ok=(404,))
        return None if response.status_code == 404 else dict(response.json())

    def issue(self, repository: str, number: int) -> dict[str, Any] | None:
        """One issue (or pull request) by number; None when it is gone (404, or 410 for a
        deleted issue). A transferred one redirects to where it is now."""
        response = self.client.get(f"/repos/{repository}/issues/{number}", ok=(404, 410))
        return None if response.status_code in (404, 410) else dict(response.json())


def make_client(
    base_url: str, token: str, connection_id: str, request_log: RequestLog | None
) -> ApiClient:
    return ApiClient(
        base_url,
        connection_id=connection_id,
        auth=BearerAuth(token),
        headers=HEADERS,
        request_log=request_log,
        pacer=pace,
        rate_limited=rate_limited,
    )
