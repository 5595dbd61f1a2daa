"""A successful answer whose body ended early, with a ``Content-Length`` that agrees, is
retried like a connection cut mid-body, and fails one clear line when it stays broken."""

from __future__ import annotations

import pytest
import requests

from sources.errors import TransientError
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


def test_a_truncated_page_is_fetched_again(sandbox):
    log = RequestLog()
    sandbox.inject_fault("truncated", path_prefix=CONTACTS)
    pages = list(
        client(sandbox, log).paginate(CONTACTS, params={"limit": 100}, data_selector="results")
    )
    assert [len(p) for p in pages] == [100]
    assert [(r.status, r.attempt) for r in log.records] == [(200, 1), (200, 2)]


def test_a_body_that_stays_truncated_fails_in_one_line_naming_the_endpoint(sandbox):
    log = RequestLog()
    sandbox.inject_fault("truncated", count=3, path_prefix=CONTACTS)
    with pytest.raises(TransientError) as failure:
        list(client(sandbox, log).paginate(CONTACTS, data_selector="results"))
    message = str(failure.value)
    assert "\n" not in message and CONTACTS in message and "not valid JSON" in message
    assert len(log.records) == 3
    sandbox.inject_fault("truncated", count=3, path_prefix=CONTACTS)
    with pytest.raises(TransientError, match="not valid JSON"):
        client(sandbox, log).get(CONTACTS)
