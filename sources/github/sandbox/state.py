"""What the GitHub sandbox holds, and how GitHub's REST API renders it.

Accounts (one per token) own repositories; a repository holds issues and pull requests in
one number space, as on GitHub, where every pull request is also an issue with its own issue
id. An issue carries its comments and a pull request its reviews. Seeded data is
deterministic: ``random.Random`` on the account's seed and the repository name, timestamps
spread over the year before a fixed epoch, in whole seconds like GitHub's. Comments and
reviews come from a generator of their own, so the issues and pull requests do not depend on
them; their ids grow with their time, as GitHub's do.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sources.sandbox.limits import FixedWindow

SEED_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH_S = int(SEED_EPOCH.timestamp())
_YEAR_S = 365 * 86_400
HTML_ROOT = "https://github.com"

DEFAULT_LABELS: tuple[tuple[str, str, str], ...] = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
CUSTOM_LABELS: tuple[tuple[str, str, str | None], ...] = (
    ("needs-triage", "fbca04", "Waiting for a maintainer to look"),
    ("regression", "b60205", None),
)
MILESTONES = ("v1.0", "v1.1", "v2.0")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "NONE")

_PEOPLE = (
    "ava", "liam", "olivia", "noah", "emma", "mateo", "sofia", "lucas", "mia", "ethan",
    "hugo", "amelia", "leo", "chloe", "arjun", "yuki", "fatima", "omar", "zoe", "priya",
)  # fmt: skip
_SURNAMES = (
    "smith", "garcia", "muller", "rossi", "kim", "nguyen", "silva", "patel", "cohen", "novak",
    "dubois", "jensen", "tanaka", "okafor", "larsen", "moreau", "haddad", "berg", "costa",
)  # fmt: skip
_THINGS = (
    "the sync scheduler", "webhook retries", "the CSV export", "login with SSO", "the search box",
    "dark mode", "the billing page", "API pagination", "the mobile layout", "rate limiting",
    "the settings panel", "file uploads", "the audit log", "email notifications", "the CLI",
)  # fmt: skip
_ISSUE_TITLES = (
    "Crash when using {thing}", "{Thing} is slow on large accounts", "Add support for {thing}",
    "{Thing} returns the wrong results", "Document {thing}", "Flaky test around {thing}",
    "{Thing} breaks after the last release", "Question about {thing}",
)  # fmt: skip
_COMMENTS = (
    "I can reproduce this with {thing}.", "Thanks for the report, looking into it.",
    "@{person} can you take a look?", "This should be fixed by the next release.",
    "Any update on this?", "Same here since the last release.", "cc @{person}",
    "Closing as fixed; reopen if you still see it.", "A workaround is to restart {thing}.",
)  # fmt: skip
_REVIEW_BODIES = {
    "APPROVED": ("", "", "Looks good to me.", "Nice, thanks!"),
    "CHANGES_REQUESTED": ("Please add a test for {thing}.", "This breaks {thing}; see inline."),
    "COMMENTED": ("Left a few comments.", "A question about {thing} before I approve."),
    "DISMISSED": ("Outdated after the last push.",),
}
_PULL_TITLES = (
    "Fix {thing}", "Speed up {thing}", "Add {thing}", "Refactor {thing}", "Test {thing}",
    "Document {thing}", "Bump dependencies of {thing}",
)  # fmt: skip


def now_s() -> int:
    return int(time.time())


def to_s(at: datetime | None) -> int:
    if at is None:
        return now_s()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp())


def iso(seconds: int | None) -> str | None:
    """GitHub's timestamp format: ``2011-04-22T13:33:48Z``."""
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_iso(text: str) -> int | None:
    """Seconds since the epoch from an ISO 8601 timestamp or date; None if it is not one."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def node_id(prefix: str, number: int) -> str:
    packed = base64.b64encode(number.to_bytes(8, "big")).decode().rstrip("=")
    return f"{prefix}_kwDO{packed}"


def _stable_int(text: str, low: int, span: int) -> int:
    return low + int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) % span


@dataclass
class User:
    login: str
    id: int
    type: str = "User"


@dataclass
class PullState:
    id: int
    head_ref: str
    head_sha: str
    head_owner: str
    base_ref: str = "main"
    base_sha: str = ""
    draft: bool = False
    merged_at: int | None = None
    merged_by: str | None = None
    requested_reviewers: list[str] = field(default_factory=list)
    commits: int = 1
    additions: int = 0
    deletions: int = 0
    changed_files: int = 1
    review_comments: int = 0


@dataclass
class Comment:
    """An issue comment; ``updated`` moves when it is edited."""

    id: int
    user: str
    body: str
    created: int
    updated: int
    author_association: str = "CONTRIBUTOR"


@dataclass
class Review:
    """A submitted pull request review, on the head commit ``commit_id``."""

    id: int
    user: str
    state: str
    body: str
    submitted: int
    commit_id: str
    author_association: str = "CONTRIBUTOR"


@dataclass
class IssueState:
    id: int
    number: int
    title: str
    body: str | None
    user: str
    created: int
    updated: int
    state: str = "open"
    state_reason: str | None = None
    closed: int | None = None
    closed_by: str | None = None
    locked: bool = False
    active_lock_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: int | None = None
    comments: int = 0
    reactions: int = 0
    author_association: str = "CONTRIBUTOR"
    pull: PullState | None = None
    thread: list[Comment] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


@dataclass
class Milestone:
    number: int
    id: int
    title: str
    created: int
    due_on: int | None = None


@dataclass
class Repo:
    id: int
    owner: User
    name: str
    created: int
    description: str | None = None
    default_branch: str = "main"
    private: bool = True
    issues: dict[int, IssueState] = field(default_factory=dict)
    next_number: int = 1
    labels: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    milestones: dict[int, Milestone] = field(default_factory=dict)
    moved: dict[int, tuple[str, int]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    version: int = 0
    _counts: tuple[int, dict[tuple[int, str], int]] | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def milestone_count(self, number: int, state: str) -> int:
        """Open or closed items of a milestone, counted once per version of the repository."""
        if self._counts is None or self._counts[0] != self.version:
            counts: dict[tuple[int, str], int] = {}
            for item in self.issues.values():
                if item.milestone is not None:
                    key = (item.milestone, item.state)
                    counts[key] = counts.get(key, 0) + 1
            self._counts = (self.version, counts)
        return self._counts[1].get((number, state), 0)

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number


@dataclass
class Account:
    token: str
    seed: int
    user: User
    people: list[User]
    repos: dict[str, Repo] = field(default_factory=dict)
    next_issue_id: int = 0
    next_pull_id: int = 0
    next_comment_id: int = 0
    next_review_id: int = 0
    rate: FixedWindow = field(default_factory=lambda: FixedWindow(3600.0))

    def person(self, login: str) -> User:
        for user in (self.user, *self.people):
            if user.login == login:
                return user
        return User(login, _stable_int(f"user:{login}", 1_000_000, 90_000_000))

    def issue_id(self) -> int:
        self.next_issue_id += 1
        return self.next_issue_id

    def pull_id(self) -> int:
        self.next_pull_id += 1
        return self.next_pull_id

    def comment_id(self) -> int:
        self.next_comment_id += 1
        return self.next_comment_id

    def review_id(self) -> int:
        self.next_review_id += 1
        return self.next_review_id


def new_account(token: str, login: str, seed: int) -> Account:
    rng = random.Random(f"{seed}:people")
    people = []
    for first, last in zip(rng.sample(_PEOPLE, 8), rng.sample(_SURNAMES, 8), strict=True):
        handle = f"{first}-{last}"
        people.append(User(handle, _stable_int(f"user:{handle}", 1_000_000, 90_000_000)))
    user = User(login, _stable_int(f"user:{login}", 1_000_000, 90_000_000))
    return Account(
        token=token,
        seed=seed,
        user=user,
        people=people,
        next_issue_id=rng.randrange(1_000_000_000, 2_000_000_000),
        next_pull_id=rng.randrange(500_000_000, 900_000_000),
        next_comment_id=rng.randrange(1_500_000_000, 2_500_000_000),
        next_review_id=rng.randrange(1_000_000_000, 2_000_000_000),
    )


def new_repo(account: Account, full_name: str, repo_id: int) -> Repo:
    owner_login, name = full_name.split("/", 1)
    owner = account.person(owner_login)
    if owner_login != account.user.login:
        owner = User(owner_login, owner.id, "Organization")
    rng = random.Random(f"{account.seed}:{full_name}:repo")
    repo = Repo(
        id=repo_id,
        owner=owner,
        name=name,
        created=_EPOCH_S - 2 * _YEAR_S + rng.randrange(0, _YEAR_S),
        description=f"The {name} service",
    )
    for index, (label, color, description) in enumerate(DEFAULT_LABELS):
        repo.labels[label] = (
            _stable_int(f"{full_name}:label:{index}", 10**9, 10**9),
            color,
            description,
        )
    for number, title in enumerate(MILESTONES, start=1):
        repo.milestones[number] = Milestone(
            number,
            _stable_int(f"{full_name}:milestone:{number}", 5_000_000, 5_000_000),
            title,
            repo.created + number * 30 * 86_400,
            _EPOCH_S + number * 60 * 86_400,
        )
    return repo


def _title(rng: random.Random, templates: tuple[str, ...]) -> str:
    thing = rng.choice(_THINGS)
    return rng.choice(templates).format(thing=thing, Thing=thing[0].upper() + thing[1:])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def seed_repo(account: Account, repo: Repo, issues: int, pulls: int) -> None:
    """Fill ``repo`` with ``issues`` issues and ``pulls`` pull requests, interleaved in time."""
    rng = random.Random(f"{account.seed}:{repo.full_name}:items")
    kinds = ["pull"] * pulls + ["issue"] * issues
    rng.shuffle(kinds)
    start = _EPOCH_S - _YEAR_S
    step = _YEAR_S / max(len(kinds), 1)
    people = [u.login for u in account.people]
    for index, kind in enumerate(kinds):
        created = start + int((index + rng.random()) * step)
        updated = created + int(rng.random() ** 3 * (_EPOCH_S - created))
        author = rng.choice(people)
        item = IssueState(
            id=account.issue_id(),
            number=repo.take_number(),
            title=_title(rng, _PULL_TITLES if kind == "pull" else _ISSUE_TITLES),
            body=f"Seen by {author} in {repo.name}." if rng.random() < 0.8 else None,
            user=author,
            created=created,
            updated=updated,
            labels=sorted(rng.sample(list(repo.labels), rng.choice((0, 0, 1, 1, 2)))),
            assignees=sorted(rng.sample(people, rng.choice((0, 1, 1, 2)))),
            milestone=rng.choice((None, None, *repo.milestones)),
            comments=rng.randrange(0, 12),
            reactions=rng.randrange(0, 5),
            author_association=rng.choice(ASSOCIATIONS),
        )
        closing = created + int((updated - created) * rng.random())
        if kind == "pull":
            fork = rng.random() < 0.15
            item.pull = PullState(
                id=account.pull_id(),
                head_ref=f"{_slug(item.title)}-{item.number}",
                head_sha=sha(repo.full_name, item.number, "head", 0),
                head_owner=author if fork else repo.owner.login,
                base_sha=sha(repo.full_name, "main", item.number),
                commits=rng.randrange(1, 9),
                additions=rng.randrange(1, 400),
                deletions=rng.randrange(0, 200),
                changed_files=rng.randrange(1, 20),
                review_comments=rng.randrange(0, 6),
            )
            outcome = rng.random()
            if outcome < 0.5:
                item.state, item.closed, item.closed_by = "closed", closing, repo.owner.login
                item.pull.merged_at, item.pull.merged_by = closing, rng.choice(people)
            elif outcome < 0.65:
                item.state, item.closed, item.closed_by = "closed", closing, rng.choice(people)
            else:
                item.pull.draft = rng.random() < 0.2
                item.pull.requested_reviewers = sorted(rng.sample(people, rng.choice((0, 1, 2))))
        elif rng.random() < 0.55:
            item.state, item.closed, item.closed_by = "closed", closing, rng.choice(people)
            item.state_reason = "completed" if rng.random() < 0.8 else "not_planned"
        if rng.random() < 0.03:
            item.locked, item.active_lock_reason = True, "resolved"
        repo.issues[item.number] = item
    for index, (label, color, description) in enumerate(CUSTOM_LABELS):
        repo.labels[label] = (
            _stable_int(f"{repo.full_name}:custom-label:{index}", 10**9, 10**9),
            color,
            description,
        )
    _seed_discussion(account, repo)


def _fill(rng: random.Random, template: str, people: list[str]) -> str:
    thing = rng.choice(_THINGS)
    return template.format(thing=thing, person=rng.choice(people))


def _seed_discussion(account: Account, repo: Repo) -> None:
    """Each issue's ``comments`` count of comments, and reviews on the pull requests, at
    times between an item's creation and its last update; ids are handed out in time order."""
    rng = random.Random(f"{account.seed}:{repo.full_name}:discussion")
    people = [u.login for u in account.people]
    drafts: list[tuple[int, int, IssueState, Comment | Review]] = []
    for item in repo.issues.values():
        span = max(item.updated - item.created, 0)
        for _ in range(item.comments):
            at = item.created + int(rng.random() * span)
            edited = at + int(rng.random() * (item.updated - at)) if rng.random() < 0.15 else at
            comment = Comment(
                id=0,
                user=rng.choice(people),
                body=_fill(rng, rng.choice(_COMMENTS), people),
                created=at,
                updated=edited,
                author_association=rng.choice(ASSOCIATIONS),
            )
            drafts.append((at, 0, item, comment))
        pull = item.pull
        if pull is None:
            continue
        reviewers = [p for p in people if p != item.user]
        count = rng.choice((0, 0, 1, 1, 2, 3))
        for index in range(count):
            last = index == count - 1
            state = (
                "APPROVED"
                if last and pull.merged_at is not None
                else rng.choice(("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "COMMENTED"))
            )
            if not last and rng.random() < 0.1:
                state = "DISMISSED"
            at = item.created + int((index + 1) / (count + 1) * span)
            review = Review(
                id=0,
                user=rng.choice(reviewers),
                state=state,
                body=_fill(rng, rng.choice(_REVIEW_BODIES[state]), people),
                submitted=at,
                commit_id=pull.head_sha,
                author_association=rng.choice(("MEMBER", "COLLABORATOR", "CONTRIBUTOR")),
            )
            drafts.append((at, 1, item, review))
    drafts.sort(key=lambda d: (d[0], d[1], d[2].number))
    for _, kind, item, entry in drafts:
        if kind == 0:
            assert isinstance(entry, Comment)
            entry.id = account.comment_id()
            item.thread.append(entry)
        else:
            assert isinstance(entry, Review)
            entry.id = account.review_id()
            item.reviews.append(entry)


# rendering, as the REST API answers


def render_user(user: User, api: str) -> dict[str, Any]:
    return {
        "login": user.login,
        "id": user.id,
        "node_id": node_id("U" if user.type == "User" else "O", user.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{user.login}",
        "html_url": f"{HTML_ROOT}/{user.login}",
        "type": user.type,
        "site_admin": False,
    }


def render_repo(repo: Repo, api: str, *, full: bool = False) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    out: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": render_user(repo.owner, api),
        "html_url": f"{HTML_ROOT}/{repo.full_name}",
        "description": repo.description,
        "fork": False,
        "url": url,
        "issues_url": f"{url}/issues{{/number}}",
        "pulls_url": f"{url}/pulls{{/number}}",
    }
    if full:
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        last = max((i.updated for i in repo.issues.values()), default=repo.created)
        out.update(
            {
                "created_at": iso(repo.created),
                "updated_at": iso(last),
                "pushed_at": iso(last),
                "default_branch": repo.default_branch,
                "visibility": "private" if repo.private else "public",
                "has_issues": True,
                "open_issues_count": open_issues,
                "open_issues": open_issues,
                "archived": False,
                "disabled": False,
                "permissions": {"admin": False, "maintain": False, "push": True, "pull": True},
            }
        )
    return out


def render_labels(repo: Repo, names: Iterable[str], api: str) -> list[dict[str, Any]]:
    """Label objects as GitHub renders them, in the order of ``names``."""
    out = []
    for name in names:
        label_id, color, description = repo.labels.get(name, (0, "ededed", None))
        out.append(
            {
                "id": label_id,
                "node_id": node_id("LA", label_id),
                "url": f"{api}/repos/{repo.full_name}/labels/{quote(name, safe='')}",
                "name": name,
                "color": color,
                "default": name in {n for n, _, _ in DEFAULT_LABELS},
                "description": description,
            }
        )
    return out


def _render_milestone(repo: Repo, number: int | None, api: str) -> dict[str, Any] | None:
    milestone = repo.milestones.get(number) if number is not None else None
    if milestone is None:
        return None
    url = f"{api}/repos/{repo.full_name}/milestones/{number}"
    return {
        "url": url,
        "html_url": f"{HTML_ROOT}/{repo.full_name}/milestone/{number}",
        "labels_url": f"{url}/labels",
        "id": milestone.id,
        "node_id": node_id("MI", milestone.id),
        "number": number,
        "state": "open",
        "title": milestone.title,
        "description": None,
        "creator": render_user(repo.owner, api),
        "open_issues": repo.milestone_count(number, "open"),
        "closed_issues": repo.milestone_count(number, "closed"),
        "created_at": iso(milestone.created),
        "updated_at": iso(milestone.created),
        "closed_at": None,
        "due_on": iso(milestone.due_on),
    }


def _shared(repo: Repo, account: Account, item: IssueState, api: str) -> dict[str, Any]:
    assignees = [render_user(account.person(a), api) for a in item.assignees]
    return {
        "number": item.number,
        "state": item.state,
        "locked": item.locked,
        "title": item.title,
        "user": render_user(account.person(item.user), api),
        "body": item.body,
        "labels": render_labels(repo, item.labels, api),
        "milestone": _render_milestone(repo, item.milestone, api),
        "active_lock_reason": item.active_lock_reason,
        "created_at": iso(item.created),
        "updated_at": iso(item.updated),
        "closed_at": iso(item.closed),
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "author_association": item.author_association,
    }


def render_issue(
    repo: Repo, account: Account, item: IssueState, api: str, *, single: bool = False
) -> dict[str, Any]:
    """An issue as ``/issues`` renders it; a pull request gets its ``pull_request`` key."""
    url = f"{api}/repos/{repo.full_name}/issues/{item.number}"
    html_kind = "pull" if item.pull is not None else "issues"
    out: dict[str, Any] = {
        "url": url,
        "repository_url": f"{api}/repos/{repo.full_name}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{HTML_ROOT}/{repo.full_name}/{html_kind}/{item.number}",
        "id": item.id,
        "node_id": node_id("I" if item.pull is None else "PR", item.id),
        **_shared(repo, account, item, api),
        "comments": item.comments,
        "type": None,
        "state_reason": item.state_reason,
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": item.reactions,
            "+1": item.reactions,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 0,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        },
    }
    if item.pull is not None:
        pulls = f"{api}/repos/{repo.full_name}/pulls/{item.number}"
        html = f"{HTML_ROOT}/{repo.full_name}/pull/{item.number}"
        out["draft"] = item.pull.draft
        out["pull_request"] = {
            "url": pulls,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(item.pull.merged_at),
        }
    if single:
        closer = account.person(item.closed_by) if item.closed_by else None
        out["closed_by"] = render_user(closer, api) if closer else None
    return out


def merge_commit_sha(repo: Repo, item: IssueState) -> str | None:
    pull = item.pull
    if pull is None or (item.state == "closed" and pull.merged_at is None):
        return None
    return sha(repo.full_name, item.number, pull.head_sha, pull.merged_at or "test-merge")


def render_pull(
    repo: Repo, account: Account, item: IssueState, api: str, *, single: bool = False
) -> dict[str, Any]:
    """A pull request as ``/pulls`` renders it (``single``: as ``/pulls/{number}`` does)."""
    pull = item.pull
    assert pull is not None
    url = f"{api}/repos/{repo.full_name}/pulls/{item.number}"
    issue_url = f"{api}/repos/{repo.full_name}/issues/{item.number}"
    html = f"{HTML_ROOT}/{repo.full_name}/pull/{item.number}"
    head_user = account.person(pull.head_owner)
    head_repo = render_repo(repo, api)
    if pull.head_owner != repo.owner.login:
        head_repo = {
            **head_repo,
            "id": _stable_int(f"fork:{pull.head_owner}/{repo.name}", 10**8, 10**8),
            "full_name": f"{pull.head_owner}/{repo.name}",
            "owner": render_user(head_user, api),
            "html_url": f"{HTML_ROOT}/{pull.head_owner}/{repo.name}",
            "fork": True,
        }
    out: dict[str, Any] = {
        "url": url,
        "id": pull.id,
        "node_id": node_id("PR", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/repos/{repo.full_name}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{api}/repos/{repo.full_name}/statuses/{pull.head_sha}",
        **_shared(repo, account, item, api),
        "merged_at": iso(pull.merged_at),
        "merge_commit_sha": merge_commit_sha(repo, item),
        "requested_reviewers": [
            render_user(account.person(r), api) for r in pull.requested_reviewers
        ],
        "requested_teams": [],
        "head": {
            "label": f"{pull.head_owner}:{pull.head_ref}",
            "ref": pull.head_ref,
            "sha": pull.head_sha,
            "user": render_user(head_user, api),
            "repo": head_repo,
        },
        "base": {
            "label": f"{repo.owner.login}:{pull.base_ref}",
            "ref": pull.base_ref,
            "sha": pull.base_sha,
            "user": render_user(repo.owner, api),
            "repo": render_repo(repo, api),
        },
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "issue": {"href": issue_url},
            "comments": {"href": f"{issue_url}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": f"{api}/repos/{repo.full_name}/statuses/{pull.head_sha}"},
        },
        "auto_merge": None,
        "draft": pull.draft,
    }
    if single:
        merged = pull.merged_at is not None
        out.update(
            {
                "merged": merged,
                "mergeable": None if item.state == "closed" else True,
                "rebaseable": None if item.state == "closed" else True,
                "mergeable_state": "unknown" if item.state == "closed" else "clean",
                "merged_by": render_user(account.person(pull.merged_by), api)
                if merged and pull.merged_by
                else None,
                "comments": item.comments,
                "review_comments": pull.review_comments,
                "maintainer_can_modify": False,
                "commits": pull.commits,
                "additions": pull.additions,
                "deletions": pull.deletions,
                "changed_files": pull.changed_files,
            }
        )
    return out


def _html(repo: Repo, item: IssueState) -> str:
    kind = "pull" if item.pull is not None else "issues"
    return f"{HTML_ROOT}/{repo.full_name}/{kind}/{item.number}"


def _reactions(url: str) -> dict[str, Any]:
    counts = dict.fromkeys(
        ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"), 0
    )
    return {"url": f"{url}/reactions", "total_count": 0, **counts}


def render_comment(
    repo: Repo, account: Account, item: IssueState, comment: Comment, api: str
) -> dict[str, Any]:
    """An issue comment as ``/issues/comments`` and ``/issues/{number}/comments`` render it."""
    url = f"{api}/repos/{repo.full_name}/issues/comments/{comment.id}"
    return {
        "url": url,
        "html_url": f"{_html(repo, item)}#issuecomment-{comment.id}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{item.number}",
        "id": comment.id,
        "node_id": node_id("IC", comment.id),
        "user": render_user(account.person(comment.user), api),
        "created_at": iso(comment.created),
        "updated_at": iso(comment.updated),
        "author_association": comment.author_association,
        "body": comment.body,
        "reactions": _reactions(url),
        "performed_via_github_app": None,
    }


def render_review(
    repo: Repo, account: Account, item: IssueState, review: Review, api: str
) -> dict[str, Any]:
    """A pull request review as ``/pulls/{number}/reviews`` renders it."""
    html = f"{_html(repo, item)}#pullrequestreview-{review.id}"
    pull_url = f"{api}/repos/{repo.full_name}/pulls/{item.number}"
    return {
        "id": review.id,
        "node_id": node_id("PRR", review.id),
        "user": render_user(account.person(review.user), api),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": review.author_association,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "submitted_at": iso(review.submitted),
        "commit_id": review.commit_id,
    }
