"""Per-connection settings and credentials of a Google Drive connection."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.config_types import HttpUrl
from sources.oauth2 import parse_expiry

DRIVE_API = "https://www.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class GoogleDriveConfig(BaseModel):
    """Which part of the account to sync: folders (with everything under them), shared
    drives, or, when neither is given, the user's own files (My Drive and shared with me)."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(DRIVE_API, description="API root; the sandbox's URL in tests")
    token_url: HttpUrl = Field(GOOGLE_TOKEN_URL, description="OAuth2 token endpoint")
    folders: list[str] = Field(
        default_factory=list, description="folder ids to sync, with everything under them"
    )
    shared_drives: list[str] = Field(
        default_factory=list, description="shared drive ids to sync whole"
    )

    @field_validator("folders", "shared_drives", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("folders", "shared_drives")
    @classmethod
    def _drive_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not DRIVE_ID.fullmatch(item):
                raise ValueError(
                    f"{item!r} is not a Drive id (letters, digits, '-' and '_'; the part of "
                    "the folder's or drive's URL after /folders/)"
                )
        return list(dict.fromkeys(value))

    @property
    def whole_account(self) -> bool:
        return not self.folders and not self.shared_drives


class GoogleDriveCredentials(BaseModel):
    """An OAuth2 client and the user's refresh token; the access token is kept here too."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(description="OAuth2 client id")
    client_secret: SecretStr = Field(description="OAuth2 client secret")
    refresh_token: SecretStr = Field(description="the user's refresh token")
    access_token: SecretStr | None = Field(None, description="current access token")
    expires_at: str | None = Field(None, description="when the access token expires (ISO 8601)")

    @field_validator("expires_at")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_expiry(value)
            except ValueError:
                raise ValueError("must be an ISO 8601 time such as 2025-01-31T12:00:00Z") from None
        return value
