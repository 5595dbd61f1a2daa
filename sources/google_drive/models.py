"""Drive files as stored: one flat row per file or folder.

Drive's ``version`` grows on every change to a file, sharing included, so it is declared
volatile: it never makes an update on its own. ``modifiedTime`` is not volatile: for
Google Docs, Sheets and Slides it is the only field that moves when their content is edited.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DriveFile(BaseModel):
    id: str
    name: str
    mime_type: str
    is_folder: bool = False
    parents: list[str] = []
    drive_id: str | None = None
    description: str | None = None
    starred: bool = False
    shared: bool = False
    size: int | None = None
    md5_checksum: str | None = None
    file_extension: str | None = None
    version: int | None = None
    created_time: datetime
    modified_time: datetime
    owners: list[str] = []
    last_modifying_user: str | None = None
    web_view_link: str | None = None
