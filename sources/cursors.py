"""Declared cursors: what a model reads since, and what a run leaves for the next one.

A model declares its cursor in its ``ModelSpec``, as singer-sdk streams declare a
``replication_key`` (and ``state_partitioning_keys``) and dlt resources a
``dlt.sources.incremental(cursor_path, lag=...)``:

* ``CursorSpec.timestamp(field, lookback=..., key=...)``: the records carry their
  modification time in ``field``. A run reads what changed since the newest time the last
  run landed, less ``lookback``. The engine takes that newest time itself, in SQL, from the
  records the run landed, so the extract records nothing; it tells ``saw`` only about
  times it read but did not land. With ``key`` there is one time per value of that record
  field (GitHub keeps one per repository); the keys the run asked ``since`` for are kept,
  the others dropped.
* ``CursorSpec.token()`` and ``CursorSpec.feed()``: a token the API hands out, opaque to
  us; a feed's token says where its changes continue (Drive's changes feed). The extract
  records it with ``set``, with any state it needs next time (Drive's folder tree).
* ``CursorSpec.shared(model)``: the model is filled by another model's listing (Gong's
  transcripts come with the calls); it has that model's cursor.
* ``CursorSpec.none()`` (a model that declares nothing): every run lists it whole.

The time rule, one for every timestamp cursor: the next value is the newest time the run
saw, never later than the run's start less ``SAFETY_MARGIN`` — a record written while we
paged, or stamped by a server whose clock runs behind, is read again next time instead of
missed — and, after an incremental run, never earlier than the value it started from.
Reading a record twice costs nothing: the snapshot compare finds it unchanged.

Cursors are stored as readable JSON in ``syncs.sync_state``: ``{"since": "<ISO 8601>"}``,
``{"since": {"<key>": "<ISO 8601>"}}`` or ``{"token": "...", "state": {...}}``. The shapes
integrations wrote before cursors were declared (HubSpot's ``modified_since`` in epoch
milliseconds, Gong's ``started``, Drive's ``page_token`` beside its state; GitHub's was
already the keyed shape) are read as well, and the next run writes the new shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from sources.spec import IntegrationSpec, SyncMode, SyncSpec

SAFETY_MARGIN = timedelta(minutes=1)

CursorKind = Literal["timestamp", "token", "feed", "shared", "none"]
Lookback = timedelta | Callable[[Any], timedelta]

# Where integrations kept their cursor before it was declared.
_LEGACY_SINCE = ("modified_since", "started")
_LEGACY_TOKEN = "page_token"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

T = TypeVar("T", int, datetime)


def advance(previous: T | None, newest: T | None, ceiling: T) -> T:
    """The cursor after a run that started from ``previous`` and saw up to ``newest``."""
    if newest is None:
        return ceiling if previous is None else previous
    candidate = min(newest, ceiling)
    return candidate if previous is None else max(previous, candidate)


@dataclass(frozen=True)
class CursorSpec:
    """How a model's incremental reads continue; build one with the class methods."""

    kind: CursorKind
    field: str | None = None
    lookback: Lookback = timedelta(0)
    key: str | None = None
    key_ignores_case: bool = False
    advances_when_empty: bool = True
    shares: str | None = None

    @classmethod
    def timestamp(
        cls,
        field: str,
        *,
        lookback: Lookback = timedelta(0),
        key: str | None = None,
        key_ignores_case: bool = False,
        advances_when_empty: bool = True,
    ) -> CursorSpec:
        """Records modified since the newest ``field`` landed; ``lookback`` (a duration, or
        a function of the connection's config) is read again; ``key``: one per value.

        A first run that lands nothing moves the cursor to the run's start (less the
        margin), unless ``advances_when_empty`` is False: for records that appear late and
        out of order (Gong's calls), where a run that saw none has no position to move to.
        """
        return cls(
            "timestamp",
            field=field,
            lookback=lookback,
            key=key,
            key_ignores_case=key_ignores_case,
            advances_when_empty=advances_when_empty,
        )

    @classmethod
    def token(cls) -> CursorSpec:
        """An opaque token the API answered; the extract sets it."""
        return cls("token")

    @classmethod
    def feed(cls) -> CursorSpec:
        """A change feed's token (deletions come through the feed); the extract sets it."""
        return cls("feed")

    @classmethod
    def none(cls) -> CursorSpec:
        """No incremental reads: every run lists the model whole."""
        return cls("none")

    @classmethod
    def shared(cls, model: str) -> CursorSpec:
        """Filled by ``model``'s listing: that model's cursor is this one's."""
        return cls("shared", shares=model)

    def lookback_for(self, config: Any) -> timedelta:
        return self.lookback if isinstance(self.lookback, timedelta) else self.lookback(config)


def parse_time(value: Any) -> datetime | None:
    """A stored or seen time: ISO 8601 text (``Z`` or an offset; naive is UTC), epoch
    milliseconds, or a datetime; None for anything else."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + timedelta(milliseconds=value)
    if isinstance(value, str):
        try:
            return parse_time(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def format_time(at: datetime) -> str:
    """UTC ISO 8601 with ``Z``, to the second, millisecond or microsecond it needs."""
    at = at.astimezone(UTC)
    spec = (
        "seconds" if not at.microsecond else "milliseconds" if not at.microsecond % 1000 else "auto"
    )
    return at.isoformat(timespec=spec).replace("+00:00", "Z")


@dataclass
class Stored:
    """A cursor as the last run left it, whichever shape it was stored in."""

    since: datetime | None = None
    since_by_key: dict[str, datetime] = field(default_factory=dict)
    token: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


def read_stored(spec: CursorSpec, raw: Any) -> Stored | None:
    """The stored JSON of a cursor declared as ``spec``; None when there is none usable."""
    if not isinstance(raw, dict):
        return None
    if spec.kind == "timestamp":
        value = raw.get("since")
        if value is None:
            value = next((raw[name] for name in _LEGACY_SINCE if name in raw), None)
        if spec.key is not None:
            if not isinstance(value, dict):
                return None
            times = {str(k): parse_time(v) for k, v in value.items()}
            return Stored(since_by_key={k: t for k, t in times.items() if t is not None})
        since = parse_time(value)
        return None if since is None else Stored(since=since)
    if spec.kind in ("token", "feed"):
        if "token" in raw:
            token, state = raw["token"], raw.get("state")
        else:
            token = raw.get(_LEGACY_TOKEN)
            state = {k: v for k, v in raw.items() if k != _LEGACY_TOKEN}
        if not token:
            return None
        return Stored(token=str(token), state=dict(state) if isinstance(state, dict) else {})
    return None


class ModelCursor:
    """One model's cursor for one run: what to read since, and what the run saw.

    ``full_listing`` is true for a full refresh and when nothing usable is stored; then
    ``since`` and ``token`` are None and the run lists everything.
    """

    def __init__(
        self,
        model: str,
        spec: CursorSpec,
        stored: Stored | None,
        *,
        full_listing: bool,
        lookback: timedelta = timedelta(0),
        leader: ModelCursor | None = None,
    ) -> None:
        self.model = model
        self.spec = spec
        self.full_listing = full_listing
        self.leader = leader
        self._stored = None if full_listing else stored
        self._lookback = lookback
        self._keys: set[str] = set()
        self._seen: dict[str | None, datetime] = {}
        self._token: str | None = None
        self._state: dict[str, Any] | None = None

    def since(self, key: str | None = None) -> datetime | None:
        """Read records modified at or after this (the lookback already taken off); None:
        read everything. With a keyed cursor, pass the key; it is kept for the next run."""
        if self.leader is not None:
            return self.leader.since(key)
        self._require("timestamp")
        if self.spec.key is not None:
            if key is None:
                raise TypeError(f"the {self.model} cursor is kept per {self.spec.key}; pass it")
            key = self._key(key)
            self._keys.add(key)
            previous = self._stored.since_by_key.get(key) if self._stored else None
        else:
            previous = self._stored.since if self._stored else None
        return None if previous is None else previous - self._lookback

    def saw(self, value: datetime | str, key: str | None = None) -> None:
        """A modification time the run read but did not land (the engine takes the landed
        ones itself)."""
        if self.leader is not None:
            self.leader.saw(value, key)
            return
        self._require("timestamp")
        at = parse_time(value)
        if at is None:
            return
        slot = None if self.spec.key is None or key is None else self._key(key)
        if slot not in self._seen or at > self._seen[slot]:
            self._seen[slot] = at

    @property
    def token(self) -> str | None:
        """Where the API said to continue; None: list everything."""
        if self.leader is not None:
            return self.leader.token
        return self._stored.token if self._stored else None

    @property
    def state(self) -> Mapping[str, Any]:
        """What the extract kept with its token: set by this run, else the last run's."""
        if self.leader is not None:
            return self.leader.state
        if self._state is not None:
            return self._state
        return self._stored.state if self._stored else {}

    def set(self, token: str, state: Mapping[str, Any] | None = None) -> None:
        """The token (and state) the next run continues from."""
        if self.leader is not None:
            self.leader.set(token, state)
            return
        self._require("token", "feed")
        self._token = str(token)
        self._state = dict(state or {})

    # The engine's side.

    def next_stored(
        self, landed: Mapping[str | None, datetime | None], ceiling: datetime
    ) -> dict[str, Any] | None:
        """The JSON the next run starts from, given the newest ``field`` per key (None for
        an unkeyed cursor) among the records this run landed; None: nothing to store. A
        shared cursor stores what its leader does, given the leader's records."""
        if self.leader is not None:
            return self.leader.next_stored(landed, ceiling)
        if self.spec.kind == "none":
            return {}
        if self.spec.kind in ("token", "feed"):
            if self._token is not None:
                return {"token": self._token, "state": self._state or {}}
            if self._stored is not None:
                return {"token": self._stored.token, "state": self._stored.state}
            return None

        def newest(slot: str | None) -> datetime | None:
            times = [t for t in (landed.get(slot), self._seen.get(slot)) if t is not None]
            return max(times).astimezone(UTC) if times else None

        def after(previous: datetime | None, seen: datetime | None) -> str | None:
            if previous is None and seen is None and not self.spec.advances_when_empty:
                return None
            return format_time(advance(previous, seen, ceiling))

        if self.spec.key is None:
            return {"since": after(self._stored.since if self._stored else None, newest(None))}
        stored = self._stored.since_by_key if self._stored else {}
        times = {key: after(stored.get(key), newest(key)) for key in sorted(self._keys)}
        return {"since": {key: at for key, at in times.items() if at is not None}}

    def _key(self, key: str) -> str:
        return key.lower() if self.spec.key_ignores_case else key

    def _require(self, *kinds: str) -> None:
        if self.spec.kind not in kinds:
            raise TypeError(f"the {self.model} cursor is a {self.spec.kind} cursor")


def open_cursors(
    spec: IntegrationSpec[Any, Any],
    sync: SyncSpec,
    mode: SyncMode,
    config: Any,
    stored: Mapping[str, Any],
) -> dict[str, ModelCursor]:
    """Every model's cursor of one run of ``sync``, from the stored JSON per model.

    Models sharing a listing read from the oldest of their stored times, so none misses
    what another saw, and list everything when any of them has nothing stored.
    """
    models = {name: spec.model(name) for name in sync.models}
    followers: dict[str, list[str]] = {}
    for name, model in models.items():
        if model.cursor.kind == "shared":
            leader = model.cursor.shares or ""
            if leader not in models or models[leader].cursor.kind == "shared":
                raise TypeError(
                    f"{spec.name}.{name} shares the cursor of {leader!r}, which {sync.name!r} "
                    "does not fill with a cursor of its own"
                )
            followers.setdefault(leader, []).append(name)
    cursors: dict[str, ModelCursor] = {}
    for name, model in models.items():
        if model.cursor.kind == "shared":
            continue
        group = [name, *followers.get(name, ())]
        readings = [read_stored(model.cursor, stored.get(member)) for member in group]
        usable = [r for r in readings if r is not None]
        combined = readings[0]
        if combined is not None and model.cursor.kind == "timestamp" and model.cursor.key is None:
            combined = Stored(since=min(r.since for r in usable if r.since is not None))
        cursors[name] = ModelCursor(
            name,
            model.cursor,
            combined,
            full_listing=mode == "full" or len(usable) < len(group),
            lookback=model.cursor.lookback_for(config),
        )
    for name, model in models.items():
        if model.cursor.kind == "shared":
            lead = cursors[model.cursor.shares or ""]
            cursors[name] = ModelCursor(
                name, model.cursor, None, full_listing=lead.full_listing, leader=lead
            )
    return {name: cursors[name] for name in sync.models}
