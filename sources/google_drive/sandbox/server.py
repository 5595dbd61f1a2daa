"""A loopback simulator of the Google Drive API v3 and Google's OAuth2 token endpoint.

It follows Google's public documentation closely enough that the production source runs
against it unchanged (only ``base_url`` and ``token_url`` differ), including what makes
Drive awkward to sync:

* OAuth2: ``POST /token`` with ``grant_type=refresh_token`` (client credentials in the form
  or HTTP Basic) issues access tokens that expire; an expired, unknown or missing token is
  401 with Google's error body and ``WWW-Authenticate``; a revoked refresh token is 400
  ``invalid_grant``, an unknown client 401 ``invalid_client``;
* ``GET /drive/v3/files`` pages with an opaque ``pageToken``/``nextPageToken``, takes the
  query language in ``q``, ``corpora``/``driveId``/``includeItemsFromAllDrives``, returns
  trashed files unless ``q`` says ``trashed = false``, and only ``kind,id,name,mimeType`` per
  file unless ``fields`` asks for more (without ``nextPageToken`` in ``fields`` there is no
  next page token); it can report ``incompleteSearch`` for ``corpora=allDrives``;
* ``GET /drive/v3/files/{id}`` (``root`` and shared-drive ids included); shared-drive items
  are invisible without ``supportsAllDrives``;
* ``GET /drive/v3/changes/startPageToken`` and ``GET /drive/v3/changes``: numeric page
  tokens, one entry per file with its latest state (``removed: true`` without a ``file``
  for a permanent delete), ``newStartPageToken`` on the last page only; trashing or
  deleting a folder changes everything under it;
* per-user rate limit per minute: 403 ``userRateLimitExceeded``, with no rate-limit headers.

Not simulated: ``orderBy``, uploads and downloads, permissions, the ``drives`` resource.
Accounts are seeded deterministically (``random.Random`` on the seed, times before a fixed
epoch), so the same seed gives identical data on every run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import string
import time
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sources.google_drive.sandbox.query import (
    FileView,
    QueryError,
    Selection,
    check_fields,
    compile_query,
    parse_fields,
    select,
)
from sources.sandbox.auth import OAuthTokens, bearer_token
from sources.sandbox.limits import RollingWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Request,
    Response,
    SandboxError,
    SandboxServer,
    json_response,
)

FOLDER = "application/vnd.google-apps.folder"
DOCUMENT = "application/vnd.google-apps.document"
SPREADSHEET = "application/vnd.google-apps.spreadsheet"
PRESENTATION = "application/vnd.google-apps.presentation"
DEFAULT_CLIENT_ID = "syncs-sandbox.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
OAUTH_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
SEED_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH_MS = int(SEED_EPOCH.timestamp()) * 1000
_YEAR_MS = 365 * 24 * 3600 * 1000
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
RATE_LIMIT_REASONS = ("userRateLimitExceeded", "rateLimitExceeded")

_USER_SCHEMA: dict[str, Any] = dict.fromkeys(
    ("kind", "displayName", "photoLink", "me", "permissionId", "emailAddress")
)
FILE_SCHEMA: dict[str, Any] = {
    **dict.fromkeys(
        (
            "kind", "id", "name", "mimeType", "description", "starred", "trashed",
            "explicitlyTrashed", "parents", "spaces", "version", "webViewLink",
            "webContentLink", "iconLink", "hasThumbnail", "viewedByMe", "createdTime",
            "modifiedTime", "modifiedByMe", "shared", "ownedByMe", "driveId", "size",
            "quotaBytesUsed", "md5Checksum", "originalFilename", "fullFileExtension",
            "fileExtension", "headRevisionId", "capabilities", "properties", "appProperties",
            "folderColorRgb", "sharingUser", "permissions", "permissionIds", "resourceKey",
            "thumbnailLink", "viewedByMeTime", "sharedWithMeTime", "trashedTime",
            "trashingUser", "exportLinks", "contentHints", "imageMediaMetadata",
            "videoMediaMetadata", "shortcutDetails", "labelInfo", "sha1Checksum",
            "sha256Checksum", "writersCanShare", "isAppAuthorized", "copyRequiresWriterPermission",
        )
    ),
    "owners": _USER_SCHEMA,
    "lastModifyingUser": _USER_SCHEMA,
}  # fmt: skip
LIST_SCHEMA = {"kind": None, "nextPageToken": None, "incompleteSearch": None, "files": FILE_SCHEMA}
CHANGE_SCHEMA = {
    **dict.fromkeys(("kind", "changeType", "time", "removed", "fileId", "driveId", "type")),
    "file": FILE_SCHEMA,
    "drive": {"kind": None, "id": None, "name": None},
}
CHANGE_LIST_SCHEMA = {
    "kind": None,
    "nextPageToken": None,
    "newStartPageToken": None,
    "changes": CHANGE_SCHEMA,
}
START_TOKEN_SCHEMA = {"kind": None, "startPageToken": None}
DEFAULT_FILE_FIELDS: Selection = dict.fromkeys(("kind", "id", "name", "mimeType"))
DEFAULT_LIST_FIELDS: Selection = {
    **dict.fromkeys(("kind", "nextPageToken", "incompleteSearch")),
    "files": DEFAULT_FILE_FIELDS,
}
DEFAULT_CHANGE_FIELDS: Selection = {
    **dict.fromkeys(("kind", "nextPageToken", "newStartPageToken")),
    "changes": {
        **dict.fromkeys(("kind", "changeType", "time", "removed", "fileId", "driveId")),
        "file": DEFAULT_FILE_FIELDS,
    },
}

_AUTH_REQUIRED = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_AUTH_INVALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def to_ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def rfc3339(ms: int) -> str:
    """Drive's timestamp format: ``2024-01-02T03:04:05.678Z``."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _error(status: int, message: str, reason: str, location: str | None = None) -> SandboxError:
    """A Drive error; the reason and where it applies travel in the category."""
    category = reason if location is None else f"{reason}:{location}"
    return SandboxError(status, message, category)


def _invalid(name: str, message: str = "Invalid Value") -> SandboxError:
    return _error(400, message, "invalid", f"parameter:{name}")


@dataclass(slots=True)
class _File:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    drive_id: str | None
    owner: str | None
    modifier: str
    created_ms: int
    modified_ms: int
    seq: int
    version: int = 1
    description: str | None = None
    starred: bool = False
    trashed: bool = False
    explicitly_trashed: bool = False
    shared: bool = False
    size: int | None = None
    md5: str | None = None
    revision: int = 1
    extension: str | None = None
    change_id: int = 0
    change_ms: int = 0

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    @property
    def is_google_type(self) -> bool:
        return self.mime_type.startswith("application/vnd.google-apps.")


@dataclass(slots=True)
class _Removed:
    file_id: str
    drive_id: str | None
    change_id: int
    change_ms: int


@dataclass
class _Account:
    email: str
    display_name: str
    seed: int
    root_id: str
    ids: random.Random
    files: dict[str, _File] = field(default_factory=dict)
    by_seq: dict[int, _File] = field(default_factory=dict)
    drives: dict[str, str] = field(default_factory=dict)
    removed: dict[str, _Removed] = field(default_factory=dict)
    change_log: dict[int, str] = field(default_factory=dict)
    change_ids: list[int] = field(default_factory=list)
    change_counter: int = 0
    next_seq: int = 0
    version: int = 0
    window: RollingWindow = field(default_factory=lambda: RollingWindow(60.0))

    def new_id(self, prefix: str = "1", length: int = 33) -> str:
        while True:
            candidate = prefix + "".join(self.ids.choice(_ID_ALPHABET) for _ in range(length))
            if candidate not in self.files and candidate not in self.drives:
                return candidate


# Seed data vocabularies.
_TOPICS = (
    "Roadmap", "Board deck", "Budget", "Hiring plan", "Offsite", "Customer interviews",
    "Launch checklist", "Pricing", "Security review", "OKRs", "Retrospective", "Onboarding",
    "Invoice", "Contract", "Design spec", "Research notes", "Sales forecast", "Newsletter",
)  # fmt: skip
_QUALIFIERS = ("Q1", "Q2", "Q3", "Q4", "2024", "draft", "final", "v2", "EMEA", "US", "team")
_FOLDER_NAMES = (
    "Finance", "Marketing", "Engineering", "Sales", "Legal", "People", "Design", "Archive",
    "Projects", "Customers", "Board", "Operations", "Research", "Shared", "Templates",
)  # fmt: skip
_KINDS: tuple[tuple[str, str | None, float], ...] = (
    (DOCUMENT, None, 0.25),
    (SPREADSHEET, None, 0.15),
    (PRESENTATION, None, 0.08),
    ("application/pdf", "pdf", 0.2),
    ("image/png", "png", 0.08),
    ("image/jpeg", "jpg", 0.06),
    ("text/csv", "csv", 0.06),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", 0.06),
    ("text/plain", "txt", 0.04),
    ("application/zip", "zip", 0.02),
)
_COLLEAGUES = ("maria", "kenji", "amara", "lucas", "sofia", "omar")


def _pick_kind(rng: random.Random) -> tuple[str, str | None]:
    roll = rng.random()
    for mime, ext, weight in _KINDS:
        roll -= weight
        if roll <= 0:
            return mime, ext
    return _KINDS[0][0], _KINDS[0][1]


def _extension(name: str) -> str | None:
    """The extension Drive reads from a binary file's name; it is kept when a new name has none."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and ext.isalnum() and len(ext) <= 8 else None


def _display_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


def _permission_id(email: str) -> str:
    return str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))


def _web_view_link(file: _File) -> str:
    kinds = {DOCUMENT: "document", SPREADSHEET: "spreadsheets", PRESENTATION: "presentation"}
    if file.mime_type in kinds:
        return f"https://docs.google.com/{kinds[file.mime_type]}/d/{file.id}/edit?usp=drivesdk"
    if file.is_folder:
        return f"https://drive.google.com/drive/folders/{file.id}"
    return f"https://drive.google.com/file/d/{file.id}/view?usp=drivesdk"


class GoogleDriveSandbox(SandboxServer[_Account]):
    """Drive v3 under ``/drive/v3/`` and the token endpoint at ``/token``, on 127.0.0.1.

    One account per user (email), reached through its refresh token. ``rate_limit_per_minute``
    (None disables) is the per-user limit over ``rate_window_seconds``; ``max_page_size``
    caps pages below what a client asks (Drive may answer fewer than ``pageSize``);
    ``token_lifetime`` is the access tokens' lifetime in seconds; ``incomplete_all_drives``
    makes ``corpora=allDrives`` listings report ``incompleteSearch``.
    """

    name = "google_drive"
    rate_limit_message = "Rate Limit Exceeded"
    rate_limit_category = "rateLimitExceeded"
    server_error_message = "Backend Error"
    server_error_category = "backendError"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime: int = 3599,
        rate_limit_per_minute: int | None = 12_000,
        rate_window_seconds: float = 60.0,
        max_page_size: int = MAX_PAGE_SIZE,
        incomplete_all_drives: bool = False,
    ) -> None:
        super().__init__(host=host, port=port)
        self.oauth = OAuthTokens(
            {client_id: client_secret},
            lifetime=token_lifetime,
            scope=OAUTH_SCOPE,
            token_prefix="ya29.a0",
        )
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rate_window_seconds = rate_window_seconds
        self.max_page_size = max_page_size
        self.incomplete_all_drives = incomplete_all_drives
        self._match_cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        self.route("POST", r"/token", self.oauth.token_endpoint)
        drive = r"/drive/v3"
        self.api("GET", drive + r"/files", self._list_files)
        self.api("GET", drive + r"/files/(?P<id>[^/]+)", self._get_file)
        self.api("GET", drive + r"/changes/startPageToken", self._start_token)
        self.api("GET", drive + r"/changes", self._list_changes)

    # errors

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """Google's error shape; ``category`` is ``reason`` or ``reason:locationType:location``."""
        reason, _, where = category.partition(":")
        location_type, _, location = where.partition(":")
        detail: dict[str, Any] = {
            "message": message,
            "domain": "usageLimits" if reason in RATE_LIMIT_REASONS else "global",
            "reason": reason,
        }
        if location:
            detail.update(location=location, locationType=location_type)
        return {"error": {"code": status, "message": message, "errors": [detail]}}

    # accounts and files (admin operations)

    @admin_operation
    def add_account(
        self,
        email: str,
        *,
        refresh_token: str,
        seed: int = 0,
        files: int = 0,
        folders: int = 0,
        shared_drives: int = 0,
        shared_drive_files: int = 0,
    ) -> None:
        """Create the user ``email``, reached with ``refresh_token``, with seeded files.

        ``folders`` folders hold ``files`` files in My Drive (a few of them shared with the
        user by colleagues); each of ``shared_drives`` shared drives holds
        ``shared_drive_files`` files.
        """
        if "@" not in email:
            raise ValueError("email must be an email address")
        if not refresh_token:
            raise ValueError("refresh_token must be a non-empty string")
        rng = random.Random(f"{seed}:{email}")
        ids = random.Random(f"{seed}:{email}:ids")
        root = "0A" + "".join(ids.choice(_ID_ALPHABET) for _ in range(11)) + "Uk9PVA"
        account = _Account(email, _display_name(email), seed, root, ids)
        account.window = RollingWindow(self.rate_window_seconds)
        self._seed(account, rng, files=files, folders=folders)
        for index in range(shared_drives):
            drive_id = account.new_id("0A", 11) + "Uk9PVA"
            account.drives[drive_id] = f"{rng.choice(_FOLDER_NAMES)} team drive {index + 1}"
            self._seed(
                account,
                rng,
                files=shared_drive_files,
                folders=max(shared_drive_files // 15, 1) if shared_drive_files else 0,
                drive_id=drive_id,
            )
        with self._data:
            if self.oauth.holder(refresh_token) is not None:
                raise ValueError("refresh_token already belongs to another account")
            self.accounts.add(email, account)
            self.oauth.add_refresh_token(email, refresh_token)

    def _seed(
        self,
        account: _Account,
        rng: random.Random,
        *,
        files: int,
        folders: int,
        drive_id: str | None = None,
    ) -> None:
        top = drive_id or account.root_id
        owner = None if drive_id else account.email
        start = _EPOCH_MS - _YEAR_MS
        step = _YEAR_MS / max(files + folders, 1)
        containers = [top]
        for i in range(folders):
            created = start + int(i * step / 2)
            parent = top if i < 3 or rng.random() < 0.3 else rng.choice(containers[1:])
            name = _FOLDER_NAMES[i % len(_FOLDER_NAMES)] + (
                f" {i // len(_FOLDER_NAMES) + 1}" if i >= len(_FOLDER_NAMES) else ""
            )
            folder = self._new_file(
                account, name, FOLDER, [parent], drive_id, owner, account.email, created
            )
            containers.append(folder.id)
        for i in range(files):
            created = start + int((i + rng.random()) * step)
            modified = created + int(rng.random() ** 3 * (_EPOCH_MS - created))
            mime, ext = _pick_kind(rng)
            name = f"{rng.choice(_TOPICS)} {rng.choice(_QUALIFIERS)}" + (f".{ext}" if ext else "")
            file_owner = owner
            parents = [rng.choice(containers)]
            if drive_id is None and rng.random() < 0.05:
                colleague = rng.choice(_COLLEAGUES)
                file_owner = f"{colleague}@{account.email.split('@', 1)[1]}"
                parents = []
            file = self._new_file(
                account,
                name,
                mime,
                parents,
                drive_id,
                file_owner,
                file_owner or account.email,
                created,
                content=f"{account.seed}:{i}" if ext else None,
            )
            file.modified_ms = modified
            file.shared = file_owner != owner or rng.random() < 0.2
            if rng.random() < 0.15:
                file.description = f"{rng.choice(_TOPICS)} for the {rng.choice(_QUALIFIERS)} review"
            file.starred = rng.random() < 0.1
            file.version = 1 + rng.randrange(40)

    def _new_file(
        self,
        account: _Account,
        name: str,
        mime_type: str,
        parents: list[str],
        drive_id: str | None,
        owner: str | None,
        modifier: str,
        when: int,
        *,
        content: str | None = None,
    ) -> _File:
        file = _File(
            id=account.new_id(),
            name=name,
            mime_type=mime_type,
            parents=parents,
            drive_id=drive_id,
            owner=owner,
            modifier=modifier,
            created_ms=when,
            modified_ms=when,
            seq=account.next_seq,
        )
        account.next_seq += 1
        if content is not None and not file.is_google_type and not file.is_folder:
            self._set_content(file, content)
            file.extension = _extension(name)
        account.files[file.id] = file
        account.by_seq[file.seq] = file
        self._record_change(account, file, when)
        return file

    @staticmethod
    def _set_content(file: _File, content: str) -> None:
        data = content.encode()
        file.size = 1024 + len(data) * 997 % 5_000_000
        file.md5 = hashlib.md5(data + file.id.encode()).hexdigest()

    @staticmethod
    def _record_change(account: _Account, file: _File, when: int) -> None:
        if file.change_id:
            account.change_log.pop(file.change_id, None)
            index = bisect_left(account.change_ids, file.change_id)
            if index < len(account.change_ids) and account.change_ids[index] == file.change_id:
                account.change_ids.pop(index)
        account.change_counter += 1
        file.change_id = account.change_counter
        file.change_ms = when
        account.change_log[file.change_id] = file.id
        account.change_ids.append(file.change_id)
        account.version += 1

    @admin_operation
    def add_shared_drive(self, email: str, name: str) -> str:
        """A new, empty shared drive the user is a member of; returns its id."""
        with self._data:
            account = self.accounts[email]
            drive_id = account.new_id("0A", 11) + "Uk9PVA"
            account.drives[drive_id] = name
            account.version += 1
            return drive_id

    @admin_operation
    def root_id(self, email: str) -> str:
        with self._data:
            return self.accounts[email].root_id

    @admin_operation
    def drive_ids(self, email: str) -> list[str]:
        with self._data:
            return list(self.accounts[email].drives)

    @admin_operation
    def ids(
        self,
        email: str,
        *,
        trashed: bool = False,
        folders_only: bool = False,
        drive_id: str | None = None,
        under: str | None = None,
    ) -> list[str]:
        """Ids of the files that are (or are not) trashed, oldest first.

        ``drive_id`` keeps one shared drive's files (``"my"`` for My Drive and shared with
        me); ``under`` keeps everything below a folder, at any depth.
        """
        with self._data:
            account = self.accounts[email]
            below = self._descendants(account, under) if under is not None else None
            out = []
            for file in sorted(account.files.values(), key=lambda f: f.seq):
                if file.trashed != trashed or (folders_only and not file.is_folder):
                    continue
                if drive_id is not None and file.drive_id != (
                    None if drive_id == "my" else drive_id
                ):
                    continue
                if below is not None and file.id not in below:
                    continue
                out.append(file.id)
            return out

    @admin_operation
    def get(self, email: str, file_id: str) -> dict[str, Any]:
        """A file with every field, as ``fields=*`` renders it; KeyError if unknown."""
        with self._data:
            account = self.accounts[email]
            return self._render(account, self._file(account, file_id))

    @admin_operation
    def create(
        self,
        email: str,
        name: str,
        *,
        mime_type: str = "text/plain",
        parent: str | None = None,
        description: str | None = None,
        content: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A new file (or folder, with ``mime_type=FOLDER``) under ``parent`` (default: the
        root of My Drive; a shared drive's id puts it at that drive's top)."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            parent_id = parent or account.root_id
            drive_id = self._drive_of(account, parent_id)
            owner = None if drive_id else account.email
            file = self._new_file(
                account,
                name,
                mime_type,
                [parent_id],
                drive_id,
                owner,
                account.email,
                when,
                content=content if content is not None else f"{name}:{when}",
            )
            file.description = description
            return self._render(account, file)

    @admin_operation
    def update(
        self,
        email: str,
        file_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        starred: bool | None = None,
        content: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Rename, describe, star or edit a file; edits move ``modifiedTime``, starring not."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            file = self._file(account, file_id)
            modified = False
            if name is not None:
                file.name, modified = name, True
                if file.size is not None:
                    file.extension = _extension(name) or file.extension
            if description is not None:
                file.description, modified = description, True
            if content is not None:
                file.revision += 1
                if not file.is_google_type and not file.is_folder:
                    self._set_content(file, f"{content}:{file.revision}")
                modified = True
            if starred is not None:
                file.starred = starred
            if modified:
                file.modified_ms = when
                file.modifier = account.email
            file.version += 1
            self._record_change(account, file, when)
            return self._render(account, file)

    @admin_operation
    def move(
        self, email: str, file_id: str, parent: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Put a file (and everything under it) in another folder, or another drive."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            file = self._file(account, file_id)
            if parent == file.id or parent in self._descendants(account, file.id):
                raise ValueError("a folder cannot move into itself")
            drive_id = self._drive_of(account, parent)
            file.parents = [parent]
            file.version += 1
            moved = [file]
            if drive_id != file.drive_id:
                moved += [account.files[i] for i in self._descendants(account, file.id)]
            for item in moved:
                if item.drive_id != drive_id:
                    item.drive_id = drive_id
                    item.owner = None if drive_id else account.email
                self._record_change(account, item, when)
            return self._render(account, file)

    @admin_operation
    def trash(self, email: str, file_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Move a file to the trash; everything under a folder goes with it."""
        return self._set_trashed(email, file_id, True, at)

    @admin_operation
    def untrash(self, email: str, file_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        return self._set_trashed(email, file_id, False, at)

    def _set_trashed(
        self, email: str, file_id: str, trashed: bool, at: datetime | None
    ) -> dict[str, Any]:
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            file = self._file(account, file_id)
            file.trashed = file.explicitly_trashed = trashed
            file.version += 1
            self._record_change(account, file, when)
            for child_id in self._descendants(account, file.id):
                child = account.files[child_id]
                if child.explicitly_trashed or child.trashed == trashed:
                    continue
                child.trashed = trashed
                child.version += 1
                self._record_change(account, child, when)
            return self._render(account, file)

    @admin_operation
    def delete(self, email: str, file_id: str, *, at: datetime | None = None) -> None:
        """Delete a file for good (a folder with everything under it), skipping the trash."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            file = self._file(account, file_id)
            for gone_id in [file.id, *self._descendants(account, file.id)]:
                gone = account.files.pop(gone_id)
                del account.by_seq[gone.seq]
                account.change_log.pop(gone.change_id, None)
                index = bisect_left(account.change_ids, gone.change_id)
                account.change_ids.pop(index)
                account.change_counter += 1
                account.removed[gone_id] = _Removed(
                    gone_id, gone.drive_id, account.change_counter, when
                )
                account.change_log[account.change_counter] = gone_id
                account.change_ids.append(account.change_counter)
            account.version += 1

    # the verbs every sandbox has, as ``syncs sandbox google_drive --url URL VERB EMAIL ID``

    @admin_operation
    def archive(self, email: str, file_id: str) -> dict[str, Any]:
        """Move a file to the trash."""
        return self.trash(email, file_id)

    @admin_operation
    def restore(self, email: str, file_id: str) -> dict[str, Any]:
        """Take a file out of the trash."""
        return self.untrash(email, file_id)

    @admin_operation
    def erase(self, email: str, file_id: str) -> None:
        """Delete a file for good."""
        self.delete(email, file_id)

    # tokens (admin operations)

    @admin_operation
    def issue_access_token(self, email: str, *, lifetime: float | None = None) -> str:
        """An access token for ``email``, as the token endpoint would hand out."""
        return self.oauth.issue(self.accounts[email].email, lifetime)

    @admin_operation
    def access_tokens(self, email: str) -> list[str]:
        """The user's access tokens that are still valid."""
        return self.oauth.valid_tokens(email)

    @admin_operation
    def expire_access_tokens(self, email: str | None = None) -> None:
        """Make issued access tokens (of one user, or all) expire now."""
        self.oauth.expire(email)

    @admin_operation
    def add_refresh_token(self, email: str, refresh_token: str) -> None:
        """The user authorized the app again: one more refresh token reaches the account."""
        self.oauth.add_refresh_token(self.accounts[email].email, refresh_token)

    @admin_operation
    def revoke_refresh_token(self, refresh_token: str) -> None:
        """The user withdrew the app's access: the refresh token stops working."""
        self.oauth.revoke_refresh_token(refresh_token)

    # lookups

    @staticmethod
    def _file(account: _Account, file_id: str) -> _File:
        file = account.files.get(file_id)
        if file is None:
            raise KeyError(f"unknown file {file_id!r}")
        return file

    @staticmethod
    def _drive_of(account: _Account, parent_id: str) -> str | None:
        if parent_id == account.root_id:
            return None
        if parent_id in account.drives:
            return parent_id
        parent = account.files.get(parent_id)
        if parent is None or not parent.is_folder:
            raise KeyError(f"unknown folder {parent_id!r}")
        return parent.drive_id

    @staticmethod
    def _descendants(account: _Account, folder_id: str) -> set[str]:
        children: dict[str, list[str]] = {}
        for file in account.files.values():
            for parent in file.parents:
                children.setdefault(parent, []).append(file.id)
        out: set[str] = set()
        stack = [folder_id]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return out

    # rendering

    def _user(self, account: _Account, email: str) -> dict[str, Any]:
        return {
            "kind": "drive#user",
            "displayName": _display_name(email),
            "photoLink": f"https://lh3.googleusercontent.com/a/{_permission_id(email)}=s64",
            "me": email == account.email,
            "permissionId": _permission_id(email),
            "emailAddress": email,
        }

    def _render(self, account: _Account, file: _File) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": file.id,
            "name": file.name,
            "mimeType": file.mime_type,
            "starred": file.starred,
            "trashed": file.trashed,
            "explicitlyTrashed": file.explicitly_trashed,
            "spaces": ["drive"],
            "version": str(file.version),
            "webViewLink": _web_view_link(file),
            "iconLink": f"https://drive-thirdparty.googleusercontent.com/16/type/{file.mime_type}",
            "hasThumbnail": False,
            "viewedByMe": True,
            "createdTime": rfc3339(file.created_ms),
            "modifiedTime": rfc3339(file.modified_ms),
            "modifiedByMe": file.modifier == account.email,
            "lastModifyingUser": self._user(account, file.modifier),
            "shared": file.shared,
            "ownedByMe": file.owner == account.email,
            "writersCanShare": True,
            "isAppAuthorized": False,
        }
        if file.parents:
            out["parents"] = list(file.parents)
        if file.description is not None:
            out["description"] = file.description
        if file.owner is not None:
            out["owners"] = [self._user(account, file.owner)]
        if file.drive_id is not None:
            out["driveId"] = file.drive_id
        if file.size is not None:
            out.update(
                size=str(file.size),
                quotaBytesUsed=str(file.size),
                md5Checksum=file.md5,
                headRevisionId=f"0B{file.id[1:12]}{file.revision:04d}",
                webContentLink=f"https://drive.google.com/uc?id={file.id}&export=download",
                originalFilename=file.name,
            )
            if file.extension:
                out.update(fileExtension=file.extension, fullFileExtension=file.extension)
        return out

    def _render_root(self, account: _Account, folder_id: str) -> dict[str, Any]:
        name = account.drives.get(folder_id, "My Drive")
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": folder_id,
            "name": name,
            "mimeType": FOLDER,
            "starred": False,
            "trashed": False,
            "explicitlyTrashed": False,
            "spaces": ["drive"],
            "createdTime": rfc3339(_EPOCH_MS - 2 * _YEAR_MS),
            "modifiedTime": rfc3339(_EPOCH_MS - 2 * _YEAR_MS),
        }
        if folder_id in account.drives:
            out["driveId"] = folder_id
        else:
            out["owners"] = [self._user(account, account.email)]
        return out

    @staticmethod
    def _view(file: _File) -> FileView:
        return FileView(
            name=file.name,
            mime_type=file.mime_type,
            full_text=f"{file.name}\n{file.description or ''}",
            trashed=file.trashed,
            starred=file.starred,
            parents=tuple(file.parents),
            owners=(file.owner,) if file.owner else (),
            created_ms=file.created_ms,
            modified_ms=file.modified_ms,
            shared_with_me=file.owner is not None and not file.parents,
        )

    # provider hooks: authentication, rate limits

    def authenticate(self, request: Request) -> _Account:
        """An unexpired access token from the token endpoint, as ``Authorization: Bearer``."""
        challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if not request.header("Authorization"):
            raise SandboxError(
                401, _AUTH_REQUIRED, "required:header:Authorization", dict(challenge)
            )
        account = self.accounts.get(self.oauth.account_key(bearer_token(request)))
        if account is None:
            challenge["WWW-Authenticate"] += ', error="invalid_token"'
            raise SandboxError(401, _AUTH_INVALID, "authError:header:Authorization", challenge)
        return account

    def charge(self, request: Request, account: _Account | None, limit: str) -> dict[str, str]:
        """The per-user limit: 403 ``userRateLimitExceeded``, and no rate-limit headers."""
        assert account is not None
        if account.window.take(self.rate_limit_per_minute):
            raise _error(403, "User Rate Limit Exceeded", "userRateLimitExceeded")
        return {}

    # request parameters

    @staticmethod
    def _flag(request: Request, name: str, default: bool = False) -> bool:
        value = request.arg(name)
        if value is None or value == "":
            return default
        if value.lower() not in ("true", "false"):
            raise _invalid(name, f"Invalid value '{value}'. Values must be true or false.")
        return value.lower() == "true"

    @staticmethod
    def _page_size(request: Request, default: int) -> int:
        value = request.arg("pageSize")
        if value is None:
            return default
        try:
            size = int(value)
        except ValueError:
            raise _invalid("pageSize", f"Invalid value '{value}'.") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise _invalid(
                "pageSize",
                f"Invalid value '{value}'. Values must be within the range: [1, {MAX_PAGE_SIZE}]",
            )
        return size

    @staticmethod
    def _fields(request: Request, schema: dict[str, Any], default: Selection) -> Selection:
        text = request.arg("fields")
        if text is None or text == "":
            return default
        try:
            selection = parse_fields(text)
            check_fields(selection, schema)
        except QueryError as exc:
            raise _error(400, str(exc), "invalidParameter", "parameter:fields") from None
        return selection

    # GET /drive/v3/files

    def _list_files(self, request: Request, account: _Account) -> Response:
        if request.arg("orderBy"):
            raise _invalid("orderBy", "orderBy is not simulated by the sandbox")
        selection = self._fields(request, LIST_SCHEMA, DEFAULT_LIST_FIELDS)
        size = min(self._page_size(request, DEFAULT_PAGE_SIZE), self.max_page_size)
        corpora = request.arg("corpora") or "user"
        drive_id = request.arg("driveId")
        all_drives = self._flag(request, "includeItemsFromAllDrives")
        if corpora not in ("user", "domain", "drive", "allDrives"):
            raise _invalid("corpora")
        if (corpora == "drive") != (drive_id is not None):
            raise _invalid(
                "driveId",
                "The driveId parameter must be specified if and only if corpora is set to drive.",
            )
        if corpora in ("drive", "allDrives") and not all_drives:
            raise _invalid(
                "includeItemsFromAllDrives",
                "The includeItemsFromAllDrives parameter must be set to true when corpora is "
                "drive or allDrives.",
            )
        q = request.arg("q")
        try:
            predicate = compile_query(q) if q else None
        except QueryError:
            raise _invalid("q") from None
        fingerprint = hashlib.sha1(f"{q}|{corpora}|{drive_id}|{all_drives}".encode()).hexdigest()[
            :10
        ]
        after = self._decode_page_token(request.arg("pageToken"), fingerprint)
        with self._data:
            if drive_id is not None and drive_id not in account.drives:
                raise _error(
                    404, f"Shared drive not found: {drive_id}", "notFound", "parameter:driveId"
                )
            key = (account.email, account.version, q, corpora, drive_id, all_drives)
            seqs = self._match_cache.get(key)
            if seqs is None:
                by_seq = {}
                for file in account.files.values():
                    if corpora == "drive":
                        visible = file.drive_id == drive_id
                    else:
                        visible = file.drive_id is None or all_drives
                    if visible and (predicate is None or predicate(self._view(file))):
                        by_seq[file.seq] = file.id
                seqs = sorted(by_seq)
                self._match_cache[key] = seqs
                while len(self._match_cache) > 32:
                    self._match_cache.popitem(last=False)
            else:
                self._match_cache.move_to_end(key)
            start = bisect_left(seqs, after)
            chosen = seqs[start : start + size]
            files = [self._render(account, account.by_seq[s]) for s in chosen]
        body: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": self.incomplete_all_drives and corpora == "allDrives",
            "files": files,
        }
        if start + size < len(seqs):
            body["nextPageToken"] = self._encode_page_token(chosen[-1] + 1, fingerprint)
        return json_response(select(body, selection))

    @staticmethod
    def _encode_page_token(after: int, fingerprint: str) -> str:
        raw = f"v1|{after}|{fingerprint}".encode()
        return "~!!~" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_page_token(token: str | None, fingerprint: str) -> int:
        if not token:
            return 0
        try:
            raw = token.removeprefix("~!!~")
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            version, after, made_for = text.split("|")
            if version != "v1" or made_for != fingerprint:
                raise ValueError
            return int(after)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise _invalid("pageToken") from None

    # GET /drive/v3/files/{fileId}

    def _get_file(self, request: Request, account: _Account) -> Response:
        selection = self._fields(request, FILE_SCHEMA, DEFAULT_FILE_FIELDS)
        all_drives = self._flag(request, "supportsAllDrives")
        file_id = unquote(request.params["id"])
        with self._data:
            if file_id in ("root", account.root_id):
                body = self._render_root(account, account.root_id)
            elif file_id in account.drives and all_drives:
                body = self._render_root(account, file_id)
            else:
                file = account.files.get(file_id)
                if file is None or (file.drive_id is not None and not all_drives):
                    raise _error(404, f"File not found: {file_id}.", "notFound", "parameter:fileId")
                body = self._render(account, file)
        return json_response(select(body, selection))

    # GET /drive/v3/changes/startPageToken

    def _start_token(self, request: Request, account: _Account) -> Response:
        selection = self._fields(request, START_TOKEN_SCHEMA, dict.fromkeys(START_TOKEN_SCHEMA))
        drive_id = request.arg("driveId")
        with self._data:
            if drive_id is not None:
                if not self._flag(request, "supportsAllDrives"):
                    raise _invalid("supportsAllDrives", "driveId requires supportsAllDrives")
                if drive_id not in account.drives:
                    raise _error(
                        404, f"Shared drive not found: {drive_id}", "notFound", "parameter:driveId"
                    )
            token = str(account.change_counter + 1)
        body = {"kind": "drive#startPageToken", "startPageToken": token}
        return json_response(select(body, selection))

    # GET /drive/v3/changes

    def _list_changes(self, request: Request, account: _Account) -> Response:
        selection = self._fields(request, CHANGE_LIST_SCHEMA, DEFAULT_CHANGE_FIELDS)
        raw_token = request.arg("pageToken")
        if not raw_token:
            raise _error(400, "Required parameter: pageToken", "required", "parameter:pageToken")
        size = min(self._page_size(request, DEFAULT_PAGE_SIZE), self.max_page_size)
        include_removed = self._flag(request, "includeRemoved", True)
        all_drives = self._flag(request, "includeItemsFromAllDrives")
        supports = self._flag(request, "supportsAllDrives")
        my_drive_only = self._flag(request, "restrictToMyDrive")
        drive_id = request.arg("driveId")
        if drive_id is not None and not supports:
            raise _invalid("supportsAllDrives", "driveId requires supportsAllDrives")
        with self._data:
            try:
                start = int(raw_token)
            except ValueError:
                raise _invalid("pageToken") from None
            if not 1 <= start <= account.change_counter + 1:
                raise _invalid("pageToken")
            if drive_id is not None and drive_id not in account.drives:
                raise _error(
                    404, f"Shared drive not found: {drive_id}", "notFound", "parameter:driveId"
                )
            changes: list[dict[str, Any]] = []
            next_token: str | None = None
            index = bisect_left(account.change_ids, start)
            while index < len(account.change_ids):
                change_id = account.change_ids[index]
                index += 1
                entry = self._change_entry(
                    account,
                    change_id,
                    drive_id,
                    all_drives and supports,
                    include_removed,
                    my_drive_only,
                )
                if entry is None:
                    continue
                changes.append(entry)
                if len(changes) == size:
                    if index < len(account.change_ids):
                        next_token = str(change_id + 1)
                    break
            body: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
            if next_token is not None:
                body["nextPageToken"] = next_token
            else:
                body["newStartPageToken"] = str(account.change_counter + 1)
        return json_response(select(body, selection))

    def _change_entry(
        self,
        account: _Account,
        change_id: int,
        drive_id: str | None,
        all_drives: bool,
        include_removed: bool,
        my_drive_only: bool,
    ) -> dict[str, Any] | None:
        file_id = account.change_log[change_id]
        file = account.files.get(file_id)
        removed = account.removed.get(file_id) if file is None else None
        item_drive = file.drive_id if file is not None else removed.drive_id if removed else None
        if drive_id is not None:
            if item_drive != drive_id:
                return None
        elif item_drive is not None and (not all_drives or my_drive_only):
            return None
        if my_drive_only and file is not None and file.owner != account.email:
            return None
        entry: dict[str, Any] = {"kind": "drive#change", "changeType": "file"}
        if file is not None:
            entry.update(
                time=rfc3339(file.change_ms),
                removed=False,
                fileId=file.id,
                file=self._render(account, file),
            )
        elif removed is not None:
            if not include_removed:
                return None
            entry.update(time=rfc3339(removed.change_ms), removed=True, fileId=file_id)
        else:
            return None
        if item_drive is not None:
            entry["driveId"] = item_drive
        return entry

    # paging (admin operation)

    @admin_operation
    def set_page_size(self, size: int) -> None:
        """Answer at most ``size`` files or changes a page, fewer than ``pageSize`` asks
        (as Drive may), so a small account spans many pages."""
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be from 1 to {MAX_PAGE_SIZE}")
        self.max_page_size = size
