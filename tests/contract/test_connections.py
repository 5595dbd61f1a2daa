"""Every integration's connections: each its own, bad input refused in one line by the
``syncs`` command, no secret written anywhere."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipelines.store.connections import Connections
from sources.errors import ConfigError
from sources.registry import INTEGRATIONS
from sources.sandbox.contract import MissingKit, load_kit
from tests.contract.helpers import (
    RECORDS,
    assert_no_secret_stored,
    cli_args,
    connect,
    cursors,
    exactly,
    expect,
    live_ids,
    secrets_of,
)
from tests.helpers import query, syncs


def test_every_registered_integration_has_a_kit_that_fits_it():
    for name, spec in INTEGRATIONS.items():
        try:
            factory = load_kit(spec)
        except MissingKit as missing:
            pytest.fail(str(missing), pytrace=False)
        assert factory.integration == name  # type: ignore[attr-defined]
        declared = {*factory.models, *factory.deletable, *factory.rejectable}  # type: ignore[attr-defined]
        assert declared <= set(spec.models), name


def test_an_integration_without_a_kit_is_told_what_to_write():
    elsewhere = replace(INTEGRATIONS["hubspot"], name="salesforce", extract=query)
    with pytest.raises(MissingKit, match="'salesforce' is registered but has no contract kit"):
        load_kit(elsewhere)


def test_two_connections_never_see_each_others_records(home, kit, spec, runner):
    """Their ids differ only in punctuation; their accounts hold the same record ids."""
    acme, globex = kit.account("acme", RECORDS), kit.account("globex", RECORDS)
    connect(home, kit, acme, "z.eu")
    connect(home, kit, globex, "z-eu")
    runner.run("z.eu")
    runner.run("z-eu")
    for model in spec.models:
        assert live_ids(home, spec.name, model, "z.eu") == sorted(kit.ids(acme, model))
        assert live_ids(home, spec.name, model, "z-eu") == sorted(kit.ids(globex, model))

    added, erased = [], []
    for model in kit.models:
        added += kit.add(acme, model)
    for model in kit.deletable:
        erased += kit.erase(globex, model, kit.ids(globex, model)[0])
    globex_run = runner.run("z-eu", mode="full")
    acme_run = runner.run("z.eu")

    assert exactly(home, acme_run) == expect(added, "ADDED")
    assert exactly(home, globex_run) == expect(erased, "DELETED")
    for results, connection_id in ((acme_run, "z.eu"), (globex_run, "z-eu")):
        owners = query(
            home,
            "select distinct connection_id from syncs.change_events where run_id in "
            f"({', '.join('?' for _ in results)})",
            [r.run_id for r in results],
        )
        assert owners == [(connection_id,)]
    for model in spec.models:
        assert live_ids(home, spec.name, model, "z.eu") == sorted(kit.ids(acme, model))
        assert live_ids(home, spec.name, model, "z-eu") == sorted(kit.ids(globex, model))
    assert len(cursors(home, "z.eu")) == len(cursors(home, "z-eu")) == len(spec.models)


def test_bad_config_and_missing_credentials_are_one_line_errors(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    required = [n for n, f in spec.credentials_model.model_fields.items() if f.is_required()]
    cases = {
        "unknown config key 'colour'": [*cli_args(acme), "--config", "colour=blue"],
        "config 'base_url'": [*cli_args(acme), "--config", "base_url=api.example.com"],
        f"{spec.name} needs --credential for": cli_args(acme, credentials=False),
    }
    commands = {
        message: syncs(home, "connections", "add", spec.name, "acme", *args)
        for message, args in cases.items()
    }
    for message, command in commands.items():
        out, err = command.communicate(timeout=120)
        assert command.returncode == 2, (message, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert message in err
        if message.endswith("--credential for"):
            assert all(f"missing credential {name!r}" in err for name in required), err
    assert Connections(home).list() == []

    connect(home, kit, acme)
    with pytest.raises(ConfigError, match=f"{spec.name} has no sync 'nothing'; its syncs: "):
        runner.run("acme", sync="nothing")


def test_no_secret_is_written_anywhere(home, kit, spec, runner):
    acme = kit.account("acme", RECORDS)
    added = syncs(home, "connections", "add", spec.name, "acme", *cli_args(acme))
    kit.sandbox.inject_fault("500", count=1, path_prefix=kit.api_path)
    outputs = [added.communicate(timeout=120)]
    assert added.returncode == 0, outputs
    run = syncs(home, "run", spec.name, "acme")
    outputs.append(run.communicate(timeout=120))
    assert run.returncode == 0, outputs
    kit.sandbox.inject_fault("500", count=1, path_prefix=kit.api_path)
    runner.run("acme", mode="full")
    secrets = secrets_of(home, "acme", acme)
    for secret in secrets:
        assert not any(secret in out + err for out, err in outputs)
    assert_no_secret_stored(home, secrets)
