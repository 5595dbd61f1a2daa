"""Pacing: an answer's Retry-After decides the wait; the rate-limit window only when it has none.

Waits are read from the request log (``waited_ms``), which counts the time between an
attempt and the one before it, not from the clock of the test.
"""

from __future__ import annotations

import pytest
import requests

from sources.hubspot import pace
from sources.hubspot.sandbox.server import HubSpotSandbox
from tests.conftest import ACME, add_hubspot
from tests.helpers import query


@pytest.fixture
def limited():
    sandbox = HubSpotSandbox(rate_limit_per_10s=100, search_rate_per_second=None).start()
    sandbox.add_account(ACME, seed=1, contacts=30, companies=3, deals=3)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_429_waits_its_retry_after_not_hubspots_ten_second_window(home, runner, limited):
    add_hubspot(home, limited)
    limited.inject_fault("429", count=1, retry_after=1, path_prefix="/crm/v3/objects/contacts")
    (result,) = runner.run("acme")
    assert result.status == "success" and result.models["contacts"].added == 30
    ((status, first),) = query(
        home,
        "select status, attempt from syncs.api_requests where url like '%/objects/contacts%' "
        "and status = 429",
    )
    assert (status, first) == (429, 1)
    (retried,) = query(
        home,
        "select waited_ms from syncs.api_requests where url like '%/objects/contacts%' "
        "and attempt = 2",
    )
    assert 1000 <= retried[0] < 5000


def test_without_retry_after_the_window_is_waited():
    """The pacer's own answer stands when the provider gives no better one."""
    response = requests.Response()
    response.status_code = 200
    response.headers["X-HubSpot-RateLimit-Remaining"] = "1"
    response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
    assert pace(response) == 10.0
