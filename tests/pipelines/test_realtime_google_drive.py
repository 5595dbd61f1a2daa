"""Drive's push notifications end to end: syncs opens a ``changes.watch`` channel on the
sandbox, which notifies it when files change; each notification reads the changes feed from
the stored page token as a WEBHOOK run, and the app gets its own webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from pipelines.home import Home
from pipelines.ingress import subscriptions
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    GoogleDriveSandbox,
)
from tests.realtime import Served, events, scalar, wait_until

EMAIL = "ana@acme.example.com"
REFRESH = "1//acme-realtime-refresh"


@pytest.fixture
def box() -> Iterator[GoogleDriveSandbox]:
    sandbox = GoogleDriveSandbox(rate_limit_per_minute=None).start()
    sandbox.add_account(EMAIL, refresh_token=REFRESH, seed=5, files=12, folders=2)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def served(home: Home, box: GoogleDriveSandbox) -> Iterator[Served]:
    Connections(home).add(
        "google_drive",
        "acme-drive",
        credentials={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": REFRESH,
        },
        config={"base_url": box.base_url, "token_url": f"{box.base_url}/token"},
    )
    sync_runner(home).run("acme-drive")
    stack = Served(home)
    subscriptions.subscribe(home, "acme-drive", stack.url)
    box.flush_webhooks()
    try:
        yield stack
    finally:
        stack.stop()


def file_ids(box: GoogleDriveSandbox) -> list[str]:
    return [
        i
        for i in box.ids(EMAIL)
        if box.get(EMAIL, i)["mimeType"] != "application/vnd.google-apps.folder"
    ]


def name_of(home: Home, file_id: str) -> str | None:
    return scalar(home, "SELECT name FROM google_drive.files WHERE id = ?", [file_id])


def test_a_channel_is_opened_answered_and_renewed(home, box, served):
    (sub,) = ProviderSecrets(home).subscriptions("google_drive", "acme-drive")
    assert sub.url == served.hook_url("google_drive", "acme-drive")
    assert [c["id"] for c in box.open_channels] == [sub.provider_id]
    assert sub.expires_at is not None and sub.expires_at > datetime.now(UTC) + timedelta(days=6)
    # The channel's sync message is answered and kept nowhere.
    assert [(d["status"]) for d in box.deliveries()] == [200]
    assert served.inbox.counts() == {}
    # Near its expiry, the poll opens a new channel and stops the old one.
    ProviderSecrets(home).replace_subscriptions(
        "google_drive",
        "acme-drive",
        [
            type(sub)(
                sub.resource,
                sub.provider_id,
                sub.secret,
                sub.url,
                datetime.now(UTC) + timedelta(hours=2),
                sub.details,
            )
        ],
    )
    sync_runner(home).run("acme-drive")
    (renewed,) = ProviderSecrets(home).subscriptions("google_drive", "acme-drive")
    assert renewed.provider_id != sub.provider_id
    assert [c["id"] for c in box.open_channels] == [renewed.provider_id]
    assert subscriptions.unsubscribe(home, "acme-drive") == 1
    assert box.open_channels == []


def test_a_sync_message_before_its_channel_is_stored_is_answered_and_kept_nowhere(served):
    """Drive sends a channel's ``sync`` message as soon as ``changes.watch`` returns, which
    may be before syncs has stored the channel's token."""
    answer = requests.post(
        served.hook_url("google_drive", "acme-drive"),
        headers={
            "X-Goog-Channel-ID": "a-channel-not-stored-yet",
            "X-Goog-Channel-Token": "a-token-not-stored-yet",
            "X-Goog-Message-Number": "1",
            "X-Goog-Resource-State": "sync",
        },
        timeout=10,
    )
    assert answer.status_code == 200
    assert served.inbox.counts() == {}


def test_a_notification_reads_the_feed_with_one_change_and_one_app_webhook(home, box, served):
    target = file_ids(box)[0]
    box.update(EMAIL, target, name="renamed-by-push.txt")
    served.settled(1)
    wait_until(lambda: served.webhooks(sync_type="WEBHOOK"), what="the app's webhook")
    assert name_of(home, target) == "renamed-by-push.txt"
    assert events(home, "sync_type = 'WEBHOOK'") == [("files", target, "UPDATED", "WEBHOOK")]
    (hook,) = served.webhooks(sync_type="WEBHOOK")
    assert hook.payload["counts"]["updated"] == 1
    # The page token moved with it: the next poll finds nothing new.
    (result,) = sync_runner(home).run("acme-drive")
    assert result.total("updated") == 0
    box.trash(EMAIL, target)
    served.settled(2)
    wait_until(lambda: len(events(home, "sync_type = 'WEBHOOK'")) == 2, what="the deletion")
    assert events(home, "sync_type = 'WEBHOOK'")[-1] == ("files", target, "DELETED", "WEBHOOK")


def test_forged_unsigned_and_repeated_notifications_keep_nothing(home, box, served):
    (sub,) = ProviderSecrets(home).subscriptions("google_drive", "acme-drive")
    url = served.hook_url("google_drive", "acme-drive")
    headers = {
        "X-Goog-Channel-ID": sub.provider_id,
        "X-Goog-Message-Number": "900",
        "X-Goog-Resource-State": "change",
        "X-Goog-Resource-ID": "r",
    }
    assert requests.post(url, headers=headers, timeout=10).status_code == 401
    forged = {**headers, "X-Goog-Channel-Token": "not-the-token"}
    assert requests.post(url, headers=forged, timeout=10).status_code == 401
    assert served.inbox.counts() == {}
    real = {**headers, "X-Goog-Channel-Token": sub.secret}
    assert requests.post(url, headers=real, timeout=10).json() == {"received": 1, "duplicates": 0}
    assert requests.post(url, headers=real, timeout=10).json() == {"received": 0, "duplicates": 1}
    served.settled(1)
    assert events(home, "sync_type = 'WEBHOOK'") == []


def test_duplicate_reordered_and_dropped_notifications(home, box, served):
    first, second, third = file_ids(box)[1:4]
    box.inject_delivery_fault("duplicate")
    box.update(EMAIL, first, name="one.txt")
    box.inject_delivery_fault("reorder")
    box.update(EMAIL, second, name="two.txt")
    box.update(EMAIL, first, name="one-again.txt")
    box.flush_webhooks()
    wait_until(lambda: name_of(home, second) == "two.txt", what="the reordered change")
    wait_until(lambda: name_of(home, first) == "one-again.txt", what="the latest name")
    box.inject_delivery_fault("drop")
    box.update(EMAIL, third, name="three.txt")
    box.flush_webhooks()
    served.settled(served.inbox.counts().get("applied", 0))
    sync_runner(home).run("acme-drive")
    assert name_of(home, third) == "three.txt"
    assert [e for e in events(home, f"record_id = '{third}'") if e[2] == "UPDATED"] == [
        ("files", third, "UPDATED", "INCREMENTAL")
    ]


def test_a_poll_racing_a_notification_never_leaves_the_older_version(home, box, served):
    """The feed's answer a poll read before a notification's is older: its file version is
    below the one the notification wrote, so it changes nothing."""
    from pipelines.engine.apply import apply_pages
    from sources.google_drive.api import FILE_FIELDS, to_row
    from sources.spec import Page

    target = file_ids(box)[4]
    before = box.get(EMAIL, target)
    box.update(EMAIL, target, name="pushed.txt")
    served.settled(1)
    wait_until(lambda: name_of(home, target) == "pushed.txt")
    connection = Connections(home).get("acme-drive")
    stale = {k: before[k] for k in before if k in FILE_FIELDS or k == "id"}
    result = apply_pages(
        served.realtime.writer,
        connection,
        connection.spec.syncs["files"],
        [Page("files", [to_row(stale)])],
        sync_type="INCREMENTAL",
    )
    assert result is not None and result.models["files"].updated == 0
    assert name_of(home, target) == "pushed.txt"


def test_a_notification_while_a_poll_reads_the_feed_waits_for_it(home, box, served):
    from pipelines.engine.run_lock import RunLock

    lock = RunLock(home, "google_drive", "acme-drive", "files").acquire()
    try:
        box.update(EMAIL, file_ids(box)[5], name="waiting.txt")
        box.flush_webhooks()
        wait_until(
            lambda: any("poll" in (e["reason"] or "") for e in served.inbox.list()),
            what="the event put off",
        )
    finally:
        lock.release()
    served.settled(1)
    wait_until(lambda: name_of(home, file_ids(box)[5]) == "waiting.txt")
