"""A connection's config and credentials, validated against its integration's models.

One place for the rules and the one-line messages, whoever asks: syncs' control store
when a connection is added or run, and an integration used as a plain dlt source.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from sources.errors import ConfigError
from sources.spec import IntegrationSpec


def _validation_message(error: ValidationError, what: str, integration: str) -> str:
    parts = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or what
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown {what} key {key!r}")
        elif err["type"] == "missing":
            parts.append(f"missing {what} {key!r}")
        else:
            parts.append(f"{what} {key!r}: {err['msg']}")
    return f"{integration}: " + "; ".join(parts)


def validate_config(spec: IntegrationSpec, config: dict[str, Any]) -> BaseModel:
    try:
        return spec.config_model.model_validate(config)
    except ValidationError as error:
        message = _validation_message(error, "config", spec.name)
        keys = ", ".join(spec.config_model.model_fields)
        raise ConfigError(f"{message}; valid config keys: {keys}") from None


def validate_credentials(spec: IntegrationSpec, credentials: dict[str, Any]) -> BaseModel:
    """The integration's credentials model, and no credential that is empty or blank."""
    try:
        model = spec.credentials_model.model_validate(credentials)
    except ValidationError as error:
        message = _validation_message(error, "credential", spec.name)
        keys = ", ".join(spec.credentials_model.model_fields)
        raise ConfigError(f"{message}; {spec.name} needs --credential for: {keys}") from None
    blank = [
        key for key, value in plain(model).items() if isinstance(value, str) and not value.strip()
    ]
    if blank:
        raise ConfigError(
            f"{spec.name}: credential {blank[0]!r} is empty; give its value with "
            f"--credential {blank[0]}=..."
        )
    return model


def plain(model: BaseModel) -> dict[str, Any]:
    """The model's fields with secrets revealed, to store or to validate again."""
    out: dict[str, Any] = {}
    for key, value in model:
        out[key] = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return out
