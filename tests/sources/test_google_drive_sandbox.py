"""The Google Drive sandbox over real loopback HTTP: OAuth2, listings, changes, limits, faults."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DOCUMENT,
    FOLDER,
    GoogleDriveSandbox,
)
from sources.sandbox.client import SandboxAdminError, SandboxClient

ANA = "ana@acme.example.com"
BEN = "ben@beta.example.com"
ANA_REFRESH = "1//ana-refresh"
BEN_REFRESH = "1//ben-refresh"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sandbox() -> Iterator[GoogleDriveSandbox]:
    with GoogleDriveSandbox(max_page_size=100) as sb:
        sb.add_account(
            ANA,
            refresh_token=ANA_REFRESH,
            seed=7,
            files=230,
            folders=10,
            shared_drives=1,
            shared_drive_files=30,
        )
        sb.add_account(BEN, refresh_token=BEN_REFRESH, seed=8, files=20, folders=2)
        yield sb


def grant(
    sb: GoogleDriveSandbox,
    refresh_token: str = ANA_REFRESH,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    **extra: str,
) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
        **extra,
    }
    return requests.post(f"{sb.base_url}/token", data=form, timeout=5)


def session(sb: GoogleDriveSandbox, refresh_token: str = ANA_REFRESH) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {grant(sb, refresh_token).json()['access_token']}"
    return s


def list_all(s: requests.Session, sb: GoogleDriveSandbox, **params: Any) -> list[dict[str, Any]]:
    """Every file of a listing, following nextPageToken as a client would."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"pageSize": 1000, **params}
    while True:
        response = s.get(f"{sb.base_url}/drive/v3/files", params=query, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body["files"])
        if "nextPageToken" not in body:
            return out
        query["pageToken"] = body["nextPageToken"]


def changes_since(
    s: requests.Session, sb: GoogleDriveSandbox, token: str, **params: Any
) -> tuple[list[dict[str, Any]], str, int]:
    """All changes from ``token``: (changes, newStartPageToken, pages)."""
    out: list[dict[str, Any]] = []
    pages = 0
    query: dict[str, Any] = {"pageToken": token, "fields": "*", **params}
    while True:
        response = s.get(f"{sb.base_url}/drive/v3/changes", params=query, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        out.extend(body["changes"])
        if "nextPageToken" in body:
            assert "newStartPageToken" not in body
            query["pageToken"] = body["nextPageToken"]
            continue
        return out, body["newStartPageToken"], pages


def start_token(s: requests.Session, sb: GoogleDriveSandbox) -> str:
    body = s.get(f"{sb.base_url}/drive/v3/changes/startPageToken", timeout=5).json()
    assert body["kind"] == "drive#startPageToken"
    return str(body["startPageToken"])


GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()["error"]
    assert body["code"] == response.status_code
    assert body["status"] == GOOGLE_STATUS[response.status_code]
    assert body["message"] == body["errors"][0]["message"]
    return dict(body["errors"][0])


def test_token_endpoint_grants_and_refuses(sandbox: GoogleDriveSandbox) -> None:
    ok = grant(sandbox)
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["access_token"].startswith("ya29.")
    assert "no-store" in ok.headers["Cache-Control"]
    assert body["access_token"] in sandbox.access_tokens(ANA)

    basic = requests.post(
        f"{sandbox.base_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": ANA_REFRESH},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=5,
    )
    assert basic.status_code == 200

    refused = {
        "wrong secret": (grant(sandbox, client_secret="nope"), 401, "invalid_client"),
        "unknown client": (grant(sandbox, client_id="other.apps"), 401, "invalid_client"),
        "unknown token": (grant(sandbox, refresh_token="1//nope"), 400, "invalid_grant"),
        "no token": (grant(sandbox, refresh_token=""), 400, "invalid_request"),
        "other grant": (grant(sandbox, grant_type="password"), 400, "unsupported_grant_type"),
    }
    for case, (response, status, error) in refused.items():
        assert response.status_code == status, case
        assert response.json()["error"] == error, case
        assert response.json()["error_description"], case

    sandbox.revoke_refresh_token(ANA_REFRESH)
    revoked = grant(sandbox)
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_api_needs_a_valid_unexpired_token(sandbox: GoogleDriveSandbox) -> None:
    url = f"{sandbox.base_url}/drive/v3/files"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert error_of(missing)["reason"] == "required"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer realm=")

    bad = requests.get(url, headers={"Authorization": "Bearer ya29.nope"}, timeout=5)
    assert bad.status_code == 401
    detail = error_of(bad)
    assert detail == {
        "message": detail["message"],
        "domain": "global",
        "reason": "authError",
        "location": "Authorization",
        "locationType": "header",
    }
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]

    s = session(sandbox)
    assert s.get(url, timeout=5).status_code == 200
    sandbox.expire_access_tokens(ANA)
    assert s.get(url, timeout=5).status_code == 401
    short = sandbox.issue_access_token(ANA, lifetime=-1)
    expired = requests.get(url, headers={"Authorization": f"Bearer {short}"}, timeout=5)
    assert expired.status_code == 401


def test_listing_defaults_fields_and_paging(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    url = f"{sandbox.base_url}/drive/v3/files"
    plain = s.get(url, timeout=5).json()
    assert plain["kind"] == "drive#fileList" and plain["incompleteSearch"] is False
    assert len(plain["files"]) == 100
    assert all(set(f) == {"kind", "id", "name", "mimeType"} for f in plain["files"])
    assert "nextPageToken" in plain

    chosen = s.get(url, params={"fields": "files(id,owners(emailAddress))"}, timeout=5).json()
    assert set(chosen) == {"files"}, "no nextPageToken unless fields asks for it"
    assert chosen["files"][0] == {"id": chosen["files"][0]["id"], "owners": [{"emailAddress": ANA}]}

    files = list_all(s, sandbox, fields="nextPageToken,files(*)")
    ids = [f["id"] for f in files]
    assert len(ids) == len(set(ids)) == 240
    assert ids == sandbox.ids(ANA, drive_id="my")
    assert len(sandbox.ids(ANA, drive_id="my", trashed=True)) == 0
    doc = next(f for f in files if f["mimeType"] == DOCUMENT)
    pdf = next(f for f in files if f["mimeType"] == "application/pdf")
    assert "size" not in doc and "md5Checksum" not in doc
    assert doc["webViewLink"].startswith("https://docs.google.com/document/d/")
    assert pdf["size"].isdigit() and len(pdf["md5Checksum"]) == 32
    assert pdf["fileExtension"] == "pdf" and pdf["name"].endswith(".pdf")
    for f in files[:20]:
        assert RFC3339.match(f["createdTime"]) and RFC3339.match(f["modifiedTime"])
        assert f["createdTime"] <= f["modifiedTime"]
        assert f["version"].isdigit()

    bad_fields = s.get(url, params={"fields": "files(id,colour)"}, timeout=5)
    assert bad_fields.status_code == 400
    assert error_of(bad_fields)["reason"] == "invalidParameter"
    assert error_of(bad_fields)["location"] == "fields"
    for size in ("0", "1001", "many"):
        assert s.get(url, params={"pageSize": size}, timeout=5).status_code == 400


def test_query_language(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    folder = max(sandbox.ids(ANA, folders_only=True), key=lambda f: len(sandbox.ids(ANA, under=f)))
    children = [sandbox.get(ANA, i) for i in sandbox.ids(ANA, under=folder)]
    direct = {f["id"] for f in children if f.get("parents") == [folder]}
    assert {f["id"] for f in list_all(s, sandbox, q=f"'{folder}' in parents")} == direct

    victim = next(iter(direct))
    sandbox.trash(ANA, victim)
    in_folder = {f["id"] for f in list_all(s, sandbox, q=f"'{folder}' in parents")}
    not_trashed = list_all(s, sandbox, q=f"'{folder}' in parents and trashed = false")
    assert victim in in_folder, "files.list returns trashed files unless q excludes them"
    assert {f["id"] for f in not_trashed} == direct - {victim}

    other = next(f for f in sandbox.ids(ANA, folders_only=True) if f != folder)
    either = list_all(s, sandbox, q=f"('{folder}' in parents or '{other}' in parents)")
    expected = {
        i
        for i in sandbox.ids(ANA, drive_id="my")
        if sandbox.get(ANA, i).get("parents") in ([folder], [other])
    } | {victim}
    assert {f["id"] for f in either} == expected

    folders = list_all(s, sandbox, q=f"mimeType = '{FOLDER}' and not trashed = true")
    assert {f["id"] for f in folders} == set(sandbox.ids(ANA, folders_only=True, drive_id="my"))

    created = sandbox.create(ANA, "Quarterly Forecast 2031.xlsx", description="for the zebra")
    assert [f["id"] for f in list_all(s, sandbox, q="name contains 'forecast 2031'")] == []
    assert created["id"] in {f["id"] for f in list_all(s, sandbox, q="name contains 'Quarterly'")}
    assert [f["id"] for f in list_all(s, sandbox, q="fullText contains 'zebra'")] == [created["id"]]
    assert [f["id"] for f in list_all(s, sandbox, q="name = 'Quarterly Forecast 2031.xlsx'")] == [
        created["id"]
    ]
    recent = list_all(
        s,
        sandbox,
        q="modifiedTime > '2030-01-01T00:00:00' or createdTime >= '2026-01-01T00:00:00Z'",
    )
    assert [f["id"] for f in recent] == [created["id"]]
    quoted = sandbox.create(ANA, "Ana's \\ notes")
    assert [f["id"] for f in list_all(s, sandbox, q="name = 'Ana\\'s \\\\ notes'")] == [
        quoted["id"]
    ]

    for bad in ("name =", "'x' in colour", "trashed = maybe", "(trashed = true", "name > 'a'"):
        response = s.get(f"{sandbox.base_url}/drive/v3/files", params={"q": bad}, timeout=5)
        assert response.status_code == 400, bad
        assert error_of(response) == {
            "message": "Invalid Value",
            "domain": "global",
            "reason": "invalid",
            "location": "q",
            "locationType": "parameter",
        }


def test_page_token_belongs_to_its_query(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    url = f"{sandbox.base_url}/drive/v3/files"
    first = s.get(url, params={"q": "trashed = false"}, timeout=5).json()
    token = first["nextPageToken"]
    again = s.get(url, params={"q": "trashed = false", "pageToken": token}, timeout=5)
    assert again.status_code == 200
    other = s.get(url, params={"q": "starred = true", "pageToken": token}, timeout=5)
    assert other.status_code == 400 and error_of(other)["location"] == "pageToken"
    garbage = s.get(url, params={"pageToken": "not-a-token"}, timeout=5)
    assert garbage.status_code == 400


def test_shared_drives_need_the_all_drives_parameters(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    (drive_id,) = sandbox.drive_ids(ANA)
    in_drive = sandbox.ids(ANA, drive_id=drive_id)
    assert len(in_drive) > 30
    url = f"{sandbox.base_url}/drive/v3/files"
    mine = {f["id"] for f in list_all(s, sandbox)}
    assert mine.isdisjoint(in_drive), "shared-drive items need includeItemsFromAllDrives"

    listing = list_all(
        s,
        sandbox,
        corpora="drive",
        driveId=drive_id,
        includeItemsFromAllDrives="true",
        supportsAllDrives="true",
        fields="nextPageToken,files(id,driveId,owners)",
    )
    assert [f["id"] for f in listing] == in_drive
    assert all(f["driveId"] == drive_id and "owners" not in f for f in listing)
    everything = list_all(
        s, sandbox, corpora="allDrives", includeItemsFromAllDrives="true", supportsAllDrives="true"
    )
    assert {f["id"] for f in everything} == mine | set(in_drive)

    no_drive = s.get(url, params={"corpora": "drive", "includeItemsFromAllDrives": "true"})
    assert no_drive.status_code == 400
    not_included = s.get(url, params={"corpora": "drive", "driveId": drive_id}, timeout=5)
    assert not_included.status_code == 400
    unknown = s.get(
        url,
        params={"corpora": "drive", "driveId": "0Anope", "includeItemsFromAllDrives": "true"},
        timeout=5,
    )
    assert unknown.status_code == 404

    one = f"{sandbox.base_url}/drive/v3/files/{in_drive[0]}"
    hidden = s.get(one, timeout=5)
    assert hidden.status_code == 404
    assert error_of(hidden)["message"] == f"File not found: {in_drive[0]}."
    shown = s.get(one, params={"supportsAllDrives": "true", "fields": "id,driveId"}, timeout=5)
    assert shown.json() == {"id": in_drive[0], "driveId": drive_id}
    root = s.get(
        f"{sandbox.base_url}/drive/v3/files/{drive_id}",
        params={"supportsAllDrives": "true", "fields": "*"},
        timeout=5,
    ).json()
    assert root["mimeType"] == FOLDER and "parents" not in root
    my_root = s.get(f"{sandbox.base_url}/drive/v3/files/root", params={"fields": "id,name"}).json()
    assert my_root == {"id": sandbox.root_id(ANA), "name": "My Drive"}


def test_incomplete_search_for_all_drives() -> None:
    with GoogleDriveSandbox(incomplete_all_drives=True) as sb:
        sb.add_account(ANA, refresh_token=ANA_REFRESH, files=5)
        s = session(sb)
        url = f"{sb.base_url}/drive/v3/files"
        assert s.get(url, timeout=5).json()["incompleteSearch"] is False
        wide = s.get(
            url,
            params={"corpora": "allDrives", "includeItemsFromAllDrives": "true"},
            timeout=5,
        )
        assert wide.json()["incompleteSearch"] is True


def test_changes_feed(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    token = start_token(s, sandbox)
    assert changes_since(s, sandbox, token) == ([], token, 1)

    files = [
        i for i in sandbox.ids(ANA, drive_id="my") if i not in sandbox.ids(ANA, folders_only=True)
    ]
    sandbox.update(ANA, files[0], name="first rename")
    sandbox.update(ANA, files[0], name="second rename")
    sandbox.trash(ANA, files[1])
    sandbox.delete(ANA, files[2])
    created = sandbox.create(ANA, "new.txt")
    changes, new_token, _ = changes_since(s, sandbox, token)
    assert [c["fileId"] for c in changes] == [files[0], files[1], files[2], created["id"]]
    assert changes[0]["file"]["name"] == "second rename", "one entry per file, its latest state"
    assert changes[1]["removed"] is False and changes[1]["file"]["trashed"] is True
    assert changes[2] == {
        "kind": "drive#change",
        "changeType": "file",
        "time": changes[2]["time"],
        "removed": True,
        "fileId": files[2],
    }
    assert all(c["kind"] == "drive#change" and RFC3339.match(c["time"]) for c in changes)
    assert int(new_token) > int(token)
    assert changes_since(s, sandbox, new_token)[0] == []
    without_removed = changes_since(s, sandbox, token, includeRemoved="false")[0]
    assert files[2] not in {c["fileId"] for c in without_removed}

    default = s.get(f"{sandbox.base_url}/drive/v3/changes", params={"pageToken": token}).json()
    assert set(default["changes"][0]["file"]) == {"kind", "id", "name", "mimeType"}

    folder = max(sandbox.ids(ANA, folders_only=True), key=lambda f: len(sandbox.ids(ANA, under=f)))
    under = set(sandbox.ids(ANA, under=folder))
    sandbox.trash(ANA, folder)
    trashed, _, _ = changes_since(s, sandbox, new_token)
    assert {c["fileId"] for c in trashed} == {folder} | under
    assert all(c["file"]["trashed"] for c in trashed)
    child = next(c["file"] for c in trashed if c["fileId"] != folder)
    assert child["explicitlyTrashed"] is False


def test_changes_paging_and_tokens(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    token = start_token(s, sandbox)
    files = sandbox.ids(ANA, drive_id="my")[:150]
    for file_id in files:
        sandbox.update(ANA, file_id, description="bulk")
    changes, _, pages = changes_since(s, sandbox, token, pageSize="60")
    assert [c["fileId"] for c in changes] == files
    assert pages == 3
    url = f"{sandbox.base_url}/drive/v3/changes"
    missing = s.get(url, timeout=5)
    assert missing.status_code == 400 and error_of(missing)["reason"] == "required"
    for bad in ("abc", "0", str(int(token) + 10_000)):
        response = s.get(url, params={"pageToken": bad}, timeout=5)
        assert response.status_code == 400 and error_of(response)["location"] == "pageToken"

    (drive_id,) = sandbox.drive_ids(ANA)
    team = sandbox.create(ANA, "team.txt", parent=drive_id)
    later, _, _ = changes_since(s, sandbox, token)
    assert team["id"] not in {c["fileId"] for c in later}
    every, _, _ = changes_since(
        s, sandbox, token, includeItemsFromAllDrives="true", supportsAllDrives="true"
    )
    entry = next(c for c in every if c["fileId"] == team["id"])
    assert entry["driveId"] == drive_id and entry["file"]["driveId"] == drive_id


def test_user_rate_limit_is_403_without_headers() -> None:
    with GoogleDriveSandbox(rate_limit_per_minute=3) as sb:
        sb.add_account(ANA, refresh_token=ANA_REFRESH, files=5)
        sb.add_account(BEN, refresh_token=BEN_REFRESH, files=5)
        s = session(sb)
        url = f"{sb.base_url}/drive/v3/files"
        assert [s.get(url, timeout=5).status_code for _ in range(3)] == [200, 200, 200]
        limited = s.get(url, timeout=5)
        assert limited.status_code == 403
        assert error_of(limited) == {
            "message": "User Rate Limit Exceeded",
            "domain": "usageLimits",
            "reason": "userRateLimitExceeded",
        }
        assert not any(
            h.lower().startswith(("retry-after", "x-ratelimit")) for h in limited.headers
        )
        assert session(sb, BEN_REFRESH).get(url, timeout=5).status_code == 200
        assert grant(sb).status_code == 200, "the token endpoint is not counted"


def test_injected_faults_speak_google(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    url = f"{sandbox.base_url}/drive/v3/files"
    sandbox.inject_fault("429", retry_after=2, path_prefix="/drive/v3/files")
    limited = s.get(url, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert error_of(limited)["reason"] == "rateLimitExceeded"
    assert error_of(limited)["domain"] == "usageLimits"
    sandbox.inject_fault("500", path_prefix="/drive/v3/changes")
    assert s.get(url, timeout=5).status_code == 200
    broken = s.get(f"{sandbox.base_url}/drive/v3/changes", params={"pageToken": "1"}, timeout=5)
    assert broken.status_code == 500 and error_of(broken)["reason"] == "backendError"
    sandbox.inject_fault("cut", path_prefix="/drive/v3/files")
    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        s.get(url, timeout=5)
    sandbox.inject_fault("500", path_prefix="/token")
    assert grant(sandbox).status_code == 500
    assert grant(sandbox).status_code == 200


def test_same_seed_same_data_and_accounts_differ() -> None:
    def snapshot(seed: int) -> list[dict[str, Any]]:
        with GoogleDriveSandbox() as sb:
            sb.add_account(
                ANA,
                refresh_token=ANA_REFRESH,
                seed=seed,
                files=60,
                folders=5,
                shared_drives=1,
                shared_drive_files=10,
            )
            return [sb.get(ANA, i) for i in sb.ids(ANA)]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


def test_python_api_mutations(sandbox: GoogleDriveSandbox) -> None:
    at = datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    folder = sandbox.create(ANA, "Plans", mime_type=FOLDER, at=at)
    assert folder["parents"] == [sandbox.root_id(ANA)] and "size" not in folder
    created = sandbox.create(ANA, "budget.csv", parent=folder["id"], mime_type="text/csv", at=at)
    assert created["createdTime"] == created["modifiedTime"] == "2025-02-03T04:05:06.789Z"
    assert created["owners"][0]["emailAddress"] == ANA and created["ownedByMe"] is True
    assert created["fileExtension"] == "csv" and created["version"] == "1"

    starred = sandbox.update(ANA, created["id"], starred=True)
    assert starred["modifiedTime"] == created["modifiedTime"], "starring is not a modification"
    assert starred["version"] == "2"
    edited = sandbox.update(ANA, created["id"], content="new numbers")
    assert edited["md5Checksum"] != created["md5Checksum"]
    assert edited["headRevisionId"] != created["headRevisionId"]
    assert edited["modifiedTime"] > created["modifiedTime"]
    renamed = sandbox.update(ANA, created["id"], name="Budget (final)")
    assert renamed["fileExtension"] == "csv", "a name without extension keeps the old one"

    (drive_id,) = sandbox.drive_ids(ANA)
    moved = sandbox.move(ANA, folder["id"], drive_id)
    assert moved["driveId"] == drive_id and "owners" not in moved
    assert sandbox.get(ANA, created["id"])["driveId"] == drive_id
    with pytest.raises(ValueError):
        sandbox.move(ANA, folder["id"], folder["id"])
    with pytest.raises(KeyError):
        sandbox.move(ANA, sandbox.create(ANA, "loose.txt")["id"], created["id"])

    sandbox.trash(ANA, folder["id"])
    assert sandbox.get(ANA, created["id"])["trashed"] is True
    assert created["id"] in sandbox.ids(ANA, trashed=True)
    sandbox.untrash(ANA, folder["id"])
    assert sandbox.get(ANA, created["id"])["trashed"] is False
    sandbox.delete(ANA, folder["id"])
    with pytest.raises(KeyError):
        sandbox.get(ANA, created["id"])
    with pytest.raises(KeyError):
        sandbox.create(ANA, "orphan", parent="1NoSuchFolder")


def test_admin_endpoints_via_client(sandbox: GoogleDriveSandbox) -> None:
    client = SandboxClient(sandbox.base_url)
    assert client.health()["sandbox"] == "google_drive"
    client.add_account("cy@gamma.example.com", refresh_token="1//cy", seed=5, files=12, folders=2)
    with pytest.raises(SandboxAdminError):
        client.add_account("cy@gamma.example.com", refresh_token="1//cy2")
    assert len(client.ids("cy@gamma.example.com")) == 14
    assert len(client.ids("cy@gamma.example.com", folders_only=True)) == 2
    root = client.root_id("cy@gamma.example.com")
    drive_id = client.add_shared_drive("cy@gamma.example.com", "Ops")
    assert client.drive_ids("cy@gamma.example.com") == [drive_id]

    at = datetime(2025, 5, 5, 5, 5, 5, 5000, tzinfo=UTC)
    made = client.create("cy@gamma.example.com", "a.txt", content="x", at=at)
    assert made["createdTime"] == "2025-05-05T05:05:05.005Z" and made["parents"] == [root]
    assert client.update("cy@gamma.example.com", made["id"], name="b.txt")["name"] == "b.txt"
    assert client.move("cy@gamma.example.com", made["id"], drive_id)["driveId"] == drive_id
    assert client.trash("cy@gamma.example.com", made["id"])["trashed"] is True
    assert client.untrash("cy@gamma.example.com", made["id"])["trashed"] is False
    assert client.get("cy@gamma.example.com", made["id"])["name"] == "b.txt"
    client.delete("cy@gamma.example.com", made["id"])
    with pytest.raises(SandboxAdminError):
        client.get("cy@gamma.example.com", made["id"])

    token = client.issue_access_token("cy@gamma.example.com")
    api = f"{sandbox.base_url}/drive/v3/files"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(api, headers=headers, timeout=5).status_code == 200
    client.expire_access_tokens("cy@gamma.example.com")
    assert requests.get(api, headers=headers, timeout=5).status_code == 401
    client.revoke_refresh_token("1//cy")
    assert grant(sandbox, "1//cy").status_code == 400
    client.add_refresh_token("cy@gamma.example.com", "1//cy-again")
    assert grant(sandbox, "1//cy-again").status_code == 200
    with pytest.raises(SandboxAdminError):
        client.add_refresh_token("cy@gamma.example.com", ANA_REFRESH)

    client.clear_requests()
    client.inject_fault("429", path_prefix="/drive/v3/changes")
    assert client.faults()[0]["kind"] == "429"
    assert client.requests_seen() == []
    client.close()


def test_every_endpoint_checks_its_parameters_and_fields(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    base = f"{sandbox.base_url}/drive/v3"
    file_id = sandbox.ids(ANA)[0]
    (drive_id,) = sandbox.drive_ids(ANA)
    owner = sandbox.get(ANA, file_id)["permissionIds"][0]
    endpoints = {
        "files.list": (f"{base}/files", {}),
        "files.get": (f"{base}/files/{file_id}", {}),
        "permissions.list": (f"{base}/files/{file_id}/permissions", {}),
        "permissions.get": (f"{base}/files/{file_id}/permissions/{owner}", {}),
        "about.get": (f"{base}/about", {"fields": "kind"}),
        "drives.list": (f"{base}/drives", {}),
        "drives.get": (f"{base}/drives/{drive_id}", {}),
        "changes.getStartPageToken": (f"{base}/changes/startPageToken", {}),
        "changes.list": (f"{base}/changes", {"pageToken": "1"}),
    }
    for method, (url, params) in endpoints.items():
        ok = s.get(url, params={**params, "alt": "json", "prettyPrint": "false"}, timeout=5)
        assert ok.status_code == 200, (method, ok.text)
        unknown = s.get(url, params={**params, "colour": "blue"}, timeout=5)
        assert unknown.status_code == 400, method
        assert unknown.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert error_of(unknown) == {
            "message": f"{method} has no parameter colour.",
            "domain": "global",
            "reason": "invalidParameter",
            "location": "colour",
            "locationType": "parameter",
        }
        for name, value in (("quotaUser", "x"), ("key", "AIza"), ("alt", "proto")):
            answer = s.get(url, params={**params, name: value}, timeout=5)
            assert answer.status_code == 400 and error_of(answer)["location"] == name, method
        bad_fields = s.get(url, params={**params, "fields": "kind,colour"}, timeout=5)
        assert bad_fields.status_code == 400, method
        assert error_of(bad_fields)["location"] == "fields"

    deprecated = s.get(f"{base}/files", params={"includeTeamDriveItems": "true"}, timeout=5)
    assert error_of(deprecated)["message"] == (
        "includeTeamDriveItems is deprecated and not simulated by the sandbox; "
        "use includeItemsFromAllDrives"
    )
    labels = s.get(f"{base}/files/{file_id}", params={"includeLabels": "abc"}, timeout=5)
    assert error_of(labels)["message"] == (
        "The sandbox does not simulate the parameter includeLabels of files.get."
    )
    compact = s.get(f"{base}/files/{file_id}", timeout=5)
    pretty = s.get(f"{base}/files/{file_id}", params={"prettyPrint": "true"}, timeout=5)
    assert "\n" not in compact.text and pretty.text.startswith("{\n  ")
    assert pretty.json() == compact.json()
    assert sandbox.handler_errors == []


def test_no_handler_errors(sandbox: GoogleDriveSandbox) -> None:
    s = session(sandbox)
    base = f"{sandbox.base_url}/drive/v3"
    answers = [
        s.get(f"{base}/files", params={"q": "name contains"}, timeout=5),
        s.get(f"{base}/files", params={"fields": "files("}, timeout=5),
        s.get(f"{base}/files", params={"corpora": "everything"}, timeout=5),
        s.get(f"{base}/files", params={"orderBy": "colour desc"}, timeout=5),
        s.get(f"{base}/files/nope", timeout=5),
        s.get(f"{base}/changes", params={"pageToken": "1", "includeRemoved": "perhaps"}),
        requests.post(f"{sandbox.base_url}/token", data=b"\xff\xfe", timeout=5),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 404, 400, 400]
    assert sandbox.handler_errors == []


def test_syncs_sandbox_drives_a_running_drive_sandbox(sandbox: GoogleDriveSandbox, capsys) -> None:
    from pipelines.cli.main import main

    def drive(*words: str) -> int:
        return main(["sandbox", "google_drive", "--url", sandbox.base_url, *words])

    folder = sandbox.ids(ANA, folders_only=True)[0]
    assert drive("create", ANA, "From the CLI.txt", f"parent={folder}", "content=hello") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["parents"] == [folder] and created["name"] == "From the CLI.txt"
    assert drive("update", ANA, created["id"], "starred=true", "name=Renamed.txt") == 0
    assert sandbox.get(ANA, created["id"])["starred"] is True
    assert drive("trash", ANA, created["id"]) == 0
    assert sandbox.get(ANA, created["id"])["trashed"] is True
    assert drive("update", ANA, created["id"], "colour=blue") == 2
    assert "unknown field 'colour'" in capsys.readouterr().err
    assert drive("fault", "429", "count=1", "path_prefix=/drive/v3/changes") == 0
    assert sandbox.pending_faults[0].kind == "429"
