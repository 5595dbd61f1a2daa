"""Google Drive: files and folders through the Drive API v3, with OAuth2.

A full listing pages through ``GET /drive/v3/files`` for the connection's scope (the user's
own files, whole shared drives, or the trees under some folders). It first takes a start
token of the changes feed, so whatever changes while it lists is read again next time.
Incremental runs read ``GET /drive/v3/changes`` from the stored token until Drive hands
out ``newStartPageToken``, which becomes the cursor: it is exactly where this run stopped
reading, so nothing is skipped. A removed or trashed file, or one that moved out of the
scope, is a deletion.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sources.errors import ApiError, ConfigError
from sources.google_drive.api import DriveApi, is_folder, is_rate_limited, to_row
from sources.google_drive.config import GoogleDriveConfig, GoogleDriveCredentials
from sources.google_drive.models import DriveFile
from sources.google_drive.scope import ENTERED, LEFT, Scope
from sources.http import ApiClient
from sources.oauth2 import OAuth2RefreshAuth
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    SyncSpec,
    imported_on_call,
)

MODEL = "files"


def connect(ctx: ExtractContext) -> DriveApi:
    """The connection's Drive client, with its OAuth2 token kept fresh and stored."""
    config: GoogleDriveConfig = ctx.config
    credentials: GoogleDriveCredentials = ctx.credentials
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
        request_log=ctx.http,
    )
    client = ApiClient(
        config.base_url,
        connection_id=ctx.connection_id,
        auth=auth,
        request_log=ctx.http,
        rate_limited=is_rate_limited,
        retry_condition=auth.retry_unauthorized,
    )
    return DriveApi(client, all_drives=not config.whole_account)


def extract(ctx: ExtractContext) -> Iterator[Page]:
    api = connect(ctx)
    cursor = ctx.cursors.get(MODEL) or {}
    if ctx.full_listing or not cursor.get("page_token"):
        yield from _list_everything(ctx, api)
    else:
        yield from _read_changes(ctx, api, cursor)


def _cursor(config: GoogleDriveConfig, page_token: str, tree: dict[str, Any]) -> dict[str, Any]:
    return {
        "page_token": page_token,
        "folders": sorted(config.folders),
        "shared_drives": sorted(config.shared_drives),
        "tree": dict(sorted(tree.items())),
    }


def _check_roots(ctx: ExtractContext, api: DriveApi) -> None:
    config: GoogleDriveConfig = ctx.config
    for kind, ids in (("folder", config.folders), ("shared drive", config.shared_drives)):
        for item in ids:
            meta = api.get_file(item)
            if meta is None or not is_folder(meta) or meta.get("trashed"):
                key = "folders" if kind == "folder" else "shared_drives"
                raise ConfigError(
                    f"connection {ctx.connection_id!r}: {kind} {item!r} is not visible to this "
                    f"account (missing, trashed or not shared with it); fix --config {key}=..."
                )


def _list_everything(ctx: ExtractContext, api: DriveApi) -> Iterator[Page]:
    config: GoogleDriveConfig = ctx.config
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
    ctx.new_cursors[MODEL] = _cursor(config, page_token, tree)


def _read_changes(ctx: ExtractContext, api: DriveApi, cursor: dict[str, Any]) -> Iterator[Page]:
    config: GoogleDriveConfig = ctx.config
    if cursor.get("folders", []) != sorted(config.folders) or cursor.get(
        "shared_drives", []
    ) != sorted(config.shared_drives):
        raise ConfigError(
            f"connection {ctx.connection_id!r}: its folders or shared_drives changed since the "
            f"last run; run `syncs run google_drive {ctx.connection_id} --full-refresh "
            "--confirm-deletions` to list the new scope and delete what left it"
        )
    scope = Scope(api, config, cursor.get("tree") or {})
    new_token: str | None = None
    for body in api.changes(str(cursor["page_token"])):
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
    ctx.new_cursors[MODEL] = _cursor(config, str(new_token), scope.tree)


def _tombstone_subtree(api: DriveApi, folder_id: str, when: str | None) -> Iterator[Page]:
    for files in api.walk([folder_id], include_trashed=True):
        if files:
            yield Page(MODEL, [{"id": f["id"], "deleted_at": when} for f in files], deleted=True)


SPEC = IntegrationSpec(
    name="google_drive",
    title="Google Drive",
    description="files and folders from the Google Drive API v3 (OAuth2, changes feed)",
    config_model=GoogleDriveConfig,
    credentials_model=GoogleDriveCredentials,
    models={
        MODEL: ModelSpec(MODEL, DriveFile, frozenset({"version"}), "files and folders"),
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
    sandbox=imported_on_call("sources.google_drive.sandbox.demo", "start_demo_sandbox"),
)
