"""The contract between an integration and the engine.

An integration declares its models (one table each, with the cursor its incremental reads
continue from), its syncs (which models a run fills, how often), the pydantic models of its
per-connection config and credentials, an ``extract`` function that yields pages of raw
records for a sync, and a ``fetch`` function that reads given records by id. Everything
else — cursors, validation, Arrow conversion, loading, change detection, scheduling —
belongs to the platform and is shared by every integration.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from sources.cursors import CursorSpec, ModelCursor
from sources.errors import ConfigError

if TYPE_CHECKING:
    from sources.http import RequestLog
    from sources.webhooks import WebhookSpec

SyncMode = Literal["incremental", "full"]
ConfigT = TypeVar("ConfigT", bound=BaseModel)
CredentialsT = TypeVar("CredentialsT", bound=BaseModel)


@dataclass(frozen=True)
class ModelSpec:
    """One table: ``<integration>.<name>``, keyed by ``(connection_id, id)``.

    ``cursor`` says how incremental runs continue (``sources.cursors``); ``locator`` names
    the record fields besides ``id`` that fetching one record by id needs (GitHub's
    repository and number), kept for a record that must be read again. ``version`` names
    the field holding the provider's version of a record (its last-modified time, or a
    number that grows with every change): a fresh row older than the stored one never
    replaces it, whether a poll or a webhook brought it.
    """

    name: str
    schema: type[BaseModel]
    volatile_fields: frozenset[str] = frozenset()
    description: str = ""
    shape: RecordShape | None = None
    cursor: CursorSpec = field(default_factory=CursorSpec.none)
    locator: tuple[str, ...] = ()
    version: str | None = None


@dataclass(frozen=True)
class RecordShape:
    """How a raw API record becomes the flat row a model describes.

    Declared rather than written as a function so the platform can apply it to a whole
    batch at once in Arrow (a struct's fields become columns without a Python object per
    value), and record by record only where pydantic has to look at records one at a time.

    ``lift`` names a nested object whose fields become columns (without ``drop``; an empty
    string there is null when ``blank_is_null``); ``fields`` maps the top-level fields kept
    to their column names, and they win over a lifted field of the same name. Without
    ``fields`` every top-level field but ``lift`` is kept under its own name.
    """

    lift: str | None = None
    fields: Mapping[str, str] | None = field(default=None, hash=False)
    drop: frozenset[str] = frozenset()
    blank_is_null: bool = False

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        nested = record.get(self.lift) if self.lift else None
        if isinstance(nested, dict):
            for key, value in nested.items():
                if key not in self.drop:
                    row[key] = None if self.blank_is_null and value == "" else value
        if self.fields is None:
            row.update((k, v) for k, v in record.items() if k != self.lift)
        else:
            row.update(
                (column, record[key]) for key, column in self.fields.items() if key in record
            )
        return row


@dataclass(frozen=True)
class DeletionLimit:
    """How much of a model one full listing may delete before its deletions are held.

    A listing that would delete more than ``fraction`` of the model's live rows *and* more
    than ``rows`` of them (a bound left out does not count) is applied except for those
    deletions, which wait for a user to confirm them: a listing that lost most of the table
    (a page the API dropped) must not delete it. Written ``20%``, ``500`` or ``20%,500``.
    """

    fraction: float | None = 0.2
    rows: int | None = 10

    def holds(self, deletions: int, live: int) -> bool:
        """Whether ``deletions`` of ``live`` rows are too many to apply unconfirmed."""
        if deletions <= 0:
            return False
        if self.fraction is not None and deletions <= self.fraction * live:
            return False
        return self.rows is None or deletions > self.rows

    def __str__(self) -> str:
        parts = [] if self.fraction is None else [f"{self.fraction * 100:g}%"]
        return ",".join(parts + ([] if self.rows is None else [str(self.rows)]))

    def describe(self) -> str:
        """``more than 20% and more than 10 rows``"""
        parts = [] if self.fraction is None else [f"more than {self.fraction * 100:g}%"]
        parts += [] if self.rows is None else [f"more than {self.rows} rows"]
        return " and ".join(parts)

    @classmethod
    def parse(cls, text: str) -> DeletionLimit:
        """``20%``, ``500`` or both (``20%,500``); a clear error for anything else."""
        fraction: float | None = None
        rows: int | None = None
        parts = [p.strip() for p in str(text).split(",")]
        try:
            if not 1 <= len(parts) <= 2:
                raise ValueError
            for part in parts:
                if part.endswith("%") and fraction is None:
                    fraction = float(part[:-1]) / 100
                    if not 0 <= fraction <= 1:
                        raise ValueError
                elif part.isascii() and part.isdigit() and rows is None:
                    rows = int(part)
                else:
                    raise ValueError
        except ValueError:
            raise ConfigError(
                f"max deletions {text!r} is not valid: give a percentage of the live rows "
                "(0% to 100%, e.g. 20%), a number of rows (e.g. 500), or both (20%,500)"
            ) from None
        return cls(fraction, rows)


DEFAULT_DELETION_LIMIT = DeletionLimit()


@dataclass(frozen=True)
class SyncSpec:
    """A named unit of work that fills one or more models in one run.

    ``max_deletions``: how much of a model one full listing may delete unconfirmed (a
    connection may set its own)."""

    name: str
    models: tuple[str, ...]
    default_frequency: timedelta = timedelta(hours=1)
    full_refresh_frequency: timedelta = timedelta(days=7)
    description: str = ""
    max_deletions: DeletionLimit = DEFAULT_DELETION_LIMIT


@dataclass
class Page:
    """A page of raw records for one model, as the integration read them.

    ``deleted`` pages are tombstones: the API says these records are gone (archived,
    removed); only their ``id`` (and optionally ``deleted_at``) is read.
    """

    model: str
    records: list[dict[str, Any]]
    deleted: bool = False
    raw: RawPage | None = None


@dataclass(frozen=True)
class RawPage:
    """A page's body as the API sent it and the dotted path of its records in it.

    Only for a page whose ``records`` are exactly those (none filtered or changed): the
    platform may then decode the body straight into Arrow, off the fetching thread's
    interpreter lock, instead of converting the decoded Python objects.
    """

    body: bytes
    path: str


@dataclass(frozen=True)
class RecordRef:
    """A record to read by id, with the fields of its ``ModelSpec.locator`` when known."""

    id: str
    locator: Mapping[str, Any] = field(default_factory=dict, hash=False)


class Progress(Protocol):
    def __call__(self, model: str, pages: int, records: int) -> None: ...


@dataclass
class ExtractContext(Generic[ConfigT, CredentialsT]):
    """What the engine hands to an integration's ``extract`` and ``fetch`` for one run.

    ``cursors`` holds each model's cursor (``cursor(model)``); ``request_log`` collects
    every HTTP attempt for the run's record. ``save_credentials`` stores credentials the
    API refreshed (an OAuth access token) and uses them for the rest of the run.
    """

    connection_id: str
    sync: SyncSpec
    mode: SyncMode
    config: ConfigT
    credentials: CredentialsT
    request_log: RequestLog
    cursors: Mapping[str, ModelCursor]
    on_credentials: Callable[[dict[str, Any]], None] | None = None

    def cursor(self, model: str) -> ModelCursor:
        return self.cursors[model]

    def save_credentials(self, updates: dict[str, Any]) -> None:
        if self.on_credentials is not None:
            self.on_credentials(updates)
        self.credentials = type(self.credentials).model_validate(
            {**self.credentials.model_dump(), **updates}
        )


ExtractFn = Callable[[ExtractContext[ConfigT, CredentialsT]], Iterator[Page]]
# Pages of the records asked for that the API still has; the ids it says are gone come
# as a tombstone page. A record it cannot look up (a locator missing) is left out of both.
FetchFn = Callable[
    [ExtractContext[ConfigT, CredentialsT], str, Sequence[RecordRef]], Iterator[Page]
]


def imported_on_call(module: str, name: str) -> Callable[..., Any]:
    """``module.name(...)``, imported only when called: sandboxes and demos stay out of
    what production imports."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


@dataclass(frozen=True)
class DemoAccount:
    """A customer in the sandbox the demo registers as a connection."""

    connection_id: str
    credentials: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IntegrationSpec(Generic[ConfigT, CredentialsT]):
    name: str
    title: str
    config_model: type[ConfigT]
    credentials_model: type[CredentialsT]
    models: Mapping[str, ModelSpec]
    syncs: Mapping[str, SyncSpec]
    extract: ExtractFn[ConfigT, CredentialsT]
    fetch: FetchFn[ConfigT, CredentialsT] | None = None
    sandbox: Callable[..., Any] | None = None
    description: str = ""
    webhooks: WebhookSpec | None = None

    def model(self, name: str) -> ModelSpec:
        return self.models[name]

    def sync_for_model(self, model: str) -> SyncSpec:
        for sync in self.syncs.values():
            if model in sync.models:
                return sync
        raise KeyError(model)
