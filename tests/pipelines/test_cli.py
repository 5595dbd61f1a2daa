"""The ``syncs`` command: clear one-line errors, nothing written on bad input, no secrets."""

from __future__ import annotations

import json

import pytest

from pipelines.cli.main import main
from pipelines.store.connections import Connections
from tests.conftest import ACME


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_run_show_and_changes(home, hubspot, capsys):
    code, out, _ = run(
        capsys,
        "connections", "add", "hubspot", "acme",
        "--credential", f"access_token={ACME}",
        "--config", f"base_url={hubspot.base_url}",
        "--config", "contacts_properties=hs_analytics_source",
        "--frequency", "15m",
    )  # fmt: skip
    assert code == 0 and "acme" in out
    code, out, err = run(capsys, "run", "hubspot", "acme")
    assert code == 0, err
    assert "INITIAL success" in out and "contacts" in out and "added    250" in out
    code, out, _ = run(capsys, "connections", "show", "acme")
    shown = json.loads(out)
    assert shown["config"]["contacts_properties"] == ["hs_analytics_source"]
    assert shown["frequency"] == "15m"
    assert ACME not in out
    code, out, _ = run(capsys, "connections", "list")
    assert "acme" in out and "every 15m" in out and ACME not in out
    code, out, _ = run(capsys, "changes", "--connection", "acme", "--limit", "5")
    assert code == 0 and out.count("ADDED") == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connections", "add", "salesforcex", "c1"], "unknown integration 'salesforcex'"),
        (
            [
                "connections",
                "add",
                "hubspot",
                "c1",
                "--credential",
                "access_token=x",
                "--frequency",
                "10s",
            ],
            "below the minimum of 15s",
        ),
        (
            ["connections", "add", "hubspot", "bad id!", "--credential", "access_token=x"],
            "not valid",
        ),
        (["run", "hubspot", "nobody"], "unknown connection 'nobody'"),
        (["connections", "show", "nobody"], "unknown connection 'nobody'"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(home, capsys, args, message):
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1
    assert Connections(home).list() == []


def test_remove_purges_rows_of_that_connection_only(home, hubspot, capsys):
    from tests.conftest import GLOBEX, add_hubspot
    from tests.helpers import query

    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    run(capsys, "run", "hubspot", "acme")
    run(capsys, "run", "hubspot", "globex")
    code, _out, _ = run(capsys, "connections", "remove", "acme")
    assert code == 0
    assert query(home, "select distinct connection_id from hubspot.contacts") == [("globex",)]
    assert [c.connection_id for c in Connections(home).list()] == ["globex"]


def test_sandbox_command_serves_and_drives_a_running_sandbox(tmp_path):
    import os
    import subprocess
    import sys

    import requests

    env = {**os.environ, "SYNCS_HOME": str(tmp_path / "home")}
    served = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli.main", "sandbox", "hubspot", "--records", "20"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert served.stdout is not None
        first = served.stdout.readline()
        url = first.split(" on ")[1].split()[0]
        hint = served.stdout.readline()
        assert "syncs connections add hubspot acme-hubspot" in hint and url in hint

        def drive(*words: str) -> str:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipelines.cli.main",
                    "sandbox",
                    "hubspot",
                    "--url",
                    url,
                    *words,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        drive("update", "demo-token-acme", "contacts", "1", "jobtitle=Sandbox Driver")
        drive("fault", "429", "count=1", "retry_after=1")
        headers = {"Authorization": "Bearer demo-token-acme"}
        first_try = requests.get(f"{url}/crm/v3/objects/contacts/1", headers=headers)
        assert first_try.status_code == 429 and first_try.headers["Retry-After"] == "1"
        record = requests.get(
            f"{url}/crm/v3/objects/contacts/1", params={"properties": "jobtitle"}, headers=headers
        ).json()
        assert record["properties"]["jobtitle"] == "Sandbox Driver"
    finally:
        served.terminate()
        served.wait(timeout=10)
