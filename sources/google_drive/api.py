"""Google Drive API v3: the endpoints syncs reads and their quirks.

* Every call names the fields it wants (``fields``): without it Drive answers only ``id``,
  ``name`` and ``mimeType``, and a list response without ``nextPageToken`` in its fields
  silently ends after the first page.
* ``files.list`` may answer partial or empty pages before the end, so paging stops only when
  ``nextPageToken`` is absent. With ``incompleteSearch`` Drive admits it did not search
  every corpus: such a listing is not complete and must not be used to infer deletions.
* ``'id' in parents`` matches direct children only, so a folder is listed level by level,
  with several parents in one query.
* Shared-drive items are visible only with ``supportsAllDrives`` (and, for listings,
  ``includeItemsFromAllDrives``).
* Rate limits come as 403 ``userRateLimitExceeded`` as well as 429 ``rateLimitExceeded``,
  without rate-limit headers; both are retried with exponential backoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import requests
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from sources.errors import ApiError
from sources.http import ApiClient

FOLDER = "application/vnd.google-apps.folder"
PAGE_SIZE = 1000
PARENTS_PER_QUERY = 40
FILE_FIELDS = (
    "id,name,mimeType,description,parents,driveId,trashed,starred,shared,size,md5Checksum,"
    "fileExtension,version,createdTime,modifiedTime,owners(emailAddress),"
    "lastModifyingUser(emailAddress),webViewLink"
)
LIST_FIELDS = f"nextPageToken,incompleteSearch,files({FILE_FIELDS})"
CHANGE_FIELDS = (
    f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,time,driveId,"
    f"file({FILE_FIELDS}))"
)
ANCESTRY_FIELDS = "id,mimeType,parents,driveId,trashed"
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})


def is_rate_limited(response: requests.Response) -> bool:
    """Drive's rate-limit answers: 429, or 403 with a rate-limit reason."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    try:
        errors = response.json()["error"]["errors"]
        return any(e.get("reason") in RATE_LIMIT_REASONS for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def quote(value: str) -> str:
    """A string literal of Drive's query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def children_query(parent_ids: Iterable[str], *, include_trashed: bool = False) -> str:
    parents = " or ".join(f"{quote(p)} in parents" for p in parent_ids)
    return f"({parents})" if include_trashed else f"({parents}) and trashed = false"


def is_folder(file: dict[str, Any]) -> bool:
    return file.get("mimeType") == FOLDER


def to_row(file: dict[str, Any]) -> dict[str, Any]:
    """One Drive file resource as a flat row of the ``files`` model."""
    return {
        "id": file["id"],
        "name": file.get("name"),
        "mime_type": file.get("mimeType"),
        "is_folder": is_folder(file),
        "parents": list(file.get("parents") or []),
        "drive_id": file.get("driveId"),
        "description": file.get("description"),
        "starred": file.get("starred", False),
        "shared": file.get("shared", False),
        "size": file.get("size"),
        "md5_checksum": file.get("md5Checksum"),
        "file_extension": file.get("fileExtension"),
        "version": file.get("version"),
        "created_time": file.get("createdTime"),
        "modified_time": file.get("modifiedTime"),
        "owners": [o.get("emailAddress") for o in file.get("owners") or [] if o],
        "last_modifying_user": (file.get("lastModifyingUser") or {}).get("emailAddress"),
        "web_view_link": file.get("webViewLink"),
    }


class DriveApi:
    """Drive v3 for one connection; ``all_drives`` also reaches into shared drives."""

    def __init__(self, client: ApiClient, *, all_drives: bool) -> None:
        self.client = client
        self.all_drives = all_drives

    def _drive_params(self) -> dict[str, Any]:
        if not self.all_drives:
            return {}
        return {"supportsAllDrives": "true", "includeItemsFromAllDrives": "true"}

    def list_files(
        self, q: str, *, corpora: str | None = None, drive_id: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the files matching ``q``; raises if Drive says the search was partial."""
        params: dict[str, Any] = {
            "q": q,
            "pageSize": PAGE_SIZE,
            "fields": LIST_FIELDS,
            **self._drive_params(),
        }
        if corpora is not None:
            params["corpora"] = corpora
        if drive_id is not None:
            params["driveId"] = drive_id
        paginator = JSONResponseCursorPaginator(
            cursor_path="nextPageToken", cursor_param="pageToken"
        )
        for (body,) in self.client.paginate("/drive/v3/files", params=params, paginator=paginator):
            if body.get("incompleteSearch"):
                raise ApiError(
                    f"connection {self.client.connection_id!r}: Drive searched only part of "
                    "the corpora for this listing (incompleteSearch); configure `folders` or "
                    "`shared_drives` to narrow it"
                )
            yield list(body.get("files") or [])

    def walk(
        self, roots: Iterable[str], *, include_trashed: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of everything under the ``roots`` folders, level by level."""
        queue = list(dict.fromkeys(roots))
        seen = set(queue)
        while queue:
            batch, queue = queue[:PARENTS_PER_QUERY], queue[PARENTS_PER_QUERY:]
            q = children_query(batch, include_trashed=include_trashed)
            for files in self.list_files(q, corpora="allDrives" if self.all_drives else None):
                for file in files:
                    if is_folder(file) and file["id"] not in seen:
                        seen.add(file["id"])
                        queue.append(file["id"])
                yield files

    def get_file(self, file_id: str, fields: str = ANCESTRY_FIELDS) -> dict[str, Any] | None:
        """One file's metadata, or None when it does not exist or is not visible."""
        params = {"fields": fields, "supportsAllDrives": "true"}
        response = self.client.get(f"/drive/v3/files/{file_id}", params=params, ok=(404,))
        return None if response.status_code == 404 else dict(response.json())

    def start_page_token(self) -> str:
        params = {"supportsAllDrives": "true"} if self.all_drives else {}
        body = self.client.get("/drive/v3/changes/startPageToken", params=params).json()
        token = body.get("startPageToken")
        if not token:
            raise ApiError(
                f"connection {self.client.connection_id!r}: Drive answered no startPageToken"
            )
        return str(token)

    def changes(self, page_token: str) -> Iterator[dict[str, Any]]:
        """Pages of the changes feed from ``page_token``; the last one has newStartPageToken."""
        params: dict[str, Any] = {
            "pageToken": page_token,
            "pageSize": PAGE_SIZE,
            "includeRemoved": "true",
            "fields": CHANGE_FIELDS,
            **self._drive_params(),
        }
        paginator = JSONResponseCursorPaginator(
            cursor_path="nextPageToken", cursor_param="pageToken"
        )
        for (body,) in self.client.paginate(
            "/drive/v3/changes", params=params, paginator=paginator
        ):
            yield dict(body)
