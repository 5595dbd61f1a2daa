"""One grammar for typed spans of time, shared by connection frequencies and webhook flags."""

from datetime import timedelta

import pytest

from pipelines.durations import duration_seconds, format_duration
from pipelines.notify.dispatcher import parse_span
from pipelines.store.connections import parse_frequency
from sources.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15", 15), ("15s", 15), ("15sec", 15), ("2m", 120), ("2min", 120), (" 1h ", 3600),
     ("1d", 86400), ("0s", 0)],
)  # fmt: skip
def test_every_unit_reads(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1w", "1.5h", "-1s", "1 hour", "15 m s"])
def test_what_is_not_a_duration(text):
    assert duration_seconds(text) is None


def test_a_bare_number_only_where_the_caller_allows_it():
    assert duration_seconds("20250131", bare_seconds=False) is None
    assert duration_seconds("2min", bare_seconds=False) == 120


def test_both_callers_take_the_same_units_and_keep_their_own_words():
    assert parse_frequency("2min") == timedelta(minutes=2)
    assert parse_span("2min", "--overlap") == timedelta(minutes=2)
    assert parse_span("15sec", "--overlap") == timedelta(seconds=15)
    with pytest.raises(ConfigError, match="below the minimum of 15s"):
        parse_frequency("14sec")
    with pytest.raises(ConfigError, match="--overlap '15' is not a span of time"):
        parse_span("15", "--overlap")


def test_format_duration_picks_the_largest_whole_unit():
    assert [format_duration(timedelta(seconds=s)) for s in (0, 45, 120, 7200, 86400, 90)] == [
        "0s", "45s", "2m", "2h", "1d", "90s",
    ]  # fmt: skip
