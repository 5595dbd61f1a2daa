"""GitHub's webhooks end to end: syncs registers repository hooks on the sandbox, which sends
``issues`` and ``pull_request`` events signed with each hook's secret; they are applied as
they came (fat) as WEBHOOK runs, and the app gets its own webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from pipelines.home import Home
from pipelines.ingress import subscriptions
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.github.sandbox.server import GitHubSandbox
from tests.realtime import Served, events, scalar, wait_until

TOKEN = "ghp_realtime_github_token"
API, WEB = "acme/api", "acme/web"


@pytest.fixture
def box() -> Iterator[GitHubSandbox]:
    sandbox = GitHubSandbox(rate_limit=None).start()
    sandbox.add_account(TOKEN, login="acme-bot", seed=4)
    sandbox.add_repo(TOKEN, API, issues=6, pulls=3)
    sandbox.add_repo(TOKEN, WEB, issues=2)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def served(home: Home, box: GitHubSandbox) -> Iterator[Served]:
    Connections(home).add(
        "github",
        "acme-gh",
        credentials={"access_token": TOKEN},
        config={"base_url": box.base_url, "repositories": API},
    )
    sync_runner(home).run("acme-gh")
    stack = Served(home)
    subscriptions.subscribe(home, "acme-gh", stack.url)
    try:
        yield stack
    finally:
        stack.stop()


def issue(box: GitHubSandbox, index: int) -> int:
    return box.numbers(TOKEN, API)[index]


def title(home: Home, number: int, model: str = "issues") -> str | None:
    return scalar(
        home,
        f"SELECT title FROM github.{model} WHERE repository = ? AND number = ?",
        [API, number],
    )


def test_subscribing_registers_one_hook_per_repository_and_follows_the_config(home, box, served):
    (sub,) = ProviderSecrets(home).subscriptions("github", "acme-gh")
    assert sub.url == served.hook_url("github", "acme-gh")
    hooks = requests.get(
        f"{box.base_url}/repos/{API}/hooks",
        headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "t"},
        timeout=10,
    ).json()
    assert [(h["id"], h["config"]["url"], h["events"]) for h in hooks] == [
        (int(sub.provider_id), sub.url, ["issues", "pull_request"])
    ]
    box.flush_webhooks()
    assert [(d["event_types"], d["status"]) for d in box.deliveries()] == [([f"{API}:ping"], 200)]
    assert served.inbox.counts() == {}
    # Subscribing again keeps the hook; a repository added to the config gets one at the
    # next poll, and one taken out loses its hook.
    again = subscriptions.subscribe(home, "acme-gh")
    assert [s.provider_id for s in again] == [sub.provider_id]
    Connections(home).add("github", "acme-gh", config={"repositories": WEB})
    sync_runner(home).run("acme-gh")
    (moved,) = ProviderSecrets(home).subscriptions("github", "acme-gh")
    assert moved.resource == WEB
    assert box.list_subscriptions(TOKEN)[0]["events"][0].startswith(WEB)
    assert subscriptions.unsubscribe(home, "acme-gh") == 1
    assert box.list_subscriptions(TOKEN) == []


def test_a_signed_event_updates_the_copy_with_one_change_and_one_app_webhook(home, box, served):
    box.update(TOKEN, API, issue(box, 1), title="Renamed by webhook")
    served.settled(1)
    wait_until(lambda: served.webhooks(sync_type="WEBHOOK"), what="the app's webhook")
    assert title(home, issue(box, 1)) == "Renamed by webhook"
    (hook,) = served.webhooks(sync_type="WEBHOOK")
    assert (hook.payload["model"], hook.payload["counts"]["updated"]) == ("issues", 1)
    assert [e[2:] for e in events(home, "sync_type = 'WEBHOOK'")] == [("UPDATED", "WEBHOOK")]
    pulls = box.numbers(TOKEN, API, "pulls")
    box.update(TOKEN, API, pulls[0], title="A pull request, renamed")
    served.settled(2)
    wait_until(lambda: title(home, pulls[0], "pull_requests") == "A pull request, renamed")


def test_deleted_and_transferred_issues_are_deletions(home, box, served):
    issues = box.numbers(TOKEN, API)
    box.delete_issue(TOKEN, API, issues[0])
    box.transfer_issue(TOKEN, API, issues[1], WEB)
    served.settled(2)
    wait_until(lambda: len(events(home, "sync_type = 'WEBHOOK'")) == 2, what="two deletions")
    assert [e[2] for e in events(home, "sync_type = 'WEBHOOK'")] == ["DELETED", "DELETED"]


def _post(served: Served, secret: str | None, body: bytes, delivery: str | None = None):
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return requests.post(
        served.hook_url("github", "acme-gh"), data=body, headers=headers, timeout=10
    )


def _issue_event(box: GitHubSandbox, number: int, **changes) -> bytes:
    issue = {**box.issue(TOKEN, API, number), **changes}
    return json.dumps(
        {"action": "edited", "issue": issue, "repository": {"full_name": API}}
    ).encode()


def test_forged_unsigned_replayed_and_stale_deliveries_change_nothing(home, box, served):
    (sub,) = ProviderSecrets(home).subscriptions("github", "acme-gh")
    three = issue(box, 2)
    body = _issue_event(box, three, title="Forged")
    assert _post(served, "wrong-secret", body).status_code == 401
    assert _post(served, None, body).status_code == 401
    assert served.inbox.counts() == {}
    box.inject_delivery_fault("bad_signature")
    box.update(TOKEN, API, three, title="Signed wrong")
    box.flush_webhooks()
    assert box.deliveries()[-1]["status"] == 401
    assert served.inbox.counts() == {}
    # A real delivery, then the same delivery again (a redelivery or a replay).
    box.inject_delivery_fault("duplicate")
    box.update(TOKEN, API, three, title="Newest")
    box.flush_webhooks()
    served.settled(1)
    assert [d["status"] for d in box.deliveries()[-2:]] == [200, 200]
    assert len(served.inbox.list()) == 1
    # A delivery of an older version, late: its updated_at is older than what was applied.
    stale = _issue_event(box, three, title="Stale", updated_at="2020-01-01T00:00:00Z")
    assert _post(served, sub.secret, stale).status_code == 200
    served.settled(2)
    assert title(home, three) == "Newest"
    assert [e[2] for e in events(home, "sync_type = 'WEBHOOK'")] == ["UPDATED"]


def test_reordered_deliveries_leave_the_newest_version(home, box, served):
    """GitHub's ``updated_at`` counts whole seconds: the two edits are seconds apart."""
    four = issue(box, 3)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    box.inject_delivery_fault("reorder")
    box.update(TOKEN, API, four, title="First", at=soon)
    box.update(TOKEN, API, four, title="Second", at=soon + timedelta(seconds=5))
    box.flush_webhooks()
    served.settled(2)
    wait_until(lambda: title(home, four) == "Second", what="the newest title")


def test_a_dropped_webhook_is_caught_by_the_next_poll_once(home, box, served):
    box.inject_delivery_fault("drop")
    five = issue(box, 4)
    box.update(TOKEN, API, five, title="Dropped")
    box.flush_webhooks()
    sync_runner(home).run("acme-gh")
    sync_runner(home).run("acme-gh")
    assert title(home, five) == "Dropped"
    assert [(e[2], e[3]) for e in events(home, "action = 'UPDATED'")] == [
        ("UPDATED", "INCREMENTAL")
    ]


def test_a_poll_that_read_before_a_webhook_leaves_the_webhooks_version(home, box, served):
    """The poll's answer is older than the webhook's record: the poll reads the issue,
    the issue changes and its webhook is applied, then the poll commits."""
    from pipelines.engine.apply import apply_pages
    from sources.github.api import issue_row
    from sources.spec import Page

    six = issue(box, 5)
    before = box.issue(TOKEN, API, six)
    box.update(TOKEN, API, six, title="Written by the webhook")
    served.settled(1)
    wait_until(lambda: title(home, six) == "Written by the webhook")
    connection = Connections(home).get("acme-gh")
    sync = connection.spec.syncs["repositories"]
    result = apply_pages(
        served.realtime.writer,
        connection,
        sync,
        [Page("issues", [issue_row(before, API)])],
        sync_type="INCREMENTAL",
    )
    assert result is not None and result.models["issues"].updated == 0
    assert title(home, six) == "Written by the webhook"
