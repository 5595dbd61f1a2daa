"""Drive files as stored: one flat row per file or folder.

Drive's ``version`` grows on every change to a file, sharing included, so it is declared
volatile: it never makes an update on its own. ``modifiedTime`` is not volatile: for
Google Docs, Sheets and Slides it is the only field that moves when their content is edited.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class DriveFile(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Drive's file id."""
    name: str
    """Name."""
    mime_type: str
    """MIME type (application/vnd.google-apps.folder for folders)."""
    is_folder: bool = False
    """Whether it is a folder."""
    parents: list[str] = []
    """Ids of the parent folders."""
    drive_id: str | None = None
    """Shared drive it is in, if any."""
    description: str | None = None
    """Description."""
    starred: bool = False
    """Whether the user starred it."""
    shared: bool = False
    """Whether it is shared."""
    size: int | None = None
    """Size in bytes (none for Google Docs and folders)."""
    md5_checksum: str | None = None
    """MD5 of the content (binary files)."""
    file_extension: str | None = None
    """Extension of the name."""
    version: int | None = None
    """Drive's version number, growing with every change."""
    created_time: datetime
    """When it was created."""
    modified_time: datetime
    """When its content or name last changed."""
    owners: list[str] = []
    """Owners' email addresses."""
    last_modifying_user: str | None = None
    """Email of who changed it last."""
    web_view_link: str | None = None
    """Link to open it."""
