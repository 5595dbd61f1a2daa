"""The sandbox kit over real loopback HTTP, through a small sandbox built on it.

``NotesSandbox`` is a made-up provider ("Notes") written the way an integration's sandbox is:
accounts by an API-key header, a rolling rate limit with its own headers, its own error body,
admin operations that change its data and emit webhooks signed with its own scheme. The
webhooks go to a receiver on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sources.sandbox.auth import basic_credentials, bearer_token, header_credential
from sources.sandbox.client import (
    SandboxAdminError,
    SandboxClient,
    SandboxNotFound,
    SandboxRefused,
    SandboxUnreachable,
)
from sources.sandbox.limits import RollingWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Request,
    Response,
    SandboxError,
    SandboxServer,
    json_bytes,
    json_response,
)
from sources.sandbox.webhooks import Event, Subscription, WebhookRequest, WebhookSandbox

KEY = "notes-key-1"
OTHER = "notes-key-2"


@dataclass
class _Account:
    key: str
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    window: RollingWindow = field(default_factory=lambda: RollingWindow(60.0))


class NotesSandbox(WebhookSandbox[_Account]):
    name = "notes"
    account_kind = "API key"
    webhook_retry_delays = (0.05,)

    def __init__(self, *, rate_limit: int | None = None, batch: int = 1, window: float = 0.0):
        self.webhook_batch_size, self.webhook_batch_window = batch, window
        super().__init__()
        self.rate_limit = rate_limit
        self.api("GET", r"/v1/notes", self._list)

    def prepare(self, request: Request) -> dict[str, str]:
        return {"X-Notes-Request": request.id}

    def authenticate(self, request: Request) -> _Account:
        account = self.accounts.get(header_credential(request, "X-Api-Key"))
        if account is None:
            raise SandboxError(401, "invalid API key", "unauthorized")
        return account

    def charge(self, request: Request, account: _Account | None, limit: str) -> dict[str, str]:
        assert account is not None
        retry = account.window.take(self.rate_limit)
        if retry:
            raise SandboxError(429, "slow down", "rate_limited", {"Retry-After": str(retry)})
        left = "" if self.rate_limit is None else str(self.rate_limit - account.window.used)
        return {"X-RateLimit-Remaining": left}

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        return {"error": {"code": category, "message": message}}

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        return json_bytes([{"id": e.id, "type": e.type, **e.data} for e in events])

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        signed = f"{request.timestamp}.".encode() + request.body
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return {
            "X-Notes-Delivery": request.delivery_id,
            "X-Notes-Timestamp": str(request.timestamp),
            "X-Notes-Signature": f"sha256={digest}",
        }

    def _list(self, request: Request, account: _Account) -> Response:
        with self._data:
            return json_response({"notes": list(account.notes.values())})

    @admin_operation
    def add_account(self, key: str) -> None:
        """Open the account of API key ``key``."""
        self.accounts.add(key, _Account(key))

    @admin_operation
    def create(
        self,
        key: str,
        text: str,
        *,
        tags: list[str] | None = None,
        pinned: bool = False,
        at: datetime | None = None,
        color: int | None = None,
    ) -> dict[str, Any]:
        """Write a note; the first line of the docstring is the listing's description.

        Later paragraphs are not."""
        if not text:
            raise ValueError("a note needs text")
        with self._data:
            account = self.accounts[key]
            note = {
                "id": len(account.notes) + 1,
                "text": text,
                "tags": tags or [],
                "pinned": pinned,
                "at": (at or datetime(2025, 1, 1, tzinfo=UTC)).isoformat(),
                "color": color,
            }
            account.notes[note["id"]] = note
            self.emit(key, "note.created", {"note": note})
            return note

    @admin_operation
    def update(self, key: str, note_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self._data:
            note = self.accounts[key].notes.get(note_id)
            if note is None:
                raise KeyError(f"unknown note {note_id}")
            note.update(fields)
            self.emit(key, "note.updated", {"note": note})
            return note


class Receiver(SandboxServer[None]):
    """A webhook subscriber on loopback: records what arrives, answers as told."""

    name = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self._arrived = threading.Condition(self._lock)
        self.route("POST", r"/hook", self._receive)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def _receive(self, request: Request) -> Response:
        with self._arrived:
            self.received.append(({k.lower(): v for k, v in request.headers.items()}, request.body))
            status = self.answers.pop(0) if self.answers else 200
            self._arrived.notify_all()
        return json_response({}, status)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.received)


@pytest.fixture
def notes() -> Iterator[NotesSandbox]:
    with NotesSandbox(rate_limit=3) as sandbox:
        sandbox.add_account(KEY)
        yield sandbox


@pytest.fixture
def client(notes: NotesSandbox) -> Iterator[SandboxClient]:
    with SandboxClient(notes.base_url) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def admin(sandbox: SandboxServer[Any], name: str, body: Any = None, raw: bytes | None = None):
    url = f"{sandbox.base_url}/_sandbox/operations/{name}"
    return requests.post(url, data=raw if raw is not None else json.dumps(body or {}), timeout=5)


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    signed = f"{headers['x-notes-timestamp']}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-notes-signature"], f"sha256={digest}")


# the operations listing and the generic endpoint


def test_operations_are_listed_with_their_parameters(notes: NotesSandbox) -> None:
    answer = requests.get(f"{notes.base_url}/_sandbox/operations", timeout=5)
    assert answer.status_code == 200
    listing = {op["name"]: op for op in answer.json()["operations"]}
    assert answer.json()["sandbox"] == "notes"
    for kit in ("health", "inject_fault", "faults", "requests_seen", "subscribe", "deliveries"):
        assert kit in listing
    create = listing["create"]
    assert create["description"] == (
        "Write a note; the first line of the docstring is the listing's description."
    )
    params = {p["name"]: p for p in create["parameters"]}
    assert list(params) == ["key", "text", "tags", "pinned", "at", "color"]
    assert params["key"] == {
        "name": "key",
        "type": "str",
        "required": True,
        "keyword_only": False,
        "mapping": False,
    }
    assert params["at"]["type"] == "datetime | None" and params["at"]["default"] is None
    assert params["pinned"]["keyword_only"] and params["pinned"]["default"] is False
    assert listing["update"]["parameters"][2]["mapping"] is True
    assert "tag" not in listing


def test_an_operation_cannot_take_star_args() -> None:
    class Loose(SandboxServer[None]):
        @admin_operation
        def tag(self, *names: str) -> None: ...

    with pytest.raises(TypeError, match=r"admin operation tag cannot take \*args"):
        Loose.operations()


def test_an_override_stays_an_operation_and_runs(client: SandboxClient) -> None:
    class Quiet(NotesSandbox):
        def health(self) -> dict[str, Any]:
            return {"status": "quiet"}

    assert "health" in Quiet.operations()
    with Quiet() as quiet, SandboxClient(quiet.base_url) as other:
        assert other.health() == {"status": "quiet"}
    assert client.health()["status"] == "ok"


def test_generic_endpoint_binds_json_by_signature_and_type_hints(
    notes: NotesSandbox, client: SandboxClient
) -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    made = client.call("create", KEY, "first", tags=["a", "b"], at=at)
    assert made == {
        "id": 1,
        "text": "first",
        "tags": ["a", "b"],
        "pinned": False,
        "at": "2025-03-04T05:06:07+00:00",
        "color": None,
    }
    assert client.create(KEY, text="second", pinned=True)["pinned"] is True
    assert notes.accounts[KEY].notes[2]["text"] == "second"
    raw = admin(notes, "create", {"key": KEY, "text": "third", "at": "2025-01-02T03:04:05Z"})
    assert raw.status_code == 200 and raw.json()["at"] == "2025-01-02T03:04:05+00:00"
    assert client.update(KEY, 3, {"text": "changed"})["text"] == "changed"
    assert client.health() == {"status": "ok", "sandbox": "notes"}


def test_text_values_are_read_as_a_shell_user_means_them(client: SandboxClient) -> None:
    made = client.create(KEY, "x", tags="red, green", pinned="true", at="2025-06-01", color="7")
    assert made["tags"] == ["red", "green"] and made["pinned"] is True and made["color"] == 7
    assert made["at"] == "2025-06-01T00:00:00"
    unset = client.create(KEY, "none", color="none", tags="")
    assert unset["text"] == "none" and unset["color"] is None and unset["tags"] == []
    assert client.update(KEY, "2", '{"pinned": true}')["pinned"] is True
    with pytest.raises(SandboxRefused, match="fields: Value error, give a JSON object"):
        client.update(KEY, 2, "pinned")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"key": KEY, "text": "x", "colour": "blue"},
            400,
            "create: unknown field 'colour'; it takes key, text, tags, pinned, at, color",
        ),
        ({"key": KEY}, 400, "create: missing field 'text'"),
        ({"key": KEY, "text": "x", "pinned": "perhaps"}, 400, "create: pinned: Input should be"),
        ({"key": KEY, "text": "x", "at": "noon"}, 400, "create: at: Input should be"),
        ({"key": KEY, "text": "x", "self": 1}, 400, "create: unknown field 'self'"),
        ({"key": KEY, "text": ""}, 400, "a note needs text"),
        ({"key": "nobody", "text": "x"}, 404, "unknown API key 'nobody'"),
        ([KEY, "x"], 400, "create: the body must be a JSON object of arguments"),
    ],
)
def test_bad_arguments_are_one_line_in_a_plain_admin_body(
    notes: NotesSandbox, body: Any, status: int, message: str
) -> None:
    answer = admin(notes, "create", body)
    assert answer.status_code == status
    assert answer.json()["message"].startswith(message)
    assert answer.json()["error"] == ("not_found" if status == 404 else "bad_request")
    assert "\n" not in answer.json()["message"]
    assert notes.accounts[KEY].notes == {}
    assert notes.handler_errors == []


def test_unknown_operations_paths_and_methods(notes: NotesSandbox) -> None:
    unknown = admin(notes, "frobnicate")
    assert unknown.status_code == 404
    assert unknown.json()["message"].startswith("the notes sandbox has no operation 'frobnicate'")
    assert "add_account, create, update" in unknown.json()["message"]
    assert (
        admin(notes, "create", raw=b"{nope")
        .json()["message"]
        .startswith("create: the body is not JSON")
    )
    assert (
        requests.get(f"{notes.base_url}/_sandbox/operations/create", timeout=5).status_code == 405
    )
    assert requests.post(f"{notes.base_url}/_sandbox/operations", timeout=5).status_code == 405
    other = requests.get(f"{notes.base_url}/_sandbox/notes/accounts", timeout=5)
    assert other.status_code == 404 and "GET /_sandbox/operations" in other.json()["message"]


def test_admin_calls_are_never_authenticated_faulted_or_logged(
    notes: NotesSandbox, client: SandboxClient
) -> None:
    client.inject_fault("500", count=2)
    assert client.create(KEY, "through the fault")["id"] == 1
    assert client.faults() == [
        {"kind": "500", "count": 2, "retry_after": 1, "delay": 2.0, "path_prefix": None}
    ]
    assert client.requests_seen() == []
    assert notes.requests_seen == []


def test_client_raises_what_the_method_raises(notes: NotesSandbox, client: SandboxClient) -> None:
    with pytest.raises(SandboxNotFound, match="unknown note 9") as missing:
        client.update(KEY, 9, {})
    assert isinstance(missing.value, KeyError) and isinstance(missing.value, SandboxAdminError)
    with pytest.raises(ValueError, match="a note needs text"):
        client.create(KEY, "")
    with pytest.raises(SandboxRefused, match="already exists"):
        client.add_account(KEY)
    with pytest.raises(SandboxRefused, match=r"create takes 2 positional arguments \(key, text\)"):
        client.create(KEY, "a", ["tags", "are", "keyword-only"])
    with pytest.raises(SandboxRefused, match="key given twice"):
        client.create(KEY, "a", key=KEY)
    with pytest.raises(SandboxNotFound, match="has no operation 'nope'; it has: health"):
        client.nope(1)
    with pytest.raises(AttributeError):
        client._private  # noqa: B018
    url = notes.base_url
    notes.stop()
    with pytest.raises(SandboxUnreachable, match=f"no sandbox answers at {url}"):
        client.health()


# the provider hooks and faults


def test_provider_hooks_authenticate_charge_and_shape_errors(
    notes: NotesSandbox, client: SandboxClient
) -> None:
    url = f"{notes.base_url}/v1/notes"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": {"code": "unauthorized", "message": "invalid API key"}}
    assert len(anonymous.headers["X-Notes-Request"]) == 32, "prepare's headers go on errors too"
    client.create(KEY, "hello")
    headers = {"X-Api-Key": KEY}
    answers = [requests.get(url, headers=headers, timeout=5) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers.get("X-RateLimit-Remaining") for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].json()["notes"][0]["text"] == "hello"
    assert answers[3].json()["error"]["code"] == "rate_limited"
    assert int(answers[3].headers["Retry-After"]) >= 1
    client.reset_rate_limits()
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    assert [s for _, _, s in client.requests_seen()] == [401, 200, 200, 200, 429, 200]


def test_faults_through_the_admin_path(notes: NotesSandbox, client: SandboxClient) -> None:
    url = f"{notes.base_url}/v1/notes"
    headers = {"X-Api-Key": KEY}
    client.inject_fault("429", retry_after=7, path_prefix="/v1/notes")
    limited = requests.get(url, headers=headers, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["code"] == "RATE_LIMIT", "in the provider's error body"
    client.inject_fault("500", count=2)
    client.clear_faults()
    assert client.faults() == []
    client.inject_fault("cut")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, headers=headers, timeout=5).json()
    with pytest.raises(SandboxRefused, match="unknown fault kind 'teapot'; kinds: 429, 500"):
        client.inject_fault("teapot")
    with pytest.raises(SandboxRefused, match="count: Input should be a valid integer"):
        client.inject_fault("500", count="many")
    client.clear_requests()
    assert client.requests_seen() == []


def test_credential_helpers() -> None:
    def request(**headers: str) -> Request:
        return Request("GET", "/", {}, headers, b"")

    assert bearer_token(request(Authorization="Bearer abc ")) == "abc"
    assert bearer_token(request(Authorization="token abc")) is None
    assert bearer_token(request(Authorization="token abc"), ("bearer", "token")) == "abc"
    assert bearer_token(request(Authorization="Bearer ")) is None
    assert basic_credentials(request(Authorization="Basic dXNlcjpwYTpzcw==")) == ("user", "pa:ss")
    assert basic_credentials(request(Authorization="Basic !!!")) is None
    assert basic_credentials(request()) is None
    assert header_credential(request(**{"X-Api-Key": " k "}), "X-Api-Key") == "k"


# outgoing webhooks


def subscribe(client: SandboxClient, receiver: Receiver, **options: Any) -> dict[str, Any]:
    return dict(client.subscribe(KEY, receiver.url, "whsec-notes", **options))


def test_webhooks_are_batched_signed_and_logged(receiver: Receiver) -> None:
    with NotesSandbox(batch=3, window=30.0) as notes, SandboxClient(notes.base_url) as client:
        client.add_account(KEY)
        client.add_account(OTHER)
        sub = subscribe(client, receiver, events=["note.created"])
        assert client.list_subscriptions(KEY) == [sub] and client.list_subscriptions(OTHER) == []
        for text in ("a", "b", "c", "d"):
            client.create(KEY, text)
        client.update(KEY, 1, {"text": "a2"})
        client.create(OTHER, "not subscribed")
        assert client.flush_webhooks() == 0
        got = receiver.wait_for(2)
        assert len(got) == 2
        batches = [[e["note"]["text"] for e in json.loads(body)] for _, body in got]
        assert batches == [["a", "b", "c"], ["d"]], "three a request, the rest after the window"
        for headers, body in got:
            assert signed_by("whsec-notes", headers, body)
            assert headers["content-type"] == "application/json"
        log = client.deliveries()
        assert [(d["outcome"], d["status"], len(d["event_ids"])) for d in log] == [
            ("delivered", 200, 3),
            ("delivered", 200, 1),
        ]
        assert {d["delivery_id"] for d in log} == {h["x-notes-delivery"] for h, _ in got}
        assert log[0]["event_types"] == ["note.created"] * 3 and log[0]["account"] == KEY
        client.unsubscribe(sub["id"])
        client.create(KEY, "after")
        assert client.flush_webhooks() == 0
        assert len(receiver.received) == 2
        with pytest.raises(SandboxNotFound):
            client.unsubscribe(sub["id"])
        with pytest.raises(SandboxNotFound, match="unknown API key 'nobody'"):
            client.subscribe("nobody", receiver.url, "s")
        with pytest.raises(SandboxRefused, match="url must be http"):
            client.subscribe(KEY, "ftp://x", "s")


@pytest.fixture
def hooked(receiver: Receiver) -> Iterator[SandboxClient]:
    """A client of a sandbox sending each event on its own, subscribed by the receiver."""
    with NotesSandbox() as notes, SandboxClient(notes.base_url) as client:
        client.add_account(KEY)
        subscribe(client, receiver)
        yield client


def texts(received: list[tuple[dict[str, str], bytes]]) -> list[str]:
    return [e["note"]["text"] for _, body in received for e in json.loads(body)]


def test_a_dropped_delivery_is_logged_and_never_sent(
    hooked: SandboxClient, receiver: Receiver
) -> None:
    hooked.inject_delivery_fault("drop")
    hooked.create(KEY, "lost")
    hooked.create(KEY, "kept")
    assert hooked.flush_webhooks() == 0
    assert texts(receiver.wait_for(1)) == ["kept"]
    assert [(d["outcome"], d["fault"]) for d in hooked.deliveries()] == [
        ("dropped", "drop"),
        ("delivered", None),
    ]


def test_a_duplicated_delivery_arrives_twice_with_one_id(
    hooked: SandboxClient, receiver: Receiver
) -> None:
    hooked.inject_delivery_fault("duplicate")
    hooked.create(KEY, "twice")
    assert hooked.flush_webhooks() == 0
    got = receiver.wait_for(2)
    assert texts(got) == ["twice", "twice"]
    assert got[0][0]["x-notes-delivery"] == got[1][0]["x-notes-delivery"]
    assert [d["outcome"] for d in hooked.deliveries()] == ["delivered", "delivered"]


def test_a_reordered_delivery_comes_after_the_next(
    hooked: SandboxClient, receiver: Receiver
) -> None:
    hooked.inject_delivery_fault("reorder")
    hooked.create(KEY, "first")
    hooked.create(KEY, "second")
    assert texts(receiver.wait_for(2)) == ["second", "first"]
    assert hooked.flush_webhooks() == 0
    assert [d["fault"] for d in hooked.deliveries()] == [None, "reorder"]


def test_a_reordered_last_delivery_goes_out_on_flush(
    hooked: SandboxClient, receiver: Receiver
) -> None:
    hooked.inject_delivery_fault("reorder")
    hooked.create(KEY, "alone")
    assert hooked.flush_webhooks() == 0
    assert texts(receiver.wait_for(1)) == ["alone"]


def test_a_delayed_delivery_is_overtaken(hooked: SandboxClient, receiver: Receiver) -> None:
    hooked.inject_delivery_fault("delay", delay=0.5)
    assert hooked.delivery_faults() == [{"kind": "delay", "count": 1, "delay": 0.5}]
    hooked.create(KEY, "late")
    hooked.create(KEY, "early")
    assert texts(receiver.wait_for(2)) == ["early", "late"]
    assert hooked.delivery_faults() == []


def test_a_bad_signature_does_not_verify(hooked: SandboxClient, receiver: Receiver) -> None:
    hooked.inject_delivery_fault("bad_signature")
    hooked.create(KEY, "forged")
    hooked.create(KEY, "genuine")
    got = receiver.wait_for(2)
    assert texts(got) == ["forged", "genuine"]
    assert hooked.flush_webhooks() == 0
    assert [d["fault"] for d in hooked.deliveries()] == ["bad_signature", None]
    assert [signed_by("whsec-notes", h, b) for h, b in got] == [False, True]


def test_a_failed_delivery_is_retried_with_its_id(
    hooked: SandboxClient, receiver: Receiver
) -> None:
    receiver.answers = [500, 500]
    hooked.create(KEY, "stubborn")
    assert hooked.flush_webhooks() == 0
    got = receiver.wait_for(2)
    assert len(got) == 2 and got[0][0]["x-notes-delivery"] == got[1][0]["x-notes-delivery"]
    log = hooked.deliveries()
    assert [(d["attempt"], d["outcome"], d["status"]) for d in log] == [
        (1, "failed", 500),
        (2, "failed", 500),
    ], "one retry, as the sandbox's retry_delays say, then it gives up"


def test_delivery_fault_kinds_are_checked(hooked: SandboxClient) -> None:
    with pytest.raises(SandboxRefused, match="unknown delivery fault 'lose'; kinds: drop"):
        hooked.inject_delivery_fault("lose")
    hooked.inject_delivery_fault("drop", count=2)
    hooked.clear_delivery_faults()
    assert hooked.delivery_faults() == []


def test_random_faults_hit_the_given_share_of_requests(
    notes: NotesSandbox, client: SandboxClient
) -> None:
    url = f"{notes.base_url}/v1/notes"
    headers = {"X-Api-Key": KEY}
    client.random_faults(0.25, ["429", "500"], seed=7, path_prefix="/v1/notes")
    statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(200)]
    counts = client.fault_counts()
    assert set(counts) == {"429", "500"}
    assert counts["500"] == statuses.count(500), "the notes sandbox has no 500 of its own"
    assert statuses.count(429) >= counts["429"]
    assert 30 <= sum(counts.values()) <= 70
    client.clear_faults()
    client.reset_rate_limits()
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    with pytest.raises(SandboxRefused, match="unknown fault kind 'teapot'"):
        client.random_faults(0.1, ["teapot"])
    with pytest.raises(SandboxRefused, match="rate must be from 0 to 1"):
        client.random_faults(2, ["500"])
