"""Every record's versions in ``<integration>.<model>__history``, kept by the compare."""

from __future__ import annotations

from pipelines.engine.sync import purge
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, add_hubspot
from tests.helpers import query

VERSIONS = (
    "select _syncs_action, jobtitle, _syncs_valid_from, _syncs_valid_to, _syncs_deleted_at "
    "from hubspot.contacts__history where connection_id = 'acme' and id = ? "
    "order by _syncs_cursor"
)


def test_updates_and_deletions_make_versions_valid_from_to(home, hubspot, runner):
    add_hubspot(home, hubspot)
    (first,) = runner.run("acme")
    ids = hubspot.ids(ACME, "contacts")
    (count,) = query(home, "select count(*) from hubspot.contacts__history")[0]
    assert count == len(ids)

    (original,) = query(home, "select jobtitle from hubspot.contacts where id = ?", [ids[0]])[0]
    hubspot.update(ACME, "contacts", ids[0], {"jobtitle": "Historian"})
    hubspot.archive(ACME, "contacts", ids[1])
    (second,) = runner.run("acme")
    hubspot.update(ACME, "contacts", ids[0], {"jobtitle": "Archivist"})
    (third,) = runner.run("acme")

    updated = query(home, VERSIONS, [ids[0]])
    assert [(v[0], v[1]) for v in updated] == [
        ("ADDED", original),
        ("UPDATED", "Historian"),
        ("UPDATED", "Archivist"),
    ]
    assert updated[0][3] == updated[1][2] and updated[1][3] == updated[2][2]
    assert updated[-1][3] is None
    assert first.started_at <= updated[0][2] < updated[0][3]

    deleted = query(home, VERSIONS, [ids[1]])
    assert [v[0] for v in deleted] == ["ADDED", "DELETED"]
    assert deleted[0][3] == deleted[1][2] and deleted[1][3] is None and deleted[1][4]
    assert deleted[0][4] is None

    unchanged = query(home, VERSIONS, [ids[2]])
    assert [(v[0], v[3]) for v in unchanged] == [("ADDED", None)]
    assert third.started_at > second.started_at


def test_removing_a_connections_data_removes_its_versions(home, hubspot, runner):
    add_hubspot(home, hubspot)
    runner.run("acme")
    ids = hubspot.ids(ACME, "contacts")
    hubspot.update(ACME, "contacts", ids[0], {"jobtitle": "Short-lived"})
    runner.run("acme")
    assert query(home, "select count(*) from syncs.hubspot__contacts__past")[0][0] == 1

    purge(home, INTEGRATIONS["hubspot"], "acme")
    assert query(home, "select count(*) from syncs.hubspot__contacts__past")[0][0] == 0
    assert query(home, "select count(*) from hubspot.contacts__history")[0][0] == 0
