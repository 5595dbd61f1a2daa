"""Loopback simulators ("sandboxes") of the external APIs the integrations read.

No external API is reachable from tests or the demo, so each integration ships a sandbox that
answers with the provider's documented shapes, status codes, headers and failure modes. The
production HTTP client talks to it unchanged; only ``base_url`` differs. This module holds what
every sandbox shares:

* ``SandboxServer``: a standard-library HTTP/1.1 server on 127.0.0.1 in a daemon thread, with a
  route table that subclasses fill, a request log, and fault injection (429 with
  ``Retry-After``, 500, slow answers, connections cut mid-body) so retry and resume logic is
  exercised through real sockets rather than mocks.
* Admin endpoints under ``/_sandbox/`` (never authenticated, never faulted, never logged) so a
  sandbox running in another process (``syncs sandbox ...``, the benchmark) can be driven.
* ``SandboxClient``: drives a remote sandbox through those admin endpoints.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import requests

from sources.spec import DemoAccount

FAULT_KINDS = ("429", "500", "slow", "cut")
ADMIN_PREFIX = "/_sandbox/"
JSON_CONTENT_TYPE = "application/json;charset=utf-8"


@dataclass(slots=True)
class Request:
    """One parsed HTTP request as a route handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

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

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE


class SandboxError(Exception):
    """Raised by a handler to answer with the integration's error body."""

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


def _fault_from_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or "kind" not in payload:
        raise SandboxError(400, "body must be a JSON object with 'kind'", "VALIDATION_ERROR")
    allowed = {"kind", "count", "retry_after", "delay", "path_prefix"}
    unknown = set(payload) - allowed
    if unknown:
        raise SandboxError(400, f"unknown fault fields: {sorted(unknown)}", "VALIDATION_ERROR")
    return payload


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
        response, cut = self.server.sandbox._respond(request)
        self._write(response, cut)

    def _write(self, response: Response, cut: bool) -> None:
        body = response.body
        declared = len(body)
        if cut:
            declared = max(declared, 1)
            body = body[: len(body) // 2]
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


class SandboxServer:
    """Base of every integration's sandbox: routing, request log, faults, admin endpoints.

    Subclasses register routes with ``route()`` (API and admin alike) and override
    ``error_body()`` to format errors the way their provider does. Route handlers take a
    ``Request`` and return a ``Response`` or raise ``SandboxError``.
    """

    name = "sandbox"
    rate_limit_message = "rate limit exceeded"
    rate_limit_category = "RATE_LIMIT"
    server_error_message = "internal error"
    server_error_category = "INTERNAL_ERROR"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._routes: list[_Route] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.requests_seen: list[tuple[str, str, int]] = []
        self.handler_errors: list[str] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.route("GET", r"/_sandbox/health", self._admin_health)
        self.route("GET", r"/_sandbox/faults", self._admin_list_faults)
        self.route("POST", r"/_sandbox/faults", self._admin_add_fault)
        self.route("DELETE", r"/_sandbox/faults", self._admin_clear_faults)
        self.route("GET", r"/_sandbox/requests", self._admin_requests)
        self.route("DELETE", r"/_sandbox/requests", self._admin_clear_requests)

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

        Named groups of the pattern are passed to the handler as ``request.params``. Paths
        under ``/_sandbox/`` are admin routes: not authenticated, faulted or logged.
        """
        self._routes.append(_Route(method.upper(), re.compile(pattern), handler))

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

    def _respond(self, request: Request) -> tuple[Response, bool]:
        """The response to send and whether to cut the connection mid-body."""
        admin = request.path.startswith(ADMIN_PREFIX)
        fault = None if admin else self._take_fault(request.path)
        cut = False
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
            cut = fault is not None and fault.kind == "cut"
            response = self._handle(request)
        if not admin:
            with self._lock:
                self.requests_seen.append((request.method, request.path, response.status))
        return response, cut

    def _handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except SandboxError as exc:
            return self.error_response(exc.status, exc.message, exc.category, exc.headers)
        except Exception:
            with self._lock:
                self.handler_errors.append(traceback.format_exc())
            return self.error_response(500, self.server_error_message, self.server_error_category)

    # errors

    not_found_category = "NOT_FOUND"
    bad_request_category = "BAD_REQUEST"

    def _admin_call(self, action: Callable[[], Any], status: int = 200) -> Response:
        """Run an admin action; unknown things are 404, bad values 400, in the API's words."""
        try:
            return json_response(action(), status)
        except KeyError as exc:
            raise SandboxError(404, str(exc.args[0]), self.not_found_category) from None
        except ValueError as exc:
            raise SandboxError(400, str(exc), self.bad_request_category) from None

    def _payload(self, request: Request) -> dict[str, Any]:
        payload = request.json()
        if payload is None:
            return {}
        if not isinstance(payload, dict):
            raise SandboxError(400, "body must be a JSON object", self.bad_request_category)
        return payload

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """The provider's JSON error body; subclasses override to match their API."""
        return {"status": "error", "message": message, "category": category}

    def error_response(
        self,
        status: int,
        message: str,
        category: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return json_response(self.error_body(status, message, category), status, headers)

    def fault_headers(self, request: Request, status: int) -> dict[str, str]:
        """Extra headers on an injected 429/500 (e.g. the provider's rate-limit headers)."""
        return {}

    # faults

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        path_prefix: str | None = None,
    ) -> None:
        """Make the next ``count`` non-admin requests under ``path_prefix`` fail as ``kind``.

        ``"429"``: rate-limit error with ``Retry-After: retry_after``; ``"500"``: server error;
        ``"slow"``: answer normally after ``delay`` seconds; ``"cut"``: send the headers and half
        of the body, then close the connection. Faults queue up in the order injected.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay must not be negative")
        fault = Fault(kind, int(count), int(retry_after), float(delay), path_prefix)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

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
        return None

    # request log

    def clear_requests(self) -> None:
        with self._lock:
            self.requests_seen.clear()

    def requests_to(self, path_prefix: str) -> list[tuple[str, str, int]]:
        with self._lock:
            return [r for r in self.requests_seen if r[1].startswith(path_prefix)]

    # admin endpoints

    def _admin_health(self, request: Request) -> Response:
        return json_response({"status": "ok", "sandbox": self.name})

    def _admin_list_faults(self, request: Request) -> Response:
        return json_response({"faults": [f.as_dict() for f in self.pending_faults]})

    def _admin_add_fault(self, request: Request) -> Response:
        payload = _fault_from_payload(request.json())
        try:
            self.inject_fault(
                str(payload["kind"]),
                count=int(payload.get("count", 1)),
                retry_after=int(payload.get("retry_after", 1)),
                delay=float(payload.get("delay", 2.0)),
                path_prefix=payload.get("path_prefix"),
            )
        except (TypeError, ValueError) as exc:
            raise SandboxError(400, str(exc), "VALIDATION_ERROR") from None
        return json_response({"faults": [f.as_dict() for f in self.pending_faults]}, 201)

    def _admin_clear_faults(self, request: Request) -> Response:
        self.clear_faults()
        return json_response({"faults": []})

    def _admin_requests(self, request: Request) -> Response:
        with self._lock:
            seen = [list(r) for r in self.requests_seen]
        return json_response({"requests": seen})

    def _admin_clear_requests(self, request: Request) -> Response:
        self.clear_requests()
        return json_response({"requests": []})


class SandboxAdminError(RuntimeError):
    """An admin endpoint of a remote sandbox refused a request."""


class SandboxClient:
    """Drives a sandbox in another process through its ``/_sandbox/`` admin endpoints."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        response = self.session.request(
            method,
            f"{self.base_url}{path}",
            json=payload,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise SandboxAdminError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sandbox/health"))

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the sandbox answers its health check (e.g. right after spawning it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except (requests.ConnectionError, SandboxAdminError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        path_prefix: str | None = None,
    ) -> None:
        self._call(
            "POST",
            "/_sandbox/faults",
            {
                "kind": kind,
                "count": count,
                "retry_after": retry_after,
                "delay": delay,
                "path_prefix": path_prefix,
            },
        )

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sandbox/faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def requests_seen(self) -> list[tuple[str, str, int]]:
        rows = self._call("GET", "/_sandbox/requests")["requests"]
        return [(str(m), str(p), int(s)) for m, p, s in rows]

    def clear_requests(self) -> None:
        self._call("DELETE", "/_sandbox/requests")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_query_list(request: Request, name: str) -> Iterator[str]:
    """Values of a list query parameter given repeated and/or comma-separated."""
    for value in request.query.get(name, ()):
        for part in value.split(","):
            part = part.strip()
            if part:
                yield part


@dataclass
class SandboxDemo:
    """A started sandbox as ``syncs demo`` and ``make dev`` use it: its customers, and a
    ``change`` that alters one customer's data between rounds (with ``deep``, also in ways
    only a full refresh can notice). Each integration's ``demo.py`` subclasses it."""

    sandbox: SandboxServer
    accounts: list[DemoAccount] = field(default_factory=list)
    step: int = 0

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def stop(self) -> None:
        self.sandbox.stop()

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        raise NotImplementedError
