"""The contract suite runs once per registered integration, through the kit it provides.

A registered integration without a kit fails every test of the suite, saying what to write.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.home import Home
from sources.registry import INTEGRATIONS
from sources.sandbox.contract import ContractKit, MissingKit, load_kit
from sources.spec import IntegrationSpec


@pytest.fixture(params=sorted(INTEGRATIONS))
def spec(request: pytest.FixtureRequest) -> IntegrationSpec:
    return INTEGRATIONS[request.param]


@pytest.fixture
def kit(
    spec: IntegrationSpec, home: Home, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ContractKit]:
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.02")
    try:
        factory = load_kit(spec)
    except MissingKit as missing:
        pytest.fail(str(missing), pytrace=False)
    started = factory()
    try:
        yield started
        assert started.sandbox.handler_errors == [], "the sandbox failed while serving"
    finally:
        started.stop()
