"""Per-connection settings and credentials of a GitHub connection."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.config_types import HttpUrl

GITHUB_API = "https://api.github.com"
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class GitHubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(GITHUB_API, description="API root; the sandbox's URL in tests")
    repositories: list[str] = Field(
        min_length=1, description="repositories to sync, as owner/repo (comma-separated)"
    )

    @field_validator("repositories", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("repositories")
    @classmethod
    def _owner_slash_repo(cls, value: list[str]) -> list[str]:
        unique: dict[str, str] = {}
        for name in value:
            name = name.strip().removesuffix(".git")
            if not _REPOSITORY.match(name):
                raise ValueError(f"{name!r} is not a repository; write it as owner/repo")
            unique.setdefault(name.lower(), name)
        return list(unique.values())


class GitHubCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr = Field(
        description="personal access token (classic or fine-grained) or GitHub App token "
        "with read access to issues and pull requests"
    )
