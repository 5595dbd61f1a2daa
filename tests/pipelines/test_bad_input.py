"""Bad input anywhere — arguments, environment, the home folder, API bodies — gets one line
and a non-zero exit (or a 4xx), never a traceback or a 500."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from pipelines.api.server import ApiServer, create_app
from pipelines.cli.main import describe_os_error, main
from pipelines.home import Home
from pipelines.store.api_keys import ensure_api_key
from pipelines.store.connections import Connections
from tests.conftest import add_hubspot
from tests.pipelines.test_records_api import Api


@pytest.fixture
def api(home) -> Iterator[Api]:
    hashes, key = ensure_api_key(home, env_key="")
    assert key is not None
    server = ApiServer(create_app(home, hashes)).start()
    try:
        yield Api(server.url, key)
    finally:
        server.stop()


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    _, err = capsys.readouterr()
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def argparse_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    _, err = capsys.readouterr()
    assert exit_.value.code == 2 and "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_a_huge_frequency(home, capsys):
    err = one_line_error(
        capsys, "connections", "add", "hubspot", "a", "--credential", "access_token=x",
        "--frequency", "99999999999d",
    )  # fmt: skip
    assert "maximum of 365d" in err
    assert Connections(home).list() == []


@pytest.mark.parametrize("limit", ["-1", "0", "1e20", "99999999999999999999"])
def test_changes_limit_out_of_range(home, capsys, limit):
    assert "--limit: takes a whole number from 1 to 10,000" in argparse_error(
        capsys, "changes", "--limit", limit
    )


def test_serve_port_out_of_range(home, capsys):
    assert "--port: takes a whole number from 0 to 65,535" in argparse_error(
        capsys, "serve", "--port", "99999"
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SYNCS_WAREHOUSE_WAIT_SECONDS", "abc", "number of seconds"),
        ("SYNCS_WAREHOUSE_WAIT_SECONDS", "-5", "number of seconds"),
        ("SYNCS_DUCKDB_MEMORY_LIMIT", "lots", "a size such as 256MB"),
    ],
)
def test_bad_environment_variables_are_named(
    home, hubspot, runner, capsys, monkeypatch, name, value, expected
):
    add_hubspot(home, hubspot)
    runner.run("acme")
    monkeypatch.setenv(name, value)
    err = one_line_error(capsys, "changes")
    assert f"{name}={value!r} is not valid" in err and expected in err
    err = one_line_error(capsys, "run", "hubspot", "acme")
    assert name in err


def test_syncs_home_pointing_at_a_file(tmp_path, capsys, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("")
    monkeypatch.setenv("SYNCS_HOME", str(target))
    assert "is a file, not a folder" in one_line_error(capsys, "connections", "list")


def test_a_sandbox_fault_it_does_not_know(hubspot, capsys):
    err = one_line_error(capsys, "sandbox", "hubspot", "--url", hubspot.base_url, "fault", "nope")
    assert "unknown fault kind 'nope'" in err
    err = one_line_error(
        capsys, "sandbox", "hubspot", "--url", hubspot.base_url, "fault", "429", "count=many"
    )
    assert "count" in err and "valid integer" in err
    err = one_line_error(
        capsys, "sandbox", "hubspot", "--url", "http://127.0.0.1:9", "fault", "429"
    )
    assert "no sandbox answers" in err


def test_a_deeply_nested_trigger_body_is_a_400(home, api):
    body = "[" * 100_000 + "]" * 100_000
    response = requests.post(
        api.url + "/syncs/trigger",
        data=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["parameter"] == "body"


def test_disk_errors_are_one_line(capsys, monkeypatch, home):
    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(home.warehouse))

    monkeypatch.setattr("pipelines.cli.main.cmd_changes", full)
    err = one_line_error(capsys, "changes")
    assert "out of disk" in err and "No space left on device" in err and "free space" in err
    assert describe_os_error(PermissionError(errno.EACCES, "Permission denied")).startswith(
        "Permission denied; check the permissions"
    )


def read_only(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``syncs`` command with the home mounted read-only (in a mount namespace of its own)."""
    script = (
        f'mount --bind "{home.root}" "{home.root}" && '
        f'mount -o remount,ro,bind "{home.root}" "{home.root}" && exec "$@"'
    )
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "pipelines.cli.main",
         *args],
        env={**os.environ, "SYNCS_HOME": str(home.root)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_a_read_only_home_still_reads_and_says_why_it_cannot_write(home, hubspot, runner):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount the home read-only")
    add_hubspot(home, hubspot)
    runner.run("acme")
    probe = read_only(home, "integrations")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.strip()}")
    for args in (["connections", "list"], ["connections", "show", "acme"], ["changes"]):
        done = read_only(home, *args)
        assert done.returncode == 0, done.stderr
        assert "acme" in done.stdout
    for args in (
        ["connections", "add", "hubspot", "b", "--credential", "access_token=x"],
        ["run", "hubspot", "acme"],
        ["reset", "hubspot", "acme"],
    ):
        done = read_only(home, *args)
        assert done.returncode != 0
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert "read-only" in done.stderr.lower()


def test_serve_refuses_a_bad_setting_at_its_start(home, capsys, monkeypatch):
    monkeypatch.setenv("SYNCS_WEBHOOK_TIMEOUT", "soon")
    assert "SYNCS_WEBHOOK_TIMEOUT='soon' is not valid" in one_line_error(
        capsys, "serve", "--port", "0"
    )
