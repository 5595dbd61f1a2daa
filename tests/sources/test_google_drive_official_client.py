"""The Google Drive sandbox driven by Google's own client, as a new user would point it there.

``google-api-python-client`` builds every request from Drive's discovery document (paths,
parameters, ``alt=json``, paging with ``list_next``) and ``google-auth`` refreshes the access
token at the sandbox's token endpoint: an independent check that the sandbox speaks Drive v3.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from sources.google_drive.sandbox.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FOLDER,
    OAUTH_SCOPE,
    GoogleDriveSandbox,
)

ANA = "ana@acme.example.com"
ANA_REFRESH = "1//ana-refresh"
FILE_FIELDS = (
    "id,name,mimeType,starred,createdTime,modifiedTime,modifiedByMeTime,viewedByMeTime,"
    "sharedWithMeTime,quotaBytesUsed"
)


@pytest.fixture
def sandbox() -> Iterator[GoogleDriveSandbox]:
    with GoogleDriveSandbox() as sb:
        sb.add_account(
            ANA,
            refresh_token=ANA_REFRESH,
            seed=5,
            files=120,
            folders=8,
            shared_drives=12,
            shared_drive_files=3,
        )
        yield sb


def credentials(sb: GoogleDriveSandbox, refresh_token: str = ANA_REFRESH) -> Credentials:
    return Credentials(
        token=None,
        refresh_token=refresh_token,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        token_uri=f"{sb.base_url}/token",
        scopes=[OAUTH_SCOPE],
    )


def drive_service(sb: GoogleDriveSandbox, creds: Credentials | None = None) -> Any:
    return build(
        "drive",
        "v3",
        credentials=creds or credentials(sb),
        static_discovery=True,
        client_options={"api_endpoint": f"{sb.base_url}/drive/v3/"},
    )


@pytest.fixture
def drive(sandbox: GoogleDriveSandbox) -> Iterator[Any]:
    service = drive_service(sandbox)
    yield service
    service.close()


def every_page(resource: Any, items: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """All items of a listing as the client pages it (``list_next``), and how many pages."""
    out: list[dict[str, Any]] = []
    pages = 0
    request = resource.list(**params)
    while request is not None:
        response = request.execute()
        pages += 1
        out.extend(response[items])
        request = resource.list_next(request, response)
    return out, pages


def refused(call: Any) -> dict[str, Any]:
    """The first error detail of a call the sandbox refuses, checking Google's body around it."""
    with pytest.raises(HttpError) as caught:
        call.execute()
    error = caught.value
    body = error.error_details[0]
    assert error.reason == body["message"]
    assert b'"status":"' in error.content
    return {"status": error.status_code, **body}


def test_token_refresh_through_the_sandbox_token_endpoint(sandbox: GoogleDriveSandbox) -> None:
    creds = credentials(sandbox)
    service = drive_service(sandbox, creds)
    about = service.about().get(fields="user(emailAddress)").execute()
    assert about == {"user": {"emailAddress": ANA}}
    assert creds.valid and creds.token in sandbox.access_tokens(ANA)
    first = creds.token

    sandbox.clear_requests()
    sandbox.expire_access_tokens(ANA)
    assert service.files().get(fileId="root", fields="id").execute() == {"id": sandbox.root_id(ANA)}
    assert creds.token != first, "a 401 makes the client refresh and retry"
    assert [(m, p, s) for m, p, s in sandbox.requests_seen] == [
        ("GET", "/drive/v3/files/root", 401),
        ("POST", "/token", 200),
        ("GET", "/drive/v3/files/root", 200),
    ]
    service.close()

    sandbox.revoke_refresh_token(ANA_REFRESH)
    revoked = drive_service(sandbox)
    with pytest.raises(RefreshError, match="invalid_grant"):
        revoked.files().list().execute()
    revoked.close()


def test_files_list_with_q_fields_and_paging(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    folder = max(sandbox.ids(ANA, folders_only=True), key=lambda f: len(sandbox.ids(ANA, under=f)))
    direct = [i for i in sandbox.ids(ANA) if sandbox.get(ANA, i).get("parents") == [folder]]
    assert len(direct) > 5
    files, pages = every_page(
        drive.files(),
        "files",
        q=f"'{folder}' in parents and trashed = false",
        pageSize=3,
        fields="nextPageToken,files(id,parents)",
    )
    assert [f["id"] for f in files] == direct
    assert pages == -(-len(direct) // 3)
    assert all(set(f) == {"id", "parents"} for f in files)

    plain = drive.files().list(pageSize=2).execute()
    assert set(plain) == {"kind", "nextPageToken", "incompleteSearch", "files"}
    assert all(set(f) == {"kind", "id", "name", "mimeType"} for f in plain["files"])
    no_token = drive.files().list(pageSize=2, fields="files(id)").execute()
    assert set(no_token) == {"files"}, "no nextPageToken unless fields asks for it"

    bad_q = refused(drive.files().list(q="name >"))
    assert bad_q == {
        "status": 400,
        "message": "Invalid Value",
        "domain": "global",
        "reason": "invalid",
        "location": "q",
        "locationType": "parameter",
    }
    bad_fields = refused(drive.files().list(fields="files(id,colour)"))
    assert (bad_fields["reason"], bad_fields["location"]) == ("invalidParameter", "fields")


def _natural(name: str) -> list[Any]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name.lower()) if p]


def _recency(file: dict[str, Any]) -> str:
    times = ("createdTime", "modifiedTime", "modifiedByMeTime", "viewedByMeTime")
    return max(file.get(t, "") for t in (*times, "sharedWithMeTime"))


SORT_VALUE = {
    "createdTime": lambda f: f["createdTime"],
    "folder": lambda f: f["mimeType"] != FOLDER,
    "modifiedByMeTime": lambda f: f.get("modifiedByMeTime", ""),
    "modifiedTime": lambda f: f["modifiedTime"],
    "name": lambda f: f["name"].lower(),
    "name_natural": lambda f: _natural(f["name"]),
    "quotaBytesUsed": lambda f: int(f["quotaBytesUsed"]),
    "recency": _recency,
    "sharedWithMeTime": lambda f: f.get("sharedWithMeTime", ""),
    "starred": lambda f: not f["starred"],
    "viewedByMeTime": lambda f: f.get("viewedByMeTime", ""),
}


def test_files_list_order_by_every_documented_key(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    listing = {
        f["id"]: f
        for f in every_page(drive.files(), "files", pageSize=1000, fields=f"files({FILE_FIELDS})")[
            0
        ]
    }
    creation = list(listing)
    assert creation == sandbox.ids(ANA, drive_id="my")
    for key, value in SORT_VALUE.items():
        for desc in (False, True):
            order = f"{key} desc" if desc else key
            files, pages = every_page(
                drive.files(),
                "files",
                orderBy=order,
                pageSize=40,
                fields=f"nextPageToken,files({FILE_FIELDS})",
            )
            expected = sorted(  # ties keep the order of creation, descending keys too
                creation,
                key=lambda i, value=value, desc=desc: (
                    _Reverse(value(listing[i])) if desc else value(listing[i]),
                    creation.index(i),
                ),
            )
            assert [f["id"] for f in files] == expected, order
            assert pages == 4, order

    mixed, _ = every_page(
        drive.files(),
        "files",
        orderBy="folder,modifiedTime desc,name",
        q="trashed = false",
        pageSize=25,
        fields="nextPageToken,files(id,mimeType,modifiedTime)",
    )
    kinds = [f["mimeType"] == FOLDER for f in mixed]
    assert kinds == sorted(kinds, reverse=True), "folders first"
    files_only = [f["modifiedTime"] for f in mixed if f["mimeType"] != FOLDER]
    assert files_only == sorted(files_only, reverse=True)
    assert len(mixed) == len(creation)

    sandbox.create(ANA, "zebra notes.txt", description="for the zebra")
    full_text = refused(drive.files().list(q="fullText contains 'zebra'", orderBy="name"))
    assert full_text["location"] == "orderBy" and full_text["reason"] == "badRequest"
    for bad in ("colour", "name asc", "name,", "modifiedTime desc desc"):
        detail = refused(drive.files().list(orderBy=bad))
        assert (detail["status"], detail["location"]) == (400, "orderBy"), bad
    assert (
        "valid keys: createdTime, folder" in refused(drive.files().list(orderBy="size"))["message"]
    )

    token = drive.files().list(orderBy="name", pageSize=5).execute()["nextPageToken"]
    other_order = refused(drive.files().list(orderBy="name desc", pageToken=token))
    assert other_order["location"] == "pageToken"


class _Reverse:
    """A value that sorts the other way round (a descending key with ascending ties)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value


def test_files_get_and_what_the_client_builds_for_media(
    sandbox: GoogleDriveSandbox, drive: Any
) -> None:
    file_id = sandbox.ids(ANA)[12]
    got = drive.files().get(fileId=file_id, fields="id,name,owners(emailAddress)").execute()
    assert got == {
        "id": file_id,
        "name": sandbox.get(ANA, file_id)["name"],
        "owners": [{"emailAddress": ANA}],
    }
    assert drive.files().get(fileId=file_id).execute() == {
        "kind": "drive#file",
        "id": file_id,
        "name": got["name"],
        "mimeType": sandbox.get(ANA, file_id)["mimeType"],
    }
    team_file = sandbox.ids(ANA, drive_id=sandbox.drive_ids(ANA)[0])[0]
    hidden = refused(drive.files().get(fileId=team_file))
    assert (hidden["status"], hidden["reason"], hidden["location"]) == (404, "notFound", "fileId")
    shown = drive.files().get(fileId=team_file, supportsAllDrives=True, fields="id").execute()
    assert shown == {"id": team_file}

    media = refused(drive.files().get_media(fileId=file_id))
    assert (media["status"], media["location"]) == (400, "alt"), "downloads are not simulated"
    deprecated = refused(drive.files().get(fileId=file_id, supportsTeamDrives=True))
    assert deprecated["location"] == "supportsTeamDrives"
    assert "use supportsAllDrives" in deprecated["message"]


def test_about_get(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    required = refused(drive.about().get())
    assert (required["reason"], required["location"]) == ("required", "fields")

    about = drive.about().get(fields="*").execute()
    assert about["kind"] == "drive#about"
    assert about["user"]["emailAddress"] == ANA and about["user"]["me"] is True
    mine = [sandbox.get(ANA, i) for i in sandbox.ids(ANA, drive_id="my")]
    used = sum(int(f.get("size", 0)) for f in mine if f.get("ownedByMe"))
    quota = about["storageQuota"]
    assert quota["usageInDrive"] == quota["usage"] == str(used)
    assert int(quota["limit"]) > used and quota["usageInDriveTrash"] == "0"
    assert "application/pdf" in about["exportFormats"]["application/vnd.google-apps.document"]
    assert about["canCreateDrives"] is True and about["driveThemes"][0]["id"]

    pdf = next(f for f in mine if f.get("ownedByMe") and f.get("size"))
    sandbox.trash(ANA, pdf["id"])
    quota = drive.about().get(fields="storageQuota(usage,usageInDriveTrash)").execute()
    assert quota == {"storageQuota": {"usage": str(used), "usageInDriveTrash": pdf["size"]}}
    assert refused(drive.about().get(fields="user,colour"))["location"] == "fields"


def test_shared_drives_list_and_get(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    ids = sandbox.drive_ids(ANA)
    assert len(ids) == 12
    listed, pages = every_page(drive.drives(), "drives")
    assert [d["id"] for d in listed] == ids and pages == 2, "10 a page unless pageSize says"
    assert set(listed[0]) == {"kind", "id", "name"}
    fives, pages = every_page(
        drive.drives(), "drives", pageSize=5, fields="nextPageToken,drives(id)"
    )
    assert [d["id"] for d in fives] == ids and pages == 3

    one = drive.drives().get(driveId=ids[3], fields="*").execute()
    assert one["kind"] == "drive#drive" and one["id"] == ids[3] and one["hidden"] is False
    assert one["capabilities"]["canListChildren"] is True
    assert one["backgroundImageLink"].startswith("https://") and one["colorRgb"].startswith("#")
    team = drive.files().get(fileId=ids[3], supportsAllDrives=True, fields="name").execute()
    assert team["name"] == one["name"]

    sandbox.hide_shared_drive(ANA, ids[3])
    shown, _ = every_page(drive.drives(), "drives", q="hidden = false", pageSize=100)
    assert [d["id"] for d in shown] == ids[:3] + ids[4:]
    named = sandbox.add_shared_drive(ANA, "Quarterly planning")
    found = drive.drives().list(q="name contains 'quarterly'").execute()["drives"]
    assert [d["id"] for d in found] == [named]

    missing = refused(drive.drives().get(driveId="0Anope"))
    assert (missing["status"], missing["reason"], missing["location"]) == (
        404,
        "notFound",
        "driveId",
    )
    admin = refused(drive.drives().list(useDomainAdminAccess=True))
    assert admin["location"] == "useDomainAdminAccess"
    assert drive.drives().list(useDomainAdminAccess=False, pageSize=1).execute()["drives"]
    members = refused(drive.drives().list(q="memberCount > 1"))
    assert members["location"] == "q" and "useDomainAdminAccess" in members["message"]
    assert refused(drive.drives().list(pageSize=101))["location"] == "pageSize"


def test_permissions_list_and_get(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    files = {i: sandbox.get(ANA, i) for i in sandbox.ids(ANA, drive_id="my")}
    private = next(i for i, f in files.items() if f.get("ownedByMe") and not f["shared"])
    assert drive.permissions().list(fileId=private).execute() == {
        "kind": "drive#permissionList",
        "permissions": [
            {
                "kind": "drive#permission",
                "id": files[private]["owners"][0]["permissionId"],
                "type": "user",
                "role": "owner",
            }
        ],
    }

    seen_types: set[str] = set()
    for file_id, file in files.items():
        if not file["shared"]:
            continue
        permissions = drive.permissions().list(fileId=file_id, fields="*").execute()
        listed = permissions["permissions"]
        assert [p["id"] for p in listed] == file["permissionIds"]
        assert listed == file["permissions"]
        assert sum(p["role"] == "owner" for p in listed) == 1
        owner = next(p for p in listed if p["role"] == "owner")
        assert owner["emailAddress"] == file["owners"][0]["emailAddress"]
        if not file["ownedByMe"]:
            me = next(p for p in listed if p.get("emailAddress") == ANA)
            assert me["role"] == "writer" and file["sharedWithMeTime"]
        seen_types |= {p["type"] for p in listed}
    assert seen_types == {"user", "group", "anyone", "domain"}

    shared = max(files, key=lambda i: len(files[i]["permissionIds"]))
    paged, pages = every_page(
        drive.permissions(),
        "permissions",
        fileId=shared,
        pageSize=1,
        fields="nextPageToken,permissions(id,role)",
    )
    assert [p["id"] for p in paged] == files[shared]["permissionIds"]
    assert pages == len(paged) > 2
    second = paged[1]["id"]
    assert drive.permissions().get(fileId=shared, permissionId=second).execute()["id"] == second
    assert drive.permissions().get(fileId=shared, permissionId=second, fields="role").execute() == {
        "role": paged[1]["role"]
    }
    gone = refused(drive.permissions().get(fileId=shared, permissionId="12345"))
    assert (gone["status"], gone["location"]) == (404, "permissionId")

    drive_id = sandbox.drive_ids(ANA)[0]
    team_file = sandbox.ids(ANA, drive_id=drive_id)[0]
    assert refused(drive.permissions().list(fileId=team_file))["status"] == 404
    inherited = drive.permissions().list(fileId=team_file, supportsAllDrives=True, fields="*")
    members = drive.permissions().list(fileId=drive_id, supportsAllDrives=True, fields="*")
    items, own = inherited.execute()["permissions"], members.execute()["permissions"]
    assert [p["id"] for p in items] == [p["id"] for p in own]
    assert {p["role"] for p in own} >= {"organizer", "writer"}
    assert all(p["permissionDetails"][0]["inheritedFrom"] == drive_id for p in items)
    assert not any(p["permissionDetails"][0]["inherited"] for p in own)
    admin = refused(drive.permissions().list(fileId=drive_id, useDomainAdminAccess=True))
    assert admin["location"] == "useDomainAdminAccess"
    view = refused(drive.permissions().list(fileId=private, includePermissionsForView="published"))
    assert view["location"] == "includePermissionsForView"


def test_permissions_are_seeded_deterministically() -> None:
    def permissions(seed: int) -> list[Any]:
        with GoogleDriveSandbox() as sb:
            sb.add_account(ANA, refresh_token=ANA_REFRESH, seed=seed, files=40, folders=3)
            service = drive_service(sb)
            out = [
                service.permissions().list(fileId=i, fields="*").execute()
                for i in sb.ids(ANA, drive_id="my")
            ]
            service.close()
            return out

    assert permissions(9) == permissions(9)
    assert permissions(9) != permissions(10)


def test_changes_start_token_and_list(sandbox: GoogleDriveSandbox, drive: Any) -> None:
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    files = [i for i in sandbox.ids(ANA) if i not in sandbox.ids(ANA, folders_only=True)]
    sandbox.update(ANA, files[0], name="renamed.txt")
    sandbox.trash(ANA, files[1])
    sandbox.delete(ANA, files[2])
    created = sandbox.create(ANA, "new.txt")
    for file_id in files[3:8]:
        sandbox.update(ANA, file_id, description="edited")

    changes: list[dict[str, Any]] = []
    request = drive.changes().list(
        pageToken=token,
        pageSize=3,
        fields="nextPageToken,newStartPageToken,changes(fileId,removed,file(name,trashed))",
    )
    last: dict[str, Any] = {}
    pages = 0
    while request is not None:
        last = request.execute()
        pages += 1
        changes.extend(last["changes"])
        request = drive.changes().list_next(request, last)
    assert pages == 3 and "newStartPageToken" in last
    assert [c["fileId"] for c in changes] == [*files[:3], created["id"], *files[3:8]]
    assert changes[0]["file"]["name"] == "renamed.txt"
    assert changes[1]["file"]["trashed"] is True
    assert changes[2] == {"fileId": files[2], "removed": True}
    again = drive.changes().list(pageToken=last["newStartPageToken"]).execute()
    assert again["changes"] == [] and again["newStartPageToken"] == last["newStartPageToken"]

    corpus = refused(drive.changes().list(pageToken=token, includeCorpusRemovals=True))
    assert corpus["location"] == "includeCorpusRemovals"
    labels = refused(drive.changes().list(pageToken=token, includeLabels="abc"))
    assert labels["location"] == "includeLabels"
    space = refused(drive.changes().list(pageToken=token, spaces="appDataFolder"))
    assert space["location"] == "spaces"
    quota = refused(drive.changes().getStartPageToken(quotaUser="someone"))
    assert quota["location"] == "quotaUser"
    assert sandbox.handler_errors == []
