"""Google Drive: files and folders through the Drive API v3, with OAuth2.

A full listing pages through ``GET /drive/v3/files`` for the connection's scope (the user's
own files, whole shared drives, or the trees under some folders). It first takes a start
token of the changes feed, so whatever changes while it lists is read again next time.
Incremental runs read ``GET /drive/v3/changes`` from the stored token until Drive hands
out ``newStartPageToken``, which becomes the cursor: it is exactly where this run stopped
reading, so nothing is skipped. The token is kept with the scope it was read for and the
scope's folder tree. A removed or trashed file, or one that moved out of the scope, is a
deletion. Files are read by id with ``files.get``. Drive's push notifications
(``webhooks``) say the feed moved; each is applied as such a read of the feed. A file's
``version`` (one up on every change) is its version: an older one never replaces a newer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sources.cursors import CursorSpec, ModelCursor
from sources.dlt_source import integration_source
from sources.errors import ApiError, ConfigError
from sources.google_drive.api import FILE_FIELDS, DriveApi, is_folder, is_rate_limited, to_row
from sources.google_drive.config import DRIVE_ID, GoogleDriveConfig, GoogleDriveCredentials
from sources.google_drive.models import DriveFile
from sources.google_drive.scope import ENTERED, LEFT, Scope
from sources.google_drive.webhooks import WEBHOOKS
from sources.http import ApiClient
from sources.oauth2 import OAuth2RefreshAuth
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    RecordRef,
    SyncSpec,
    imported_on_call,
)

MODEL = "files"
Context = ExtractContext[GoogleDriveConfig, GoogleDriveCredentials]


def connect(ctx: Context) -> DriveApi:
    """The connection's Drive client, with its OAuth2 token kept fresh and stored."""
    config = ctx.config
    credentials = ctx.credentials
    auth = OAuth2RefreshAuth(
        token_url=config.token_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret.get_secret_value(),
        refresh_token=credentials.refresh_token.get_secret_value(),
        access_token=(
            credentials.access_token.get_secret_value() if credentials.access_token else None
        ),
        expires_at=credentials.expires_at,
        connection_id=ctx.connection_id,
        on_refresh=ctx.save_credentials,
        request_log=ctx.request_log,
    )
    client = ApiClient(
        config.base_url,
        connection_id=ctx.connection_id,
        auth=auth,
        request_log=ctx.request_log,
        rate_limited=is_rate_limited,
        retry_condition=auth.retry_unauthorized,
    )
    return DriveApi(client, all_drives=not config.whole_account)


def extract(ctx: Context) -> Iterator[Page]:
    api = connect(ctx)
    cursor = ctx.cursor(MODEL)
    if cursor.full_listing:
        yield from _list_everything(ctx, api, cursor)
    else:
        yield from _read_changes(ctx, api, cursor)


def _scope_state(config: GoogleDriveConfig, tree: Mapping[str, str | None]) -> dict[str, Any]:
    """What the token was read for: the configured scope and its folder tree."""
    return {
        "folders": sorted(config.folders),
        "shared_drives": sorted(config.shared_drives),
        "tree": dict(sorted(tree.items())),
    }


def _check_roots(ctx: Context, api: DriveApi) -> None:
    config = ctx.config
    for kind, ids in (("folder", config.folders), ("shared drive", config.shared_drives)):
        for item in ids:
            meta = api.get_file(item)
            if meta is None or not is_folder(meta) or meta.get("trashed"):
                key = "folders" if kind == "folder" else "shared_drives"
                raise ConfigError(
                    f"connection {ctx.connection_id!r}: {kind} {item!r} is not visible to this "
                    f"account (missing, trashed or not shared with it); fix --config {key}=..."
                )


def _list_everything(ctx: Context, api: DriveApi, cursor: ModelCursor) -> Iterator[Page]:
    config = ctx.config
    _check_roots(ctx, api)
    page_token = api.start_page_token()
    tree: dict[str, str | None] = {}
    if config.whole_account:
        for files in api.list_files("trashed = false"):
            yield Page(MODEL, [to_row(f) for f in files])
    for drive_id in config.shared_drives:
        for files in api.list_files("trashed = false", corpora="drive", drive_id=drive_id):
            yield Page(MODEL, [to_row(f) for f in files])
    if config.folders:
        for files in api.walk(config.folders):
            for file in files:
                if is_folder(file):
                    parents = file.get("parents") or [None]
                    tree[file["id"]] = parents[0]
            yield Page(MODEL, [to_row(f) for f in files])
    cursor.set(page_token, _scope_state(config, tree))


def _read_changes(ctx: Context, api: DriveApi, cursor: ModelCursor) -> Iterator[Page]:
    config = ctx.config
    state = cursor.state
    if state.get("folders", []) != sorted(config.folders) or state.get(
        "shared_drives", []
    ) != sorted(config.shared_drives):
        raise ConfigError(
            f"connection {ctx.connection_id!r}: its folders or shared_drives changed since the "
            f"last run; run `syncs run google_drive {ctx.connection_id} --full-refresh "
            "--confirm-deletions` to list the new scope and delete what left it"
        )
    scope = Scope(api, config, state.get("tree") or {})
    new_token: str | None = None
    for body in api.changes(str(cursor.token)):
        records: list[dict[str, Any]] = []
        gone: list[dict[str, Any]] = []
        for change in body.get("changes") or []:
            if change.get("changeType", "file") != "file" or not change.get("fileId"):
                continue
            file_id = str(change["fileId"])
            file = change.get("file")
            tombstone = {"id": file_id, "deleted_at": change.get("time")}
            if change.get("removed") or not file:
                gone.append(tombstone)
                scope.forget(file_id)
                continue
            if file.get("trashed"):
                gone.append(tombstone)
                if scope.tracks_folders and is_folder(file) and scope.was_in_scope(file_id):
                    scope.forget(file_id)
                    yield from _tombstone_subtree(api, file_id, change.get("time"))
                continue
            inside = scope.contains(file)
            if scope.tracks_folders and is_folder(file):
                crossed = scope.folder_seen(file, inside)
                if crossed == ENTERED:
                    for files in api.walk([file_id]):
                        scope.subtree_listed(files)
                        yield Page(MODEL, [to_row(f) for f in files])
                elif crossed == LEFT:
                    yield from _tombstone_subtree(api, file_id, change.get("time"))
            if inside:
                records.append(to_row(file))
            else:
                # The feed does not say where a file was before; one that is outside the
                # scope now may have just left it. A tombstone for an id never synced is a no-op.
                gone.append(tombstone)
        if records:
            yield Page(MODEL, records)
        if gone:
            yield Page(MODEL, gone, deleted=True)
        new_token = body.get("newStartPageToken") or new_token
    if new_token is None:
        raise ApiError(
            f"connection {ctx.connection_id!r}: the Drive changes feed ended without a "
            "newStartPageToken; the next run reads it again from the same token"
        )
    cursor.set(str(new_token), _scope_state(config, scope.tree))


def _tombstone_subtree(api: DriveApi, folder_id: str, when: str | None) -> Iterator[Page]:
    for files in api.walk([folder_id], include_trashed=True):
        if files:
            yield Page(MODEL, [{"id": f["id"], "deleted_at": when} for f in files], deleted=True)


def fetch(ctx: Context, model: str, refs: Sequence[RecordRef]) -> Iterator[Page]:
    """Files by id: one Drive no longer has, trashed, or outside the scope is a tombstone."""
    api = connect(ctx)
    scope = Scope(api, ctx.config, ctx.cursor(MODEL).state.get("tree") or {})
    rows: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for ref in refs:
        if not DRIVE_ID.fullmatch(ref.id):
            continue
        file = api.get_file(ref.id, FILE_FIELDS)
        if file is None or file.get("trashed") or not scope.contains(file):
            gone.append({"id": ref.id})
        else:
            rows.append(to_row(file))
    if rows:
        yield Page(MODEL, rows)
    if gone:
        yield Page(MODEL, gone, deleted=True)


SPEC = IntegrationSpec(
    name="google_drive",
    title="Google Drive",
    description="files and folders from the Google Drive API v3 (OAuth2, changes feed)",
    config_model=GoogleDriveConfig,
    credentials_model=GoogleDriveCredentials,
    models={
        MODEL: ModelSpec(
            MODEL,
            DriveFile,
            frozenset({"version"}),
            "files and folders",
            cursor=CursorSpec.feed(),
            version="version",
        ),
    },
    syncs={
        MODEL: SyncSpec(
            MODEL,
            (MODEL,),
            default_frequency=timedelta(minutes=15),
            description="files and folders, incremental through the changes feed",
        )
    },
    extract=extract,
    fetch=fetch,
    sandbox=imported_on_call("sources.google_drive.sandbox.demo", "start_demo_sandbox"),
    webhooks=WEBHOOKS,
)

source = integration_source(SPEC)
