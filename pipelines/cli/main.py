"""The ``syncs`` command."""

from __future__ import annotations

import argparse
import csv
import errno
import json
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
import requests

from pipelines.api.queries import change_events
from pipelines.api.server import register as register_serve
from pipelines.cli.arguments import PORT, RECORDS, whole_number
from pipelines.cli.output import LiveProgress, print_result
from pipelines.cli.webhooks import register as register_webhooks
from pipelines.engine.disk import out_of_disk
from pipelines.engine.sync import SyncFailed, purge, reset
from pipelines.engine.warehouse import open_query_copy
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections, format_duration
from sources.errors import ConfigError, OutOfDiskError, SyncsError
from sources.registry import INTEGRATIONS, get_integration
from sources.sandbox.client import SandboxAdminError


def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def cmd_connections(args: argparse.Namespace) -> int:
    connections = Connections()
    if args.action == "add":
        connection = connections.add(
            args.integration,
            args.connection_id,
            credentials=_pairs(args.credential, "--credential"),
            config=_pairs(args.config, "--config"),
            frequency=args.frequency,
            enabled=not args.disabled,
            max_deletions=args.max_deletions,
        )
        print(f"connection {connection.connection_id} ({connection.integration}) saved")
    elif args.action == "list":
        rows = connections.list(args.integration)
        if args.json:
            print(json.dumps([c.describe() for c in rows], indent=2))
            return 0
        if not rows:
            print("no connections; add one with `syncs connections add INTEGRATION ID ...`")
        for c in rows:
            freq = ", ".join(
                f"{name} every {format_duration(c.frequency_for(name))}" for name in c.spec.syncs
            )
            state = "enabled" if c.enabled else "disabled"
            print(f"{c.connection_id:<24} {c.integration:<14} {state:<9} {freq}")
    elif args.action == "show":
        print(json.dumps(connections.get(args.connection_id).describe(), indent=2))
    elif args.action == "remove":
        connection = connections.get(args.connection_id)
        if not args.keep_data:
            purge(connections.home, connection.spec, connection.connection_id)
        connections.remove(args.connection_id)
        print(f"connection {args.connection_id} removed")
    elif args.action in ("enable", "disable"):
        connections.set_enabled(args.connection_id, args.action == "enable")
        print(f"connection {args.connection_id} {args.action}d")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    runner = sync_runner()
    connection = runner.connections.get(args.connection_id)
    if connection.integration != args.integration:
        raise ConfigError(
            f"connection {args.connection_id!r} belongs to {connection.integration}, "
            f"not {args.integration}"
        )
    if args.confirm_deletions and not (args.full_refresh or args.reset):
        raise ConfigError(
            "--confirm-deletions applies the deletions a full listing finds: add --full-refresh"
        )
    if args.reset:
        reset(runner.home, connection.connection_id, args.sync)
    progress = LiveProgress()
    failed = False
    syncs = [args.sync] if args.sync else list(connection.spec.syncs)
    for name in syncs:
        try:
            (result,) = runner.run(
                connection.connection_id,
                sync=name,
                mode="full" if args.full_refresh else "incremental",
                progress=progress,
                confirm_deletions=args.confirm_deletions,
            )
            progress.done()
            print_result(result)
        except SyncFailed as failure:
            progress.done()
            failed = True
            print(
                f"error: {args.integration}/{name} for {args.connection_id} failed "
                f"({failure.result.error_type}): {failure.result.error}",
                file=sys.stderr,
            )
    return 1 if failed else 0


def cmd_reset(args: argparse.Namespace) -> int:
    home = Home.from_env()
    connection = Connections(home).get(args.connection_id)
    count = reset(home, connection.connection_id, args.sync)
    print(f"cleared {count} cursor(s) of {connection.connection_id}; the next run lists everything")
    return 0


CHANGE_COLUMNS = (
    "cursor", "occurred_at", "connection_id", "integration", "model", "record_id", "action",
    "changed_fields", "run_id",
)  # fmt: skip


def cmd_changes(args: argparse.Namespace) -> int:
    events = change_events(
        Home.from_env(),
        integration=args.integration or None,
        connection_id=args.connection or None,
        model=args.model or None,
        limit=args.limit,
        newest=True,
    )
    rows = [{column: event[column] for column in CHANGE_COLUMNS} for event in events]
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("no change events yet; run a sync with `syncs run INTEGRATION CONNECTION_ID`")
    for r in rows:
        fields = f" {','.join(r['changed_fields'])}" if r["changed_fields"] else ""
        print(
            f"{r['cursor']:>8} {r['occurred_at']:%Y-%m-%d %H:%M:%S} {r['connection_id']:<16} "
            f"{r['integration']}/{r['model']:<12} {r['action']:<8} {r['record_id']}{fields}"
        )
    return 0


@contextmanager
def sandbox_errors(url: str) -> Iterator[None]:
    """A running sandbox's refusal, or no sandbox at all, as one line."""
    try:
        yield
    except SandboxAdminError as error:
        text = str(error)
        _, _, body = text.partition(": ")
        with suppress(ValueError, AttributeError):
            text = json.loads(body).get("message", text)
        raise ConfigError(f"the sandbox at {url} refused it: {text}") from None
    except requests.RequestException as error:
        raise ConfigError(
            f"no sandbox answers at {url} ({type(error).__name__}); start one with "
            "`syncs sandbox INTEGRATION` and pass the URL it prints"
        ) from None
    except TypeError as error:
        raise ConfigError(f"the sandbox command does not fit: {error}") from None


SANDBOX_ALIASES = {"fault": "inject_fault"}


def _signature(operation: dict[str, Any]) -> str:
    """An operation as a Python-like signature: ``update(token: str, ..., *, at: ... = None)``."""
    parts: list[str] = []
    star = False
    for p in operation["parameters"]:
        if p["keyword_only"] and not star:
            parts.append("*")
            star = True
        text = f"{p['name']}: {p['type']}"
        if not p["required"]:
            text += f" = {p['default']!r}"
        parts.append(text)
    if operation["extra_fields"]:
        parts.append("**fields")
    return f"{operation['name']}({', '.join(parts)})"


def _operation_arguments(
    operation: dict[str, Any], words: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """Words after the operation as its arguments: plain words fill its positional
    parameters in order, ``KEY=VALUE`` words its parameters by name; the other ``KEY=VALUE``
    go into its one mapping parameter (``properties``, ``fields``) if it has one."""
    positional = [w for w in words if "=" not in w]
    pairs = _pairs([w for w in words if "=" in w], "KEY=VALUE")
    parameters = operation["parameters"]
    order = [p["name"] for p in parameters if not p["keyword_only"]]
    taken = set(order[: len(positional)])
    known = {p["name"] for p in parameters} - taken
    kwargs: dict[str, Any] = {k: v for k, v in pairs.items() if k in known}
    rest = {k: v for k, v in pairs.items() if k not in known}
    holders = [p["name"] for p in parameters if p["mapping"] and p["name"] in known - set(kwargs)]
    if rest and len(holders) == 1 and not operation["extra_fields"]:
        kwargs[holders[0]] = rest
    else:
        kwargs.update(rest)
    return positional, kwargs


def drive_sandbox(spec: Any, url: str, words: list[str]) -> int:
    """``OPERATION [ARGS...] [KEY=VALUE ...]``: one admin operation of the running sandbox at
    ``url`` (``fault`` is ``inject_fault``); ``operations`` lists them."""
    from sources.sandbox.client import SandboxClient

    with SandboxClient(url) as client:
        operations = client.operations()
        name = SANDBOX_ALIASES.get(words[0], words[0])
        if name == "operations":
            for operation in operations.values():
                print(_signature(operation))
                if operation["description"]:
                    print(f"    {operation['description']}")
            return 0
        operation = operations.get(name)
        if operation is None:
            raise ConfigError(
                f"the {spec.name} sandbox has no operation {words[0]!r}; it has: "
                f"{', '.join(operations)} (`operations` lists their parameters)"
            )
        args, kwargs = _operation_arguments(operation, words[1:])
        result = client.call(name, *args, **kwargs)
    print(json.dumps(result, indent=2) if result is not None else f"{name} done")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    spec = get_integration(args.integration)
    if args.action:
        if not args.url:
            raise ConfigError("driving a running sandbox needs --url http://127.0.0.1:PORT")
        with sandbox_errors(args.url):
            return drive_sandbox(spec, args.url, args.action)
    if spec.sandbox is None:
        raise ConfigError(f"{spec.name} has no sandbox")
    sandbox = spec.sandbox(port=args.port, records=args.records)
    print(f"{spec.title} sandbox on {sandbox.base_url} (Ctrl-C to stop)")
    for account in sandbox.accounts:
        creds = " ".join(f"--credential {k}={v}" for k, v in account.credentials.items())
        config = " ".join(f"--config {k}={v}" for k, v in account.config.items())
        print(f"  syncs connections add {spec.name} {account.connection_id} {creds} {config}")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.cli.demo import run_demo

    return run_demo(records=args.records)


def cmd_sql(args: argparse.Namespace) -> int:
    """SQL on the users' copy of the warehouse, one connection per command."""
    statement = sys.stdin.read() if args.statement == "-" else args.statement
    con = open_query_copy(Home.from_env())
    try:
        try:
            relation = con.sql(statement)
        except duckdb.Error as error:
            raise ConfigError(f"SQL error: {str(error).splitlines()[0]}") from None
        if relation is None:
            return 0
        if args.csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(relation.columns)
            while rows := relation.fetchmany(10_000):
                writer.writerows(rows)
        else:
            relation.show(max_rows=args.max_rows, max_width=10_000)
    finally:
        con.close()
    return 0


def cmd_integrations(args: argparse.Namespace) -> int:
    for spec in INTEGRATIONS.values():
        syncs = ", ".join(
            f"{s.name} ({', '.join(s.models)}; every {format_duration(s.default_frequency)})"
            for s in spec.syncs.values()
        )
        print(f"{spec.name:<14} {spec.title}: {syncs}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncs",
        description="Keep a live copy of customers' API data in DuckDB and report what changed.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    conn = sub.add_parser("connections", help="add, list, show and remove connections")
    csub = conn.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="add or update a connection")
    add.add_argument("integration")
    add.add_argument("connection_id")
    add.add_argument("--credential", action="append", metavar="KEY=VALUE")
    add.add_argument("--config", action="append", metavar="KEY=VALUE")
    add.add_argument("--frequency", help="how often its syncs run: 15s, 5m, 1h (at least 15s)")
    add.add_argument("--disabled", action="store_true", help="register it without scheduling")
    add.add_argument(
        "--max-deletions",
        metavar="LIMIT",
        help="how much one full refresh may delete before its deletions wait for "
        "--confirm-deletions: 20%%, 500 or 20%%,500 (of a model's live rows; 'default': "
        "each sync's own, more than 20%% and more than 10 rows)",
    )
    lst = csub.add_parser("list", help="list connections")
    lst.add_argument("--integration")
    lst.add_argument("--json", action="store_true")
    for name in ("show", "enable", "disable"):
        csub.add_parser(name).add_argument("connection_id")
    rm = csub.add_parser("remove", help="remove a connection and its rows")
    rm.add_argument("connection_id")
    rm.add_argument("--keep-data", action="store_true", help="keep its rows in the warehouse")
    conn.set_defaults(func=cmd_connections)

    run = sub.add_parser("run", help="run a connection's syncs now")
    run.add_argument("integration")
    run.add_argument("connection_id")
    run.add_argument("--full-refresh", action="store_true", help="list everything; infer deletes")
    run.add_argument("--sync", help="only this sync")
    run.add_argument("--reset", action="store_true", help="forget the cursor first")
    run.add_argument(
        "--confirm-deletions",
        action="store_true",
        help="with --full-refresh: apply every deletion it finds, past the mass-deletion limit",
    )
    run.set_defaults(func=cmd_run)

    rst = sub.add_parser("reset", help="forget a connection's cursors")
    rst.add_argument("integration")
    rst.add_argument("connection_id")
    rst.add_argument("--sync")
    rst.set_defaults(func=cmd_reset)

    ch = sub.add_parser("changes", help="recent change events")
    ch.add_argument("--integration")
    ch.add_argument("--connection")
    ch.add_argument("--model")
    ch.add_argument("--limit", type=whole_number(1, 10_000), default=20)
    ch.add_argument("--json", action="store_true")
    ch.set_defaults(func=cmd_changes)

    sb = sub.add_parser(
        "sandbox",
        help="serve an integration's API simulator on loopback, or drive a running one",
        description="Without OPERATION: serve the sandbox. With --url and OPERATION [ARGS...] "
        "[KEY=VALUE ...]: run one of a running sandbox's admin operations, e.g. "
        "`update TOKEN contacts 12 jobtitle=CEO` or `fault 429 count=2 retry_after=1`; "
        "`operations` lists them.",
    )
    sb.add_argument("integration")
    sb.add_argument("action", nargs="*", metavar="OPERATION", help="an operation and its arguments")
    sb.add_argument("--url", help="the running sandbox's base URL")
    sb.add_argument("--port", type=PORT, default=0)
    sb.add_argument("--records", type=RECORDS, default=200)
    sb.set_defaults(func=cmd_sandbox)

    demo = sub.add_parser("demo", help="run the offline demo end to end")
    demo.add_argument("--records", type=RECORDS, default=200)
    demo.set_defaults(func=cmd_demo)

    sql = sub.add_parser(
        "sql",
        help="run SQL on query.duckdb, the copy of the warehouse made for your queries",
        description="Runs SQL on query.duckdb, the copy syncs refresh after every write, so "
        "it never holds up a sync; it also opens an encrypted copy with its key.",
    )
    sql.add_argument("statement", help="the SQL; - reads it from standard input")
    sql.add_argument("--csv", action="store_true", help="every row, as CSV")
    sql.add_argument("--max-rows", type=whole_number(1, 1_000_000), default=40)
    sql.set_defaults(func=cmd_sql)

    sub.add_parser("integrations", help="list integrations").set_defaults(func=cmd_integrations)
    register_webhooks(sub)
    register_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "sandbox":
        args.action = [*args.action, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except SyncFailed as failure:
        print(f"error: {failure.result.error}", file=sys.stderr)
        return 1
    except SyncsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        disk = _out_of_disk(error)
        print(f"error: {disk if disk is not None else describe_os_error(error)}", file=sys.stderr)
        return 1
    except (sqlite3.Error, duckdb.Error) as error:
        disk = _out_of_disk(error)
        if disk is not None:
            print(f"error: {disk}", file=sys.stderr)
            return 1
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"error: {type(error).__name__}: {first}", file=sys.stderr)
        return 1


def _out_of_disk(error: Exception) -> OutOfDiskError | None:
    try:
        return out_of_disk(error, Home.from_env())
    except (OSError, SyncsError):
        return None


def describe_os_error(error: OSError) -> str:
    """One line for a failure of the disk or the file system, with what to do about it."""
    where = f" ({error.filename})" if error.filename else ""
    reason = error.strerror or str(error) or type(error).__name__
    hints = {
        errno.ENOSPC: "free some disk space and run again",
        errno.EDQUOT: "free some disk space and run again",
        errno.EROFS: "SYNCS_HOME must be on a writable file system for this command",
        errno.EACCES: "check the permissions of SYNCS_HOME",
        errno.EPERM: "check the permissions of SYNCS_HOME",
    }
    hint = hints.get(error.errno or 0, "check the disk and SYNCS_HOME")
    return f"{reason}{where}; {hint}"


if __name__ == "__main__":
    sys.exit(main())
