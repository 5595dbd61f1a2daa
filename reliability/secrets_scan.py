"""Every credential value — HubSpot tokens (the good one and a refused one), a password put
in ``base_url``, the webhook signing secret, the API key, the encryption key — looked for in
every file under ``SYNCS_HOME`` and in everything the commands printed: the ones this
scenario runs (adds, successful and failed runs, webhooks, deliveries, the API, ``sql``)
and those of every scenario run before it in the same process. Zero hits."""

from __future__ import annotations

import base64
import time

import requests

from reliability.harness import OUTPUTS, Workspace, add_hubspot, free_port, hubspot_sandbox, kill
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-SECRETTOKEN-4f3e2d1c0b9a8877"
WRONG = "pat-na1-SECRETWRONG-0a1b2c3d4e5f6677"
PASSWORD = "SECRETPASSWORD-93f1"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"SECRET-webhook-signing-key-1").decode()
API_KEY = "syncs_sk_SECRETAPIKEY_77aa66bb55cc"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"SECRET-encryption-key-32-bytes!!").decode()


def scenario(result: Result, small: bool) -> None:
    secrets = [TOKEN, WRONG, PASSWORD, WEBHOOK_SECRET, API_KEY, ENCRYPTION_KEY]
    outputs: list[str] = []
    env = {
        "SYNCS_API_KEY": API_KEY,
        "SYNCS_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SYNCS_ENCRYPT_WAREHOUSE": "false",
    }
    with Workspace("secrets", **env) as ws:
        sandbox = hubspot_sandbox()
        try:
            sandbox.add_account(TOKEN, seed=5, contacts=200, companies=5, deals=5)
            add_hubspot(ws, sandbox, "acme", TOKEN)
            url = sandbox.base_url.replace("http://", f"http://user:{PASSWORD}@")
            commands = [
                ["connections", "add", "hubspot", "leak", "--credential", f"access_token={TOKEN}", "--config", f"base_url={url}"],
                ["webhooks", "add", f"http://127.0.0.1:{free_port()}/hooks", "--secret", WEBHOOK_SECRET],
                ["run", "hubspot", "acme"],
                ["run", "hubspot", "acme", "--full-refresh"],
                ["connections", "add", "hubspot", "wrong", "--credential", f"access_token={WRONG}", "--config", f"base_url={sandbox.base_url}"],
                ["run", "hubspot", "wrong"],
                ["connections", "list"], ["connections", "list", "--json"], ["connections", "show", "acme"],
                ["connections", "show", "wrong"], ["changes", "--json"], ["webhooks", "list", "--json"],
                ["webhooks", "dispatch", "--once"], ["webhooks", "deliveries", "--json"],
                ["sql", "select * from syncs.api_requests"], ["sql", "select * from syncs.sync_runs"],
            ]  # fmt: skip
            if small:
                commands = [*commands[:6], ["connections", "show", "acme"]]
            sandbox.inject_fault("500", count=10, path_prefix="/crm/v3/objects/deals")
            for args in commands:
                done = ws.syncs(*args)
                outputs += [done.out, done.err]
            port = free_port()
            server = ws.start("serve", "--port", str(port))
            try:
                headers = {"Authorization": f"Bearer {API_KEY}"}
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        requests.get(f"{base}/health", timeout=2)
                        break
                    except requests.RequestException:
                        time.sleep(0.1)
                for path in (
                    "/records?integration=hubspot&model=contacts&connection_id=acme&limit=50",
                    "/changes",
                    "/connections/acme/syncs",
                    "/connections/wrong/syncs",
                    "/openapi.json",
                ):
                    outputs.append(requests.get(base + path, headers=headers, timeout=30).text)
            finally:
                kill(server)
        finally:
            sandbox.stop()
        files = [p for p in ws.home.root.rglob("*") if p.is_file()]
        hits: list[str] = []
        scanned = 0
        for path in files:
            data = path.read_bytes()
            scanned += len(data)
            hits += [
                f"{path.relative_to(ws.home.root)}: {s[:12]}…"
                for s in secrets
                if s.encode() in data
            ]
        texts = outputs + OUTPUTS.texts
        hits += [f"output: {s[:12]}…" for s in secrets for t in texts if s in t]
    result.check(not hits, f"credentials found: {sorted(set(hits))[:10]}")
    result.figures = {
        "credentials": len(secrets),
        "files_scanned": len(files),
        "bytes_scanned": scanned,
        "outputs_scanned": len(texts),
        "hits": len(hits),
        "what": "HubSpot tokens, a password in base_url, the webhook secret, the API key, the encryption key",
    }


run = timed(scenario, "secrets_scan", "Credentials in files and output")

if __name__ == "__main__":
    main_of(run)
