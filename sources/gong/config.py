"""Per-connection settings and credentials of a Gong connection."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.config_types import HttpUrl

GONG_API = "https://api.gong.io"


class GongConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(
        GONG_API,
        description="API root shown on Gong's API page (e.g. https://us-12345.api.gong.io); "
        "the sandbox's URL in tests",
    )
    start_date: datetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC),
        description="the earliest call start to sync (ISO 8601); older calls are never read",
    )
    workspace_id: str | None = Field(None, description="sync only this Gong workspace's calls")
    lookback_minutes: int = Field(
        180,
        ge=0,
        le=7 * 24 * 60,
        description="incremental runs re-read calls that started this long before the cursor, "
        "to catch calls Gong finished processing after later ones",
    )
    requests_per_second: float = Field(
        3.0,
        gt=0,
        le=1000,
        description="the company's Gong API rate (3 a second unless Gong support raised it)",
    )

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class GongCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key: SecretStr = Field(description="access key from Gong's API page")
    access_key_secret: SecretStr = Field(description="access key secret from Gong's API page")
