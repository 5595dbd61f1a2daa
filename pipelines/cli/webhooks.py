"""``syncs webhooks …``: endpoints, the delivery log, replays and the dispatcher; the
providers' side (secrets, inbox, subscriptions) is ``pipelines.cli.provider_webhooks``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from pipelines.cli import provider_webhooks
from pipelines.cli.arguments import seconds, whole_number
from pipelines.home import Home
from pipelines.notify.dispatcher import (
    Attempt,
    Dispatcher,
    attempts,
    deliver_due,
    deliveries,
    parse_span,
    reconcile,
    replay,
)
from pipelines.notify.endpoints import DEFAULT_ROTATION_OVERLAP, Endpoint, WebhookEndpoints


def _when(epoch: float | None) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M:%S}" if epoch else "-"


def format_attempt(a: Attempt) -> str:
    answer = str(a.status) if a.status is not None else a.error or "no answer"
    then = f", next attempt {_when(a.next_attempt_at)} UTC" if a.outcome == "retry" else ""
    return (
        f"{a.message_id} -> {a.url}: attempt {a.attempt} {answer} in {a.duration_ms:.0f} ms, "
        f"{a.outcome}{then}"
    )


def _endpoint_line(e: Endpoint) -> str:
    state = "enabled" if e.enabled else f"disabled ({e.disabled_reason or 'by hand'})"
    extras = []
    if e.skip_empty:
        extras.append("skips empty")
    if e.rotating():
        assert e.previous_secret_until is not None
        extras.append(f"previous secret signs until {e.previous_secret_until:%Y-%m-%d %H:%M} UTC")
    more = f"  [{'; '.join(extras)}]" if extras else ""
    return f"{e.endpoint_id}  {e.scope:<24} {e.url}  {state}{more}"


def cmd_webhooks(args: argparse.Namespace) -> int:
    if args.action in provider_webhooks.ACTIONS:
        return provider_webhooks.run(args)
    home = Home.from_env()
    endpoints = WebhookEndpoints(home)
    action = args.action
    if action == "add":
        endpoint, secret = endpoints.add(
            args.url, connection_id=args.connection, secret=args.secret, skip_empty=args.skip_empty
        )
        print(f"endpoint {endpoint.endpoint_id} for the {endpoint.scope}: {endpoint.url}")
        if not args.secret:
            print(f"signing secret (shown once, keep it with the receiver): {secret}")
    elif action == "list":
        rows = endpoints.list()
        if args.json:
            print(json.dumps([e.describe() for e in rows], indent=2))
        elif not rows:
            print("no webhook endpoints; add one with `syncs webhooks add URL`")
        for e in rows if not args.json else []:
            print(_endpoint_line(e))
    elif action == "remove":
        endpoint = endpoints.remove(args.endpoint_id)
        print(f"endpoint {endpoint.endpoint_id} ({endpoint.url}) removed")
    elif action in ("enable", "disable"):
        endpoint = endpoints.update(
            args.endpoint_id, enabled=action == "enable", disabled_reason="disabled by hand"
        )
        print(_endpoint_line(endpoint))
    elif action == "update":
        endpoint = endpoints.update(args.endpoint_id, url=args.url, skip_empty=args.skip_empty)
        print(_endpoint_line(endpoint))
    elif action == "rotate":
        overlap = parse_span(args.overlap, "--overlap") if args.overlap else None
        endpoint, secret = endpoints.rotate(
            args.endpoint_id,
            secret=args.secret,
            overlap=DEFAULT_ROTATION_OVERLAP if overlap is None else overlap,
        )
        print(_endpoint_line(endpoint))
        if not args.secret:
            print(f"new signing secret (shown once): {secret}")
    elif action == "deliveries":
        return _show_deliveries(home, args)
    elif action == "replay":
        done = replay(
            home, message_ids=args.message_id, since=args.since, connection_id=args.connection
        )
        for message, endpoint_id in done:
            print(f"{message} -> {endpoint_id}: due now")
        print(f"{len(done)} message(s) will be sent again by the dispatcher")
    elif action == "dispatch":
        return _dispatch(home, once=args.once, interval=args.interval)
    return 0


def _show_deliveries(home: Home, args: argparse.Namespace) -> int:
    rows = attempts(home, message_id=args.message, limit=args.limit)
    pending = [d for d in deliveries(home, message_id=args.message) if d["status"] == "pending"]
    if args.json:
        print(json.dumps({"attempts": rows, "pending": pending}, indent=2, default=str))
        return 0
    if not rows and not pending:
        print("no delivery attempts yet")
    for r in rows:
        answer = str(r["status"]) if r["status"] is not None else r["error"]
        excerpt = f"  {r['response_excerpt']}" if r["response_excerpt"] else ""
        replayed = f" (replay {r['round'] - 1})" if r["round"] > 1 else ""
        print(
            f"{r['attempted_at'][:19]}  {r['message_id']}  attempt {r['attempt']}{replayed}  "
            f"{answer}  {r['duration_ms']:.0f} ms  {r['outcome']}{excerpt}"
        )
    for d in pending:
        print(
            f"pending  {d['message_id']} -> {d['url'] or d['endpoint_id']}  "
            f"after {d['attempts']} attempt(s), next {_when(d['next_attempt_at'])} UTC"
        )
    return 0


def _dispatch(home: Home, *, once: bool, interval: float) -> int:
    def show(attempt: Attempt) -> None:
        print(format_attempt(attempt), flush=True)

    if once:
        reconcile(home)
        done = deliver_due(home, on_attempt=show)
        print(f"{len(done)} attempt(s)")
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    dispatcher = Dispatcher(home, interval=interval, on_attempt=show).start()
    print("delivering webhooks (Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hooks = sub.add_parser(
        "webhooks",
        help="webhook endpoints, deliveries, replays, dispatcher; providers' webhooks",
    )
    wsub = hooks.add_subparsers(dest="action", required=True)
    add = wsub.add_parser("add", help="add the environment's endpoint, or a connection's own")
    add.add_argument("url")
    add.add_argument("--connection", help="only this connection's messages go there")
    add.add_argument("--secret", help="whsec_... (generated and printed once when omitted)")
    add.add_argument(
        "--skip-empty", action="store_true", help="send nothing for runs that changed nothing"
    )
    lst = wsub.add_parser("list", help="list endpoints")
    lst.add_argument("--json", action="store_true")
    for name, text in (
        ("remove", "remove an endpoint (its pending deliveries are cancelled)"),
        ("enable", "enable an endpoint (after a 410, say); its backlog is sent"),
        ("disable", "stop delivering to an endpoint; messages wait"),
    ):
        wsub.add_parser(name, help=text).add_argument("endpoint_id")
    upd = wsub.add_parser("update", help="change an endpoint's URL or empty-run setting")
    upd.add_argument("endpoint_id")
    upd.add_argument("--url")
    empty = upd.add_mutually_exclusive_group()
    empty.add_argument("--skip-empty", dest="skip_empty", action="store_true", default=None)
    empty.add_argument("--send-empty", dest="skip_empty", action="store_false", default=None)
    rot = wsub.add_parser("rotate", help="new secret; the old one also signs for a while")
    rot.add_argument("endpoint_id")
    rot.add_argument("--secret", help="whsec_... (generated and printed once when omitted)")
    rot.add_argument("--overlap", help="how long the old secret keeps signing (default 24h)")
    dl = wsub.add_parser("deliveries", help="delivery attempts, newest last")
    dl.add_argument("--message", help="only this message id")
    dl.add_argument("--limit", type=whole_number(1, 10_000), default=50)
    dl.add_argument("--json", action="store_true")
    rp = wsub.add_parser("replay", help="send messages again with their original ids")
    rp.add_argument("message_id", nargs="*")
    rp.add_argument("--since", help="every message since a time or span: 2025-01-31T12:00, 2h")
    rp.add_argument("--connection", help="with --since: only this connection's messages")
    dp = wsub.add_parser("dispatch", help="deliver due webhooks (in a loop unless --once)")
    dp.add_argument("--once", action="store_true")
    dp.add_argument("--interval", type=seconds(0, 3600), default=1.0, help="seconds between polls")
    provider_webhooks.register(wsub)
    hooks.set_defaults(func=cmd_webhooks)
