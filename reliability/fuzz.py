"""Fuzzed inputs from a seeded generator: ``syncs`` command lines, connection config and
credentials, ``SYNCS_*`` environment variables, and records API requests (query strings,
paths, trigger bodies). Not one may end in a traceback or a 500: a command ends with its
one-line error (or succeeds), the API answers a 4xx naming what was wrong (or 2xx).

The command runs in this process (``pipelines.cli.main.main``, what the ``syncs`` script
calls), so a thousand inputs cost seconds; an exception escaping it is what would print a
traceback. Commands that serve until stopped (``serve``, ``demo``, a sandbox without an
operation, ``webhooks dispatch`` without ``--once``) get only inputs that must be refused
before they start.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import string
import threading
from collections import Counter
from typing import Any

import requests

from pipelines.api.server import ApiServer, create_app
from pipelines.cli.main import main
from pipelines.store.api_keys import ensure_api_key
from reliability.harness import Workspace, add_hubspot, hubspot_sandbox
from reliability.result import Result, main_of, timed

TOKEN = "pat-na1-fuzz-5c4b3a2d1e0f"
NASTY = [
    "", " ", "-", "--", "0", "-1", "1e20", "99999999999999999999", "nan", "inf", "1.5",
    "15s", "0s", "99999999999d", "1h", "x" * 300, "a=b", "=", "==", "%s", "{}", "[]", "null",
    "true", "'; drop table x; --", "../../etc/passwd", "\u00e9\u00e8", "\u202e", "\\", "$HOME",
    "http://u:p@h", "http://127.0.0.1:1", "ftp://x", "z.eu", "Z_eu", "acme", "hubspot",
    "gong", "crm", "contacts", "none", "all", "50%", "101%", "-5%", "2025-01-31T12:00",
    "\x7f", "a b", "\t", "~",
]  # fmt: skip
ENV = [
    "SYNCS_WAREHOUSE_WAIT_SECONDS", "SYNCS_DUCKDB_MEMORY_LIMIT", "SYNCS_QUERY_COPY",
    "SYNCS_ENCRYPT_WAREHOUSE", "SYNCS_WEBHOOK_RETRY_SCHEDULE", "SYNCS_WEBHOOK_TIMEOUT",
    "SYNCS_API_KEY", "SYNCS_ENCRYPTION_KEY", "SYNCS_HOME",
]  # fmt: skip
READ_COMMANDS = [
    ["integrations"], ["connections", "list"], ["connections", "show", "acme"], ["changes"],
    ["webhooks", "list"], ["webhooks", "deliveries"], ["sql", "select 1"],
]  # fmt: skip


def word(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(NASTY)
    alphabet = string.ascii_letters + string.digits + "._-=:/%@ ,"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def argv(rng: random.Random) -> list[str]:
    """A command line: a real command and options, with values drawn from nasty ones."""
    w = lambda: word(rng)  # noqa: E731
    shapes: list[list[str]] = [
        ["connections", "add", rng.choice(["hubspot", "gong", "github", "nope", w()]), w(),
         "--credential", f"{rng.choice(['access_token', w()])}={w()}",
         "--config", f"{rng.choice(['base_url', 'contacts_properties', w()])}={w()}",
         *rng.choice([[], ["--frequency", w()], ["--max-deletions", w()], ["--disabled"]])],
        ["connections", rng.choice(["show", "remove", "enable", "disable"]), w()],
        ["connections", "list", *rng.choice([[], ["--json"], ["--integration", w()]])],
        ["run", rng.choice(["hubspot", w()]), rng.choice(["acme", w()]),
         *rng.sample(["--full-refresh", "--reset", "--confirm-deletions", "--sync", w()],
                     rng.randrange(0, 3))],
        ["reset", rng.choice(["hubspot", w()]), rng.choice(["acme", w()]),
         *rng.choice([[], ["--sync", w()]])],
        ["changes", *rng.choice([["--limit", w()], ["--connection", w()], ["--model", w()],
                                 ["--integration", w()], ["--json"]])],
        ["sql", rng.choice(["select 1", "select * from nowhere", w(), "select 1/0",
                            "copy (select 1) to '/dev/full'", "pragma version"])],
        ["webhooks", rng.choice(["add", "remove", "enable", "disable", "rotate", "replay"]), w(),
         *rng.choice([[], ["--secret", w()], ["--since", w()], ["--connection", w()]])],
        ["webhooks", "deliveries", *rng.choice([["--limit", w()], ["--message", w()]])],
        ["webhooks", "dispatch", "--interval", rng.choice(["0", "-1", "abc", "1e9", "nan"])],
        ["serve", "--port", rng.choice(["-1", "65536", "99999", "abc", "1e3", ""])],
        ["sandbox", rng.choice(["hubspot", "nope", w()]), *rng.choice([[], ["--port", "x"]]),
         *(["--url", "http://127.0.0.1:1"] if rng.random() < 0.5 else []), w()],
        [w(), w()],
        [rng.choice(["run", "changes", "connections", "webhooks"]), f"--{w()}", w()],
    ]  # fmt: skip
    return rng.choice(shapes)


def blocks(args: list[str]) -> bool:
    """Would this command line serve until stopped instead of ending?"""
    if not args:
        return False
    if args[0] in ("serve", "demo"):
        return "--port" not in args or _valid_port(args)
    if args[0] == "webhooks" and args[1:2] == ["dispatch"]:
        return "--once" not in args and not set(args) & {"0", "-1", "abc", "1e9", "nan"}
    if args[0] == "sandbox":
        return "--url" not in args and args[1:2] == ["hubspot"]
    return False


def _valid_port(args: list[str]) -> bool:
    value = args[args.index("--port") + 1] if args.index("--port") + 1 < len(args) else ""
    return value.isdigit() and int(value) <= 65535


def call(args: list[str]) -> tuple[int | None, str, str, BaseException | None]:
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    escaped: BaseException | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
        except BaseException as error:
            escaped = error
    return code, out.getvalue(), err.getvalue(), escaped


def api_request(rng: random.Random, url: str) -> tuple[str, str, dict[str, Any]]:
    w = lambda: word(rng)  # noqa: E731
    names = ["integration", "model", "connection_id", "cursor", "modified_after", "filter",
             "limit", "ids", "action", w()]  # fmt: skip
    kind = rng.randrange(6)
    if kind <= 1:
        params = {n: w() for n in rng.sample(names, rng.randrange(0, 6))}
        if rng.random() < 0.5:
            params.update(integration="hubspot", model="contacts", connection_id="acme")
        return "GET", f"{url}/{rng.choice(['records', 'changes'])}", {"params": params}
    if kind == 2:
        return "GET", f"{url}/connections/{requests.utils.quote(w(), safe='')}/syncs", {}
    if kind == 3:
        return "GET", f"{url}/syncs/triggers/{requests.utils.quote(w(), safe='')}", {}
    if kind == 4:
        return rng.choice(["GET", "DELETE", "PUT", "POST"]), f"{url}/{w()}", {}
    body = rng.choice([
        value(rng, 3),
        {"connection_id": rng.choice(["acme", w(), 5, None]), "mode": rng.choice(["full", "reset", w(), 1]),
         "sync": rng.choice(["crm", w(), None, []]), "confirm_deletions": rng.choice([True, "yes", 0])},
        "[" * rng.randrange(1, 3000) + "]" * rng.randrange(0, 3000),
        w(),
    ])  # fmt: skip
    data = body if isinstance(body, str) else json.dumps(body)
    return "POST", f"{url}/syncs/trigger", {"data": data.encode("utf-8", "surrogatepass")}


def value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth == 0 or roll < 0.4:
        return rng.choice([None, True, 0, -1, 1e308, "", word(rng), [], {}])
    if roll < 0.7:
        return [value(rng, depth - 1) for _ in range(rng.randrange(0, 4))]
    return {word(rng): value(rng, depth - 1) for _ in range(rng.randrange(0, 4))}


def scenario(result: Result, small: bool) -> None:
    counts = {"cli": 60, "env": 30, "api": 80} if small else {"cli": 700, "env": 200, "api": 600}
    rng = random.Random(1234)
    tally: Counter[str] = Counter()
    findings: list[str] = []
    kinds: Counter[str] = Counter()
    with Workspace(
        "fuzz", RUNTIME__REQUEST_MAX_ATTEMPTS="2", RUNTIME__REQUEST_BACKOFF_FACTOR="0.01"
    ) as ws:
        os.environ["RUNTIME__REQUEST_MAX_ATTEMPTS"] = "2"
        # A fuzzed SYNCS_HOME is a relative path as often as not: it lands in the workspace.
        cwd = os.getcwd()
        os.chdir(ws.folder)
        sandbox = hubspot_sandbox()
        server = None
        try:
            sandbox.add_account(TOKEN, seed=2, contacts=40, companies=3, deals=3)
            add_hubspot(ws, sandbox, "acme", TOKEN)
            call(["run", "hubspot", "acme"])
            for _ in range(counts["cli"]):
                args = argv(rng)
                if blocks(args):
                    tally["cli skipped (would serve)"] += 1
                    continue
                code, out, err, escaped = call(args)
                tally["cli"] += 1
                if escaped is not None or "Traceback" in out + err:
                    kinds["tracebacks"] += 1
                    findings.append(f"syncs {args!r}: {type(escaped).__name__}: {escaped}")
                elif code not in (0, None) and "error" not in err.lower() and "usage" not in err:
                    findings.append(f"syncs {args!r}: exit {code} without an error line: {err!r}")
            saved = {name: os.environ.get(name) for name in ENV}
            for _ in range(counts["env"]):
                name = rng.choice(ENV)
                os.environ[name] = word(rng)
                args = rng.choice([*READ_COMMANDS, ["run", "hubspot", "acme"]])
                code, out, err, escaped = call(args)
                tally["env"] += 1
                if escaped is not None or "Traceback" in out + err:
                    kinds["tracebacks"] += 1
                    findings.append(
                        f"{name}={os.environ[name]!r} syncs {args}: {type(escaped).__name__}: {escaped}"
                    )
                elif code and err.count("\n") > 1 and "usage" not in err:
                    findings.append(
                        f"{name}={os.environ[name]!r} syncs {args}: not one line: {err[:300]!r}"
                    )
                for key, old in saved.items():
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old
            hashes, key = ensure_api_key(ws.home, env_key="")
            server = ApiServer(create_app(ws.home, hashes)).start()
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key}"
            statuses: Counter[int] = Counter()
            for _ in range(counts["api"]):
                method, url, kwargs = api_request(rng, server.url)
                try:
                    answer = session.request(method, url, timeout=60, **kwargs)
                except requests.RequestException as error:
                    findings.append(f"{method} {url}: no answer ({type(error).__name__})")
                    continue
                tally["api"] += 1
                statuses[answer.status_code] += 1
                if answer.status_code >= 500 and answer.status_code != 503:
                    kinds["server_errors"] += 1
                    findings.append(
                        f"{method} {url} {kwargs}: {answer.status_code} {answer.text[:200]}"
                    )
                else:
                    try:
                        answer.json()
                    except ValueError:
                        findings.append(f"{method} {url}: a body that is not JSON")
            _drain(server)
        finally:
            os.chdir(cwd)
            os.environ.pop("RUNTIME__REQUEST_MAX_ATTEMPTS", None)
            if server is not None:
                server.stop()
            sandbox.stop()
    for finding in findings:
        result.problems.append(finding)
    inputs = tally["cli"] + tally["env"] + tally["api"]
    result.figures = {
        "inputs": inputs,
        "cli_command_lines": tally["cli"],
        "environment_values": tally["env"],
        "api_requests": tally["api"],
        "skipped_would_serve": tally["cli skipped (would serve)"],
        "api_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "tracebacks": kinds["tracebacks"],
        "server_errors_5xx": kinds["server_errors"],
        "findings": findings[:20],
    }


def _drain(server: ApiServer) -> None:
    """Let triggered syncs end before the home goes."""
    triggers = server.server.config.app  # the app, for its triggers
    with contextlib.suppress(Exception):
        triggers.state.triggers.join(timeout=30)
    for thread in threading.enumerate():
        if thread.name.startswith("trigger"):
            thread.join(timeout=30)


run = timed(scenario, "fuzz", "Fuzzed command lines, settings, config and API requests")

if __name__ == "__main__":
    main_of(run)
