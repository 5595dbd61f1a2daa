"""Per-connection settings and credentials of a HubSpot connection."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.config_types import HttpUrl

HUBSPOT_API = "https://api.hubapi.com"


class HubSpotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(HUBSPOT_API, description="API root; the sandbox's URL in tests")
    contacts_properties: list[str] = Field(
        default_factory=list, description="extra contact properties to sync"
    )
    companies_properties: list[str] = Field(
        default_factory=list, description="extra company properties to sync"
    )
    deals_properties: list[str] = Field(
        default_factory=list, description="extra deal properties to sync"
    )

    @field_validator(
        "contacts_properties", "companies_properties", "deals_properties", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    def extra_properties(self, object_type: str) -> list[str]:
        return list(getattr(self, f"{object_type}_properties"))


class HubSpotCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr = Field(description="private app access token")
