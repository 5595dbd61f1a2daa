"""``syncs demo``: every integration's sandbox, two customers each, three rounds of syncs.

Runs offline on the embedded defaults: sandboxes on loopback, the DuckDB warehouse and
control store under ``SYNCS_HOME``. A webhook receiver on loopback gets and verifies the
signed webhook of every (connection, model) after each round; at the end a change in the
HubSpot sandbox reaches it through HubSpot's own webhook, without a poll. Running it again
starts the demo connections afresh.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pipelines.cli.demo_webhooks import DemoWebhooks
from pipelines.cli.output import print_result
from pipelines.engine.sync import purge
from pipelines.engine.warehouse import read_connection
from pipelines.home import Home
from pipelines.runs import sync_runner
from pipelines.store.connections import Connections
from sources.registry import INTEGRATIONS
from sources.spec import IntegrationSpec

QUERIES = (
    "select connection_id, count(*) as contacts from hubspot.contacts "
    "where _syncs_deleted_at is null group by 1 order by 1",
    "select action, count(*) as events from syncs.change_events group by 1 order by 1",
)


def _print_table(con: Any, sql: str, out: Any) -> None:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    widths = [max(len(str(v)) for v in [n, *(r[i] for r in rows)]) for i, n in enumerate(names)]
    out.write("  " + "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)) + "\n")
    for row in rows:
        out.write(
            "  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) + "\n"
        )


def start_demo_sandboxes(home: Home, records: int, out: Any) -> list[tuple[IntegrationSpec, Any]]:
    """Every integration's demo sandbox, its accounts registered as fresh connections (one
    of the same id is purged first). If one fails to start, those started are stopped."""
    connections = Connections(home)
    demos: list[tuple[IntegrationSpec, Any]] = []
    try:
        for spec in INTEGRATIONS.values():
            if spec.sandbox is None:
                continue
            demo = spec.sandbox(port=0, records=records)
            demos.append((spec, demo))
            out.write(f"{spec.title} sandbox on {demo.base_url}\n")
            existing = {c.connection_id for c in connections.list()}
            for account in demo.accounts:
                if account.connection_id in existing:
                    purge(home, spec, account.connection_id)
                    connections.remove(account.connection_id)
                connections.add(
                    spec.name,
                    account.connection_id,
                    credentials=account.credentials,
                    config=account.config,
                )
                out.write(f"  registered connection {account.connection_id}\n")
    except BaseException:
        for _, demo in demos:
            demo.stop()
        raise
    return demos


def run_demo(records: int = 200, out: Any = None) -> int:
    out = out or sys.stdout

    started = time.monotonic()
    home = Home.from_env()
    runner = sync_runner(home)
    demos: list[tuple[IntegrationSpec, Any]] = []
    hooks = DemoWebhooks(home, out)
    try:
        demos = start_demo_sandboxes(home, records, out)
        hooks.register([a.connection_id for _, demo in demos for a in demo.accounts])

        def round_of(title: str, mode: str) -> None:
            out.write(f"\n== {title} ==\n")
            for _spec, demo in demos:
                for account in demo.accounts:
                    for result in runner.run(account.connection_id, mode=mode):  # type: ignore[arg-type]
                        print_result(result, out)
            hooks.deliver()

        round_of("initial syncs", "incremental")
        out.write("\n== changing the sandbox data ==\n")
        for _spec, demo in demos:
            for account in demo.accounts:
                out.write(f"  {account.connection_id}: {'; '.join(demo.change(account))}\n")
        round_of("incremental syncs", "incremental")
        out.write("\n== erasing some records, which only a full listing notices ==\n")
        for _spec, demo in demos:
            for account in demo.accounts:
                done = demo.change(account, deep=True)
                out.write(f"  {account.connection_id}: {'; '.join(done)}\n")
        round_of("full-refresh syncs", "full")

        out.write("\n== what changed, per connection and model ==\n")
        with read_connection(home) as con:
            assert con is not None
            _print_table(
                con,
                "select connection_id, integration, model, "
                "count(*) filter (where action = 'ADDED') as added, "
                "count(*) filter (where action = 'UPDATED') as updated, "
                "count(*) filter (where action = 'DELETED') as deleted "
                "from syncs.change_events where connection_id in ("
                + ", ".join(f"'{a.connection_id}'" for _, demo in demos for a in demo.accounts)
                + ") group by all order by all",
                out,
            )
            for sql in QUERIES:
                out.write(f"\n{home.warehouse.name}> {sql}\n")
                _print_table(con, sql, out)
        if demos:
            spec, demo = demos[0]
            first_model = next(iter(spec.syncs.values())).models[0]
            hooks.read_back(demo.accounts[0].connection_id, spec.name, first_model)
        hubspot = next(((s, d) for s, d in demos if s.name == "hubspot"), None)
        if hubspot is not None:
            hooks.realtime(*hubspot)
        out.write(
            f"\nThe warehouse is {home.warehouse}; query it with DuckDB, list the latest "
            "events with `syncs changes`, or serve the records API over it with `syncs serve`. "
            f"Demo finished in {time.monotonic() - started:.1f}s.\n"
        )
    finally:
        hooks.stop()
        for _, demo in demos:
            demo.stop()
    return 0
