"""Every integration syncs knows, by name. Adding one is one line here."""

from __future__ import annotations

from sources.errors import ConfigError
from sources.github import SPEC as GITHUB
from sources.gong import SPEC as GONG
from sources.google_drive import SPEC as GOOGLE_DRIVE
from sources.hubspot import SPEC as HUBSPOT
from sources.spec import IntegrationSpec

INTEGRATIONS: dict[str, IntegrationSpec] = {
    spec.name: spec for spec in (HUBSPOT, GONG, GOOGLE_DRIVE, GITHUB)
}


def get_integration(name: str) -> IntegrationSpec:
    try:
        return INTEGRATIONS[name]
    except KeyError:
        known = ", ".join(sorted(INTEGRATIONS))
        raise ConfigError(f"unknown integration {name!r}; known integrations: {known}") from None
