"""A loopback simulator of GitHub's REST API for issues, pull requests and their discussion.

It follows GitHub's public documentation closely enough that the production source and
PyGithub run against it unchanged (only ``base_url`` differs):

* ``GET /repos/{owner}/{repo}/issues`` lists issues and pull requests (with a
  ``pull_request`` key and their *issue* id), filters ``state`` (default ``open``), ``since``
  (updated at or after), ``labels`` (comma-separated; an item must carry all of them),
  ``assignee`` (``none``, ``*`` or a login), ``milestone`` (``none``, ``*`` or a milestone
  number; an unknown one is 422), ``creator``, ``mentioned`` (an ``@login`` in the body or a
  comment) and ``type`` (no sandbox issue has one), sorts by ``created`` (default), ``updated`` or
  ``comments``, ``desc`` by default. ``GET /repos/{owner}/{repo}/pulls`` filters ``state``,
  ``head`` (``owner:branch``) and ``base``, has no ``since``, and its default direction is
  ``desc`` only when sorting by creation.
* Comments: ``/repos/{owner}/{repo}/issues/{number}/comments`` (``since``; ascending id),
  ``/repos/{owner}/{repo}/issues/comments`` (``since``, ``sort`` ``created`` or ``updated``
  with ``direction``, which GitHub ignores without ``sort``) and ``.../issues/comments/{id}``;
  reviews: ``/repos/{owner}/{repo}/pulls/{number}/reviews`` (chronological); labels:
  ``/repos/{owner}/{repo}/labels``, ``.../labels/{name}`` and ``.../issues/{number}/labels``.
* Listings page by ``page``/``per_page`` (30 by default, at most 100) with a ``Link`` header
  whose URLs use the ``/repositories/{id}/...`` form, as GitHub's do.
* Tokens go in ``Authorization: Bearer`` (or ``token``); a wrong one is 401 "Bad
  credentials"; without one, private repositories are 404. A ``User-Agent`` is required, and
  an unknown ``X-GitHub-Api-Version`` is 400.
* Every authenticated answer carries ``x-ratelimit-limit/-remaining/-used/-reset/-resource``
  and ``x-github-request-id``; past the primary limit the answer is 403 (or 429) with
  ``x-ratelimit-remaining: 0``. ``GET /rate_limit`` reports every resource GitHub lists
  (``core``, ``search``, ``graphql``, ``integration_manifest``, ...; only ``core`` is ever
  charged here, as the sandbox serves no search or GraphQL) and the deprecated ``rate``.
  Secondary limits can be injected: 403 or 429 with ``retry-after``, or without it.
* A deleted issue is 410, a transferred one 301 to its new place (with a new id and number).

GitHub ignores query parameters it does not know; this sandbox answers 400 naming any
parameter an endpoint does not simulate, so a client never mistakes an unsimulated filter for
one that matched everything. A login in a filter is not checked against the account's
people: one nobody has matches nothing.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlencode

from sources.github.sandbox.state import (
    Account,
    Comment,
    IssueState,
    PullState,
    Repo,
    Review,
    new_account,
    new_repo,
    now_s,
    parse_iso,
    render_comment,
    render_issue,
    render_labels,
    render_pull,
    render_repo,
    render_review,
    render_user,
    seed_repo,
    sha,
    to_s,
)
from sources.github.sandbox.webhooks import GitHubWebhooks
from sources.sandbox.auth import bearer_token
from sources.sandbox.limits import FixedWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Request,
    Response,
    SandboxError,
    iter_query_list,
    json_response,
)
from sources.sandbox.webhooks import WebhookSandbox

DOCS = "https://docs.github.com/rest"
DOCS_PRIMARY = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
DOCS_SECONDARY = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
DOCS_ISSUES = "https://docs.github.com/rest/issues/issues#list-repository-issues"
DOCS_PULLS = "https://docs.github.com/rest/pulls/pulls#list-pull-requests"
API_VERSIONS = ("2022-11-28",)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID {id}."
)
USER_AGENT_MESSAGE = (
    "Request forbidden by administrative rules. Please make sure your request has a "
    "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
    "#user-agent-required). Check https://developer.github.com for other possible causes."
)
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
PAGING = ("per_page", "page")
ISSUE_FILTERS = ("milestone", "state", "assignee", "type", "creator", "mentioned", "labels")
# (resource, limit for a token, limit without one, window in seconds) as /rate_limit lists
# them; ``core`` is the sandbox's own primary limit, and ``code_scanning_upload`` mirrors it.
RATE_RESOURCES: tuple[tuple[str, int, int, int], ...] = (
    ("search", 30, 10, 60),
    ("graphql", 5000, 0, 3600),
    ("integration_manifest", 5000, 5000, 3600),
    ("source_import", 100, 100, 60),
    ("code_scanning_autofix", 10, 10, 60),
    ("actions_runner_registration", 10000, 10000, 3600),
    ("scim", 15000, 15000, 3600),
    ("dependency_snapshots", 100, 100, 60),
    ("dependency_sbom", 100, 100, 60),
    ("audit_log", 1750, 1750, 3600),
    ("audit_log_streaming", 15, 15, 3600),
    ("code_search", 10, 10, 60),
)
REVIEW_VERDICTS = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED")
OWNER = r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)"
NAME = r"(?P<repo>[A-Za-z0-9._-]+)"


@dataclass
class _SecondaryLimit:
    remaining: int
    retry_after: int | None
    status: int


class _ValidationFailed(SandboxError):
    """GitHub's 422 for a parameter it cannot use, naming the field (and the value given)."""

    def __init__(self, resource: str, field: str, value: str | None = None) -> None:
        super().__init__(422, "Validation Failed", DOCS)
        error = {"resource": resource, "field": field, "code": "invalid"}
        self.errors = [error if value is None else {"value": value, **error}]


class _Moved(SandboxError):
    """GitHub's 301 for an issue transferred to another repository."""

    def __init__(self, url: str) -> None:
        super().__init__(301, "Moved Permanently", DOCS, {"Location": url})
        self.url = url


class GitHubSandbox(GitHubWebhooks, WebhookSandbox[Account]):
    """GitHub's REST API for issues and pull requests on 127.0.0.1, one account per token.

    ``rate_limit`` (None disables) is the primary limit per token and ``rate_window`` its
    window in seconds (GitHub: 5,000 an hour); ``limit_status`` the status of a request past
    it (GitHub answers 403 or 429).
    """

    name = "github"
    account_kind = "account token"
    rate_limit_message = SECONDARY_MESSAGE.format(id="0000:0000:0000000:0000000:00000000")
    rate_limit_category = DOCS_SECONDARY
    server_error_message = "Server Error"
    server_error_category = DOCS
    page_size: int | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = 5000,
        rate_window: float = 3600.0,
        limit_status: int = 403,
    ) -> None:
        super().__init__(host=host, port=port)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.limit_status = limit_status
        self._repo_ids: dict[int, tuple[str, str]] = {}
        self._secondary: list[_SecondaryLimit] = []
        self._listings: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        repo = rf"/repos/{OWNER}/{NAME}"
        by_id = r"/repositories/(?P<repo_id>\d+)"
        number = r"(?P<number>\d+)"
        self._get(r"/user", self._user)
        self._get(r"/rate_limit", self._rate_limit, limit="free")
        for prefix in (repo, by_id):
            self._get(prefix, self._repository)
            issue_params = (*ISSUE_FILTERS, "sort", "direction", "since", *PAGING)
            self._get(prefix + r"/issues", self._list_issues, issue_params)
            pull_params = ("state", "head", "base", "sort", "direction", *PAGING)
            self._get(prefix + r"/pulls", self._list_pulls, pull_params)
            comment_params = ("sort", "direction", "since", *PAGING)
            self._get(prefix + r"/issues/comments", self._repo_comments, comment_params)
            thread = prefix + rf"/issues/{number}/comments"
            self._get(thread, self._issue_comments, ("since", *PAGING))
            self._get(prefix + rf"/issues/{number}/labels", self._issue_labels, PAGING)
            self._get(prefix + r"/labels", self._repo_labels, PAGING)
            self._get(prefix + rf"/pulls/{number}/reviews", self._reviews, PAGING)
        self._get(repo + rf"/issues/{number}", self._get_issue)
        self._get(repo + rf"/pulls/{number}", self._get_pull)
        self._get(repo + r"/issues/comments/(?P<comment_id>\d+)", self._get_comment)
        self._get(repo + r"/labels/(?P<name>[^/]+)", self._get_label)
        self._route_hooks(repo)

    def _get(
        self,
        pattern: str,
        handler: Callable[[Request, Any], Response],
        params: Iterable[str] = (),
        *,
        limit: str = "default",
    ) -> None:
        """A GET route taking exactly the query parameters ``params``; any other is a 400."""
        taken = frozenset(params)
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).replace("\\", "")

        def serve(request: Request, account: Any) -> Response:
            unknown = sorted(set(request.query) - taken)
            if unknown:
                accepted = ", ".join(sorted(taken)) or "no query parameters"
                raise SandboxError(
                    400,
                    f"The query parameter '{unknown[0]}' is not simulated by this sandbox for "
                    f"GET {template} (it takes {accepted}).",
                    DOCS,
                )
            return handler(request, account)

        self.api("GET", pattern, serve, limit=limit)

    # errors

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """GitHub's error shape; ``category`` carries the documentation URL."""
        if category == "NOT_FOUND":
            message = "Not Found"
        return {
            "message": message,
            "documentation_url": category if category.startswith("https://") else DOCS,
            "status": str(status),
        }

    def _dispatch(self, request: Request) -> Response:
        try:
            return super()._dispatch(request)
        except _ValidationFailed as exc:
            body = self.error_body(exc.status, exc.message, exc.category)
            body["errors"] = exc.errors
            return json_response(body, exc.status, exc.headers)
        except _Moved as exc:
            body = {"message": exc.message, "url": exc.url, "documentation_url": DOCS}
            return json_response(body, exc.status, exc.headers)

    def fault_headers(self, request: Request, status: int) -> dict[str, str]:
        account = self._account_of(request)
        if account is None or status != 429:
            return {}
        return self._rate_headers(account)

    # accounts and repositories (admin operations)

    @admin_operation
    def add_account(self, token: str, *, login: str = "octocat", seed: int = 0) -> None:
        """Create the account of ``token``, whose user is ``login``."""
        account = new_account(token, login, seed)
        account.rate = FixedWindow(self.rate_window)
        self.accounts.add(token, account)

    @admin_operation
    def add_repo(
        self, token: str, full_name: str, *, issues: int = 0, pulls: int = 0
    ) -> dict[str, Any]:
        """Add a repository to the account, seeded with ``issues`` issues and ``pulls`` PRs."""
        if full_name.count("/") != 1 or not all(full_name.split("/")):
            raise ValueError(f"repository {full_name!r} is not owner/repo")
        if issues < 0 or pulls < 0:
            raise ValueError("issues and pulls must not be negative")
        with self._data:
            account = self.accounts[token]
            key = full_name.lower()
            if key in account.repos:
                raise ValueError(f"repository {full_name!r} already exists")
            repo_id = 100_000_000 + int(sha(account.seed, key)[:7], 16)
            while repo_id in self._repo_ids:
                repo_id += 1
            repo = new_repo(account, full_name, repo_id)
            seed_repo(account, repo, issues, pulls)
            account.repos[key] = repo
            self._repo_ids[repo_id] = (token, key)
            return render_repo(repo, self.base_url_or_default, full=True)

    @admin_operation
    def remove_repo(self, token: str, full_name: str) -> None:
        """Delete a repository (or revoke the token's access): it answers 404 from now on."""
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, full_name)
            del account.repos[repo.full_name.lower()]
            self._repo_ids.pop(repo.id, None)

    @admin_operation
    def repos(self, token: str) -> list[str]:
        with self._data:
            return sorted(r.full_name for r in self.accounts[token].repos.values())

    # issues and pull requests (admin operations)

    @admin_operation
    def numbers(self, token: str, repo_name: str, kind: str = "issues") -> list[int]:
        """Numbers of the repository's ``issues`` (not PRs), ``pulls`` or ``all``, ascending."""
        if kind not in ("issues", "pulls", "all"):
            raise ValueError(f"kind must be issues, pulls or all, not {kind!r}")
        with self._data:
            repo = self._repo(self.accounts[token], repo_name)
            return sorted(
                n
                for n, item in repo.issues.items()
                if kind == "all" or (item.pull is not None) == (kind == "pulls")
            )

    @admin_operation
    def create_issue(
        self,
        token: str,
        repo_name: str,
        *,
        title: str,
        body: str | None = None,
        user: str | None = None,
        labels: tuple[str, ...] | list[str] = (),
        assignees: tuple[str, ...] | list[str] = (),
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open an issue (created and updated at ``at`` or now); returns it as the API would."""
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = IssueState(
                id=account.issue_id(),
                number=repo.take_number(),
                title=title,
                body=body,
                user=user or account.user.login,
                created=when,
                updated=when,
                labels=sorted(labels),
                assignees=sorted(assignees),
                author_association="MEMBER",
            )
            repo.issues[item.number] = item
            repo.version += 1
            self.emit_item(account, repo, item, "opened")
            return render_issue(repo, account, item, self.base_url_or_default)

    @admin_operation
    def create_pull(
        self,
        token: str,
        repo_name: str,
        *,
        title: str,
        body: str | None = None,
        user: str | None = None,
        head: str | None = None,
        base: str = "main",
        draft: bool = False,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open a pull request from branch ``head``; returns it as ``/pulls/{number}`` would."""
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            number = repo.take_number()
            ref = head or f"topic-{number}"
            item = IssueState(
                id=account.issue_id(),
                number=number,
                title=title,
                body=body,
                user=user or account.user.login,
                created=when,
                updated=when,
                author_association="MEMBER",
                pull=PullState(
                    id=account.pull_id(),
                    head_ref=ref,
                    head_sha=sha(repo.full_name, number, ref, when),
                    head_owner=repo.owner.login,
                    base_ref=base,
                    base_sha=sha(repo.full_name, base, when),
                    draft=draft,
                ),
            )
            repo.issues[number] = item
            repo.version += 1
            self.emit_item(account, repo, item, "opened")
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def update_issue(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Edit an issue (or a pull request's issue fields): ``title``, ``body``, ``state``,
        ``state_reason``, ``labels``, ``assignees``, ``milestone`` (a title or None),
        ``locked``. Bumps ``updated_at``."""
        allowed = {
            "title",
            "body",
            "state",
            "state_reason",
            "labels",
            "assignees",
            "milestone",
            "locked",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}; can change {sorted(allowed)}")
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            before = item.state
            self._edit(repo, account, item, changes, when)
            self.emit_item(account, repo, item, _action(before, item.state))
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def update_pull(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Edit a pull request: the issue fields, ``draft``, ``base``, ``requested_reviewers``,
        or ``push=True`` (a new head commit). Bumps ``updated_at``."""
        pull_fields = {"draft", "base", "requested_reviewers", "push"}
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number, pull=True)
            pull = item.pull
            assert pull is not None
            issue_changes = {k: v for k, v in changes.items() if k not in pull_fields}
            unknown = set(issue_changes) - {"title", "body", "state", "labels", "assignees"}
            if unknown:
                raise ValueError(f"cannot change {sorted(unknown)} of a pull request")
            if "draft" in changes:
                pull.draft = bool(changes["draft"])
            if "base" in changes:
                pull.base_ref = str(changes["base"])
                pull.base_sha = sha(repo.full_name, pull.base_ref, when)
            if "requested_reviewers" in changes:
                pull.requested_reviewers = sorted(changes["requested_reviewers"])
            if changes.get("push"):
                pull.commits += 1
                pull.head_sha = sha(repo.full_name, number, "head", pull.commits, when)
            before = item.state
            self._edit(repo, account, item, issue_changes, when)
            self.emit_item(account, repo, item, _action(before, item.state))
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def merge_pull(
        self,
        token: str,
        repo_name: str,
        number: int,
        *,
        by: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Merge an open pull request: closed, ``merged_at`` set, ``merge_commit_sha`` final."""
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number, pull=True)
            assert item.pull is not None
            if item.state != "open":
                raise ValueError(f"pull request #{number} is not open")
            item.pull.merged_at, item.pull.merged_by = when, by or account.user.login
            item.pull.draft = False
            item.state, item.closed, item.closed_by = "closed", when, by or account.user.login
            item.updated = max(item.updated, when)
            repo.version += 1
            self.emit_item(account, repo, item, "closed")
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def comment(
        self,
        token: str,
        repo_name: str,
        number: int,
        *,
        body: str | None = None,
        user: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Add a comment by ``user`` (the token's user by default): ``comments`` grows and
        ``updated_at`` moves, as on GitHub. Returns the issue."""
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            item.thread.append(
                Comment(
                    id=account.comment_id(),
                    user=user or account.user.login,
                    body=body or f"A comment on #{item.number}.",
                    created=when,
                    updated=when,
                    author_association="MEMBER",
                )
            )
            item.comments += 1
            item.updated = max(item.updated, when)
            repo.version += 1
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def edit_comment(
        self, token: str, repo_name: str, comment_id: int, body: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Edit a comment's body: its ``updated_at`` moves, the issue's does not."""
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item, comment = self._comment(repo, comment_id)
            comment.body, comment.updated = body, max(comment.updated, when)
            repo.version += 1
            return render_comment(repo, account, item, comment, self.base_url_or_default)

    @admin_operation
    def review(
        self,
        token: str,
        repo_name: str,
        number: int,
        *,
        state: str = "APPROVED",
        body: str = "",
        user: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Submit a review of a pull request's head commit (``APPROVED``,
        ``CHANGES_REQUESTED`` or ``COMMENTED``) by ``user``, by default someone other than its
        author; the pull request's ``updated_at`` moves. Returns the review."""
        if state not in REVIEW_VERDICTS:
            raise ValueError(f"state is one of {', '.join(REVIEW_VERDICTS)}, not {state!r}")
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number, pull=True)
            assert item.pull is not None
            reviewer = user or next(p.login for p in account.people if p.login != item.user)
            if reviewer == item.user and state != "COMMENTED":
                raise ValueError(f"{reviewer} cannot approve or reject their own pull request")
            if state == "CHANGES_REQUESTED" and not body:
                raise ValueError("a review requesting changes needs a body")
            review = Review(
                id=account.review_id(),
                user=reviewer,
                state=state,
                body=body,
                submitted=when,
                commit_id=item.pull.head_sha,
                author_association="MEMBER",
            )
            item.reviews.append(review)
            item.updated = max(item.updated, when)
            repo.version += 1
            return render_review(repo, account, item, review, self.base_url_or_default)

    @admin_operation
    def delete_issue(self, token: str, repo_name: str, number: int) -> None:
        """Delete an issue for good, as an admin can: listings forget it, reading it is 410."""
        with self._data:
            repo = self._repo(self.accounts[token], repo_name)
            item = self._item(repo, number)
            if item.pull is not None:
                raise ValueError(f"#{number} is a pull request; GitHub cannot delete those")
            self.emit_item(self.accounts[token], repo, item, "deleted")
            del repo.issues[number]
            repo.deleted.add(number)
            repo.version += 1

    @admin_operation
    def transfer_issue(
        self,
        token: str,
        repo_name: str,
        number: int,
        to_repo: str,
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Move an issue to another repository of the account.

        As on GitHub it gets a new id and number there; labels whose name exists there and
        comments, assignees and state stay; the milestone is dropped; the old URL is a 301.
        """
        when = to_s(at)
        with self._data:
            account = self.accounts[token]
            source = self._repo(account, repo_name)
            target = self._repo(account, to_repo)
            if source is target:
                raise ValueError("an issue is transferred to another repository")
            item = self._item(source, number)
            if item.pull is not None:
                raise ValueError(f"#{number} is a pull request; only issues can be transferred")
            old = replace(item)
            del source.issues[number]
            item.id = account.issue_id()
            item.number = target.take_number()
            item.labels = [label for label in item.labels if label in target.labels]
            item.milestone = None
            item.updated = max(item.updated, when)
            target.issues[item.number] = item
            source.moved[number] = (target.full_name, item.number)
            source.version += 1
            target.version += 1
            self.emit_item(
                account,
                source,
                old,
                "transferred",
                {
                    "changes": {
                        "new_issue": render_issue(target, account, item, self.base_url_or_default),
                        "new_repository": render_repo(target, self.base_url_or_default),
                    }
                },
            )
            self.emit_item(account, target, item, "opened")
            return render_issue(target, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def issue(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """An issue or pull request as ``/issues/{number}`` renders it; KeyError if unknown."""
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    @admin_operation
    def pull(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """A pull request as ``/pulls/{number}`` renders it; KeyError if unknown."""
        with self._data:
            account = self.accounts[token]
            repo = self._repo(account, repo_name)
            item = self._item(repo, number, pull=True)
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    # the verbs every sandbox has, as ``syncs sandbox github --url URL VERB TOKEN owner/repo``

    @admin_operation
    def create(
        self,
        token: str,
        repo_name: str,
        *,
        title: str = "Opened from the command line",
        body: str | None = None,
        user: str | None = None,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        head: str | None = None,
        base: str = "main",
        draft: bool = False,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Open a pull request from branch ``head`` when it is given, an issue otherwise."""
        if head is not None:
            if labels or assignees:
                raise ValueError("a pull request gets labels and assignees with update")
            return self.create_pull(
                token,
                repo_name,
                title=title,
                body=body,
                user=user,
                head=head,
                base=base,
                draft=draft,
                at=at,
            )
        if draft or base != "main":
            raise ValueError("base and draft are a pull request's; give its head branch too")
        return self.create_issue(
            token,
            repo_name,
            title=title,
            body=body,
            user=user,
            labels=labels or (),
            assignees=assignees or (),
            at=at,
        )

    @admin_operation
    def update(
        self,
        token: str,
        repo_name: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        milestone: str | None = None,
        locked: bool | None = None,
        draft: bool | None = None,
        base: str | None = None,
        requested_reviewers: list[str] | None = None,
        push: bool = False,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Change the fields given of an issue or pull request (``milestone`` ``none``
        removes it); ``draft``, ``base``, ``requested_reviewers`` and ``push`` (a new head
        commit) are a pull request's."""
        given = {
            "title": title,
            "body": body,
            "state": state,
            "state_reason": state_reason,
            "labels": labels,
            "assignees": assignees,
            "locked": locked,
            "draft": draft,
            "base": base,
            "requested_reviewers": requested_reviewers,
        }
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if milestone is not None:
            changes["milestone"] = None if milestone.lower() in ("", "none") else milestone
        if push:
            changes["push"] = True
        if {"draft", "base", "requested_reviewers", "push"} & set(changes):
            return self.update_pull(token, repo_name, number, at=at, **changes)
        return self.update_issue(token, repo_name, number, at=at, **changes)

    @admin_operation
    def archive(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """Close an issue or pull request."""
        return self.update_issue(token, repo_name, number, state="closed")

    @admin_operation
    def restore(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """Reopen an issue or pull request."""
        return self.update_issue(token, repo_name, number, state="open")

    @admin_operation
    def erase(self, token: str, repo_name: str, number: int) -> None:
        """Delete an issue for good."""
        self.delete_issue(token, repo_name, number)

    # rate limits (admin operations)

    @admin_operation
    def inject_secondary_limit(
        self, *, count: int = 1, retry_after: int | None = 60, status: int = 403
    ) -> None:
        """The next ``count`` authenticated API requests hit a secondary rate limit.

        GitHub answers 403 or 429, with ``retry-after`` when it says how long to wait
        (``retry_after=None`` leaves the header out).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if status not in (403, 429):
            raise ValueError("a secondary rate limit answers 403 or 429")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        with self._rate:
            self._secondary.append(_SecondaryLimit(count, retry_after, status))

    @admin_operation
    def exhaust_rate_limit(self, token: str) -> None:
        """Use up the token's primary budget, as other clients of the same token would."""
        if self.rate_limit is None:
            raise ValueError("this sandbox has no primary rate limit")
        account = self.accounts[token]
        with self._rate:
            account.rate.roll()
            account.rate.used = self.rate_limit

    def reset_rate_limits(self) -> None:
        super().reset_rate_limits()
        with self._rate:
            self._secondary.clear()

    # lookups

    @property
    def base_url_or_default(self) -> str:
        return self.base_url if self._httpd is not None else "https://api.github.com"

    @staticmethod
    def _repo(account: Account, full_name: str) -> Repo:
        repo = account.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"unknown repository {full_name!r}")
        return repo

    @staticmethod
    def _comment(repo: Repo, comment_id: int | str) -> tuple[IssueState, Comment]:
        wanted = int(comment_id)
        for item in repo.issues.values():
            for comment in item.thread:
                if comment.id == wanted:
                    return item, comment
        raise KeyError(f"{repo.full_name} has no issue comment {comment_id}")

    @staticmethod
    def _item(repo: Repo, number: int | str, *, pull: bool = False) -> IssueState:
        item = repo.issues.get(int(number))
        if item is None:
            raise KeyError(f"{repo.full_name} has no issue or pull request #{number}")
        if pull and item.pull is None:
            raise KeyError(f"{repo.full_name}#{number} is an issue, not a pull request")
        return item

    def _edit(
        self, repo: Repo, account: Account, item: IssueState, changes: dict[str, Any], when: int
    ) -> None:
        if "state" in changes:
            state = changes["state"]
            if state not in ("open", "closed"):
                raise ValueError("state is open or closed")
            if state == "open" and item.pull is not None and item.pull.merged_at is not None:
                raise ValueError(f"pull request #{item.number} is merged; it cannot be reopened")
            if state == "closed" and item.state == "open":
                item.closed, item.closed_by = when, account.user.login
                if item.pull is None:
                    item.state_reason = changes.get("state_reason") or "completed"
            elif state == "open" and item.state == "closed":
                item.closed, item.closed_by = None, None
                if item.pull is None:
                    item.state_reason = "reopened"
            item.state = state
        elif "state_reason" in changes:
            item.state_reason = changes["state_reason"]
        for name in ("title", "body"):
            if name in changes:
                setattr(item, name, changes[name])
        if "labels" in changes:
            unknown = [label for label in changes["labels"] if label not in repo.labels]
            if unknown:
                raise ValueError(f"{repo.full_name} has no labels {unknown}")
            item.labels = sorted(changes["labels"])
        if "assignees" in changes:
            item.assignees = sorted(changes["assignees"])
        if "milestone" in changes:
            title = changes["milestone"]
            numbers = [n for n, m in repo.milestones.items() if m.title == title]
            if title is not None and not numbers:
                raise ValueError(f"{repo.full_name} has no milestone {title!r}")
            item.milestone = numbers[0] if numbers else None
        if "locked" in changes:
            item.locked = bool(changes["locked"])
            item.active_lock_reason = "resolved" if item.locked else None
        item.updated = max(item.updated, when)
        repo.version += 1

    # provider hooks: headers, authentication, rate limits

    def prepare(self, request: Request) -> dict[str, str]:
        if not request.header("User-Agent"):
            raise SandboxError(403, USER_AGENT_MESSAGE, DOCS)
        version = request.header("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            raise SandboxError(400, f"API version '{version}' is not supported.", DOCS)
        return {
            "X-GitHub-Api-Version-Selected": version or API_VERSIONS[0],
            "X-GitHub-Request-Id": _request_id(request),
            "X-GitHub-Media-Type": "github.v3; format=json",
        }

    def _account_of(self, request: Request) -> Account | None:
        return self.accounts.get(bearer_token(request, ("bearer", "token")))

    def authenticate(self, request: Request) -> Account | None:
        """The token's account; without a token, anonymous (public repositories only)."""
        if not request.header("Authorization"):
            return None
        account = self._account_of(request)
        if account is None:
            raise SandboxError(401, "Bad credentials", DOCS)
        return account

    def _rate_headers(self, account: Account) -> dict[str, str]:
        window = account.rate
        if self.rate_limit is None or window.start is None:
            return {}
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.rate_limit - window.used, 0)),
            "x-ratelimit-used": str(window.used),
            "x-ratelimit-reset": str(window.reset_at),
            "x-ratelimit-resource": "core",
        }

    def charge(self, request: Request, account: Account | None, limit: str) -> dict[str, str]:
        """The token's primary limit (``limit="free"``: shown, not counted), then any
        secondary limit injected."""
        if account is None:
            return {}
        headers: dict[str, str] = {}
        if self.rate_limit is not None:
            account.rate.roll()
            if limit != "free":
                if account.rate.used >= self.rate_limit:
                    raise SandboxError(
                        self.limit_status,
                        f"API rate limit exceeded for user ID {account.user.id}.",
                        DOCS_PRIMARY,
                        self._rate_headers(account),
                    )
                account.rate.used += 1
            headers = self._rate_headers(account)
        if self._secondary:
            secondary = self._secondary[0]
            secondary.remaining -= 1
            if secondary.remaining <= 0:
                self._secondary.pop(0)
            extra = (
                {} if secondary.retry_after is None else {"retry-after": str(secondary.retry_after)}
            )
            raise SandboxError(
                secondary.status,
                SECONDARY_MESSAGE.format(id=_request_id(request)),
                DOCS_SECONDARY,
                {**headers, **extra},
            )
        return headers

    def _find_repo(self, request: Request, account: Account | None) -> Repo:
        """The repository of the path, if the token can read it; 404 otherwise (as GitHub)."""
        with self._data:
            repo: Repo | None = None
            if account is not None:
                if "repo_id" in request.params:
                    owner = self._repo_ids.get(int(request.params["repo_id"]))
                    if owner is not None and owner[0] == account.token:
                        repo = account.repos.get(owner[1])
                else:
                    key = f"{request.params['owner']}/{request.params['repo']}".lower()
                    repo = account.repos.get(key)
            if repo is None:
                raise SandboxError(404, "Not Found", DOCS)
            return repo

    # GET /user, GET /rate_limit, GET /repos/{owner}/{repo}

    def _user(self, request: Request, account: Account | None) -> Response:
        if account is None:
            raise SandboxError(401, "Requires authentication", DOCS)
        return json_response(render_user(account.user, self.base_url))

    def _rate_limit(self, request: Request, account: Account | None) -> Response:
        """Every resource's budget; only ``core`` is ever used, as nothing else is served."""
        now = now_s()
        core: dict[str, Any] = {"limit": 60, "remaining": 60, "reset": now + 3600, "used": 0}
        if account is not None and self.rate_limit is not None:
            with self._rate:
                account.rate.roll()
                headers = self._rate_headers(account)
            core = {
                name: int(headers[f"x-ratelimit-{name}"])
                for name in ("limit", "remaining", "reset", "used")
            }
        resources: dict[str, dict[str, Any]] = {"core": {**core, "resource": "core"}}
        for name, limit, anonymous, window in RATE_RESOURCES:
            budget = limit if account is not None else anonymous
            resources[name] = {
                "limit": budget,
                "remaining": budget,
                "reset": now + window,
                "used": 0,
                "resource": name,
            }
        resources["code_scanning_upload"] = {**core, "resource": "code_scanning_upload"}
        return json_response({"resources": resources, "rate": resources["core"]})

    def _repository(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        with self._data:
            return json_response(render_repo(repo, self.base_url, full=True))

    # GET .../issues and .../pulls

    def _page_args(self, request: Request) -> tuple[int, int]:
        try:
            per_page = int(request.arg("per_page") or DEFAULT_PER_PAGE)
        except ValueError:
            per_page = DEFAULT_PER_PAGE
        try:
            page = int(request.arg("page") or 1)
        except ValueError:
            page = 1
        return min(max(per_page, 1), self.page_size or MAX_PER_PAGE, MAX_PER_PAGE), max(page, 1)

    def _list_issues(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        state = request.arg("state") or "open"
        sort = request.arg("sort") or "created"
        direction = request.arg("direction") or "desc"
        if state not in ("open", "closed", "all"):
            raise _ValidationFailed("Issue", "state")
        if sort not in ("created", "updated", "comments"):
            raise _ValidationFailed("Issue", "sort")
        if direction not in ("asc", "desc"):
            raise _ValidationFailed("Issue", "direction")
        since = _since(request, "Issue")
        assert account is not None
        return self._listing(request, account, repo, "issues", state, sort, direction, since)

    def _list_pulls(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        state = request.arg("state") or "open"
        sort = request.arg("sort") or "created"
        direction = request.arg("direction") or ("desc" if sort == "created" else "asc")
        if state not in ("open", "closed", "all"):
            raise _ValidationFailed("PullRequest", "state")
        if sort not in ("created", "updated", "popularity", "long-running"):
            raise _ValidationFailed("PullRequest", "sort")
        if direction not in ("asc", "desc"):
            raise _ValidationFailed("PullRequest", "direction")
        assert account is not None
        return self._listing(request, account, repo, "pulls", state, sort, direction, None)

    def _listing(
        self,
        request: Request,
        account: Account,
        repo: Repo,
        kind: str,
        state: str,
        sort: str,
        direction: str,
        since: int | None,
    ) -> Response:
        with self._data:
            wanted = _issue_filter(request, repo) if kind == "issues" else _pull_filter(request)
            key = (repo.id, repo.version, kind, state, sort, direction)
            numbers = self._listings.get(key)
            if numbers is None:
                numbers = _ordered(repo, kind, state, sort, direction)
                self._listings[key] = numbers
                while len(self._listings) > 64:
                    self._listings.popitem(last=False)
            else:
                self._listings.move_to_end(key)
            if since is not None:
                numbers = _updated_since(repo, numbers, since, sort, direction)
            if wanted is not None:
                numbers = [n for n in numbers if wanted(repo.issues[n])]
            render = render_pull if kind == "pulls" else render_issue
            return self._paged(
                request,
                repo,
                kind,
                numbers,
                lambda n: render(repo, account, repo.issues[n], self.base_url),
            )

    def _paged(
        self,
        request: Request,
        repo: Repo,
        kind: str,
        rows: list[Any],
        render: Callable[[Any], dict[str, Any]],
    ) -> Response:
        """The page ``page`` of ``rows``, rendered, with the ``Link`` header when it pages."""
        per_page, page = self._page_args(request)
        body = [render(row) for row in rows[(page - 1) * per_page : page * per_page]]
        last = max(math.ceil(len(rows) / per_page), 1)
        headers = {}
        if len(rows) > per_page or page > 1:
            headers["Link"] = self._link(request, repo, kind, page, last)
        return json_response(body, headers=headers)

    def _link(self, request: Request, repo: Repo, kind: str, page: int, last: int) -> str:
        query = [(k, v) for k, vs in request.query.items() if k != "page" for v in vs]

        def url(number: int) -> str:
            encoded = urlencode([*query, ("page", str(number))])
            return f"{self.base_url}/repositories/{repo.id}/{kind}?{encoded}"

        links = []
        if page > 1:
            links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
            links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        return ", ".join(links)

    # GET .../issues/{number} and .../pulls/{number}

    def _issue_at(self, request: Request, repo: Repo, suffix: str = "") -> IssueState:
        """The issue of the path: 301 to where a transferred one went (``suffix`` kept),
        410 for a deleted one, 404 for none."""
        number = int(request.params["number"])
        if number in repo.moved:
            full_name, new_number = repo.moved[number]
            raise _Moved(f"{self.base_url}/repos/{full_name}/issues/{new_number}{suffix}")
        if number in repo.deleted:
            raise SandboxError(410, "This issue was deleted", DOCS)
        item = repo.issues.get(number)
        if item is None:
            raise SandboxError(404, "Not Found", DOCS)
        return item

    def _get_issue(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        with self._data:
            item = self._issue_at(request, repo)
            assert account is not None
            return json_response(render_issue(repo, account, item, self.base_url, single=True))

    def _get_pull(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        with self._data:
            item = repo.issues.get(int(request.params["number"]))
            if item is None or item.pull is None:
                raise SandboxError(404, "Not Found", DOCS)
            assert account is not None
            return json_response(render_pull(repo, account, item, self.base_url, single=True))

    # comments, labels and reviews

    def _repo_comments(self, request: Request, account: Account | None) -> Response:
        """Every comment of the repository: ascending id, or by ``sort`` in ``direction``."""
        repo = self._find_repo(request, account)
        sort, direction = request.arg("sort"), request.arg("direction")
        if sort is not None and sort not in ("created", "updated"):
            raise _ValidationFailed("IssueComment", "sort", sort)
        if direction is not None and direction not in ("asc", "desc"):
            raise _ValidationFailed("IssueComment", "direction", direction)
        since = _since(request, "IssueComment")
        assert account is not None
        with self._data:
            rows = [
                (item, c)
                for item in repo.issues.values()
                for c in item.thread
                if since is None or c.updated >= since
            ]
            rows.sort(key=lambda row: row[1].id)
            if sort is not None:
                field = "created" if sort == "created" else "updated"
                rows.sort(key=lambda row: getattr(row[1], field), reverse=direction != "asc")
            return self._paged(
                request,
                repo,
                "issues/comments",
                rows,
                lambda row: render_comment(repo, account, row[0], row[1], self.base_url),
            )

    def _issue_comments(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        since = _since(request, "IssueComment")
        assert account is not None
        with self._data:
            item = self._issue_at(request, repo, "/comments")
            rows = [c for c in item.thread if since is None or c.updated >= since]
            return self._paged(
                request,
                repo,
                f"issues/{item.number}/comments",
                rows,
                lambda c: render_comment(repo, account, item, c, self.base_url),
            )

    def _get_comment(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        assert account is not None
        with self._data:
            try:
                item, comment = self._comment(repo, request.params["comment_id"])
            except KeyError:
                raise SandboxError(404, "Not Found", DOCS) from None
            return json_response(render_comment(repo, account, item, comment, self.base_url))

    def _repo_labels(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        with self._data:
            names = sorted(repo.labels, key=str.lower)
            return self._paged(
                request, repo, "labels", names, lambda n: render_labels(repo, [n], self.base_url)[0]
            )

    def _get_label(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        wanted = unquote(request.params["name"]).lower()
        with self._data:
            for name in repo.labels:
                if name.lower() == wanted:
                    return json_response(render_labels(repo, [name], self.base_url)[0])
        raise SandboxError(404, "Not Found", DOCS)

    def _issue_labels(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        with self._data:
            item = self._issue_at(request, repo, "/labels")
            return self._paged(
                request,
                repo,
                f"issues/{item.number}/labels",
                list(item.labels),
                lambda n: render_labels(repo, [n], self.base_url)[0],
            )

    def _reviews(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        assert account is not None
        with self._data:
            item = repo.issues.get(int(request.params["number"]))
            if item is None or item.pull is None:
                raise SandboxError(404, "Not Found", DOCS)
            return self._paged(
                request,
                repo,
                f"pulls/{item.number}/reviews",
                list(item.reviews),
                lambda r: render_review(repo, account, item, r, self.base_url),
            )

    # paging (admin operation)

    @admin_operation
    def set_page_size(self, size: int | None) -> None:
        """Answer at most ``size`` items a listing page, fewer than ``per_page`` asks
        (``none``: as many as it asks), so a small repository spans many pages."""
        if size is not None and size < 1:
            raise ValueError("size must be at least 1")
        self.page_size = size


def _since(request: Request, resource: str) -> int | None:
    text = request.arg("since")
    if not text:
        return None
    since = parse_iso(text)
    if since is None:
        raise _ValidationFailed(resource, "since", text)
    return since


def _mentions(item: IssueState, login: str) -> bool:
    """Whether ``@login`` appears in the issue's body or one of its comments."""
    pattern = re.compile(rf"(?<![\w-])@{re.escape(login)}(?![\w-])", re.IGNORECASE)
    texts = [item.body or "", *(c.body for c in item.thread)]
    return any(pattern.search(text) for text in texts)


def _issue_filter(request: Request, repo: Repo) -> Callable[[IssueState], bool] | None:
    """The issue listing's ``labels``, ``assignee``, ``milestone``, ``creator``, ``mentioned``
    and ``type`` filters as one test, or None without any."""
    tests: list[Callable[[IssueState], bool]] = []
    milestone = request.arg("milestone") or None
    if milestone == "none":
        tests.append(lambda i: i.milestone is None)
    elif milestone == "*":
        tests.append(lambda i: i.milestone is not None)
    elif milestone is not None:
        if not milestone.isdigit() or int(milestone) not in repo.milestones:
            raise _ValidationFailed("Issue", "milestone", milestone)
        number = int(milestone)
        tests.append(lambda i: i.milestone == number)
    assignee = request.arg("assignee") or None
    if assignee == "none":
        tests.append(lambda i: not i.assignees)
    elif assignee == "*":
        tests.append(lambda i: bool(i.assignees))
    elif assignee is not None:
        assigned = assignee.lower()
        tests.append(lambda i: assigned in (a.lower() for a in i.assignees))
    creator = (request.arg("creator") or "").lower()
    if creator:
        tests.append(lambda i: i.user.lower() == creator)
    mentioned = request.arg("mentioned") or ""
    if mentioned:
        tests.append(lambda i: _mentions(i, mentioned))
    kind = request.arg("type") or None
    if kind is not None and kind != "none":
        tests.append(lambda i: False)
    labels = {name.lower() for name in iter_query_list(request, "labels")}
    if labels:
        tests.append(lambda i: labels <= {name.lower() for name in i.labels})
    if not tests:
        return None
    return lambda item: all(test(item) for test in tests)


def _pull_filter(request: Request) -> Callable[[IssueState], bool] | None:
    """The pull listing's ``head`` (``owner:branch``) and ``base`` filters, or None."""
    head, base = request.arg("head") or None, request.arg("base") or None
    owner = ref = None
    if head is not None:
        owner, _, ref = head.partition(":")
        if not ref:
            raise _ValidationFailed("PullRequest", "head", head)
    if head is None and base is None:
        return None

    def wanted(item: IssueState) -> bool:
        pull = item.pull
        assert pull is not None
        if owner is not None and (pull.head_owner.lower(), pull.head_ref) != (owner.lower(), ref):
            return False
        return base is None or pull.base_ref == base

    return wanted


def _request_id(request: Request) -> str:
    return request.id[:24].upper()


def _ordered(repo: Repo, kind: str, state: str, sort: str, direction: str) -> list[int]:
    """Numbers of a listing in the API's order; ties keep number order."""
    items = [
        i
        for i in repo.issues.values()
        if (kind == "issues" or i.pull is not None) and (state == "all" or i.state == state)
    ]

    def key(item: IssueState) -> tuple[float, int]:
        if sort == "updated":
            return item.updated, item.number
        if sort in ("comments", "popularity"):
            return item.comments, item.number
        if sort == "long-running":
            end = item.closed if item.closed is not None else now_s()
            return end - item.created, item.number
        return item.created, item.number

    items.sort(key=key, reverse=direction == "desc")
    return [i.number for i in items]


def _updated_since(
    repo: Repo, numbers: list[int], since: int, sort: str, direction: str
) -> list[int]:
    """The listing's numbers updated at or after ``since``; a bisection when sorted by update."""
    if sort != "updated":
        return [n for n in numbers if repo.issues[n].updated >= since]
    if direction == "asc":
        start = bisect_left(numbers, since, key=lambda n: repo.issues[n].updated)
        return numbers[start:]
    end = bisect_left(numbers, -since + 1, key=lambda n: -repo.issues[n].updated)
    return numbers[:end]


def _action(before: str, after: str) -> str:
    """The action GitHub names a change of an issue or pull request by."""
    if before == "open" and after == "closed":
        return "closed"
    if before == "closed" and after == "open":
        return "reopened"
    return "edited"
