"""Real processes: two syncs started at the same moment."""

from __future__ import annotations

from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import query, syncs


def test_two_processes_syncing_at_once_both_succeed(home, hubspot):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    procs = [syncs(home, "run", "hubspot", cid) for cid in ("acme", "globex")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "INITIAL success" in out
    assert query(
        home, "select connection_id, count(*) from hubspot.contacts group by 1 order by 1"
    ) == [("acme", 250), ("globex", 120)]
    for out, err in outputs:
        assert ACME not in out + err and GLOBEX not in out + err
