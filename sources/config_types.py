"""Field types shared by integrations' per-connection config models."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("is not a URL") from None
    if "@" in parts.netloc:
        raise ValueError(
            "must not carry a user name or password (user:password@host): config is stored "
            "in plain text; pass credentials with --credential KEY=VALUE"
        )
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An API root or endpoint: ``http(s)://…`` without credentials, kept without a trailing slash."""
