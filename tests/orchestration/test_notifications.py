"""The post-load sensor sees every partition materialized between two of its ticks."""

from __future__ import annotations

import json

from dagster import build_sensor_context

from orchestration.definitions import defs
from pipelines.store.db import control_db
from tests.conftest import ACME, GLOBEX, add_hubspot
from tests.orchestration.conftest import add_partitions, run_sync


def outbox(home) -> dict[tuple[str, str], dict]:
    with control_db(home.control_store) as db:
        rows = db.execute("SELECT connection_id, model, payload FROM outbox").fetchall()
    return {(r["connection_id"], r["model"]): json.loads(r["payload"]) for r in rows}


def test_two_partitions_materialized_between_ticks_are_both_handed_on(home, hubspot, instance):
    add_hubspot(home, hubspot, "acme", ACME)
    add_hubspot(home, hubspot, "globex", GLOBEX)
    add_partitions(instance, home)
    sensor = defs.resolve_sensor_def("sync_notifications")
    first = sensor(build_sensor_context(instance=instance))
    assert first.skip_reason is not None

    runs = {cid: run_sync(instance, cid) for cid in ("acme", "globex")}
    assert all(r.success for r in runs.values())
    written_by_the_engine = outbox(home)
    assert len(written_by_the_engine) == 6
    with control_db(home.control_store) as db:
        db.execute("DELETE FROM outbox")

    second = sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert "6 new materializations" in second.skip_reason.skip_message
    handed_on = outbox(home)
    assert set(handed_on) == {
        (cid, model) for cid in ("acme", "globex") for model in ("contacts", "companies", "deals")
    }
    for key, body in handed_on.items():
        engine = written_by_the_engine[key]
        for field in ("run_id", "sync_type", "counts", "cursor", "success", "integration", "sync"):
            assert body[field] == engine[field], (key, field)
    assert handed_on[("globex", "contacts")]["counts"] == {"added": 120, "updated": 0, "deleted": 0}

    third = sensor(build_sensor_context(instance=instance, cursor=second.cursor))
    assert "0 new materializations" in third.skip_reason.skip_message
    assert len(outbox(home)) == 6


def test_dispatcher_sensor_delivers_the_outbox_signed(home, hubspot, instance):
    from standardwebhooks import Webhook

    from pipelines.notify.endpoints import WebhookEndpoints
    from pipelines.notify.receiver import WebhookReceiver

    receiver = WebhookReceiver().start()
    try:
        _, secret = WebhookEndpoints(home).add(receiver.url)
        add_hubspot(home, hubspot, "acme", ACME)
        add_partitions(instance, home)
        assert run_sync(instance, "acme").success
        sensor = defs.resolve_sensor_def("webhook_dispatcher")
        tick = sensor(build_sensor_context(instance=instance))
        assert "3 delivered" in tick.skip_message
        bodies = [Webhook(secret).verify(w.body, w.headers) for w in receiver.received]
        assert sorted(b["model"] for b in bodies) == ["companies", "contacts", "deals"]
        again = sensor(build_sensor_context(instance=instance))
        assert "none due" in again.skip_message
    finally:
        receiver.stop()
