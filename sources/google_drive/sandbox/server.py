"""A loopback simulator of the Google Drive API v3 and Google's OAuth2 token endpoint.

It follows Google's public documentation closely enough that the production source, and
Google's own client (``google-api-python-client`` with ``google-auth``), run against it
unchanged (only the base URL and the token URL differ), including what makes Drive awkward
to sync:

* OAuth2: ``POST /token`` with ``grant_type=refresh_token`` (client credentials in the form
  or HTTP Basic) issues access tokens that expire; an expired, unknown or missing token is
  401 with Google's error body and ``WWW-Authenticate``; a revoked refresh token is 400
  ``invalid_grant``, an unknown client 401 ``invalid_client``;
* ``GET /drive/v3/files`` pages with an opaque ``pageToken``/``nextPageToken``, takes the
  query language in ``q``, ``orderBy`` (every documented sort key, ``desc`` too; not with a
  ``fullText`` term), ``corpora``/``driveId``/``includeItemsFromAllDrives``, returns trashed
  files unless ``q`` says ``trashed = false``, and only ``kind,id,name,mimeType`` per file
  unless ``fields`` asks for more (without ``nextPageToken`` in ``fields`` there is no next
  page token); it can report ``incompleteSearch`` for ``corpora=allDrives``;
* ``GET /drive/v3/files/{id}`` (``root`` and shared-drive ids included); shared-drive items
  are invisible without ``supportsAllDrives``;
* ``GET /drive/v3/about`` (``fields`` required): the user, the storage quota and its use,
  import and export formats, shared-drive themes;
* ``GET /drive/v3/drives`` and ``/drives/{id}``: the shared drives the user is a member of,
  paged (10 by default, at most 100), with their ``q`` terms ``name`` and ``hidden``;
* ``GET /drive/v3/files/{id}/permissions`` and ``.../permissions/{permissionId}``: who has
  access, seeded from the file (the owner; for shared files colleagues, a group, anyone with
  the link or the domain; for shared-drive items the drive's members, inherited);
* ``GET /drive/v3/changes/startPageToken`` and ``GET /drive/v3/changes``: numeric page
  tokens, one entry per file with its latest state (``removed: true`` without a ``file``
  for a permanent delete), ``newStartPageToken`` on the last page only; trashing or
  deleting a folder changes everything under it;
* ``fields`` on every method, checked against the resource's documented fields;
  ``prettyPrint`` honoured (answers are compact unless it is ``true``);
* errors in Google's body (``code``, ``message``, ``errors`` with ``domain``, ``reason``,
  ``location``, ``locationType``, and ``status``); a query parameter a method does not
  document, or documents but the sandbox does not simulate (labels,
  ``includePermissionsForView``, ``useDomainAdminAccess=true``, ``alt=media``,
  ``quotaUser``, the deprecated Team Drive names ...), is 400 naming it;
* per-user rate limit per minute: 403 ``userRateLimitExceeded``, with no rate-limit headers.

Not simulated: writes, uploads and downloads, labels, domain administrators' access.
Accounts are seeded deterministically (``random.Random`` on the seed, times before a fixed
epoch, and what a file's id decides), so the same seed gives identical data on every run.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import random
import string
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import unquote

from sources.google_drive.sandbox.query import (
    DRIVE_TERMS,
    DriveView,
    FileView,
    OrderBy,
    QueryError,
    Schema,
    Selection,
    UnsupportedQuery,
    check_fields,
    compile_query,
    parse_fields,
    parse_order_by,
    select,
    uses_full_text,
)
from sources.google_drive.sandbox.resources import (
    ABOUT_SCHEMA,
    CHANGE_LIST_SCHEMA,
    DEFAULT_CHANGE_LIST_FIELDS,
    DEFAULT_DRIVE_FIELDS,
    DEFAULT_DRIVE_LIST_FIELDS,
    DEFAULT_FILE_FIELDS,
    DEFAULT_FILE_LIST_FIELDS,
    DEFAULT_PERMISSION_FIELDS,
    DEFAULT_PERMISSION_LIST_FIELDS,
    DEFAULT_START_TOKEN_FIELDS,
    DEPRECATED_PARAMETERS,
    DRIVE_LIST_SCHEMA,
    DRIVE_SCHEMA,
    DRIVE_THEMES,
    EXPORT_FORMATS,
    FILE_LIST_SCHEMA,
    FILE_SCHEMA,
    FOLDER_COLOR_PALETTE,
    GLOBAL_PARAMETERS,
    IMPORT_FORMATS,
    MAX_IMPORT_SIZES,
    MAX_UPLOAD_SIZE,
    METHOD_PARAMETERS,
    PERMISSION_LIST_SCHEMA,
    PERMISSION_SCHEMA,
    START_TOKEN_SCHEMA,
    STORAGE_LIMIT,
    theme_link,
)
from sources.google_drive.sandbox.webhooks import DriveWebhooks
from sources.sandbox.auth import OAuthTokens, bearer_token
from sources.sandbox.limits import RollingWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Request,
    Response,
    SandboxError,
    json_response,
)
from sources.sandbox.webhooks import WebhookSandbox

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
_DAY_MS = 24 * 3600 * 1000
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_DRIVES_PAGE_SIZE = 100
DEFAULT_DRIVES_PAGE_SIZE = 10
MAX_PERMISSIONS_PAGE_SIZE = 100
RATE_LIMIT_REASONS = ("userRateLimitExceeded", "rateLimitExceeded")
# Google's canonical error codes by HTTP status, the ``status`` of its error body.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}
# Earlier names of the schemas and default selections, as other modules know them.
LIST_SCHEMA = FILE_LIST_SCHEMA
CHANGE_SCHEMA = CHANGE_LIST_SCHEMA["changes"]
DEFAULT_LIST_FIELDS = DEFAULT_FILE_LIST_FIELDS
DEFAULT_CHANGE_FIELDS = DEFAULT_CHANGE_LIST_FIELDS

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


def _refused(name: str, message: str) -> SandboxError:
    """A parameter the method does not take, or the sandbox does not simulate."""
    return _error(400, message, "invalidParameter", f"parameter:{name}")


def _not_found(message: str, location: str) -> SandboxError:
    return _error(404, message, "notFound", f"parameter:{location}")


def _stable(key: str, salt: str) -> int:
    """A number that ``key`` decides, for seed data that must not draw on the seed's stream."""
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:12], 16)


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


@dataclass(slots=True)
class _Drive:
    """A shared drive the user is a member of (as its organizer)."""

    id: str
    name: str
    created_ms: int
    seq: int
    hidden: bool = False

    @property
    def theme(self) -> tuple[str, str]:
        return DRIVE_THEMES[_stable(self.id, "theme") % len(DRIVE_THEMES)]


class _Grant(NamedTuple):
    """One permission: who (an email, a domain, or nobody for anyone with the link), what."""

    type: str
    address: str | None
    role: str
    discoverable: bool = False


@dataclass
class _Account:
    email: str
    display_name: str
    seed: int
    root_id: str
    ids: random.Random
    files: dict[str, _File] = field(default_factory=dict)
    by_seq: dict[int, _File] = field(default_factory=dict)
    drives: dict[str, _Drive] = field(default_factory=dict)
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

    @property
    def domain(self) -> str:
        return self.email.split("@", 1)[1]

    def add_drive(self, drive_id: str, name: str, created_ms: int) -> _Drive:
        drive = _Drive(drive_id, name, created_ms, len(self.drives))
        self.drives[drive_id] = drive
        return drive


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


@functools.cache
def _display_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


@functools.cache
def _permission_id(email: str) -> str:
    return str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))


def _photo_link(email: str) -> str:
    return f"https://lh3.googleusercontent.com/a/{_permission_id(email)}=s64"


def _web_view_link(file: _File) -> str:
    kinds = {DOCUMENT: "document", SPREADSHEET: "spreadsheets", PRESENTATION: "presentation"}
    if file.mime_type in kinds:
        return f"https://docs.google.com/{kinds[file.mime_type]}/d/{file.id}/edit?usp=drivesdk"
    if file.is_folder:
        return f"https://drive.google.com/drive/folders/{file.id}"
    return f"https://drive.google.com/file/d/{file.id}/view?usp=drivesdk"


class GoogleDriveSandbox(DriveWebhooks, WebhookSandbox[_Account]):
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
        self._match_cache: OrderedDict[tuple[Any, ...], list[tuple[Any, ...]]] = OrderedDict()
        self.route("POST", r"/token", self.oauth.token_endpoint)
        drive = r"/drive/v3"
        self.api("GET", drive + r"/files", self._list_files)
        self.api("GET", drive + r"/files/(?P<id>[^/]+)", self._get_file)
        self.api("GET", drive + r"/files/(?P<id>[^/]+)/permissions", self._list_permissions)
        self.api(
            "GET",
            drive + r"/files/(?P<id>[^/]+)/permissions/(?P<permission>[^/]+)",
            self._get_permission,
        )
        self.api("GET", drive + r"/about", self._about)
        self.api("GET", drive + r"/drives", self._list_drives)
        self.api("GET", drive + r"/drives/(?P<id>[^/]+)", self._get_drive)
        self.api("GET", drive + r"/changes/startPageToken", self._start_token)
        self.api("GET", drive + r"/changes", self._list_changes)
        self._route_channels(drive)

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
        return {
            "error": {
                "code": status,
                "message": message,
                "errors": [detail],
                "status": _STATUS_NAMES.get(status, "UNKNOWN"),
            }
        }

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
            name = f"{rng.choice(_FOLDER_NAMES)} team drive {index + 1}"
            created = _EPOCH_MS - _YEAR_MS - _stable(drive_id, "created") % (_YEAR_MS // 2)
            account.add_drive(drive_id, name, created)
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

    def _record_change(self, account: _Account, file: _File, when: int) -> None:
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
        self.notify_changed(account.email)

    @admin_operation
    def add_shared_drive(self, email: str, name: str, *, at: datetime | None = None) -> str:
        """A new, empty shared drive the user is a member of; returns its id."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account = self.accounts[email]
            drive_id = account.new_id("0A", 11) + "Uk9PVA"
            account.add_drive(drive_id, name, when)
            account.version += 1
            return drive_id

    @admin_operation
    def hide_shared_drive(self, email: str, drive_id: str, *, hidden: bool = True) -> None:
        """Hide a shared drive from the user's default view (or show it again)."""
        with self._data:
            drive = self.accounts[email].drives.get(drive_id)
            if drive is None:
                raise KeyError(f"unknown shared drive {drive_id!r}")
            drive.hidden = hidden

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
            self.notify_changed(email)

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
            "photoLink": _photo_link(email),
            "me": email == account.email,
            "permissionId": _permission_id(email),
            "emailAddress": email,
        }

    @staticmethod
    def _shared_with_me_ms(account: _Account, file: _File) -> int | None:
        """When a colleague shared their file with the user: within two days of creating it."""
        if file.owner is None or file.owner == account.email:
            return None
        return file.created_ms + _stable(file.id, "shared") % (2 * _DAY_MS)

    def _times(self, account: _Account, file: _File) -> tuple[int | None, int | None, int | None]:
        """When the user last modified the file, shared it with them, viewed it (None: never).

        The user has viewed what they modified or what was shared with them, when that was.
        """
        by_me = file.modified_ms if file.modifier == account.email else None
        shared = self._shared_with_me_ms(account, file)
        seen = [t for t in (by_me, shared) if t is not None]
        return by_me, shared, max(seen) if seen else None

    def _render(self, account: _Account, file: _File) -> dict[str, Any]:
        by_me, shared_at, viewed = self._times(account, file)
        grants = self._grants(account, file)
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
            "viewedByMe": viewed is not None,
            "createdTime": rfc3339(file.created_ms),
            "modifiedTime": rfc3339(file.modified_ms),
            "modifiedByMe": by_me is not None,
            "lastModifyingUser": self._user(account, file.modifier),
            "shared": file.shared,
            "ownedByMe": file.owner == account.email,
            "writersCanShare": True,
            "isAppAuthorized": False,
            "quotaBytesUsed": str(file.size or 0),
            "permissionIds": [self._permission_id(g) for g in grants],
        }
        if by_me is not None:
            out["modifiedByMeTime"] = rfc3339(by_me)
        if viewed is not None:
            out["viewedByMeTime"] = rfc3339(viewed)
        if shared_at is not None:
            out["sharedWithMeTime"] = rfc3339(shared_at)
            out["sharingUser"] = self._user(account, file.owner or account.email)
        if file.parents:
            out["parents"] = list(file.parents)
        if file.description is not None:
            out["description"] = file.description
        if file.owner is not None:
            out["owners"] = [self._user(account, file.owner)]
            out["permissions"] = [self._permission(account, g) for g in grants]
        if file.drive_id is not None:
            out["driveId"] = file.drive_id
        if file.size is not None:
            out.update(
                size=str(file.size),
                md5Checksum=file.md5,
                headRevisionId=f"0B{file.id[1:12]}{file.revision:04d}",
                webContentLink=f"https://drive.google.com/uc?id={file.id}&export=download",
                originalFilename=file.name,
            )
            if file.extension:
                out.update(fileExtension=file.extension, fullFileExtension=file.extension)
        return out

    def _render_root(self, account: _Account, folder_id: str) -> dict[str, Any]:
        drive = account.drives.get(folder_id)
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": folder_id,
            "name": drive.name if drive is not None else "My Drive",
            "mimeType": FOLDER,
            "starred": False,
            "trashed": False,
            "explicitlyTrashed": False,
            "spaces": ["drive"],
            "createdTime": rfc3339(_EPOCH_MS - 2 * _YEAR_MS),
            "modifiedTime": rfc3339(_EPOCH_MS - 2 * _YEAR_MS),
        }
        if drive is not None:
            out["driveId"] = folder_id
            out["createdTime"] = out["modifiedTime"] = rfc3339(drive.created_ms)
        else:
            owner = _Grant("user", account.email, "owner")
            out["owners"] = [self._user(account, account.email)]
            out["permissionIds"] = [self._permission_id(owner)]
            out["permissions"] = [self._permission(account, owner)]
        return out

    def _view(self, account: _Account, file: _File) -> FileView:
        by_me, shared_at, viewed = self._times(account, file)
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
            is_folder=file.is_folder,
            modified_by_me_ms=by_me,
            viewed_by_me_ms=viewed,
            shared_with_me_ms=shared_at,
            quota_bytes=file.size or 0,
        )

    # permissions, seeded from what a file's (or shared drive's) id decides

    def _members(self, account: _Account, drive_id: str) -> list[_Grant]:
        """A shared drive's members: the user organizes it, with colleagues and a group."""
        roles = ("fileOrganizer", "writer", "commenter", "reader")
        pick = _stable(drive_id, "members")
        colleagues = sorted(_COLLEAGUES, key=lambda c: _stable(f"{drive_id}:{c}", "order"))
        grants = [_Grant("user", account.email, "organizer")]
        for index, name in enumerate(colleagues[: 2 + pick % 3]):
            role = roles[(pick >> (2 + 2 * index)) % len(roles)]
            grants.append(_Grant("user", f"{name}@{account.domain}", role))
        grants.append(_Grant("group", f"team@{account.domain}", "writer"))
        return grants

    def _grants(self, account: _Account, file: _File) -> list[_Grant]:
        """Who has access to a file: a shared drive's members, or the owner and, for a shared
        file, the user (shared with them), colleagues, a group, the link or the domain."""
        if file.drive_id is not None:
            return self._members(account, file.drive_id)
        owner = file.owner or account.email
        grants = [_Grant("user", owner, "owner")]
        if owner != account.email:
            grants.append(_Grant("user", account.email, "writer"))
        if not file.shared:
            return grants
        pick = _stable(file.id, "grants")
        others = sorted(
            (c for c in _COLLEAGUES if f"{c}@{account.domain}" != owner),
            key=lambda c: _stable(f"{file.id}:{c}", "order"),
        )
        for index, name in enumerate(others[: 1 + pick % 3]):
            role = ("writer", "commenter", "reader")[(pick >> (2 + 2 * index)) % 3]
            grants.append(_Grant("user", f"{name}@{account.domain}", role))
        if pick >> 10 & 1:
            grants.append(_Grant("group", f"team@{account.domain}", "reader"))
        link = pick >> 11 & 3
        if link == 0:
            grants.append(_Grant("anyone", None, "reader"))
        elif link == 1:
            grants.append(_Grant("domain", account.domain, "reader", bool(pick >> 13 & 1)))
        return grants

    @staticmethod
    def _permission_id(grant: _Grant) -> str:
        if grant.type == "anyone":
            return "anyone" if grant.discoverable else "anyoneWithLink"
        assert grant.address is not None
        suffix = "k" if grant.type == "domain" else ""
        return _permission_id(grant.address) + suffix

    def _permission(
        self,
        account: _Account,
        grant: _Grant,
        drive_id: str | None = None,
        *,
        inherited: bool = False,
    ) -> dict[str, Any]:
        """One permission resource; with ``drive_id``, a shared drive member's, on the drive
        itself or (``inherited``) on one of its items."""
        out: dict[str, Any] = {
            "kind": "drive#permission",
            "id": self._permission_id(grant),
            "type": grant.type,
            "role": grant.role,
        }
        if grant.type in ("user", "group"):
            assert grant.address is not None
            out.update(emailAddress=grant.address, deleted=False)
            if grant.type == "user":
                out.update(
                    displayName=_display_name(grant.address),
                    photoLink=_photo_link(grant.address),
                )
                if drive_id is None:
                    out["pendingOwner"] = False
            else:
                out["displayName"] = f"{_display_name(grant.address)} ({account.domain})"
        elif grant.type == "domain":
            out.update(domain=grant.address, displayName=grant.address)
            out["allowFileDiscovery"] = grant.discoverable
        else:
            out["allowFileDiscovery"] = grant.discoverable
        if drive_id is not None:
            detail: dict[str, Any] = {"permissionType": "member", "role": grant.role}
            if inherited:
                detail["inheritedFrom"] = drive_id
            detail["inherited"] = inherited
            out["permissionDetails"] = [detail]
        return out

    # shared drives and the about resource

    def _render_drive(self, account: _Account, drive: _Drive) -> dict[str, Any]:
        theme, color = drive.theme
        empty = not any(f.drive_id == drive.id for f in account.files.values())
        capabilities = dict.fromkeys(DRIVE_SCHEMA["capabilities"] or {}, True)
        capabilities["canDeleteDrive"] = empty
        restrictions: dict[str, Any] = dict.fromkeys(DRIVE_SCHEMA["restrictions"] or {}, False)
        restrictions["downloadRestriction"] = {
            "restrictedForReaders": False,
            "restrictedForWriters": False,
        }
        return {
            "kind": "drive#drive",
            "id": drive.id,
            "name": drive.name,
            "themeId": theme,
            "colorRgb": color,
            "backgroundImageLink": theme_link(theme),
            "capabilities": capabilities,
            "createdTime": rfc3339(drive.created_ms),
            "hidden": drive.hidden,
            "restrictions": restrictions,
        }

    def _render_about(self, account: _Account) -> dict[str, Any]:
        mine = [f for f in account.files.values() if f.owner == account.email and f.size]
        in_drive = sum(f.size or 0 for f in mine)
        in_trash = sum(f.size or 0 for f in mine if f.trashed)
        themes = [
            {"id": theme, "backgroundImageLink": theme_link(theme), "colorRgb": color}
            for theme, color in DRIVE_THEMES
        ]
        return {
            "kind": "drive#about",
            "user": self._user(account, account.email),
            "storageQuota": {
                "limit": str(STORAGE_LIMIT),
                "usage": str(in_drive),
                "usageInDrive": str(in_drive),
                "usageInDriveTrash": str(in_trash),
            },
            "importFormats": {k: list(v) for k, v in IMPORT_FORMATS.items()},
            "exportFormats": {k: list(v) for k, v in EXPORT_FORMATS.items()},
            "maxImportSizes": dict(MAX_IMPORT_SIZES),
            "maxUploadSize": MAX_UPLOAD_SIZE,
            "appInstalled": False,
            "folderColorPalette": list(FOLDER_COLOR_PALETTE),
            "driveThemes": themes,
            "canCreateDrives": True,
            "canCreateTeamDrives": True,
            "teamDriveThemes": [dict(t) for t in themes],
        }

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

    def _check_parameters(self, request: Request, method: str, simulated: Collection[str]) -> None:
        """Refuse, naming it, a query parameter that ``method`` does not document, or that it
        documents but the sandbox does not simulate (``simulated`` are those it does, besides
        ``fields``, ``alt=json`` and ``prettyPrint``, which every method takes)."""
        documented = METHOD_PARAMETERS[method] | GLOBAL_PARAMETERS
        for name in request.query:
            if name in simulated or name in ("fields", "alt", "prettyPrint"):
                continue
            if name in DEPRECATED_PARAMETERS and name in documented:
                raise _refused(
                    name,
                    f"{name} is deprecated and not simulated by the sandbox; use "
                    f"{DEPRECATED_PARAMETERS[name]}",
                )
            if name in documented:
                raise _refused(
                    name, f"The sandbox does not simulate the parameter {name} of {method}."
                )
            raise _refused(name, f"{method} has no parameter {name}.")
        alt = request.arg("alt")
        if alt not in (None, "json"):
            raise _refused("alt", f"alt={alt} is not simulated by the sandbox; it answers JSON")
        self._flag(request, "prettyPrint")

    def _no_admin_access(self, request: Request) -> None:
        if self._flag(request, "useDomainAdminAccess"):
            raise _refused(
                "useDomainAdminAccess",
                "useDomainAdminAccess=true (a domain administrator's access) is not simulated "
                "by the sandbox",
            )

    @staticmethod
    def _spaces(request: Request) -> None:
        for space in (request.arg("spaces") or "drive").split(","):
            if space.strip() == "appDataFolder":
                raise _refused("spaces", "The appDataFolder space is not simulated by the sandbox")
            if space.strip() != "drive":
                raise _invalid("spaces")

    def _answer(self, request: Request, body: dict[str, Any], selection: Selection) -> Response:
        """``body`` cut down to ``selection``, indented if ``prettyPrint=true``."""
        payload = select(body, selection)
        if self._flag(request, "prettyPrint"):
            text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
            return Response(200, text.encode())
        return json_response(payload)

    @staticmethod
    def _flag(request: Request, name: str, default: bool = False) -> bool:
        value = request.arg(name)
        if value is None or value == "":
            return default
        if value.lower() not in ("true", "false"):
            raise _invalid(name, f"Invalid value '{value}'. Values must be true or false.")
        return value.lower() == "true"

    @staticmethod
    def _page_size(request: Request, default: int, maximum: int = MAX_PAGE_SIZE) -> int:
        value = request.arg("pageSize")
        if value is None:
            return default
        try:
            size = int(value)
        except ValueError:
            raise _invalid("pageSize", f"Invalid value '{value}'.") from None
        if not 1 <= size <= maximum:
            raise _invalid(
                "pageSize",
                f"Invalid value '{value}'. Values must be within the range: [1, {maximum}]",
            )
        return size

    @staticmethod
    def _fields(request: Request, schema: Schema, default: Selection) -> Selection:
        text = request.arg("fields")
        if text is None or text == "":
            return default
        try:
            selection = parse_fields(text)
            check_fields(selection, schema)
        except QueryError as exc:
            raise _error(400, str(exc), "invalidParameter", "parameter:fields") from None
        return selection

    @staticmethod
    def _order_by(request: Request, q: str | None) -> OrderBy:
        text = request.arg("orderBy")
        if not text:
            return OrderBy()
        try:
            order = parse_order_by(text)
        except QueryError as exc:
            raise _invalid("orderBy", str(exc)) from None
        if q and uses_full_text(q):
            raise _error(
                400,
                "Sorting is not supported for queries with fullText terms. Results are always "
                "in descending relevance order.",
                "badRequest",
                "parameter:orderBy",
            )
        return order

    @staticmethod
    def _lookup(account: _Account, file_id: str, all_drives: bool) -> _File | _Drive | None:
        """What ``file_id`` names for a request with ``supportsAllDrives`` = ``all_drives``: a
        file, a shared drive, or None for My Drive's root; 404 for anything it cannot see."""
        if file_id in ("root", account.root_id):
            return None
        drive = account.drives.get(file_id)
        if drive is not None and all_drives:
            return drive
        file = account.files.get(file_id)
        if file is None or (file.drive_id is not None and not all_drives):
            raise _not_found(f"File not found: {file_id}.", "fileId")
        return file

    # page tokens: opaque, and good only for the listing that made them

    @staticmethod
    def _encode_page_token(position: Any, fingerprint: str) -> str:
        raw = f"v2|{fingerprint}|{json.dumps(position, separators=(',', ':'))}".encode()
        return "~!!~" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_page_token(token: str, fingerprint: str) -> Any:
        try:
            raw = token.removeprefix("~!!~")
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            version, made_for, position = text.split("|", 2)
            if version != "v2" or made_for != fingerprint:
                raise ValueError
            return json.loads(position)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise _invalid("pageToken") from None

    def _decode_offset(self, token: str | None, fingerprint: str, limit: int) -> int:
        if not token:
            return 0
        offset = self._decode_page_token(token, fingerprint)
        if type(offset) is not int or not 0 <= offset <= limit:
            raise _invalid("pageToken")
        return offset

    @staticmethod
    def _fingerprint(*parts: object) -> str:
        return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:10]

    # GET /drive/v3/files

    def _list_files(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request,
            "files.list",
            (
                "corpora", "driveId", "includeItemsFromAllDrives", "orderBy", "pageSize",
                "pageToken", "q", "spaces", "supportsAllDrives",
            ),
        )  # fmt: skip
        selection = self._fields(request, FILE_LIST_SCHEMA, DEFAULT_FILE_LIST_FIELDS)
        size = min(self._page_size(request, DEFAULT_PAGE_SIZE), self.max_page_size)
        corpora = request.arg("corpora") or "user"
        drive_id = request.arg("driveId")
        all_drives = self._flag(request, "includeItemsFromAllDrives")
        self._flag(request, "supportsAllDrives")
        self._spaces(request)
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
        order = self._order_by(request, q)
        fingerprint = self._fingerprint(q, corpora, drive_id, all_drives, order.text)
        token = request.arg("pageToken")
        after: tuple[Any, ...] | None = None
        if token:
            position = self._decode_page_token(token, fingerprint)
            try:
                if not isinstance(position, list) or not position or type(position[-1]) is not int:
                    raise QueryError("not a position")
                after = (*order.key(order.check(position[:-1])), position[-1])
            except QueryError:
                raise _invalid("pageToken") from None
        with self._data:
            if drive_id is not None and drive_id not in account.drives:
                raise _not_found(f"Shared drive not found: {drive_id}", "driveId")
            key = (account.email, account.version, q, corpora, drive_id, all_drives, order.text)
            entries = self._match_cache.get(key)
            if entries is None:
                entries = []
                viewed = predicate is not None or bool(order.keys)
                for file in account.files.values():
                    if corpora == "drive":
                        visible = file.drive_id == drive_id
                    else:
                        visible = file.drive_id is None or all_drives
                    if not visible:
                        continue
                    view = self._view(account, file) if viewed else None
                    if predicate is None or predicate(view):
                        values = order.values(view) if view is not None and order.keys else []
                        entries.append((*order.key(values), file.seq))
                entries.sort()
                self._match_cache[key] = entries
                while len(self._match_cache) > 32:
                    self._match_cache.popitem(last=False)
            else:
                self._match_cache.move_to_end(key)
            start = 0 if after is None else bisect_right(entries, after)
            chosen = entries[start : start + size]
            files = [self._render(account, account.by_seq[entry[-1]]) for entry in chosen]
            body: dict[str, Any] = {
                "kind": "drive#fileList",
                "incompleteSearch": self.incomplete_all_drives and corpora == "allDrives",
                "files": files,
            }
            if start + size < len(entries):
                last = account.by_seq[chosen[-1][-1]]
                values = order.values(self._view(account, last)) if order.keys else []
                body["nextPageToken"] = self._encode_page_token([*values, last.seq], fingerprint)
        return self._answer(request, body, selection)

    # GET /drive/v3/files/{fileId}

    def _get_file(self, request: Request, account: _Account) -> Response:
        self._check_parameters(request, "files.get", ("acknowledgeAbuse", "supportsAllDrives"))
        selection = self._fields(request, FILE_SCHEMA, DEFAULT_FILE_FIELDS)
        all_drives = self._flag(request, "supportsAllDrives")
        self._flag(request, "acknowledgeAbuse")
        file_id = unquote(request.params["id"])
        with self._data:
            item = self._lookup(account, file_id, all_drives)
            if isinstance(item, _File):
                body = self._render(account, item)
            else:
                body = self._render_root(account, account.root_id if item is None else item.id)
        return self._answer(request, body, selection)

    # GET /drive/v3/files/{fileId}/permissions[/{permissionId}]

    def _permissions_of(self, request: Request, account: _Account) -> tuple[list[Any], bool]:
        """The permissions of the item the path names, and whether it is in a shared drive."""
        item = self._lookup(
            account, unquote(request.params["id"]), self._flag(request, "supportsAllDrives")
        )
        if item is None:
            owner = _Grant("user", account.email, "owner")
            return [self._permission(account, owner)], False
        if isinstance(item, _Drive):
            members = self._members(account, item.id)
            return [self._permission(account, g, item.id) for g in members], True
        grants = self._grants(account, item)
        if item.drive_id is not None:
            return [
                self._permission(account, g, item.drive_id, inherited=True) for g in grants
            ], True
        return [self._permission(account, g) for g in grants], False

    def _list_permissions(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request,
            "permissions.list",
            ("pageSize", "pageToken", "supportsAllDrives", "useDomainAdminAccess"),
        )
        self._no_admin_access(request)
        selection = self._fields(request, PERMISSION_LIST_SCHEMA, DEFAULT_PERMISSION_LIST_FIELDS)
        size = self._page_size(request, MAX_PERMISSIONS_PAGE_SIZE, MAX_PERMISSIONS_PAGE_SIZE)
        with self._data:
            permissions, in_drive = self._permissions_of(request, account)
        if request.arg("pageSize") is None and not in_drive:
            size = len(permissions)
        fingerprint = self._fingerprint("permissions", request.params["id"])
        start = self._decode_offset(request.arg("pageToken"), fingerprint, len(permissions))
        body: dict[str, Any] = {
            "kind": "drive#permissionList",
            "permissions": permissions[start : start + size],
        }
        if start + size < len(permissions):
            body["nextPageToken"] = self._encode_page_token(start + size, fingerprint)
        return self._answer(request, body, selection)

    def _get_permission(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request, "permissions.get", ("supportsAllDrives", "useDomainAdminAccess")
        )
        self._no_admin_access(request)
        selection = self._fields(request, PERMISSION_SCHEMA, DEFAULT_PERMISSION_FIELDS)
        permission_id = unquote(request.params["permission"])
        with self._data:
            permissions, _ = self._permissions_of(request, account)
        for permission in permissions:
            if permission["id"] == permission_id:
                return self._answer(request, permission, selection)
        raise _not_found(f"Permission not found: {permission_id}.", "permissionId")

    # GET /drive/v3/about

    def _about(self, request: Request, account: _Account) -> Response:
        self._check_parameters(request, "about.get", ())
        if not request.arg("fields"):
            raise _error(
                400,
                "The 'fields' parameter is required for this method.",
                "required",
                "parameter:fields",
            )
        selection = self._fields(request, ABOUT_SCHEMA, {})
        with self._data:
            body = self._render_about(account)
        return self._answer(request, body, selection)

    # GET /drive/v3/drives[/{driveId}]

    def _list_drives(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request, "drives.list", ("pageSize", "pageToken", "q", "useDomainAdminAccess")
        )
        self._no_admin_access(request)
        selection = self._fields(request, DRIVE_LIST_SCHEMA, DEFAULT_DRIVE_LIST_FIELDS)
        size = self._page_size(request, DEFAULT_DRIVES_PAGE_SIZE, MAX_DRIVES_PAGE_SIZE)
        q = request.arg("q")
        try:
            predicate = compile_query(q, DRIVE_TERMS) if q else None
        except UnsupportedQuery as exc:
            raise _refused("q", str(exc)) from None
        except QueryError:
            raise _invalid("q") from None
        fingerprint = self._fingerprint("drives", q)
        with self._data:
            after = self._decode_offset(request.arg("pageToken"), fingerprint, len(account.drives))
            drives = [
                d
                for d in account.drives.values()
                if d.seq >= after
                and (predicate is None or predicate(DriveView(name=d.name, hidden=d.hidden)))
            ]
            chosen = drives[:size]
            body: dict[str, Any] = {
                "kind": "drive#driveList",
                "drives": [self._render_drive(account, d) for d in chosen],
            }
            if len(drives) > size:
                body["nextPageToken"] = self._encode_page_token(chosen[-1].seq + 1, fingerprint)
        return self._answer(request, body, selection)

    def _get_drive(self, request: Request, account: _Account) -> Response:
        self._check_parameters(request, "drives.get", ("useDomainAdminAccess",))
        self._no_admin_access(request)
        selection = self._fields(request, DRIVE_SCHEMA, DEFAULT_DRIVE_FIELDS)
        drive_id = unquote(request.params["id"])
        with self._data:
            drive = account.drives.get(drive_id)
            if drive is None:
                raise _not_found(f"Shared drive not found: {drive_id}", "driveId")
            body = self._render_drive(account, drive)
        return self._answer(request, body, selection)

    # GET /drive/v3/changes/startPageToken

    def _start_token(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request, "changes.getStartPageToken", ("driveId", "supportsAllDrives")
        )
        selection = self._fields(request, START_TOKEN_SCHEMA, DEFAULT_START_TOKEN_FIELDS)
        drive_id = request.arg("driveId")
        with self._data:
            if drive_id is not None:
                if not self._flag(request, "supportsAllDrives"):
                    raise _invalid("supportsAllDrives", "driveId requires supportsAllDrives")
                if drive_id not in account.drives:
                    raise _not_found(f"Shared drive not found: {drive_id}", "driveId")
            token = str(account.change_counter + 1)
        body = {"kind": "drive#startPageToken", "startPageToken": token}
        return self._answer(request, body, selection)

    # GET /drive/v3/changes

    def _list_changes(self, request: Request, account: _Account) -> Response:
        self._check_parameters(
            request,
            "changes.list",
            (
                "driveId", "includeCorpusRemovals", "includeItemsFromAllDrives", "includeRemoved",
                "pageSize", "pageToken", "restrictToMyDrive", "spaces", "supportsAllDrives",
            ),
        )  # fmt: skip
        if self._flag(request, "includeCorpusRemovals"):
            raise _refused(
                "includeCorpusRemovals",
                "includeCorpusRemovals=true is not simulated by the sandbox",
            )
        self._spaces(request)
        selection = self._fields(request, CHANGE_LIST_SCHEMA, DEFAULT_CHANGE_LIST_FIELDS)
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
                raise _not_found(f"Shared drive not found: {drive_id}", "driveId")
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
        return self._answer(request, body, selection)

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
