"""A loopback simulator of GitHub's REST API for issues and pull requests.

It follows GitHub's public documentation closely enough that the production source runs
against it unchanged (only ``base_url`` differs):

* ``GET /repos/{owner}/{repo}/issues`` lists issues and pull requests (with a
  ``pull_request`` key and their *issue* id), filters ``state`` (default ``open``) and
  ``since`` (updated at or after), sorts by ``created`` (default), ``updated`` or
  ``comments``, ``desc`` by default; ``GET /repos/{owner}/{repo}/pulls`` has no ``since``,
  and its default direction is ``desc`` only when sorting by creation. Both page by
  ``page``/``per_page`` (30 by default, at most 100) with a ``Link`` header whose URLs use the
  ``/repositories/{id}/...`` form, as GitHub's do.
* Tokens go in ``Authorization: Bearer`` (or ``token``); a wrong one is 401 "Bad
  credentials"; without one, private repositories are 404. A ``User-Agent`` is required, and
  an unknown ``X-GitHub-Api-Version`` is 400.
* Every authenticated answer carries ``x-ratelimit-limit/-remaining/-used/-reset/-resource``;
  past the primary limit the answer is 403 (or 429) with ``x-ratelimit-remaining: 0``.
  Secondary limits can be injected: 403 or 429 with ``retry-after``, or without it.
* A deleted issue is 410, a transferred one 301 to its new place (with a new id and number).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from sources.github.sandbox.state import (
    Account,
    IssueState,
    PullState,
    Repo,
    iso,
    new_account,
    new_repo,
    now_s,
    parse_iso,
    render_issue,
    render_pull,
    render_repo,
    render_user,
    seed_repo,
    sha,
    to_s,
)
from sources.sandbox.server import (
    Request,
    Response,
    SandboxClient,
    SandboxError,
    SandboxServer,
    json_response,
)

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
OWNER = r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)"
NAME = r"(?P<repo>[A-Za-z0-9._-]+)"

ApiHandler = Callable[[Request, Account | None], Response]


@dataclass
class _SecondaryLimit:
    remaining: int
    retry_after: int | None
    status: int


def _at(value: Any) -> datetime | None:
    if value is None:
        return None
    seconds = parse_iso(str(value))
    if seconds is None:
        raise SandboxError(400, f"at must be an ISO 8601 timestamp, got {value!r}", DOCS)
    return datetime.fromtimestamp(seconds, UTC)


class _ValidationFailed(SandboxError):
    """GitHub's 422 for a parameter it cannot use, naming the field."""

    def __init__(self, resource: str, field: str) -> None:
        super().__init__(422, "Validation Failed", DOCS)
        self.errors = [{"resource": resource, "field": field, "code": "invalid"}]


class GitHubSandbox(SandboxServer):
    """GitHub's REST API for issues and pull requests on 127.0.0.1, one account per token.

    ``rate_limit`` (None disables) is the primary limit per token and ``rate_window`` its
    window in seconds (GitHub: 5,000 an hour); ``limit_status`` the status of a request past
    it (GitHub answers 403 or 429).
    """

    name = "github"
    not_found_category = DOCS
    bad_request_category = DOCS
    rate_limit_message = SECONDARY_MESSAGE.format(id="0000:0000:0000000:0000000:00000000")
    rate_limit_category = DOCS_SECONDARY
    server_error_message = "Server Error"
    server_error_category = DOCS

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
        self._data = threading.RLock()
        self._rate = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._repo_ids: dict[int, tuple[str, str]] = {}
        self._secondary: list[_SecondaryLimit] = []
        self._listings: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        repo = rf"/repos/{OWNER}/{NAME}"
        by_id = r"/repositories/(?P<repo_id>\d+)"
        self.route("GET", r"/user", self._api(self._user))
        self.route("GET", r"/rate_limit", self._api(self._rate_limit, counted=False))
        for prefix in (repo, by_id):
            self.route("GET", prefix, self._api(self._repository))
            self.route("GET", prefix + r"/issues", self._api(self._list_issues))
            self.route("GET", prefix + r"/pulls", self._api(self._list_pulls))
        self.route("GET", repo + r"/issues/(?P<number>\d+)", self._api(self._get_issue))
        self.route("GET", repo + r"/pulls/(?P<number>\d+)", self._api(self._get_pull))
        admin = r"/_sandbox/github"
        target = admin + r"/(?P<token>[^/]+)"
        repo_target = target + rf"/repos/{OWNER}/{NAME}"
        self.route("POST", admin + r"/accounts", self._admin_add_account)
        self.route("POST", admin + r"/secondary_limits", self._admin_secondary_limit)
        self.route("POST", target + r"/exhaust_rate_limit", self._admin_exhaust)
        self.route("POST", target + r"/repos", self._admin_add_repo)
        self.route("DELETE", repo_target, self._admin_remove_repo)
        self.route("GET", repo_target + r"/numbers", self._admin_numbers)
        self.route("POST", repo_target + r"/issues", self._admin_create_issue)
        self.route("POST", repo_target + r"/pulls", self._admin_create_pull)
        item = r"/(?P<number>\d+)"
        self.route("GET", repo_target + r"/issues" + item, self._admin_get_issue)
        self.route("PATCH", repo_target + r"/issues" + item, self._admin_update_issue)
        self.route("DELETE", repo_target + r"/issues" + item, self._admin_delete_issue)
        self.route("POST", repo_target + r"/issues" + item + "/comments", self._admin_comment)
        self.route("POST", repo_target + r"/issues" + item + "/transfer", self._admin_transfer)
        self.route("GET", repo_target + r"/pulls" + item, self._admin_get_pull)
        self.route("PATCH", repo_target + r"/pulls" + item, self._admin_update_pull)
        self.route("POST", repo_target + r"/pulls" + item + "/merge", self._admin_merge)

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

    def fault_headers(self, request: Request, status: int) -> dict[str, str]:
        account = self._account_of(request)
        if account is None or status != 429:
            return {}
        return self._rate_headers(account)

    # accounts and repositories (Python API)

    def add_account(self, token: str, *, login: str = "octocat", seed: int = 0) -> None:
        """Create the account of ``token``, whose user is ``login``."""
        if not token:
            raise ValueError("token must be a non-empty string")
        with self._data:
            if token in self._accounts:
                raise ValueError(f"account {token!r} already exists")
            self._accounts[token] = new_account(token, login, seed)

    def add_repo(
        self, token: str, full_name: str, *, issues: int = 0, pulls: int = 0
    ) -> dict[str, Any]:
        """Add a repository to the account, seeded with ``issues`` issues and ``pulls`` PRs."""
        if full_name.count("/") != 1 or not all(full_name.split("/")):
            raise ValueError(f"repository {full_name!r} is not owner/repo")
        if issues < 0 or pulls < 0:
            raise ValueError("issues and pulls must not be negative")
        with self._data:
            account = self._account(token)
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

    def remove_repo(self, token: str, full_name: str) -> None:
        """Delete a repository (or revoke the token's access): it answers 404 from now on."""
        with self._data:
            account = self._account(token)
            repo = self._repo(account, full_name)
            del account.repos[repo.full_name.lower()]
            self._repo_ids.pop(repo.id, None)

    def repos(self, token: str) -> list[str]:
        with self._data:
            return sorted(r.full_name for r in self._account(token).repos.values())

    # issues and pull requests (Python API)

    def numbers(self, token: str, repo_name: str, kind: str = "issues") -> list[int]:
        """Numbers of the repository's ``issues`` (not PRs), ``pulls`` or ``all``, ascending."""
        if kind not in ("issues", "pulls", "all"):
            raise ValueError(f"kind must be issues, pulls or all, not {kind!r}")
        with self._data:
            repo = self._repo(self._account(token), repo_name)
            return sorted(
                n
                for n, item in repo.issues.items()
                if kind == "all" or (item.pull is not None) == (kind == "pulls")
            )

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
            account = self._account(token)
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
            return render_issue(repo, account, item, self.base_url_or_default)

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
            account = self._account(token)
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
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

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
            account = self._account(token)
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            self._edit(repo, account, item, changes, when)
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    def update_pull(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Edit a pull request: the issue fields, ``draft``, ``base``, ``requested_reviewers``,
        or ``push=True`` (a new head commit). Bumps ``updated_at``."""
        pull_fields = {"draft", "base", "requested_reviewers", "push"}
        when = to_s(at)
        with self._data:
            account = self._account(token)
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
            self._edit(repo, account, item, issue_changes, when)
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

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
            account = self._account(token)
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
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    def comment(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Add a comment: ``comments`` grows and ``updated_at`` moves, as on GitHub."""
        when = to_s(at)
        with self._data:
            account = self._account(token)
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            item.comments += 1
            item.updated = max(item.updated, when)
            repo.version += 1
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    def delete_issue(self, token: str, repo_name: str, number: int) -> None:
        """Delete an issue for good, as an admin can: listings forget it, reading it is 410."""
        with self._data:
            repo = self._repo(self._account(token), repo_name)
            item = self._item(repo, number)
            if item.pull is not None:
                raise ValueError(f"#{number} is a pull request; GitHub cannot delete those")
            del repo.issues[number]
            repo.deleted.add(number)
            repo.version += 1

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
            account = self._account(token)
            source = self._repo(account, repo_name)
            target = self._repo(account, to_repo)
            if source is target:
                raise ValueError("an issue is transferred to another repository")
            item = self._item(source, number)
            if item.pull is not None:
                raise ValueError(f"#{number} is a pull request; only issues can be transferred")
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
            return render_issue(target, account, item, self.base_url_or_default, single=True)

    def issue(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """An issue or pull request as ``/issues/{number}`` renders it; KeyError if unknown."""
        with self._data:
            account = self._account(token)
            repo = self._repo(account, repo_name)
            item = self._item(repo, number)
            return render_issue(repo, account, item, self.base_url_or_default, single=True)

    def pull(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        """A pull request as ``/pulls/{number}`` renders it; KeyError if unknown."""
        with self._data:
            account = self._account(token)
            repo = self._repo(account, repo_name)
            item = self._item(repo, number, pull=True)
            return render_pull(repo, account, item, self.base_url_or_default, single=True)

    # rate limits (Python API)

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

    def exhaust_rate_limit(self, token: str) -> None:
        """Use up the token's primary budget, as other clients of the same token would."""
        if self.rate_limit is None:
            raise ValueError("this sandbox has no primary rate limit")
        with self._data:
            account = self._account(token)
        with self._rate:
            self._window(account)
            account.used = self.rate_limit

    def reset_rate_limits(self) -> None:
        with self._rate:
            for account in self._accounts.values():
                account.window_start, account.used = None, 0
            self._secondary.clear()

    # lookups

    @property
    def base_url_or_default(self) -> str:
        return self.base_url if self._httpd is not None else "https://api.github.com"

    def _account(self, token: str) -> Account:
        account = self._accounts.get(token)
        if account is None:
            raise KeyError(f"unknown account token {token!r}")
        return account

    @staticmethod
    def _repo(account: Account, full_name: str) -> Repo:
        repo = account.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"unknown repository {full_name!r}")
        return repo

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

    # API plumbing: headers, authentication, rate limits

    def _api(self, handler: ApiHandler, *, counted: bool = True) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            if not request.header("User-Agent"):
                raise SandboxError(403, USER_AGENT_MESSAGE, DOCS)
            version = request.header("X-GitHub-Api-Version")
            if version is not None and version not in API_VERSIONS:
                raise SandboxError(400, f"API version '{version}' is not supported.", DOCS)
            account = self._authenticate(request)
            headers = {
                "X-GitHub-Api-Version-Selected": version or API_VERSIONS[0],
                "X-GitHub-Request-Id": uuid.uuid4().hex[:24].upper(),
                "X-GitHub-Media-Type": "github.v3; format=json",
            }
            if account is not None:
                headers.update(self._charge(account, counted))
                self._secondary_check(headers)
            try:
                response = handler(request, account)
            except SandboxError as exc:
                exc.headers = {**headers, **exc.headers}
                raise
            response.headers = {**headers, **response.headers}
            return response

        return wrapped

    def _account_of(self, request: Request) -> Account | None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self._accounts.get(token.strip())

    def _authenticate(self, request: Request) -> Account | None:
        if not request.header("Authorization"):
            return None
        account = self._account_of(request)
        if account is None:
            raise SandboxError(401, "Bad credentials", DOCS)
        return account

    def _window(self, account: Account) -> None:
        now = time.time()
        if account.window_start is None or now >= account.window_start + self.rate_window:
            account.window_start, account.used = now, 0

    def _rate_headers(self, account: Account) -> dict[str, str]:
        if self.rate_limit is None or account.window_start is None:
            return {}
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.rate_limit - account.used, 0)),
            "x-ratelimit-used": str(account.used),
            "x-ratelimit-reset": str(math.ceil(account.window_start + self.rate_window)),
            "x-ratelimit-resource": "core",
        }

    def _charge(self, account: Account, counted: bool) -> dict[str, str]:
        """Count one request against the token's primary limit; the headers to send."""
        if self.rate_limit is None:
            return {}
        with self._rate:
            self._window(account)
            if counted:
                if account.used >= self.rate_limit:
                    raise SandboxError(
                        self.limit_status,
                        f"API rate limit exceeded for user ID {account.user.id}.",
                        DOCS_PRIMARY,
                        self._rate_headers(account),
                    )
                account.used += 1
            return self._rate_headers(account)

    def _secondary_check(self, headers: dict[str, str]) -> None:
        with self._rate:
            if not self._secondary:
                return
            limit = self._secondary[0]
            limit.remaining -= 1
            if limit.remaining <= 0:
                self._secondary.pop(0)
        extra = {} if limit.retry_after is None else {"retry-after": str(limit.retry_after)}
        raise SandboxError(
            limit.status,
            SECONDARY_MESSAGE.format(id=headers["X-GitHub-Request-Id"]),
            DOCS_SECONDARY,
            {**headers, **extra},
        )

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
        core: dict[str, Any] = {"limit": 60, "remaining": 60, "reset": now_s() + 3600, "used": 0}
        if account is not None and self.rate_limit is not None:
            with self._rate:
                self._window(account)
                headers = self._rate_headers(account)
            core = {
                name: int(headers[f"x-ratelimit-{name}"])
                for name in ("limit", "remaining", "reset", "used")
            }
        core["resource"] = "core"
        return json_response({"resources": {"core": core}, "rate": core})

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
        return min(max(per_page, 1), MAX_PER_PAGE), max(page, 1)

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
        since_text = request.arg("since")
        since = parse_iso(since_text) if since_text else None
        if since_text and since is None:
            raise _ValidationFailed("Issue", "since")
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
        per_page, page = self._page_args(request)
        with self._data:
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
            chunk = numbers[(page - 1) * per_page : page * per_page]
            render = render_pull if kind == "pulls" else render_issue
            body = [render(repo, account, repo.issues[n], self.base_url) for n in chunk]
        last = max(math.ceil(len(numbers) / per_page), 1)
        headers = {}
        if len(numbers) > per_page or page > 1:
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

    def _get_issue(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        number = int(request.params["number"])
        with self._data:
            if number in repo.moved:
                full_name, new_number = repo.moved[number]
                url = f"{self.base_url}/repos/{full_name}/issues/{new_number}"
                return json_response(
                    {"message": "Moved Permanently", "url": url, "documentation_url": DOCS},
                    301,
                    {"Location": url},
                )
            if number in repo.deleted:
                raise SandboxError(410, "This issue was deleted", DOCS)
            item = repo.issues.get(number)
            if item is None:
                raise SandboxError(404, "Not Found", DOCS)
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

    # admin endpoints

    @staticmethod
    def _token(request: Request) -> str:
        return unquote(request.params["token"])

    @staticmethod
    def _repo_name(request: Request) -> str:
        return f"{request.params['owner']}/{request.params['repo']}"

    def _admin_add_account(self, request: Request) -> Response:
        payload = self._payload(request)
        if not payload.get("token"):
            raise SandboxError(400, "token is required", "VALIDATION_ERROR")
        token = str(payload["token"])
        login = str(payload.get("login") or "octocat")

        def add() -> dict[str, Any]:
            self.add_account(token, login=login, seed=int(payload.get("seed", 0)))
            return {"token": token, "login": login}

        return self._admin_call(add, 201)

    def _admin_add_repo(self, request: Request) -> Response:
        payload = self._payload(request)
        token = self._token(request)
        return self._admin_call(
            lambda: self.add_repo(
                token,
                str(payload.get("full_name", "")),
                issues=int(payload.get("issues", 0)),
                pulls=int(payload.get("pulls", 0)),
            ),
            201,
        )

    def _admin_remove_repo(self, request: Request) -> Response:
        token, name = self._token(request), self._repo_name(request)

        def remove() -> dict[str, Any]:
            self.remove_repo(token, name)
            return {"removed": name}

        return self._admin_call(remove)

    def _admin_numbers(self, request: Request) -> Response:
        token, name = self._token(request), self._repo_name(request)
        kind = request.arg("kind") or "issues"
        return self._admin_call(lambda: {"numbers": self.numbers(token, name, kind)})

    def _admin_create_issue(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.get("at"))
        return self._admin_call(
            lambda: self.create_issue(
                token,
                name,
                title=str(payload.get("title") or "Untitled"),
                body=payload.get("body"),
                user=payload.get("user"),
                labels=list(payload.get("labels") or ()),
                assignees=list(payload.get("assignees") or ()),
                at=at,
            ),
            201,
        )

    def _admin_create_pull(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.get("at"))
        return self._admin_call(
            lambda: self.create_pull(
                token,
                name,
                title=str(payload.get("title") or "Untitled"),
                body=payload.get("body"),
                user=payload.get("user"),
                head=payload.get("head"),
                base=str(payload.get("base") or "main"),
                draft=bool(payload.get("draft", False)),
                at=at,
            ),
            201,
        )

    def _admin_get_issue(self, request: Request) -> Response:
        token, name = self._token(request), self._repo_name(request)
        return self._admin_call(lambda: self.issue(token, name, int(request.params["number"])))

    def _admin_get_pull(self, request: Request) -> Response:
        token, name = self._token(request), self._repo_name(request)
        return self._admin_call(lambda: self.pull(token, name, int(request.params["number"])))

    def _admin_update_issue(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.pop("at", None))
        number = int(request.params["number"])
        return self._admin_call(lambda: self.update_issue(token, name, number, at=at, **payload))

    def _admin_update_pull(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.pop("at", None))
        number = int(request.params["number"])
        return self._admin_call(lambda: self.update_pull(token, name, number, at=at, **payload))

    def _admin_merge(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.get("at"))
        number = int(request.params["number"])
        return self._admin_call(
            lambda: self.merge_pull(token, name, number, by=payload.get("by"), at=at)
        )

    def _admin_comment(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.get("at"))
        number = int(request.params["number"])
        return self._admin_call(lambda: self.comment(token, name, number, at=at))

    def _admin_delete_issue(self, request: Request) -> Response:
        token, name = self._token(request), self._repo_name(request)
        number = int(request.params["number"])

        def delete() -> dict[str, Any]:
            self.delete_issue(token, name, number)
            return {"deleted": number}

        return self._admin_call(delete)

    def _admin_transfer(self, request: Request) -> Response:
        payload = self._payload(request)
        token, name = self._token(request), self._repo_name(request)
        at = _at(payload.get("at"))
        number = int(request.params["number"])
        to_repo = str(payload.get("to") or "")
        return self._admin_call(lambda: self.transfer_issue(token, name, number, to_repo, at=at))

    def _admin_secondary_limit(self, request: Request) -> Response:
        payload = self._payload(request)
        retry_after = payload.get("retry_after", 60)

        def inject() -> dict[str, Any]:
            self.inject_secondary_limit(
                count=int(payload.get("count", 1)),
                retry_after=None if retry_after is None else int(retry_after),
                status=int(payload.get("status", 403)),
            )
            return {"pending": sum(s.remaining for s in self._secondary)}

        return self._admin_call(inject, 201)

    def _admin_exhaust(self, request: Request) -> Response:
        token = self._token(request)

        def exhaust() -> dict[str, Any]:
            self.exhaust_rate_limit(token)
            return {"exhausted": True}

        return self._admin_call(exhaust)


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


# remote driving


def _at_json(at: datetime | None) -> str | None:
    return None if at is None else iso(to_s(at))


_LISTS = frozenset({"labels", "assignees", "requested_reviewers"})
_FLAGS = frozenset({"locked", "draft", "push"})
_PULL_ONLY = frozenset({"head", "base", "draft", "push", "requested_reviewers"})


def _typed_fields(properties: dict[str, str]) -> dict[str, Any]:
    """``KEY=VALUE`` words as the Python API takes them: lists comma-separated, flags true."""
    out: dict[str, Any] = {}
    for key, value in properties.items():
        if key in _LISTS:
            out[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in _FLAGS:
            out[key] = value.strip().lower() in ("1", "true", "yes")
        elif key == "milestone" and value.lower() in ("", "none"):
            out[key] = None
        else:
            out[key] = value
    return out


class GitHubSandboxClient(SandboxClient):
    """The ``GitHubSandbox`` Python API over HTTP, for a sandbox in another process.

    ``create``/``update``/``archive``/``restore``/``erase`` are the verbs ``syncs sandbox
    github --url ...`` drives: on TOKEN owner/repo [NUMBER] with ``KEY=VALUE`` fields.
    """

    def create(self, token: str, repo_name: str, properties: dict[str, str]) -> dict[str, Any]:
        """A pull request when ``head`` is given, an issue otherwise."""
        fields = _typed_fields(properties)
        title = str(fields.pop("title", "Opened from the command line"))
        if "head" in fields:
            return self.create_pull(token, repo_name, title=title, **fields)
        return self.create_issue(token, repo_name, title=title, **fields)

    def update(
        self, token: str, repo_name: str, number: int | str, properties: dict[str, str]
    ) -> dict[str, Any]:
        fields = _typed_fields(properties)
        if _PULL_ONLY & set(fields):
            return self.update_pull(token, repo_name, int(number), **fields)
        return self.update_issue(token, repo_name, int(number), **fields)

    def archive(self, token: str, repo_name: str, number: int | str) -> dict[str, Any]:
        """Close an issue or pull request."""
        return self.update_issue(token, repo_name, int(number), state="closed")

    def restore(self, token: str, repo_name: str, number: int | str) -> dict[str, Any]:
        """Reopen an issue or pull request."""
        return self.update_issue(token, repo_name, int(number), state="open")

    def erase(self, token: str, repo_name: str, number: int | str) -> None:
        """Delete an issue for good."""
        self.delete_issue(token, repo_name, int(number))

    def _repo_path(self, token: str, repo_name: str) -> str:
        return f"/_sandbox/github/{quote(token, safe='')}/repos/{repo_name}"

    def add_account(self, token: str, *, login: str = "octocat", seed: int = 0) -> None:
        self._call(
            "POST", "/_sandbox/github/accounts", {"token": token, "login": login, "seed": seed}
        )

    def add_repo(
        self, token: str, full_name: str, *, issues: int = 0, pulls: int = 0
    ) -> dict[str, Any]:
        path = f"/_sandbox/github/{quote(token, safe='')}/repos"
        payload = {"full_name": full_name, "issues": issues, "pulls": pulls}
        return dict(self._call("POST", path, payload))

    def remove_repo(self, token: str, full_name: str) -> None:
        self._call("DELETE", self._repo_path(token, full_name))

    def numbers(self, token: str, repo_name: str, kind: str = "issues") -> list[int]:
        path = self._repo_path(token, repo_name) + f"/numbers?kind={quote(kind)}"
        return [int(n) for n in self._call("GET", path)["numbers"]]

    def create_issue(
        self, token: str, repo_name: str, *, title: str, at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        payload = {"title": title, "at": _at_json(at), **fields}
        return dict(self._call("POST", self._repo_path(token, repo_name) + "/issues", payload))

    def create_pull(
        self, token: str, repo_name: str, *, title: str, at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        payload = {"title": title, "at": _at_json(at), **fields}
        return dict(self._call("POST", self._repo_path(token, repo_name) + "/pulls", payload))

    def update_issue(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        path = self._repo_path(token, repo_name) + f"/issues/{number}"
        return dict(self._call("PATCH", path, {**changes, "at": _at_json(at)}))

    def update_pull(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        path = self._repo_path(token, repo_name) + f"/pulls/{number}"
        return dict(self._call("PATCH", path, {**changes, "at": _at_json(at)}))

    def merge_pull(
        self,
        token: str,
        repo_name: str,
        number: int,
        *,
        by: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        path = self._repo_path(token, repo_name) + f"/pulls/{number}/merge"
        return dict(self._call("POST", path, {"by": by, "at": _at_json(at)}))

    def comment(
        self, token: str, repo_name: str, number: int, *, at: datetime | None = None
    ) -> dict[str, Any]:
        path = self._repo_path(token, repo_name) + f"/issues/{number}/comments"
        return dict(self._call("POST", path, {"at": _at_json(at)}))

    def delete_issue(self, token: str, repo_name: str, number: int) -> None:
        self._call("DELETE", self._repo_path(token, repo_name) + f"/issues/{number}")

    def transfer_issue(
        self,
        token: str,
        repo_name: str,
        number: int,
        to_repo: str,
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        path = self._repo_path(token, repo_name) + f"/issues/{number}/transfer"
        return dict(self._call("POST", path, {"to": to_repo, "at": _at_json(at)}))

    def issue(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        return dict(self._call("GET", self._repo_path(token, repo_name) + f"/issues/{number}"))

    def pull(self, token: str, repo_name: str, number: int) -> dict[str, Any]:
        return dict(self._call("GET", self._repo_path(token, repo_name) + f"/pulls/{number}"))

    def inject_secondary_limit(
        self, *, count: int = 1, retry_after: int | None = 60, status: int = 403
    ) -> None:
        payload = {"count": count, "retry_after": retry_after, "status": status}
        self._call("POST", "/_sandbox/github/secondary_limits", payload)

    def exhaust_rate_limit(self, token: str) -> None:
        self._call("POST", f"/_sandbox/github/{quote(token, safe='')}/exhaust_rate_limit")
