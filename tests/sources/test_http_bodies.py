"""A successful answer whose body ended early, with a ``Content-Length`` that agrees, is
retried like a connection cut mid-body, and fails one clear line when it stays broken."""

from __future__ import annotations

import pytest
import requests

from sources.http import ApiClient, HttpSettings, RequestLog
from sources.hubspot.sandbox.server import HubSpotSandbox

TOKEN = "token-bodies-0123456789"
CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def sandbox():
    with HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None) as hubspot:
        hubspot.add_account(TOKEN, seed=1, contacts=120)
        yield hubspot


def client(sandbox: HubSpotSandbox, log: RequestLog) -> ApiClient:
    return ApiClient(
        sandbox.base_url,
        connection_id="acme",
        headers={"Authorization": f"Bearer {TOKEN}"},
        request_log=log,
        settings=HttpSettings(max_attempts=3, backoff_factor=0.01),
    )


def test_the_truncated_fault_sends_a_whole_looking_body_that_is_not_json(sandbox):
    sandbox.inject_fault("truncated", path_prefix=CONTACTS)
    answer = requests.get(
        sandbox.base_url + CONTACTS, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert answer.status_code == 200
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    with pytest.raises(ValueError):
        answer.json()
