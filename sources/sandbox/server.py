"""The sandbox kit: loopback simulators of the external APIs the integrations read.

No external API is reachable from tests or the demo, so each integration ships a sandbox that
answers with the provider's documented shapes, status codes, headers and failure modes. The
production HTTP client talks to it unchanged; only ``base_url`` differs. ``SandboxServer`` is
what every sandbox is built on:

* HTTP/1.1 on 127.0.0.1 in a daemon thread (the standard library's server: a sandbox needs
  byte-exact control of status lines, headers and cut connections, which an ASGI stack hides),
  a route table, and a request log.
* ``api()`` routes run the provider's hooks in order: ``prepare`` (the headers every answer
  carries, preconditions such as a required ``User-Agent``), ``authenticate`` (the account the
  credentials reach, from the ``accounts`` registry, or a 401 in the provider's words),
  ``charge`` (count the request against the account's limits: the rate-limit headers, or the
  provider's 429), then the handler. A ``SandboxError`` becomes the provider's ``error_body``.
* Faults (429 with ``Retry-After``, 500, slow answers, connections cut mid-body, bodies that
  end early but say so in their ``Content-Length``), so retry and resume logic is exercised
  through real sockets rather than mocks.
* Admin operations (``sources.sandbox.operations``): ``GET /_sandbox/operations`` lists them and
  ``POST /_sandbox/operations/{name}`` runs one, never authenticated, faulted or logged;
  ``SandboxClient`` calls them from another process.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from sources.sandbox.accounts import Accounts
from sources.sandbox.limits import DailyQuota, FixedWindow, RollingWindow
from sources.sandbox.operations import Operation, admin_operation, operations_of

FAULT_KINDS = ("429", "500", "slow", "cut", "truncated")
ADMIN_PREFIX = "/_sandbox/"
OPERATIONS_PATH = "/_sandbox/operations"
JSON_CONTENT_TYPE = "application/json;charset=utf-8"
A = TypeVar("A")


@dataclass(slots=True)
class Request:
    """One parsed HTTP request as a route handler sees it; ``id`` is unique per request (for
    the provider's request or correlation id)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body); 400 if it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SandboxError(400, f"Invalid input JSON: {exc}", "VALIDATION_ERROR") from None

    def form(self) -> dict[str, str]:
        """A form body (URL-encoded, or a JSON object) as text fields; {} if it is neither."""
        if "json" in (self.header("Content-Type") or "").lower():
            try:
                payload = json.loads(self.body or b"null")
            except ValueError:
                return {}
            if not isinstance(payload, dict):
                return {}
            return {str(k): str(v) for k, v in payload.items() if v is not None}
        try:
            parsed = parse_qs(self.body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return {k: v[0] for k, v in parsed.items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE


class SandboxError(Exception):
    """Raised by a handler or hook to answer with the provider's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.headers = headers or {}


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int
    retry_after: int = 1
    delay: float = 2.0
    path_prefix: str | None = None

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.remaining,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "path_prefix": self.path_prefix,
        }


@dataclass(slots=True)
class _RandomFaults:
    rate: float
    kinds: tuple[str, ...]
    rng: random.Random
    retry_after: int
    delay: float
    path_prefix: str | None

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(status, json_bytes(payload), dict(headers or {}))


def admin_error(status: int, message: str) -> Response:
    """The plain error body of the admin endpoints, the same for every sandbox."""
    kinds = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    return json_response({"error": kinds.get(status, "internal"), "message": message}, status)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request is expected; handler bugs are caught in dispatch.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "syncs-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,  # type: ignore[arg-type]
            body=body,
        )
        response, fault = self.server.sandbox._respond(request)
        self._write(response, fault)

    def _write(self, response: Response, fault: str | None) -> None:
        """Send the answer; ``cut`` declares the whole body and sends half of it, then closes
        the connection; ``truncated`` sends half of the body as if it were all of it."""
        body = response.body
        declared = len(body)
        cut = fault == "cut"
        if cut:
            declared = max(declared, 1)
            body = body[: len(body) // 2]
        elif fault == "truncated":
            body = body[: len(body) // 2]
            declared = len(body)
        lines = [
            f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {declared}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        if self.close_connection or cut:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)
        self.wfile.flush()
        if cut:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class SandboxServer(Generic[A]):
    """Base of every integration's sandbox: routing, provider hooks, faults, admin operations.

    A subclass registers its API with ``api()``, holds its accounts in ``accounts`` (keyed by
    the credential the provider knows them by), overrides the hooks its provider needs, and
    marks the methods that change its data with ``@admin_operation``.
    """

    name = "sandbox"
    account_kind = "account"
    rate_limit_message = "rate limit exceeded"
    rate_limit_category = "RATE_LIMIT"
    server_error_message = "internal error"
    server_error_category = "INTERNAL_ERROR"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._routes: list[_Route] = []
        self._faults: list[Fault] = []
        self._random_faults: _RandomFaults | None = None
        self.faults_fired: dict[str, int] = {}
        self._lock = threading.Lock()
        self._data = threading.RLock()
        self._rate = threading.Lock()
        self.accounts: Accounts[A] = Accounts(self.account_kind, self._data)
        self.requests_seen: list[tuple[str, str, int]] = []
        self.handler_errors: list[str] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("sandbox is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # routing

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a path matching regex ``pattern`` in full.

        Named groups of the pattern are passed to the handler as ``request.params``.
        """
        self._routes.append(_Route(method.upper(), re.compile(pattern), handler))

    def api(
        self,
        method: str,
        pattern: str,
        handler: Callable[[Request, Any], Response],
        *,
        limit: str = "default",
    ) -> None:
        """Register an API route: ``prepare``, ``authenticate`` and ``charge`` (with the
        limit named ``limit``) run first, and their headers go on the answer, errors too."""

        def serve(request: Request) -> Response:
            headers = self.prepare(request)
            try:
                account = self.authenticate(request)
                with self._rate:
                    headers.update(self.charge(request, account, limit))
                response = handler(request, account)
            except SandboxError as exc:
                exc.headers = {**headers, **exc.headers}
                raise
            response.headers = {**headers, **response.headers}
            return response

        self.route(method, pattern, serve)

    # provider hooks

    def prepare(self, request: Request) -> dict[str, str]:
        """Headers every API answer carries; raise ``SandboxError`` to refuse the request
        before authentication (a missing ``User-Agent``, an unknown API version)."""
        return {}

    def authenticate(self, request: Request) -> A | None:
        """The account the request's credentials reach, or None where the provider allows
        anonymous requests; raise ``SandboxError`` (401) in the provider's words otherwise."""
        return None

    def charge(self, request: Request, account: A | None, limit: str) -> dict[str, str]:
        """Count the request against the account's limit ``limit``: the provider's rate-limit
        headers, or raise ``SandboxError`` (429 with ``Retry-After``) past it. Runs under a
        lock of its own, so the counters in ``sources.sandbox.limits`` need none."""
        return {}

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """The provider's JSON error body."""
        return {"status": "error", "message": message, "category": category}

    def fault_headers(self, request: Request, status: int) -> dict[str, str]:
        """Extra headers on an injected 429/500 (e.g. the provider's rate-limit headers)."""
        return {}

    def error_response(
        self,
        status: int,
        message: str,
        category: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return json_response(self.error_body(status, message, category), status, headers)

    # dispatch

    def _dispatch(self, request: Request) -> Response:
        allowed = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed = True
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return route.handler(request)
        if allowed:
            raise SandboxError(405, f"method {request.method} not allowed", "METHOD_NOT_ALLOWED")
        raise SandboxError(404, f"no route for {request.path}", "NOT_FOUND")

    def _respond(self, request: Request) -> tuple[Response, str | None]:
        """The response to send and how to damage its body in transit (``cut``,
        ``truncated``), if at all."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request), None
        fault = self._take_fault(request.path)
        if fault is not None:
            with self._lock:
                self.faults_fired[fault.kind] = self.faults_fired.get(fault.kind, 0) + 1
        damage: str | None = None
        if fault is not None and fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after), **self.fault_headers(request, 429)}
            response = self.error_response(
                429, self.rate_limit_message, self.rate_limit_category, headers
            )
        elif fault is not None and fault.kind == "500":
            response = self.error_response(
                500,
                self.server_error_message,
                self.server_error_category,
                self.fault_headers(request, 500),
            )
        else:
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind in ("cut", "truncated"):
                damage = fault.kind
            response = self._handle(request)
        with self._lock:
            self.requests_seen.append((request.method, request.path, response.status))
        return response, damage

    def _handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except SandboxError as exc:
            return self.error_response(exc.status, exc.message, exc.category, exc.headers)
        except Exception:
            self._record_bug()
            return self.error_response(500, self.server_error_message, self.server_error_category)

    def _record_bug(self) -> None:
        with self._lock:
            self.handler_errors.append(traceback.format_exc())

    # admin operations over HTTP

    @classmethod
    def operations(cls) -> dict[str, Operation]:
        return operations_of(cls)

    def _admin(self, request: Request) -> Response:
        operations = self.operations()
        if request.path == OPERATIONS_PATH:
            if request.method != "GET":
                return admin_error(405, f"{OPERATIONS_PATH} answers GET")
            listing = [op.describe() for op in operations.values()]
            return json_response({"sandbox": self.name, "operations": listing})
        name = request.path.removeprefix(OPERATIONS_PATH + "/")
        if name == request.path or "/" in name:
            return admin_error(
                404,
                f"no admin endpoint {request.path}; GET {OPERATIONS_PATH} lists the operations, "
                f"POST {OPERATIONS_PATH}/NAME runs one",
            )
        operation = operations.get(name)
        if operation is None:
            return admin_error(
                404,
                f"the {self.name} sandbox has no operation {name!r}; "
                f"it has: {', '.join(operations)}",
            )
        if request.method != "POST":
            return admin_error(405, f"POST {request.path} runs operation {name}")
        try:
            payload = json.loads(request.body) if request.body else {}
        except ValueError as exc:
            return admin_error(400, f"{name}: the body is not JSON: {exc}")
        if not isinstance(payload, dict):
            return admin_error(400, f"{name}: the body must be a JSON object of arguments")
        try:
            return json_response(operation.call(self, payload))
        except KeyError as exc:
            return admin_error(404, str(exc.args[0]) if exc.args else f"{name}: not found")
        except ValueError as exc:
            return admin_error(400, str(exc))
        except Exception as exc:
            self._record_bug()
            return admin_error(500, f"{name} failed: {type(exc).__name__}: {exc}")

    # operations every sandbox has

    @admin_operation
    def health(self) -> dict[str, Any]:
        """Whether the sandbox answers, and which one it is."""
        return {"status": "ok", "sandbox": self.name}

    @admin_operation
    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        path_prefix: str | None = None,
    ) -> None:
        """Make the next ``count`` API requests under ``path_prefix`` fail as ``kind``.

        ``"429"``: rate-limit error with ``Retry-After: retry_after``; ``"500"``: server error;
        ``"slow"``: answer normally after ``delay`` seconds; ``"cut"``: send the headers and half
        of the body, then close the connection; ``"truncated"``: send half of the body with a
        ``Content-Length`` that says it is all (a complete answer whose body is not valid
        JSON). Faults queue up in the order injected.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay must not be negative")
        fault = Fault(kind, int(count), int(retry_after), float(delay), path_prefix)
        with self._lock:
            self._faults.append(fault)

    @admin_operation
    def random_faults(
        self,
        rate: float,
        kinds: list[str],
        *,
        seed: int = 0,
        retry_after: int = 1,
        delay: float = 2.0,
        path_prefix: str | None = None,
    ) -> None:
        """Fault each API request under ``path_prefix`` with probability ``rate``, as one of
        ``kinds`` drawn at random (a seeded draw: the same seed gives the same sequence);
        ``rate`` 0 stops. Queued faults (``inject_fault``) fire first."""
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown or not kinds:
            raise ValueError(
                f"unknown fault kind {unknown[0] if unknown else None!r}; "
                f"kinds: {', '.join(FAULT_KINDS)}"
            )
        if not 0 <= rate <= 1:
            raise ValueError("rate must be from 0 to 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay must not be negative")
        chosen = None
        if rate > 0:
            chosen = _RandomFaults(
                rate, tuple(kinds), random.Random(seed), int(retry_after), float(delay), path_prefix
            )
        with self._lock:
            self._random_faults = chosen

    @admin_operation
    def fault_counts(self) -> dict[str, int]:
        """How many API requests each kind of fault has hit so far."""
        with self._lock:
            return dict(self.faults_fired)

    @admin_operation
    def faults(self) -> list[dict[str, Any]]:
        """The faults still pending, in the order they will fire."""
        return [f.as_dict() for f in self.pending_faults]

    @admin_operation
    def clear_faults(self) -> None:
        """Drop the queued faults and stop the random ones."""
        with self._lock:
            self._faults.clear()
            self._random_faults = None

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return [replace(f) for f in self._faults]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
            chaos = self._random_faults
            if chaos is not None and chaos.matches(path) and chaos.rng.random() < chaos.rate:
                kind = chaos.rng.choice(chaos.kinds)
                return Fault(kind, 0, chaos.retry_after, chaos.delay, chaos.path_prefix)
        return None

    @admin_operation(name="requests_seen")
    def _requests_seen(self) -> list[tuple[str, str, int]]:
        """The API requests answered so far: method, path, status."""
        with self._lock:
            return list(self.requests_seen)

    @admin_operation
    def clear_requests(self) -> None:
        with self._lock:
            self.requests_seen.clear()

    def requests_to(self, path_prefix: str) -> list[tuple[str, str, int]]:
        with self._lock:
            return [r for r in self.requests_seen if r[1].startswith(path_prefix)]

    @admin_operation
    def reset_rate_limits(self) -> None:
        """Forget every account's rate-limit counters."""
        with self._rate:
            for account in self.accounts.values():
                for value in getattr(account, "__dict__", {}).values():
                    if isinstance(value, RollingWindow | DailyQuota | FixedWindow):
                        value.clear()


def iter_query_list(request: Request, name: str) -> Iterator[str]:
    """Values of a list query parameter given repeated and/or comma-separated."""
    for value in request.query.get(name, ()):
        for part in value.split(","):
            part = part.strip()
            if part:
                yield part
