from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.engine.sync import SyncRunner
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.hubspot.sandbox.server import HubSpotSandbox

ACME = "token-acme-0123456789abcdef"
GLOBEX = "token-globex-fedcba9876543210"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("SYNCS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SYNCS_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
    return Home.from_env()


@pytest.fixture
def hubspot() -> Iterator[HubSpotSandbox]:
    sandbox = HubSpotSandbox(rate_limit_per_10s=None, search_rate_per_second=None).start()
    sandbox.add_account(ACME, seed=1, contacts=250, companies=30, deals=20)
    sandbox.add_account(GLOBEX, seed=2, contacts=120, companies=10, deals=10)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def runner(home: Home) -> SyncRunner:
    return sync_runner(home)


def add_hubspot(
    home: Home,
    sandbox: HubSpotSandbox,
    connection_id: str = "acme",
    token: str = ACME,
    **config: str,
) -> None:
    Connections(home).add(
        "hubspot",
        connection_id,
        credentials={"access_token": token},
        config={"base_url": sandbox.base_url, **config},
    )
