"""Per-connection settings and credentials of a HubSpot connection."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.config_types import HttpUrl

HUBSPOT_API = "https://api.hubapi.com"
# The value of ``<object>_properties`` that asks for every property the account defines.
ALL_PROPERTIES = "all"
_EXTRA = "extra {} properties to sync, or 'all' for every property the account defines"


class HubSpotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(HUBSPOT_API, description="API root; the sandbox's URL in tests")
    contacts_properties: list[str] = Field(
        default_factory=list, description=_EXTRA.format("contact")
    )
    companies_properties: list[str] = Field(
        default_factory=list, description=_EXTRA.format("company")
    )
    deals_properties: list[str] = Field(default_factory=list, description=_EXTRA.format("deal"))
    portal_id: str | None = Field(
        None,
        description="the HubSpot account (portal) id; the app's webhooks for it apply here",
        pattern=r"^\d{1,20}$",
    )

    @field_validator(
        "contacts_properties", "companies_properties", "deals_properties", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("contacts_properties", "companies_properties", "deals_properties")
    @classmethod
    def _all_alone(cls, value: list[str]) -> list[str]:
        if ALL_PROPERTIES in value and len(value) > 1:
            raise ValueError(f"'{ALL_PROPERTIES}' already includes every property; give it alone")
        return value

    def all_properties(self, object_type: str) -> bool:
        """Whether the connection syncs every property of ``object_type`` the account has."""
        return self.extra_properties(object_type) == [ALL_PROPERTIES]

    def extra_properties(self, object_type: str) -> list[str]:
        return list(getattr(self, f"{object_type}_properties"))


class HubSpotCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr = Field(description="private app access token")
