"""The schedule in the control store: what is due, claimed, and when it runs next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.home import Home
from pipelines.store.connections import Connections
from pipelines.store.schedule import Schedule

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def add(home: Home, connection_id: str, frequency: str | None = None, enabled: bool = True):
    return Connections(home).add(
        "hubspot",
        connection_id,
        credentials={"access_token": f"token-{connection_id}"},
        config={"base_url": "http://127.0.0.1:9"},
        frequency=frequency,
        enabled=enabled,
    )


def finish(schedule: Schedule, connection, started: datetime, *, full: bool = False) -> None:
    schedule.finished(
        connection=connection,
        sync="crm",
        full_listing=full,
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        status="success",
        run_id=f"run-{started:%H%M%S}",
    )


def test_a_new_connection_is_due_at_once_and_then_at_its_frequency(home: Home) -> None:
    schedule = Schedule(home)
    acme = add(home, "acme", frequency="30s")
    due = schedule.claim(datetime.now(UTC) + timedelta(seconds=1), limit=10)
    assert [(d.connection_id, d.sync, d.mode) for d in due] == [("acme", "crm", "incremental")]
    finish(schedule, acme, T0, full=True)
    assert schedule.claim(T0 + timedelta(seconds=29), limit=10) == []
    (again,) = schedule.claim(T0 + timedelta(seconds=30), limit=10)
    assert again.mode == "incremental"
    assert again.due_at == T0 + timedelta(seconds=30)


def test_a_claim_is_held_until_its_lease_ends_or_the_run_finishes(home: Home) -> None:
    schedule = Schedule(home)
    acme = add(home, "acme", frequency="15s")
    finish(schedule, acme, T0)
    now = T0 + timedelta(minutes=1)
    assert len(schedule.claim(now, limit=10, lease=timedelta(seconds=60))) == 1
    assert schedule.claim(now + timedelta(seconds=30), limit=10) == []
    assert len(schedule.claim(now + timedelta(seconds=61), limit=10)) == 1
    finish(schedule, acme, now + timedelta(seconds=62))
    assert schedule.claim(now + timedelta(seconds=63), limit=10) == []


def test_disabled_connections_are_not_due(home: Home) -> None:
    schedule = Schedule(home)
    add(home, "acme")
    add(home, "globex", enabled=False)
    due = schedule.claim(datetime.now(UTC) + timedelta(seconds=1), limit=10)
    assert [d.connection_id for d in due] == ["acme"]


def test_a_full_refresh_is_due_after_the_syncs_full_refresh_frequency(home: Home) -> None:
    schedule = Schedule(home)
    acme = add(home, "acme", frequency="15m")
    finish(schedule, acme, T0, full=True)
    week = T0 + timedelta(days=7)
    finish(schedule, acme, week - timedelta(minutes=1))
    (due,) = schedule.claim(week, limit=10)
    assert due.mode == "full"
    finish(schedule, acme, week, full=True)
    (due,) = schedule.claim(week + timedelta(minutes=15), limit=10)
    assert due.mode == "incremental"


def test_shards_split_the_connections_between_them(home: Home) -> None:
    schedule = Schedule(home)
    ids = {f"c{i:02d}" for i in range(20)}
    for connection_id in ids:
        add(home, connection_id)
    now = datetime.now(UTC) + timedelta(seconds=1)
    parts = [
        {d.connection_id for d in schedule.claim(now, limit=100, shard=s, shards=3)}
        for s in range(3)
    ]
    assert set().union(*parts) == ids
    assert sum(len(p) for p in parts) == len(ids)
    assert all(parts)


def test_a_changed_frequency_moves_the_next_due_time(home: Home) -> None:
    schedule = Schedule(home)
    acme = add(home, "acme", frequency="1h")
    finish(schedule, acme, T0)
    assert schedule.claim(T0 + timedelta(minutes=5), limit=10) == []
    add(home, "acme", frequency="5m")
    assert len(schedule.claim(T0 + timedelta(minutes=5), limit=10)) == 1


def test_history_from_before_the_schedule_seeds_the_due_times(home: Home) -> None:
    schedule = Schedule(home)
    acme = add(home, "acme", frequency="1h")
    schedule.seed([acme], [("acme", "crm", T0, T0 - timedelta(days=1))])
    assert schedule.claim(T0 + timedelta(minutes=59), limit=10) == []
    (due,) = schedule.claim(T0 + timedelta(hours=1), limit=10)
    assert due.mode == "incremental"
    (entry,) = schedule.entries(connection_id="acme")
    assert entry.next_full_at == T0 + timedelta(days=6)


def test_a_removed_connection_leaves_the_schedule(home: Home) -> None:
    schedule = Schedule(home)
    add(home, "acme")
    Connections(home).remove("acme")
    assert schedule.entries() == []
