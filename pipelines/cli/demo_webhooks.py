"""The webhook half of ``syncs demo``: a receiver, deliveries after each round, a read-back,
and a change that arrives through the provider's own webhook.

The demo's connections get their own endpoint (so an endpoint the environment already
has is left alone) pointing at a receiver on loopback that verifies each webhook with
``standardwebhooks`` and prints it. At the end the changes one webhook announced are read
back through the records API, served for the moment with a throwaway key.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from pipelines.api.server import ApiServer, Realtime, create_app
from pipelines.home import Home
from pipelines.ingress.secrets import ProviderSecrets
from pipelines.notify.dispatcher import RetryPolicy, deliver_due
from pipelines.notify.endpoints import WebhookEndpoints
from pipelines.notify.receiver import ReceivedWebhook, WebhookReceiver, describe
from pipelines.notify.signing import new_secret
from pipelines.store.api_keys import hash_key, new_key
from sources.spec import IntegrationSpec


class DemoWebhooks:
    def __init__(self, home: Home, out: Any) -> None:
        self.home = home
        self.out = out
        self.secret = new_secret()
        self.receiver = WebhookReceiver(self.secret, on_receive=self._print).start()
        self.endpoints = WebhookEndpoints(home)

    def _print(self, webhook: ReceivedWebhook) -> None:
        self.out.write(f"  {describe(webhook)}\n")

    def register(self, connection_ids: list[str]) -> None:
        self.out.write(f"Webhook receiver on {self.receiver.url}\n")
        for connection_id in connection_ids:
            old = self.endpoints.for_connection(connection_id, exact=True)
            if old is not None:
                self.endpoints.remove(old.endpoint_id)
            self.endpoints.add(self.receiver.url, connection_id=connection_id, secret=self.secret)

    def deliver(self) -> None:
        self.out.write("webhooks:\n")
        deliver_due(self.home, policy=RetryPolicy(timeout=5))

    def read_back(self, connection_id: str, integration: str, model: str) -> None:
        """Read the records the latest webhook of one model announced, over HTTP."""
        latest = [
            w.payload
            for w in self.receiver.received
            if w.verified
            and w.payload
            and w.payload.get("connection_id") == connection_id
            and w.payload.get("model") == model
            and w.payload.get("cursor", {}).get("first") is not None
        ]
        if not latest:
            return
        body = latest[-1]
        key = new_key()
        server = ApiServer(create_app(self.home, frozenset({hash_key(key)}))).start()
        try:
            params = {
                "integration": integration,
                "model": model,
                "connection_id": connection_id,
                "cursor": body["cursor"]["first"] - 1,
                "limit": 1000,
            }
            response = requests.get(
                f"{server.url}/records",
                params=params,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"the records API answered {response.status_code}: {response.text}"
                )
            page = response.json()
        finally:
            server.stop()
        query = "&".join(f"{k}={v}" for k, v in params.items())
        self.out.write(f"\n== reading back what one webhook announced ==\nGET /records?{query}\n")
        for record in page["records"][:12]:
            meta = record["_metadata"]
            self.out.write(
                f"  cursor {meta['cursor']:>6}  {meta['last_action']:<8} id {record['id']}\n"
            )
        more = len(page["records"]) - 12
        if more > 0:
            self.out.write(f"  ... and {more} more\n")
        self.out.write(
            f"  {len(page['records'])} records; the webhook said added {body['counts']['added']}, "
            f"updated {body['counts']['updated']}, deleted {body['counts']['deleted']}\n"
        )

    def realtime(self, spec: IntegrationSpec, demo: Any) -> float | None:
        """A change made in the sandbox reaching the receiver through the provider's own
        webhook, with no poll: ``syncs serve``'s ingress, applier and dispatcher on
        loopback, the sandbox subscribed to it. Returns the seconds it took."""
        account = demo.accounts[0]
        token = account.credentials["access_token"]
        secret = "demo-app-client-secret"
        ProviderSecrets(self.home).set(spec.name, secret)
        realtime = Realtime(self.home).start()
        server = ApiServer(
            create_app(self.home, frozenset({hash_key(new_key())}), ingress=realtime.ingress)
        ).start()
        try:
            demo.client.subscribe(token, f"{server.url}/webhooks/{spec.name}", secret)
            self.out.write(
                f"\n== real time: a change in the sandbox, sent by {spec.title}'s own webhook ==\n"
                f"{spec.title} sends its webhooks to {server.url}/webhooks/{spec.name}\n"
            )
            before = len(self.receiver.received)
            record_id = demo.client.ids(token, "contacts")[0]
            started = time.perf_counter()
            demo.client.update(token, "contacts", record_id, {"jobtitle": "Head of Real Time"})
            arrived = self.receiver.wait_for(before + 1, timeout=15)
            took = time.perf_counter() - started
            if len(arrived) <= before:
                self.out.write("  no webhook arrived within 15 s\n")
                return None
            self.out.write(
                f"  {account.connection_id}: contact {record_id}'s job title changed; the app's "
                f"webhook arrived {took * 1000:.0f} ms later, without a poll\n"
            )
            return took
        finally:
            server.stop()
            realtime.stop()

    def stop(self) -> None:
        self.receiver.stop()
