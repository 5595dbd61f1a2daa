"""Query parameters as HubSpot reads them, and the refusal of those the sandbox does not
simulate: a client that sends one gets a 400 naming it, never an answer that ignored it.

The exceptions are named here one by one: parameters that are no part of HubSpot's API for
the endpoint, which HubSpot ignores and well-used clients send anyway, so the sandbox ignores
them as HubSpot does. ``portalId`` appears in HubSpot's own examples on every endpoint; the
Singer SDK's HubSpot tap sends ``limit`` to the properties endpoints and ``sort`` and
``order_by`` to object listings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sources.hubspot.sandbox.catalog import OBJECT_ALIASES
from sources.sandbox.server import Request, SandboxError


def object_type_of(name: str) -> str:
    """The object type a path names (plural, singular or type id), or HubSpot's 400."""
    object_type = OBJECT_ALIASES.get(name.lower())
    if object_type is not None:
        return object_type
    raise SandboxError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")


def int_param(value: Any, name: str, default: int, *, minimum: int) -> int:
    if value is None:
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise SandboxError(400, f"Invalid {name}: {value!r}", "VALIDATION_ERROR") from None
    if number < minimum:
        raise SandboxError(400, f"{name} must be at least {minimum}", "VALIDATION_ERROR")
    return number


def bool_param(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise SandboxError(400, f"Invalid {name}: {value!r}", "VALIDATION_ERROR")
    return lowered == "true"


IGNORED_EVERYWHERE = frozenset({"portalId"})


def refuse_unknown(request: Request, accepted: Iterable[str], ignored: Iterable[str] = ()) -> None:
    """400 naming the first query parameter outside ``accepted``, except those HubSpot
    ignores (``ignored`` and ``IGNORED_EVERYWHERE``)."""
    unknown = sorted(set(request.query) - set(accepted) - set(ignored) - IGNORED_EVERYWHERE)
    if unknown:
        raise SandboxError(
            400, f"query parameter {unknown[0]!r} is not simulated", "VALIDATION_ERROR"
        )


def refuse_set(request: Request, names: Iterable[str]) -> None:
    """400 naming the first of ``names`` given a value: parameters HubSpot documents for
    the endpoint that the sandbox does not simulate."""
    for name in names:
        if any(v for v in request.query.get(name, ())):
            raise SandboxError(400, f"{name} is not simulated", "VALIDATION_ERROR")
