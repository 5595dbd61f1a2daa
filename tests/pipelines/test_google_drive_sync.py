"""The engine end to end against the Google Drive sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from pipelines.engine.sync import SyncFailed
from pipelines.home import Home
from pipelines.store.connections import Connections
from sources.errors import ConfigError
from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FOLDER,
    GoogleDriveSandbox,
)
from tests.helpers import events as all_events
from tests.helpers import query

ACME = "ana@acme.example.com"
GLOBEX = "gus@globex.example.com"
ACME_REFRESH = "1//acme-refresh-token-0123456789"
GLOBEX_REFRESH = "1//globex-refresh-token-9876543210"
ACME_FILES = 250 + 12


@pytest.fixture
def drive() -> Iterator[GoogleDriveSandbox]:
    sandbox = GoogleDriveSandbox(rate_limit_per_minute=None, max_page_size=100).start()
    sandbox.add_account(
        ACME,
        refresh_token=ACME_REFRESH,
        seed=1,
        files=250,
        folders=12,
        shared_drives=1,
        shared_drive_files=60,
    )
    sandbox.add_account(GLOBEX, refresh_token=GLOBEX_REFRESH, seed=2, files=80, folders=5)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def add_drive(
    home: Home,
    sandbox: GoogleDriveSandbox,
    connection_id: str = "acme",
    refresh_token: str = ACME_REFRESH,
    credentials: dict[str, str] | None = None,
    **config: str,
) -> None:
    Connections(home).add(
        "google_drive",
        connection_id,
        credentials={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": refresh_token,
            **(credentials or {}),
        },
        config={"base_url": sandbox.base_url, "token_url": f"{sandbox.base_url}/token", **config},
    )


def events(home: Home, run_id: str) -> list[tuple]:
    return [e[1:] for e in all_events(home, run_id, order="record_id")]


def live_ids(home: Home, connection_id: str = "acme") -> set[str]:
    rows = query(
        home,
        "select id from google_drive.files where connection_id = ? and _syncs_deleted_at is null",
        [connection_id],
    )
    return {r[0] for r in rows}


def plain_files(sandbox: GoogleDriveSandbox, email: str = ACME, **kw: str) -> list[str]:
    folders = set(sandbox.ids(email, folders_only=True, **kw))
    return [i for i in sandbox.ids(email, **kw) if i not in folders]


def token_requests(sandbox: GoogleDriveSandbox) -> list[int]:
    return [status for method, path, status in sandbox.requests_seen if path == "/token"]


def test_initial_sync_pages_through_my_drive_and_stores_the_token(home, drive, runner):
    add_drive(home, drive)
    (result,) = runner.run("acme")
    assert result.sync_type == "INITIAL"
    assert result.models["files"].added == ACME_FILES
    assert live_ids(home) == set(drive.ids(ACME, drive_id="my"))
    listings = [r for r in drive.requests_seen if r[1] == "/drive/v3/files"]
    assert len(listings) == 3
    assert token_requests(drive) == [200]

    connection = Connections(home).get("acme")
    stored = Connections(home).credentials(connection)
    assert stored.access_token.get_secret_value() in drive.access_tokens(ACME)
    assert datetime.fromisoformat(stored.expires_at) > datetime.now(UTC) + timedelta(minutes=50)

    row = query(
        home,
        "select name, mime_type, is_folder, parents, owners, created_time, modified_time "
        "from google_drive.files where id = ?",
        [plain_files(drive)[0]],
    )[0]
    api = drive.get(ACME, plain_files(drive)[0])
    assert row[0] == api["name"] and row[1] == api["mimeType"] and row[2] is False
    assert json.loads(row[3]) == api["parents"]
    assert json.loads(row[4]) == [ACME]
    assert row[6] == datetime.fromisoformat(api["modifiedTime"].replace("Z", "+00:00"))
    folders = query(
        home, "select count(*) from google_drive.files where is_folder and mime_type = ?", [FOLDER]
    )
    assert folders == [(12,)]

    drive.clear_requests()
    runner.run("acme")
    assert token_requests(drive) == [], "a stored token that is still valid is reused"


def test_incremental_reads_exactly_the_changes(home, drive, runner):
    add_drive(home, drive)
    runner.run("acme")
    files = plain_files(drive)
    drive.update(ACME, files[0], content="new quarterly numbers")
    drive.update(ACME, files[1], name="Renamed by Ana")
    drive.update(ACME, files[2], starred=True)
    created = drive.create(ACME, "Fresh notes.txt", parent=drive.ids(ACME, folders_only=True)[0])
    drive.update(ACME, files[3], description="first")
    drive.update(ACME, files[3], description="second")
    drive.clear_requests()

    (result,) = runner.run("acme")
    assert result.sync_type == "INCREMENTAL"
    got = {(r, a): f for r, a, f in events(home, result.run_id)}
    assert set(got) == {
        (files[0], "UPDATED"),
        (files[1], "UPDATED"),
        (files[2], "UPDATED"),
        (files[3], "UPDATED"),
        (created["id"], "ADDED"),
    }
    assert got[(files[1], "UPDATED")] == ["name", "modified_time"]
    assert got[(files[2], "UPDATED")] == ["starred"]
    assert got[(files[3], "UPDATED")] == ["description", "modified_time"]
    assert "md5_checksum" in got[(files[0], "UPDATED")]
    paths = {p for _, p, _ in drive.requests_seen}
    assert paths == {"/drive/v3/changes"}, "incremental runs read only the changes feed"
    cursor = query(home, "select cursor from syncs.sync_state where connection_id = 'acme'")
    assert json.loads(cursor[0][0])["token"] == start_token(drive, ACME)


def start_token(drive: GoogleDriveSandbox, email: str) -> str:
    response = requests.get(
        f"{drive.base_url}/drive/v3/changes/startPageToken",
        headers={"Authorization": f"Bearer {drive.issue_access_token(email)}"},
        timeout=5,
    )
    return str(response.json()["startPageToken"])


def test_trashed_and_deleted_files_become_deleted_and_untrash_brings_back(home, drive, runner):
    add_drive(home, drive)
    runner.run("acme")
    files = plain_files(drive)
    drive.trash(ACME, files[10])
    drive.delete(ACME, files[11])
    (result,) = runner.run("acme")
    assert events(home, result.run_id) == [
        (i, "DELETED", None) for i in sorted([files[10], files[11]])
    ]
    deleted_at = query(
        home, "select _syncs_deleted_at from google_drive.files where id = ?", [files[10]]
    )[0][0]
    assert deleted_at is not None

    drive.untrash(ACME, files[10])
    (back,) = runner.run("acme")
    assert events(home, back.run_id) == [(files[10], "ADDED", None)]


def test_trashing_a_folder_deletes_everything_under_it(home, drive, runner):
    add_drive(home, drive)
    runner.run("acme")
    folder = max(drive.ids(ACME, folders_only=True), key=lambda f: len(drive.ids(ACME, under=f)))
    under = drive.ids(ACME, under=folder)
    assert len(under) >= 5
    drive.trash(ACME, folder)
    (result,) = runner.run("acme")
    gone = {r for r, a, _ in events(home, result.run_id) if a == "DELETED"}
    assert gone == {folder, *under}
    assert live_ids(home) == set(drive.ids(ACME, drive_id="my"))


def test_folder_scope_follows_moves_in_and_out(home, drive, runner):
    folders = drive.ids(ACME, folders_only=True, drive_id="my")
    root_folder = max(folders, key=lambda f: len(drive.ids(ACME, under=f)))
    add_drive(home, drive, folders=root_folder)
    (initial,) = runner.run("acme")
    inside = set(drive.ids(ACME, under=root_folder))
    assert live_ids(home) == inside
    assert initial.models["files"].added == len(inside)

    outside_folder = next(
        f for f in folders if f != root_folder and f not in inside and drive.ids(ACME, under=f)
    )
    brought_in = set(drive.ids(ACME, under=outside_folder))
    leaving_file = next(i for i in plain_files(drive, under=root_folder))
    subfolder = next((f for f in folders if f in inside and drive.ids(ACME, under=f)), None)
    drive.move(ACME, outside_folder, root_folder)
    drive.move(ACME, leaving_file, drive.root_id(ACME))
    nested = drive.create(ACME, "Deep inside.txt", parent=outside_folder)

    (result,) = runner.run("acme")
    got = {(r, a) for r, a, _ in events(home, result.run_id)}
    expected = {(i, "ADDED") for i in {outside_folder, *brought_in, nested["id"]}}
    expected.add((leaving_file, "DELETED"))
    assert got == expected
    assert live_ids(home) == set(drive.ids(ACME, under=root_folder))

    if subfolder is not None:
        leaving = {subfolder, *drive.ids(ACME, under=subfolder)}
        drive.move(ACME, subfolder, drive.root_id(ACME))
        (moved_out,) = runner.run("acme")
        assert {(r, a) for r, a, _ in events(home, moved_out.run_id)} == {
            (i, "DELETED") for i in leaving
        }
    (full,) = runner.run("acme", mode="full")
    assert events(home, full.run_id) == []
    assert live_ids(home) == set(drive.ids(ACME, under=root_folder))


def test_shared_drive_scope(home, drive, runner):
    (drive_id,) = drive.drive_ids(ACME)
    add_drive(home, drive, shared_drives=drive_id)
    runner.run("acme")
    in_drive = set(drive.ids(ACME, drive_id=drive_id))
    assert len(in_drive) > 60
    assert live_ids(home) == in_drive
    drive_id_col = query(home, "select distinct drive_id from google_drive.files")
    assert drive_id_col == [(drive_id,)]

    mine = plain_files(drive, drive_id="my")
    drive.update(ACME, mine[0], name="Not in the shared drive")
    added = drive.create(ACME, "Team plan.txt", parent=drive_id)
    moved_out = plain_files(drive, drive_id=drive_id)[0]
    drive.move(ACME, moved_out, drive.root_id(ACME))
    (result,) = runner.run("acme")
    assert {(r, a) for r, a, _ in events(home, result.run_id)} == {
        (added["id"], "ADDED"),
        (moved_out, "DELETED"),
    }


def test_scope_change_asks_for_a_full_refresh(home, drive, runner):
    add_drive(home, drive)
    runner.run("acme")
    folder = drive.ids(ACME, folders_only=True)[0]
    add_drive(home, drive, folders=folder)
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    assert failure.value.result.error_type == "ConfigError"
    assert "--full-refresh --confirm-deletions" in str(failure.value)
    left = ACME_FILES - len(drive.ids(ACME, under=folder))
    (held,) = runner.run("acme", mode="full")
    assert held.total("deleted") == 0 and held.total("deletions_held") == left
    (full,) = runner.run("acme", mode="full", confirm_deletions=True)
    assert live_ids(home) == set(drive.ids(ACME, under=folder))
    assert full.total("deleted") == left


def test_unknown_folder_is_a_clear_error(home, drive, runner):
    add_drive(home, drive, folders="1NoSuchFolderAnywhere")
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    assert failure.value.result.error_type == "ConfigError"
    assert "'1NoSuchFolderAnywhere' is not visible" in str(failure.value)


def test_bad_folder_id_is_refused_when_adding(home, drive):
    with pytest.raises(ConfigError, match="is not a Drive id"):
        add_drive(home, drive, folders="abc' or name contains '")


def test_incomplete_search_never_counts_as_a_full_listing(home, runner):
    with GoogleDriveSandbox(rate_limit_per_minute=None, incomplete_all_drives=True) as sandbox:
        sandbox.add_account(ACME, refresh_token=ACME_REFRESH, seed=3, files=30, folders=3)
        folder = sandbox.ids(ACME, folders_only=True)[0]
        add_drive(home, sandbox, folders=folder)
        with pytest.raises(SyncFailed) as failure:
            runner.run("acme")
        assert failure.value.result.error_type == "ApiError"
        assert "incompleteSearch" in str(failure.value)


def test_expired_token_is_refreshed_and_a_401_refreshes_once_more(home, drive, runner):
    stale = drive.issue_access_token(ACME, lifetime=-1)
    add_drive(
        home,
        drive,
        credentials={"access_token": stale, "expires_at": "2020-01-01T00:00:00Z"},
    )
    runner.run("acme")
    assert token_requests(drive) == [200]
    first = Connections(home).credentials(Connections(home).get("acme")).access_token

    drive.expire_access_tokens(ACME)
    drive.update(ACME, plain_files(drive)[0], name="After the token expired")
    drive.clear_requests()
    (result,) = runner.run("acme")
    assert result.total("updated") == 1
    assert token_requests(drive) == [200]
    statuses = [s for _, p, s in drive.requests_seen if p == "/drive/v3/changes"]
    assert statuses == [401, 200]
    second = Connections(home).credentials(Connections(home).get("acme")).access_token
    assert second != first and second.get_secret_value() in drive.access_tokens(ACME)
    attempts = query(
        home,
        "select status, attempt from syncs.api_requests where run_id = ? and url like '%changes%'",
        [result.run_id],
    )
    assert attempts == [(401, 1), (200, 2)]


def test_wrong_client_secret_fails_with_authentication_error(home, drive, runner):
    add_drive(home, drive, credentials={"client_secret": "not-the-secret"})
    with pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    assert failure.value.result.error_type == "AuthenticationError"
    assert "invalid_client" in str(failure.value)


def test_user_rate_limit_403_is_waited_out(home, runner):
    with GoogleDriveSandbox(rate_limit_per_minute=3, rate_window_seconds=1.0) as sandbox:
        sandbox.add_account(ACME, refresh_token=ACME_REFRESH, seed=4, files=40, folders=4)
        folders = sandbox.ids(ACME, folders_only=True)
        add_drive(home, sandbox, folders=",".join(folders[:3]))
        (result,) = runner.run("acme")
        assert live_ids(home) == {i for f in folders[:3] for i in sandbox.ids(ACME, under=f)}
        limited = [s for _, p, s in sandbox.requests_seen if s == 403]
        assert limited, "the run went past the per-user limit"
        logged = query(
            home,
            "select status, attempt from syncs.api_requests where run_id = ? and status = 403",
            [result.run_id],
        )
        assert logged and all(attempt >= 1 for _, attempt in logged)


def test_failed_run_keeps_the_cursor_and_the_next_run_is_exact(home, drive, runner):
    add_drive(home, drive)
    runner.run("acme")
    before = query(home, "select cursor from syncs.sync_state")
    file_id = plain_files(drive)[5]
    drive.update(ACME, file_id, name="Changed while access was revoked")
    drive.revoke_refresh_token(ACME_REFRESH)
    drive.expire_access_tokens(ACME)
    with pytest.raises(SyncFailed):
        runner.run("acme")
    assert query(home, "select cursor from syncs.sync_state") == before

    drive.add_refresh_token(ACME, "1//acme-authorized-again")
    add_drive(home, drive, refresh_token="1//acme-authorized-again")
    (result,) = runner.run("acme")
    assert events(home, result.run_id) == [(file_id, "UPDATED", ["name", "modified_time"])]


def test_each_connection_keeps_its_own_refreshed_access_token(home, drive, runner):
    add_drive(home, drive, "acme", ACME_REFRESH)
    add_drive(home, drive, "globex", GLOBEX_REFRESH)
    runner.run("acme")
    runner.run("globex")
    creds = Connections(home)
    tokens = {
        c: creds.credentials(creds.get(c)).access_token.get_secret_value()
        for c in ("acme", "globex")
    }
    assert tokens["acme"] in drive.access_tokens(ACME)
    assert tokens["globex"] in drive.access_tokens(GLOBEX)
