"""``syncs webhooks secret|inbox|apply|subscribe|unsubscribe|subscriptions``: the providers' side.

The secret a provider's webhooks are checked with, the inbox of what they sent, and the
subscriptions syncs registers with providers that take them per customer.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from pipelines.cli.arguments import whole_number
from pipelines.home import Home
from pipelines.ingress import subscriptions
from pipelines.ingress.applier import Applier
from pipelines.ingress.inbox import STATUSES, Inbox
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.runs import after_each_run
from sources.errors import ConfigError
from sources.registry import INTEGRATIONS, get_integration

ACTIONS = ("secret", "inbox", "apply", "subscribe", "unsubscribe", "subscriptions")


def _when(epoch: float | None) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M:%S}" if epoch else "-"


def run(args: argparse.Namespace) -> int:
    home = Home.from_env()
    action = args.action
    if action == "secret":
        return _secret(home, args)
    if action == "inbox":
        return _inbox(home, args)
    if action == "apply":
        applier = Applier(home, on_result=after_each_run(home))
        total = 0
        while settled := applier.run_once():
            total += settled
        print(f"{total} inbox event(s) settled; {_counts(Inbox(home).counts())}")
        return 0
    if action == "subscribe":
        done = subscriptions.subscribe(home, args.connection_id, args.url)
        for sub in done:
            expiry = f", expires {sub.expires_at:%Y-%m-%d %H:%M} UTC" if sub.expires_at else ""
            print(
                f"{args.connection_id}: {sub.resource} -> {sub.url} (id {sub.provider_id}{expiry})"
            )
        return 0
    if action == "unsubscribe":
        count = subscriptions.unsubscribe(home, args.connection_id)
        print(f"{args.connection_id}: {count} subscription(s) removed")
        return 0
    rows = ProviderSecrets(home).all_subscriptions()
    if not rows:
        print("no subscriptions; register some with `syncs webhooks subscribe CONNECTION`")
    for r in rows:
        print(
            f"{r['integration']:<13} {r['connection_id']:<20} {r['resource']:<24} "
            f"id {r['provider_id']}  expires {_when(r['expires_at'])}  -> {r['url']}"
        )
    return 0


def _secret(home: Home, args: argparse.Namespace) -> int:
    spec = get_integration(args.integration)
    if spec.webhooks is None:
        known = ", ".join(n for n, s in INTEGRATIONS.items() if s.webhooks)
        raise ConfigError(f"{spec.name} receives no webhooks; these do: {known}")
    store = ProviderSecrets(home)
    scope = f"connection {args.connection}" if args.connection else "every connection"
    if args.remove:
        gone = store.remove(spec.name, args.connection)
        print(f"{spec.name} webhook secret for {scope} {'removed' if gone else 'was not set'}")
        return 0
    if args.secret_file:
        secret = sys.stdin.read() if args.secret_file == "-" else Path(args.secret_file).read_text()
    elif args.secret:
        secret = args.secret
    else:
        raise ConfigError(
            f"give {spec.webhooks.secret} with --secret VALUE or --secret-file PATH "
            "(- for standard input)"
        )
    store.set(spec.name, secret.strip(), args.connection)
    print(f"{spec.name} webhook secret set for {scope} (stored encrypted)")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)


def _inbox(home: Home, args: argparse.Namespace) -> int:
    inbox = Inbox(home)
    rows = inbox.list(
        status=args.status,
        integration=args.integration,
        connection_id=args.connection,
        after=args.after,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps({"events": rows, "counts": inbox.counts()}, indent=2, default=str))
        return 0
    print(_counts(inbox.counts()))
    for r in rows:
        about = f"{r['model']}/{r['record_id']}" if r["record_id"] else r["model"] or "-"
        if r["deleted"]:
            about += " (deletion)"
        if r["feed"]:
            about = "the changes feed"
        who = r["connection_id"] or r["url_connection_id"] or r["route"] or "-"
        why = f"  {r['reason']}" if r["reason"] else ""
        print(
            f"{r['inbox_id']:>7}  {_when(r['received_at'])}  {r['integration']:<12} "
            f"{r['event_type']:<24} {about:<28} {who:<20} {r['status']}{why}"
        )
    return 0


def register(wsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sec = wsub.add_parser(
        "secret", help="set the secret a provider's webhooks are checked with (encrypted)"
    )
    sec.add_argument("integration")
    sec.add_argument("--connection", help="for this connection only (else every connection)")
    sec.add_argument("--secret", help="the value (HubSpot's client secret, ...)")
    sec.add_argument("--secret-file", help="read it from a file (a PEM key), - for stdin")
    sec.add_argument("--remove", action="store_true", help="forget it")
    box = wsub.add_parser("inbox", help="providers' events: received, applied, unmatched, ...")
    box.add_argument("--status", choices=STATUSES)
    box.add_argument("--integration")
    box.add_argument("--connection")
    box.add_argument("--after", type=whole_number(0, 2**62), default=0, help="after this inbox id")
    box.add_argument("--limit", type=whole_number(1, 10_000), default=50)
    box.add_argument("--json", action="store_true")
    wsub.add_parser("apply", help="apply the inbox's due events now (syncs serve does it itself)")
    subscribe = wsub.add_parser(
        "subscribe", help="register a connection's webhooks with its provider (GitHub, Drive)"
    )
    subscribe.add_argument("connection_id")
    subscribe.add_argument(
        "--url", help="the URL providers reach syncs serve at (default SYNCS_PUBLIC_URL)"
    )
    unsubscribe = wsub.add_parser("unsubscribe", help="remove a connection's subscriptions")
    unsubscribe.add_argument("connection_id")
    wsub.add_parser("subscriptions", help="list what syncs registered with providers")
