"""Query parameters of the records API: declared once, parsed with a clear 400, documented.

Each endpoint's parameters are a tuple of ``Param``; the same declarations parse a
request (unknown, repeated, missing or malformed parameters are refused by name) and
describe the endpoint in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sources.errors import ConfigError

MAX_LIMIT = 10_000


class BadParameter(ConfigError):
    """A request parameter the API cannot use (answered with 400 and its name)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Param:
    name: str
    kind: Literal["string", "integer", "datetime", "list"]
    description: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    max_items: int | None = None

    def parse(self, raw: str) -> Any:
        if self.kind == "integer":
            return self._integer(raw)
        if self.kind == "datetime":
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                raise BadParameter(
                    self.name,
                    f"{self.name} must be an ISO 8601 time such as 2025-01-31T12:00:00Z, "
                    f"got {raw!r}",
                ) from None
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if self.kind == "list":
            items = [item.strip() for item in raw.split(",") if item.strip()]
            if not items:
                raise BadParameter(self.name, f"{self.name} is empty; leave it out instead")
            bad = [i for i in items if self.choices and i not in self.choices]
            if bad:
                raise BadParameter(
                    self.name,
                    f"{self.name} takes {', '.join(self.choices)} (comma separated), "
                    f"got {', '.join(map(repr, bad))}",
                )
            if self.max_items is not None and len(items) > self.max_items:
                raise BadParameter(
                    self.name, f"{self.name} takes at most {self.max_items:,} values"
                )
            return list(dict.fromkeys(items))
        return raw

    def _integer(self, raw: str) -> int:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            expected = f"a whole number from {low:,} to {high:,}"
        elif low is not None:
            expected = f"a whole number of at least {low:,}"
        else:
            expected = "a whole number"
        try:
            value = int(raw)
        except ValueError:
            value = None
        if (
            value is None
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise BadParameter(self.name, f"{self.name} must be {expected}, got {raw!r}")
        return value

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any]
        if self.kind == "integer":
            schema = {"type": "integer"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        elif self.kind == "datetime":
            schema = {"type": "string", "format": "date-time"}
        elif self.kind == "list":
            items: dict[str, Any] = {"type": "string"}
            if self.choices:
                items["enum"] = list(self.choices)
            schema = {"type": "array", "items": items}
        else:
            schema = {"type": "string"}
        if self.default is not None:
            schema["default"] = self.default
        out: dict[str, Any] = {
            "name": self.name,
            "in": "query",
            "required": self.required,
            "description": self.description,
            "schema": schema,
        }
        if self.kind == "list":
            out["style"] = "form"
            out["explode"] = False
        return out


def parse_query(
    items: Sequence[tuple[str, str]], params: Sequence[Param], endpoint: str
) -> dict[str, Any]:
    """The parsed values by name; defaults for those left out (empty counts as left out)."""
    by_name = {p.name: p for p in params}
    seen: dict[str, str] = {}
    for key, value in items:
        if key not in by_name:
            raise BadParameter(
                key, f"unknown parameter {key!r}; {endpoint} takes {', '.join(by_name)}"
            )
        if key in seen:
            raise BadParameter(key, f"{key} is given more than once; give it once")
        seen[key] = value
    out: dict[str, Any] = {}
    for param in params:
        raw = seen.get(param.name, "")
        if raw == "":
            if param.required:
                raise BadParameter(param.name, f"{param.name} is required: {param.description}")
            out[param.name] = param.default
        else:
            out[param.name] = param.parse(raw)
    return out


ACTION_CHOICES = ("added", "updated", "deleted")

RECORDS = (
    Param("integration", "string", "the integration, e.g. hubspot", required=True),
    Param("model", "string", "the model (table) of the integration, e.g. contacts", required=True),
    Param("connection_id", "string", "the connection whose records to read", required=True),
    Param(
        "cursor",
        "integer",
        "read records whose last change came after this cursor: 0 (or nothing) for all, "
        "then the next_cursor of the previous page, or a webhook's cursor.first minus 1",
        minimum=0,
        default=0,
    ),
    Param(
        "modified_after",
        "datetime",
        "only records last modified at or after this time (a webhook's modified_after)",
    ),
    Param(
        "filter",
        "list",
        "only records whose last action is one of these",
        choices=ACTION_CHOICES,
    ),
    Param("limit", "integer", "records per page", minimum=1, maximum=MAX_LIMIT, default=100),
    Param("ids", "list", "only these record ids (comma separated)", max_items=MAX_LIMIT),
    Param(
        "as_of",
        "datetime",
        "each record's version at this time instead of its current one (records added later "
        "are left out; a record deleted by then comes with last_action DELETED)",
    ),
)

VERSIONS = (
    Param("connection_id", "string", "the connection the record belongs to", required=True),
    Param(
        "cursor",
        "integer",
        "versions after this cursor: 0 for all, then the previous page's next_cursor",
        minimum=0,
        default=0,
    ),
    Param("limit", "integer", "versions per page", minimum=1, maximum=MAX_LIMIT, default=100),
)

CHANGES = (
    Param("connection_id", "string", "only this connection's events"),
    Param("integration", "string", "only this integration's events"),
    Param("model", "string", "only this model's events (with integration)"),
    Param(
        "cursor",
        "integer",
        "events after this cursor: 0 for all, then the previous page's next_cursor",
        minimum=0,
        default=0,
    ),
    Param("filter", "list", "only these actions", choices=ACTION_CHOICES),
    Param("limit", "integer", "events per page", minimum=1, maximum=MAX_LIMIT, default=100),
)

INBOX = (
    Param(
        "status",
        "string",
        "only events in this state",
        choices=("received", "applied", "unmatched", "paused", "ignored", "failed"),
    ),
    Param("integration", "string", "only this integration's events"),
    Param("connection_id", "string", "only events routed to this connection"),
    Param(
        "after",
        "integer",
        "events after this inbox id: 0 for all, then the previous page's next_after",
        minimum=0,
        default=0,
    ),
    Param("limit", "integer", "events per page", minimum=1, maximum=1000, default=100),
)
