"""The reliability suite's scenarios at small sizes: the same code ``make reliability`` runs,
each in a home of its own against its own sandboxes (``python -m reliability --small`` runs
them the same way)."""

from __future__ import annotations

import pytest

from reliability import __main__ as suite


@pytest.mark.parametrize("name", list(suite.SCENARIOS))
def test_scenario_holds_at_small_size(name):
    result = suite.SCENARIOS[name](True)
    assert result.problems == []
    figures = result.figures
    if name == "faulted_sync":
        assert figures["faulted_share"] >= 0.05
    elif name == "kills":
        assert figures["kills"] == 3 and figures["false_deletes"] == 0
    elif name == "fuzz":
        assert figures["tracebacks"] == 0 and figures["server_errors_5xx"] == 0
    elif name == "secrets_scan":
        assert figures["hits"] == 0 and figures["files_scanned"] > 5
    elif name == "webhooks":
        assert figures["received_at_least_once"] == figures["messages"] > 0
