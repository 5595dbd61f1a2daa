"""Declared cursors: what a run reads since, and what it leaves for the next one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from sources.cursors import (
    SAFETY_MARGIN,
    CursorSpec,
    ModelCursor,
    format_time,
    open_cursors,
    read_stored,
)
from sources.spec import IntegrationSpec, ModelSpec, SyncSpec

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CEILING = START - SAFETY_MARGIN


class Row(BaseModel):
    id: str


def cursor(
    spec: CursorSpec, stored: object, *, full: bool = False, lookback: timedelta = timedelta(0)
) -> ModelCursor:
    reading = read_stored(spec, stored)
    return ModelCursor("m", spec, reading, full_listing=full or reading is None, lookback=lookback)


def test_timestamp_reads_since_the_stored_time_less_the_lookback():
    spec = CursorSpec.timestamp("updated_at", lookback=timedelta(minutes=30))
    c = cursor(spec, {"since": "2025-03-01T10:00:00Z"}, lookback=timedelta(minutes=30))
    assert not c.full_listing
    assert c.since() == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    # The stored value moves to the newest landed time, not less the lookback ...
    newer = datetime(2025, 3, 1, 11, 0, 0, 250_000, tzinfo=UTC)
    assert c.next_stored({None: newer}, CEILING) == {"since": "2025-03-01T11:00:00.250Z"}
    # ... never back for records inside the lookback window ...
    older = datetime(2025, 3, 1, 9, 45, tzinfo=UTC)
    assert c.next_stored({None: older}, CEILING) == {"since": "2025-03-01T10:00:00Z"}
    # ... and never past the run's start less the safety margin.
    assert c.next_stored({None: START + timedelta(hours=1)}, CEILING) == {
        "since": format_time(CEILING)
    }
    assert c.next_stored({}, CEILING) == {"since": "2025-03-01T10:00:00Z"}


def test_a_full_listing_reads_everything_and_restarts_from_what_it_saw():
    spec = CursorSpec.timestamp("updated_at")
    c = cursor(spec, {"since": "2025-03-01T10:00:00Z"}, full=True)
    assert c.full_listing and c.since() is None
    earlier = datetime(2025, 2, 1, tzinfo=UTC)
    assert c.next_stored({None: earlier}, CEILING) == {"since": "2025-02-01T00:00:00Z"}
    first = cursor(spec, None)
    assert first.full_listing
    assert first.next_stored({}, CEILING) == {"since": format_time(CEILING)}


def test_an_empty_first_run_stays_at_the_start_when_the_cursor_says_so():
    spec = CursorSpec.timestamp("started", advances_when_empty=False)
    c = cursor(spec, None)
    assert c.next_stored({}, CEILING) == {"since": None}
    assert read_stored(spec, {"since": None}) is None
    seen = datetime(2025, 1, 1, tzinfo=UTC)
    assert c.next_stored({None: seen}, CEILING) == {"since": "2025-01-01T00:00:00Z"}


def test_times_the_extract_saw_but_did_not_land_count_too():
    c = cursor(CursorSpec.timestamp("updated_at"), {"since": "2025-03-01T10:00:00Z"})
    c.saw("2025-03-01T11:30:00Z")
    c.saw("not a time")
    landed = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    assert c.next_stored({None: landed}, CEILING) == {"since": "2025-03-01T11:30:00Z"}


def test_a_keyed_cursor_keeps_the_keys_the_run_read_and_ignores_case_when_told():
    spec = CursorSpec.timestamp("updated_at", key="repository", key_ignores_case=True)
    c = cursor(spec, {"since": {"acme/api": "2025-03-01T10:00:00Z", "acme/old": "2025-01-01Z"}})
    assert c.since("Acme/API") == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert c.since("acme/web") is None
    with pytest.raises(TypeError, match="per repository"):
        c.since()
    c.saw("2025-03-01T10:30:00Z", "ACME/api")
    landed = {"acme/web": datetime(2025, 2, 1, tzinfo=UTC), "acme/gone": START}
    # acme/old was not read this run (taken out of the config): dropped; acme/web, new
    # here, starts from what it landed; landed keys never asked for are not kept.
    assert c.next_stored(landed, CEILING) == {
        "since": {"acme/api": "2025-03-01T10:30:00Z", "acme/web": "2025-02-01T00:00:00Z"}
    }


def test_a_token_cursor_is_what_the_extract_set_and_otherwise_stays():
    spec = CursorSpec.feed()
    none = cursor(spec, None)
    assert none.full_listing and none.token is None and dict(none.state) == {}
    none.set("42", {"tree": {"a": None}})
    assert none.state == {"tree": {"a": None}}
    assert none.next_stored({}, CEILING) == {"token": "42", "state": {"tree": {"a": None}}}

    stored = cursor(spec, {"token": "42", "state": {"tree": {"a": None}}})
    assert not stored.full_listing and stored.token == "42"
    assert stored.next_stored({}, CEILING) == {"token": "42", "state": {"tree": {"a": None}}}
    with pytest.raises(TypeError, match="feed cursor"):
        stored.since()
    with pytest.raises(TypeError, match="timestamp cursor"):
        cursor(CursorSpec.timestamp("t"), None).set("x")


@pytest.mark.parametrize(
    ("spec", "legacy", "expected"),
    [
        # HubSpot: epoch milliseconds under modified_since, read exactly.
        (
            CursorSpec.timestamp("lastmodifieddate"),
            {"modified_since": 1735689600123},
            {"since": "2025-01-01T00:00:00.123Z"},
        ),
        # Gong: started, to the second.
        (
            CursorSpec.timestamp("started"),
            {"started": "2024-12-31T02:29:48Z"},
            {"since": "2024-12-31T02:29:48Z"},
        ),
        # GitHub: already the keyed shape.
        (
            CursorSpec.timestamp("updated_at", key="repository", key_ignores_case=True),
            {"since": {"acme/api": "2025-01-02T03:04:05Z"}},
            {"since": {"acme/api": "2025-01-02T03:04:05Z"}},
        ),
        # Drive: page_token beside the scope it was read for.
        (
            CursorSpec.feed(),
            {"page_token": "77", "folders": ["f"], "shared_drives": [], "tree": {"x": "f"}},
            {"token": "77", "state": {"folders": ["f"], "shared_drives": [], "tree": {"x": "f"}}},
        ),
    ],
)
def test_cursors_stored_before_they_were_declared_are_read_as_they_were(spec, legacy, expected):
    c = cursor(spec, legacy)
    assert not c.full_listing
    if spec.key is not None:
        c.since("acme/api")
    assert c.next_stored({}, CEILING) == expected


def test_models_sharing_a_listing_read_from_the_oldest_and_store_alike():
    spec = IntegrationSpec(
        name="calls",
        title="Calls",
        config_model=Row,
        credentials_model=Row,
        models={
            "calls": ModelSpec("calls", Row, cursor=CursorSpec.timestamp("started")),
            "notes": ModelSpec("notes", Row, cursor=CursorSpec.shared("calls")),
        },
        syncs={"all": SyncSpec("all", ("calls", "notes"))},
        extract=lambda ctx: iter(()),
    )
    sync = spec.syncs["all"]
    stored = {"calls": {"since": "2025-03-01T10:00:00Z"}, "notes": {"since": "2025-02-01Z"}}
    cursors = open_cursors(spec, sync, "incremental", None, stored)
    calls, notes = cursors["calls"], cursors["notes"]
    assert not calls.full_listing and not notes.full_listing
    assert calls.since() == notes.since() == datetime(2025, 2, 1, tzinfo=UTC)
    newest = {None: datetime(2025, 3, 1, 11, 0, tzinfo=UTC)}
    assert calls.next_stored(newest, CEILING) == notes.next_stored(newest, CEILING)

    # A model of the listing with nothing stored: the listing starts over for both.
    fresh = open_cursors(spec, sync, "incremental", None, {"calls": stored["calls"]})
    assert fresh["calls"].full_listing and fresh["notes"].full_listing
    full = open_cursors(spec, sync, "full", None, stored)
    assert full["calls"].full_listing and full["calls"].since() is None


def test_a_model_without_a_declared_cursor_is_listed_whole_every_run():
    c = cursor(CursorSpec.none(), {})
    assert c.full_listing
    assert c.next_stored({}, CEILING) == {}
