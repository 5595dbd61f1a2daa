"""Field types shared by integrations' per-connection config models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An API root or endpoint: ``http(s)://…``, kept without a trailing slash."""
