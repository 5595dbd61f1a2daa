"""What every integration's runs read and write: pages, exact changes, deletions, the
guards of a full listing, rejected records."""

from __future__ import annotations

import json
import math

import pytest

from tests.contract.helpers import (
    PAGE,
    RECORDS,
    connect,
    exactly,
    expect,
    live_counts,
    live_ids,
    model_result,
    total,
)
from tests.helpers import query


def test_an_initial_run_pages_through_every_record(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    kit.set_page_size(PAGE)
    connect(home, kit, acme)
    results = runner.run("acme")
    assert {r.sync_type for r in results} == {"INITIAL"}
    added = set()
    for model in spec.models:
        ids = kit.ids(acme, model)
        assert len(ids) >= RECORDS
        assert live_ids(home, spec.name, model) == sorted(ids)
        assert model_result(results, model).added == len(ids)
        added |= {(model, i, "ADDED") for i in ids}
    assert exactly(home, results) == added
    duplicates = [
        query(home, f'select count(*) - count(distinct id) from "{spec.name}"."{m}"')[0][0]
        for m in spec.models
    ]
    assert duplicates == [0] * len(spec.models)
    assert sum(r.api_requests for r in results) >= len(kit.models) * math.ceil(RECORDS / PAGE)


def test_an_incremental_run_reads_exactly_the_changes(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    kit.set_page_size(PAGE)
    added, changed, deleted = [], [], []
    for model in kit.models:
        ids = kit.ids(acme, model)
        for record_id in ids[: PAGE + 1]:
            changed += kit.change(acme, model, record_id)
        for _ in range(PAGE + 1):
            added += kit.add(acme, model)
    for model in kit.deletable:
        deleted += kit.delete(acme, model, kit.ids(acme, model)[-PAGE - 2])
    caps = kit.capabilities

    incremental = runner.run("acme")
    assert {r.sync_type for r in incremental} == {"INCREMENTAL"}
    seen = expect(added, "ADDED")
    seen |= expect(changed, "UPDATED") if caps.incremental_updates else set()
    seen |= expect(deleted, "DELETED") if caps.tombstones else set()
    assert exactly(home, incremental) == seen

    full = runner.run("acme", mode="full")
    rest = set() if caps.incremental_updates else expect(changed, "UPDATED")
    rest |= set() if caps.tombstones else expect(deleted, "DELETED")
    assert exactly(home, full) == rest
    for model in spec.models:
        assert live_ids(home, spec.name, model) == sorted(kit.ids(acme, model))


def test_deletions_the_api_reports_are_tombstones(home, kit, spec, runner):
    if not kit.capabilities.tombstones:
        pytest.skip(f"{spec.name} reports no deletions: a full refresh finds them")
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    before = live_counts(home, spec)
    deleted = []
    for model in kit.deletable:
        for record_id in kit.ids(acme, model)[-2:]:
            deleted += kit.delete(acme, model, record_id)

    results = runner.run("acme")
    assert exactly(home, results) == expect(deleted, "DELETED")
    for model, record_id in deleted:
        row = query(
            home,
            f'select _syncs_last_action, _syncs_deleted_at is not null from "{spec.name}"."{model}"'
            " where id = ?",
            [record_id],
        )
        assert row == [("DELETED", True)]
    gone = {m: sum(1 for model, _ in deleted if model == m) for m in spec.models}
    assert live_counts(home, spec) == {m: before[m] - gone[m] for m in spec.models}


def test_records_erased_without_a_trace_are_deleted_by_a_full_refresh(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    erased = []
    for model in kit.deletable:
        for record_id in kit.ids(acme, model)[-3:]:
            erased += kit.erase(acme, model, record_id)
    silent = kit.capabilities.silent_erasure

    incremental = runner.run("acme")
    assert exactly(home, incremental) == (set() if silent else expect(erased, "DELETED"))
    full = runner.run("acme", mode="full")
    assert exactly(home, full) == (expect(erased, "DELETED") if silent else set())
    for model in spec.models:
        assert model_result(full, model).rows_total == len(kit.ids(acme, model))


def test_a_rerun_with_nothing_changed_makes_no_events(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    again = runner.run("acme")
    assert {r.sync_type for r in again} == {"INCREMENTAL"}
    assert exactly(home, again) == set()
    full = runner.run("acme", mode="full")
    assert {r.sync_type for r in full} == {"FULL"}
    assert exactly(home, full) == set()
    assert total(full, "unchanged") == sum(len(kit.ids(acme, m)) for m in spec.models)


def test_an_empty_full_listing_deletes_nothing(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    before = live_counts(home, spec)
    for model in kit.deletable:
        while ids := kit.ids(acme, model):
            kit.erase(acme, model, ids[-1])
    emptied = [m for m in spec.models if not kit.ids(acme, m)]

    full = runner.run("acme", mode="full")
    assert all(r.status == "success" for r in full)
    assert any(r.suspicious for r in full)
    assert exactly(home, full) == set()
    assert live_counts(home, spec) == before
    for model in emptied:
        assert model_result(full, model).deletions_held == before[model]


def test_a_full_listing_that_lost_most_of_a_table_holds_its_deletions(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    model = kit.deletable[0]
    before = live_counts(home, spec)
    erased: list[tuple[str, str]] = []
    while sum(1 for m, _ in erased if m == model) < before[model] * 3 // 4:
        erased += kit.erase(acme, model, kit.ids(acme, model)[-1])
    assert kit.ids(acme, model), "some records are left: the listing is not empty"

    held = runner.run("acme", mode="full")
    result = model_result(held, model)
    assert result.suspicious and result.deleted == 0
    assert result.deletions_held == sum(1 for m, _ in erased if m == model)
    assert exactly(home, held) == set()
    assert live_counts(home, spec) == before

    confirmed = runner.run("acme", mode="full", confirm_deletions=True)
    assert exactly(home, confirmed) == expect(erased, "DELETED")
    assert not any(r.suspicious for r in confirmed)


def test_rejected_records_are_kept_with_a_reason_and_not_deleted(home, kit, spec, runner):
    if not kit.rejectable:
        pytest.skip(f"{spec.name}'s API sends no record its models refuse")
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    rejected = []
    for model in kit.rejectable:
        rejected += kit.reject(acme, model, kit.ids(acme, model)[1])

    for mode in ("full", "incremental"):
        results = runner.run("acme", mode=mode)
        assert exactly(home, results) == set(), mode
        for model in kit.rejectable:
            counts = model_result(results, model)
            assert counts.rejected >= 1 and counts.deleted == 0, (mode, model)
        for model, record_id in rejected:
            ((action, deleted_at, reason),) = query(
                home,
                "select _syncs_last_action, _syncs_deleted_at, _syncs_rejected_reason "
                f'from "{spec.name}"."{model}" where id = ?',
                [record_id],
            )
            assert (action, deleted_at) == ("ADDED", None)
            assert reason, "the row says why the API's version was refused"
    logged = query(
        home,
        "select model, record_id, reason, payload from syncs.rejected_records where run_id = ?",
        [results[0].run_id],
    )
    assert {(m, r) for m, r, _, _ in logged} == set(rejected)
    for model, record_id, reason, payload in logged:
        assert reason and isinstance(json.loads(payload), dict), (model, record_id)
