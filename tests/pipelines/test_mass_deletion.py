"""No run deletes what it did not see go: the mass-deletion limit and its confirmation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipelines.cli.main import main
from pipelines.store.connections import Connections
from sources.spec import DeletionLimit
from tests.conftest import ACME, add_hubspot
from tests.helpers import events, query

CONTACTS = "/crm/v3/objects/contacts"


def live(home, model: str = "contacts") -> int:
    return query(home, f"select count(*) from hubspot.{model} where _syncs_deleted_at is null")[0][
        0
    ]


def outbox(home, run_id: str, model: str) -> dict:
    import sqlite3

    db = sqlite3.connect(home.control_store)
    try:
        (payload,) = db.execute(
            "select payload from outbox where run_id = ? and model = ?", [run_id, model]
        ).fetchone()
    finally:
        db.close()
    return json.loads(payload)


def test_a_listing_cut_short_holds_its_deletions_and_applies_the_rest(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    first = hubspot.ids(ACME, "contacts")[0]
    hubspot.update(ACME, "contacts", first, {"jobtitle": "Seen on page one"})
    hubspot.inject_page_fault("no_next", path_prefix=CONTACTS)

    (result,) = runner.run("acme", mode="full")
    contacts = result.models["contacts"]
    assert result.status == "success" and result.suspicious
    assert (contacts.fetched, contacts.deleted, contacts.deletions_held) == (100, 0, 150)
    assert "150 of 250" in contacts.note and "--confirm-deletions" in contacts.note
    assert events(home, result.run_id) == [("contacts", first, "UPDATED", ["jobtitle"])]
    assert live(home) == 250
    assert query(
        home,
        "select suspicious, deletions_held, note from syncs.sync_runs where run_id = ?",
        [result.run_id],
    ) == [(True, 150, result.note)]
    assert query(
        home,
        "select model, deletions_held, suspicious from syncs.sync_run_models "
        "where run_id = ? order by model",
        [result.run_id],
    ) == [("companies", 0, False), ("contacts", 150, True), ("deals", 0, False)]
    body = outbox(home, result.run_id, "contacts")
    assert body["deletions_held"] == 150 and body["suspicious"] is True
    assert body["counts"] == {"added": 0, "updated": 1, "deleted": 0}
    assert "deletions_held" not in outbox(home, result.run_id, "companies")


def test_deletions_past_the_limit_wait_for_the_users_confirmation(home, hubspot, capsys):
    add_hubspot(home, hubspot)
    assert main(["run", "hubspot", "acme"]) == 0
    gone = hubspot.ids(ACME, "contacts")[:150]
    for record_id in gone:
        hubspot.erase(ACME, "contacts", record_id)
    capsys.readouterr()

    assert main(["run", "hubspot", "acme", "--full-refresh"]) == 0
    out = capsys.readouterr().out
    assert "(suspicious)" in out and "held    150" in out
    assert "syncs run hubspot acme --full-refresh --confirm-deletions" in out
    assert live(home) == 250

    assert main(["run", "hubspot", "acme", "--confirm-deletions"]) == 2
    assert "--full-refresh" in capsys.readouterr().err
    assert main(["run", "hubspot", "acme", "--full-refresh", "--confirm-deletions"]) == 0
    out = capsys.readouterr().out
    assert "deleted    150" in out and "suspicious" not in out
    assert live(home) == 100
    assert main(["run", "hubspot", "acme", "--full-refresh"]) == 0
    assert "suspicious" not in capsys.readouterr().out


@pytest.mark.parametrize(("erased", "held"), [(10, 0), (11, 11)])
def test_the_default_limit_is_more_than_20_percent_and_more_than_10_rows(
    home, hubspot, runner, erased, held
):
    add_hubspot(home, hubspot)
    runner.run("acme")
    for record_id in hubspot.ids(ACME, "companies")[:erased]:
        hubspot.erase(ACME, "companies", record_id)
    (result,) = runner.run("acme", mode="full")
    companies = result.models["companies"]
    assert (companies.deleted, companies.deletions_held) == (erased - held, held)
    assert live(home, "companies") == 30 - erased + held


def test_a_connection_sets_its_own_limit(home, hubspot, runner, capsys):
    add_hubspot(home, hubspot)
    runner.run("acme")
    assert main(["connections", "add", "hubspot", "acme", "--max-deletions", "lots"]) == 2
    assert "max deletions 'lots' is not valid" in capsys.readouterr().err
    assert main(["connections", "add", "hubspot", "acme", "--max-deletions", "5"]) == 0
    assert json.loads(_show(capsys))["max_deletions"] == "5"
    for record_id in hubspot.ids(ACME, "contacts")[:6]:
        hubspot.erase(ACME, "contacts", record_id)
    (held,) = runner.run("acme", mode="full")
    assert held.models["contacts"].deletions_held == 6
    assert "more than 5 rows" in held.models["contacts"].note

    assert main(["connections", "add", "hubspot", "acme", "--max-deletions", "100%"]) == 0
    capsys.readouterr()
    for record_id in hubspot.ids(ACME, "contacts")[:150]:
        hubspot.erase(ACME, "contacts", record_id)
    (applied,) = runner.run("acme", mode="full")
    assert applied.models["contacts"].deleted == 156 and not applied.suspicious

    Connections(home).add("hubspot", "acme", max_deletions="default")
    assert json.loads(_show(capsys))["max_deletions"] is None


def _show(capsys) -> str:
    capsys.readouterr()
    assert main(["connections", "show", "acme"]) == 0
    return capsys.readouterr().out


def test_a_sync_declares_its_own_limit(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    connection = Connections(home).get("acme")
    strict = replace(connection.spec.syncs["crm"], max_deletions=DeletionLimit(None, 2))
    for record_id in hubspot.ids(ACME, "deals")[:3]:
        hubspot.erase(ACME, "deals", record_id)
    result = runner.run_one(connection, strict, mode="full")
    assert result.models["deals"].deletions_held == 3


def test_an_empty_listing_deletes_only_when_confirmed(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    for record_id in hubspot.ids(ACME, "contacts"):
        hubspot.erase(ACME, "contacts", record_id)
    (empty,) = runner.run("acme", mode="full")
    assert empty.models["contacts"].deletions_held == 250 and empty.suspicious
    assert "no contacts where the table had 250" in empty.models["contacts"].note
    assert live(home) == 250
    (confirmed,) = runner.run("acme", mode="full", confirm_deletions=True)
    assert confirmed.models["contacts"].deleted == 250
    assert live(home) == 0


def test_a_limit_is_a_share_a_count_or_both():
    from sources.errors import ConfigError

    assert DeletionLimit.parse("20%,10") == DeletionLimit() == DeletionLimit.parse("10, 20%")
    assert DeletionLimit.parse("50%") == DeletionLimit(0.5, None)
    assert DeletionLimit.parse("500") == DeletionLimit(None, 500)
    assert not DeletionLimit.parse("100%").holds(250, 250)
    assert DeletionLimit.parse("0").holds(1, 1000)
    for bad in ("", "lots", "-1", "150%", "20%,30%", "1,2", "nan%", "20%,10,5"):
        with pytest.raises(ConfigError, match="not valid"):
            DeletionLimit.parse(bad)
