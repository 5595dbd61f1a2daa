"""One working area per run identity: names unique per connection, one run per connection and
sync at a time, across threads and processes."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading

import pytest
from dlt.common.storages import FileStorage

from pipelines.cli.main import main
from pipelines.engine.landing import connection_key, landing_dataset, legacy_names
from pipelines.engine.run_lock import RunLock
from pipelines.engine.sync import SyncFailed, pipeline_name, purge
from pipelines.home import Home
from pipelines.notify.outbox import sync_messages
from sources.errors import RunInProgressError
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.helpers import query

LOOKALIKES = ["z.eu", "z-eu", "Z_eu", "z_eu", "Z.EU", "zeu"]


def test_ids_that_differ_only_in_punctuation_or_case_get_their_own_names():
    names = {pipeline_name("hubspot", cid, "crm") for cid in LOOKALIKES}
    landings = {landing_dataset("hubspot", cid, "crm") for cid in LOOKALIKES}
    assert len(names) == len(landings) == len(LOOKALIKES)
    assert connection_key("acme") == "acme" and connection_key("acme-drive") == "acme-drive"
    assert connection_key("Z_eu") == "_z_0eu" and connection_key("z.eu") == "z_1eu"


def test_every_id_the_store_accepts_has_a_name_dlt_and_every_disk_take():
    alphabet = "aZ9._-"
    keys = {}
    for length in range(1, 5):
        for chars in itertools.product(alphabet, repeat=length):
            cid = "".join(chars)
            if not re.match(r"^[A-Za-z0-9]", cid):
                continue
            keys.setdefault(connection_key(cid).lower(), []).append(cid)
    assert all(len(ids) == 1 for ids in keys.values())
    longest = "A." * 32
    for spec in INTEGRATIONS.values():
        for sync in spec.syncs:
            for name in (
                pipeline_name(spec.name, longest, sync),
                landing_dataset(spec.name, longest, sync),
            ):
                FileStorage.validate_file_name_component(name)
                assert len(name) <= 180
    for spec in INTEGRATIONS.values():
        for name in (spec.name, *spec.syncs):
            assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", name), name


def test_lookalike_connections_synced_at_once_keep_their_own_records(home, hubspot):
    tokens = {"z.eu": ACME, "z-eu": GLOBEX, "Z_eu": "token-zeu-0000"}
    hubspot.add_account(tokens["Z_eu"], seed=3, contacts=60, companies=5, deals=5)
    for cid, token in tokens.items():
        add_hubspot(home, hubspot, cid, token)
    errors: list[BaseException] = []

    def run(cid: str) -> None:
        try:
            from pipelines.runs import sync_runner

            sync_runner(Home.from_env()).run(cid)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(cid,)) for cid in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert query(
        home,
        "select connection_id, count(*), count(distinct id) from hubspot.contacts "
        "group by 1 order by 1",
    ) == [("Z_eu", 60, 60), ("z-eu", 120, 120), ("z.eu", 250, 250)]
    folders = {p.name for p in home.dlt_dir.iterdir() if p.name.startswith("hubspot__")}
    assert folders == {pipeline_name("hubspot", cid, "crm") for cid in tokens}


def test_purge_removes_only_the_connections_own_folders(home, hubspot, runner):
    add_hubspot(home, hubspot, "z.eu", ACME)
    add_hubspot(home, hubspot, "z-eu", GLOBEX)
    runner.run("z.eu")
    runner.run("z-eu")
    spec = INTEGRATIONS["hubspot"]
    mine = home.dlt_dir / pipeline_name("hubspot", "z.eu", "crm")
    theirs = home.dlt_dir / pipeline_name("hubspot", "z-eu", "crm")
    assert mine.is_dir() and theirs.is_dir()
    purge(home, spec, "z.eu")
    assert not mine.exists()
    assert theirs.is_dir()
    assert query(home, "select distinct connection_id from hubspot.contacts") == [("z-eu",)]


def test_purge_leaves_an_old_name_that_is_now_another_connections(home, hubspot, runner):
    """Before, ``a.b`` ran in ``hubspot__a_b__crm``; that is now the folder of ``aB``."""
    add_hubspot(home, hubspot, "aB", ACME)
    add_hubspot(home, hubspot, "a.b", GLOBEX)
    runner.run("aB")
    owned = home.dlt_dir / pipeline_name("hubspot", "aB", "crm")
    assert owned.name == legacy_names("hubspot", "a.b", "crm")[0]
    purge(home, INTEGRATIONS["hubspot"], "a.b")
    assert owned.is_dir()
    (again,) = runner.run("aB", mode="full")
    assert again.status == "success" and again.total("unchanged") == 300


def test_a_second_run_of_the_same_connection_and_sync_is_refused_and_recorded(
    home, hubspot, runner
):
    add_hubspot(home, hubspot)
    runner.run("acme")
    with RunLock(home, "hubspot", "acme", "crm"), pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    result = failure.value.result
    assert result.error_type == "RunInProgressError"
    assert failure.value.retryable
    assert "'acme'" in result.error and "'crm'" in result.error
    assert query(
        home, "select status, error_type from syncs.sync_runs where run_id = ?", [result.run_id]
    ) == [("failed", "RunInProgressError")]
    (after,) = runner.run("acme")
    assert after.status == "success"


def test_another_process_holding_the_run_refuses_the_cli_at_once(home, hubspot, capsys):
    """The holder keeps the lock until the test lets it go, so a run that waited for it
    would never return."""
    add_hubspot(home, hubspot)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pipelines.engine.run_lock import RunLock\n"
            "from pipelines.home import Home\n"
            "lock = RunLock(Home.from_env(), 'hubspot', 'acme', 'crm').acquire()\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        env={**os.environ, "SYNCS_HOME": str(home.root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code = main(["run", "hubspot", "acme"])
        _, err = capsys.readouterr()
    finally:
        holder.communicate("", timeout=10)
    assert code == 1
    assert "RunInProgressError" in err and "'acme' is already running sync 'crm'" in err
    assert "Traceback" not in err
    assert not any(p.startswith("/crm/") for _, p, _ in hubspot.requests_seen)
    assert main(["run", "hubspot", "acme"]) == 0


def test_the_failure_webhook_of_a_refused_run_names_it(home, hubspot, runner):
    add_hubspot(home, hubspot)
    with RunLock(home, "hubspot", "acme", "crm"), pytest.raises(SyncFailed) as failure:
        runner.run("acme")
    (body, *_) = sync_messages(failure.value.result, ["contacts"])
    assert body["success"] is False
    assert body["error"]["type"] == "RunInProgressError" and body["error"]["recorded"] is True


def test_run_lock_refuses_a_second_holder_in_the_same_process(home):
    first = RunLock(home, "hubspot", "acme", "crm").acquire()
    try:
        with pytest.raises(RunInProgressError):
            RunLock(home, "hubspot", "acme", "crm").acquire()
        RunLock(home, "hubspot", "acme", "other").acquire().release()
        RunLock(home, "hubspot", "Acme", "crm").acquire().release()
    finally:
        first.release()
    RunLock(home, "hubspot", "acme", "crm").acquire().release()
