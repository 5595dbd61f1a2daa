"""Secrets and files: no credential in a URL, a private home, the warehouse encrypted at rest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pipelines.api.queries import read_records
from pipelines.engine import encryption
from pipelines.engine.warehouse import open_query_copy
from pipelines.home import Home
from pipelines.notify.endpoints import WebhookEndpoints
from pipelines.store.api_keys import ensure_api_key
from pipelines.store.connections import Connections, validate_credentials
from pipelines.store.db import control_db
from sources.errors import ConfigError
from sources.http import ApiClient, RequestLog, redact
from sources.registry import INTEGRATIONS
from tests.conftest import ACME, add_hubspot
from tests.helpers import query


def test_a_password_in_base_url_is_refused_pointing_at_credential(home, hubspot):
    url = hubspot.base_url.replace("http://", "http://user:PASS@")
    with pytest.raises(ConfigError) as caught:
        Connections(home).add(
            "hubspot", "acme", credentials={"access_token": ACME}, config={"base_url": url}
        )
    assert "--credential" in str(caught.value) and "PASS" not in str(caught.value)
    assert Connections(home).list() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:PASS@api.example.com/v1/items",
        "https://PASS@api.example.com/v1/items?after=2",
        "http://user:PASS@api.example.com:8080/x?access_token=PASS",
    ],
)
def test_userinfo_is_redacted_from_logged_urls(url):
    shown = redact(url)
    assert "PASS" not in shown and "***@api.example.com" in shown


def test_the_request_log_and_errors_never_show_a_urls_password(hubspot):
    log = RequestLog()
    base = hubspot.base_url.replace("http://", "http://user:PASS@")
    client = ApiClient(base, connection_id="acme", request_log=log)
    with pytest.raises(Exception) as caught:
        client.get("/crm/v3/objects/contacts")
    assert "PASS" not in str(caught.value)
    assert log.records and all("PASS" not in r.url for r in log.records)


def test_a_stored_url_with_a_password_is_shown_redacted(home):
    Connections(home).add(
        "hubspot", "acme", credentials={"access_token": ACME}, config={"base_url": "http://h:1"}
    )
    with control_db(home.control_store) as db:
        db.execute(
            "UPDATE connections SET config = ?",
            (json.dumps({"base_url": "http://user:PASS@h:1"}),),
        )
    shown = Connections(home).get("acme").describe()
    assert "PASS" not in json.dumps(shown) and "user name or password" in shown["config_error"]


@pytest.mark.parametrize("name", sorted(INTEGRATIONS))
def test_empty_or_blank_credentials_are_refused_in_every_integration(name):
    spec = INTEGRATIONS[name]
    required = {
        key: "value" for key, field in spec.credentials_model.model_fields.items()
        if field.is_required()
    }  # fmt: skip
    validate_credentials(spec, required)
    for key in required:
        for blank in ("", "   "):
            with pytest.raises(ConfigError, match=f"credential '{key}' is empty"):
                validate_credentials(spec, {**required, key: blank})


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_the_home_and_everything_in_it_are_private(home, hubspot, runner):
    add_hubspot(home, hubspot)
    WebhookEndpoints(home).add("http://127.0.0.1:9/hooks")
    ensure_api_key(home, env_key="")
    runner.run("acme")
    found = [home.root, *home.root.rglob("*")]
    assert {p.name for p in found} >= {
        "warehouse.duckdb",
        "query.duckdb",
        "control.sqlite",
        "encryption.key",
        "warehouse.lock",
        "dlt",
    }
    assert [p for p in found if not private(p)] == []
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700


def test_sqlites_wal_and_shm_files_are_private(home):
    Connections(home).add(
        "hubspot", "acme", credentials={"access_token": ACME}, config={"base_url": "http://h:1"}
    )
    with control_db(home.control_store) as db:
        db.execute("SELECT 1")
        sidecars = [Path(f"{home.control_store}{s}") for s in ("-wal", "-shm")]
        assert all(p.exists() and private(p) for p in sidecars)


def test_an_existing_open_home_is_made_private(tmp_path, monkeypatch):
    root = tmp_path / "old-home"
    root.mkdir(mode=0o755)
    (root / "warehouse.duckdb").write_bytes(b"")
    (root / "warehouse.duckdb").chmod(0o644)
    monkeypatch.setenv("SYNCS_HOME", str(root))
    Home.from_env()
    assert private(root) and private(root / "warehouse.duckdb")


@pytest.fixture
def encrypted(monkeypatch):
    monkeypatch.setenv("SYNCS_ENCRYPT_WAREHOUSE", "true")


def emails(hubspot) -> list[str]:
    return [
        hubspot.get(ACME, "contacts", i)["properties"]["email"]
        for i in hubspot.ids(ACME, "contacts")[:5]
    ]


def test_the_warehouse_and_the_users_copy_are_encrypted_and_read_as_usual(
    home, hubspot, runner, encrypted
):
    add_hubspot(home, hubspot)
    (result,) = runner.run("acme")
    assert result.models["contacts"].added == 250
    for path in (home.warehouse, home.query_copy):
        assert encryption.is_encrypted(path)
        data = path.read_bytes()
        assert not any(email.encode() in data for email in emails(hubspot))
    assert query(home, "select count(*) from hubspot.contacts") == [(250,)]
    page = read_records(
        home, integration="hubspot", model="contacts", connection_id="acme", limit=3
    )
    assert len(page["records"]) == 3
    con = open_query_copy(home)
    try:
        assert con.execute("select count(*) from hubspot.contacts").fetchone() == (250,)
    finally:
        con.close()


def test_a_plaintext_warehouse_is_encrypted_on_its_next_write(home, hubspot, runner, monkeypatch):
    monkeypatch.setenv("SYNCS_ENCRYPT_WAREHOUSE", "false")
    add_hubspot(home, hubspot)
    runner.run("acme")
    assert not encryption.is_encrypted(home.warehouse)
    (last,) = query(home, "select max(cursor) from syncs.change_events")[0]
    monkeypatch.setenv("SYNCS_ENCRYPT_WAREHOUSE", "true")
    assert query(home, "select count(*) from hubspot.contacts") == [(250,)]
    record_id = hubspot.ids(ACME, "contacts")[0]
    hubspot.update(ACME, "contacts", record_id, {"firstname": "Encrypted"})
    (result,) = runner.run("acme")
    assert encryption.is_encrypted(home.warehouse)
    assert result.models["contacts"].updated == 1
    assert query(home, "select min(cursor) from syncs.change_events where run_id = ?", [
        result.run_id
    ]) == [(last + 1,)]  # fmt: skip
    assert query(home, "select count(*) from hubspot.contacts") == [(250,)]

    monkeypatch.setenv("SYNCS_ENCRYPT_WAREHOUSE", "false")
    with pytest.raises(ConfigError, match="SYNCS_ENCRYPT_WAREHOUSE=true"):
        query(home, "select 1")


def test_an_encrypted_warehouse_with_another_key_says_so(home, hubspot, runner, encrypted):
    add_hubspot(home, hubspot)
    runner.run("acme")
    os.environ["SYNCS_ENCRYPTION_KEY"] = "A" * 43 + "="
    try:
        with pytest.raises(ConfigError, match="cannot be decrypted with this key"):
            query(home, "select 1")
    finally:
        del os.environ["SYNCS_ENCRYPTION_KEY"]
