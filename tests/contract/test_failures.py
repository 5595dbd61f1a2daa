"""What every integration does when the API or the process fails: transient answers are
retried and logged, and a run that fails or is killed commits nothing, so the next is exact."""

from __future__ import annotations

import signal
import time

import pytest

from pipelines.engine.sync import SyncFailed
from pipelines.store.connections import Connections
from tests.contract.helpers import (
    PAGE,
    RECORDS,
    assert_no_secret_stored,
    connect,
    exactly,
    expect,
    live_counts,
    of_runs,
    secret_values,
    secrets_of,
    snapshot,
)
from tests.helpers import query, syncs


def requests_of(home, results) -> list[tuple]:
    """``(url, status, attempt, waited_ms, error)`` of the runs' HTTP attempts, in order."""
    sql = (
        "select url, status, attempt, waited_ms, error from syncs.api_requests "
        "where run_id = ? order by requested_at"
    )
    return of_runs(home, sql, results)


def changes(kit, account) -> set[tuple[str, str, str]]:
    """A record added to each model and one erased from each deletable model: what the
    next full listing must find, whatever the API reports incrementally."""
    added, erased = [], []
    for model in kit.models:
        added += kit.add(account, model)
    for model in kit.deletable:
        erased += kit.erase(account, model, kit.ids(account, model)[0])
    return expect(added, "ADDED") | expect(erased, "DELETED")


def test_rate_limits_cut_connections_and_server_errors_are_retried(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    for kind in ("429", "cut", "500"):
        kit.sandbox.inject_fault(kind, count=1, retry_after=1, path_prefix=kit.api_path)

    results = runner.run("acme")
    assert all(r.status == "success" for r in results)
    for model in spec.models:
        assert live_counts(home, spec)[model] == len(kit.ids(acme, model))
    attempts = requests_of(home, results)
    url = next(url for url, status, *_ in attempts if status == 429)
    same = [
        (status, attempt, waited, error)
        for u, status, attempt, waited, error in attempts
        if u == url
    ]
    assert [(status, attempt) for status, attempt, _, _ in same[:2]] == [(429, 1), (None, 2)]
    assert same[1][2] >= 950, "Retry-After: 1 was waited out before the next attempt"
    assert same[1][3], "the cut answer is logged with its error"
    assert [(status, attempt) for status, attempt, _, _ in same[2:4]] == [(500, 3), (200, 4)]


def test_server_errors_that_persist_fail_the_run_and_change_nothing(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    expected = changes(kit, acme)
    kit.set_page_size(1)  # many pages left when the first is processed, past the read-ahead
    before = snapshot(home, spec)

    def fail_from_the_first_page_on(model: str, pages: int, records: int) -> None:
        if not kit.sandbox.pending_faults:
            kit.sandbox.inject_fault("500", count=10_000, path_prefix=kit.api_path)

    with pytest.raises(SyncFailed) as failure:
        runner.run("acme", mode="full", progress=fail_from_the_first_page_on)
    result = failure.value.result
    assert (result.status, result.error_type) == ("failed", "TransientError")
    assert failure.value.retryable
    assert snapshot(home, spec) == before
    (url, attempts) = query(
        home,
        "select url, max(attempt) from syncs.api_requests where run_id = ? and status = 500 "
        "group by url order by 2 desc limit 1",
        [result.run_id],
    )[0]
    assert attempts > 1, f"{url} was tried again before the run gave up"
    assert query(
        home, "select status, error_type from syncs.sync_runs where run_id = ?", [result.run_id]
    ) == [("failed", "TransientError")]

    kit.sandbox.clear_faults()
    assert exactly(home, runner.run("acme", mode="full")) == expected


def test_an_authentication_failure_names_the_connection_and_changes_nothing(
    home, kit, spec, runner
):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme, "acme-eu")
    runner.run("acme-eu")
    changes(kit, acme)
    before = snapshot(home, spec)
    valid = secrets_of(home, "acme-eu", acme)
    refused = kit.invalid_credentials(acme)
    Connections(home).add(spec.name, "acme-eu", credentials=refused)

    with pytest.raises(SyncFailed) as failure:
        runner.run("acme-eu")
    assert failure.value.result.error_type == "AuthenticationError"
    assert "'acme-eu'" in str(failure.value)
    assert not failure.value.retryable
    assert snapshot(home, spec) == before

    cli = syncs(home, "run", spec.name, "acme-eu")
    _, err = cli.communicate(timeout=120)
    assert cli.returncode == 1, err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "acme-eu" in line and "AuthenticationError" in line
    assert "Traceback" not in err
    assert snapshot(home, spec) == before
    assert (
        query(home, "select status, error_type from syncs.sync_runs where status = 'failed'")
        == [("failed", "AuthenticationError")] * 2
    )
    refused_secrets = secret_values(spec.credentials_model.model_validate(refused))
    assert_no_secret_stored(home, [*valid, *refused_secrets])


def test_a_killed_run_changes_nothing_and_the_next_run_is_exact(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    connect(home, kit, acme)
    runner.run("acme")
    expected = changes(kit, acme)
    before = snapshot(home, spec)
    kit.set_page_size(PAGE)
    kit.sandbox.clear_requests()
    kit.sandbox.inject_fault("slow", count=10_000, delay=0.2, path_prefix=kit.api_path)

    process = syncs(home, "run", spec.name, "acme", "--full-refresh")
    deadline = time.monotonic() + 60
    while len(kit.sandbox.requests_to(kit.api_path)) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the API"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, "killed while it was still extracting"
    kit.sandbox.clear_faults()
    assert snapshot(home, spec) == before
    assert_no_secret_stored(home, secrets_of(home, "acme", acme))

    assert exactly(home, runner.run("acme", mode="full")) == expected
