"""``syncs serve``: the records API (Starlette on uvicorn), the providers' webhooks, the
applier of their events and the webhook dispatcher.

The application that embeds syncs gets a webhook after every sync, then reads exactly the
changed records from its cursor here; it can also follow the change-event feed, see each
sync's status and run a sync now. Providers post their webhooks to
``/webhooks/{integration}`` (``pipelines.ingress``), which take no API key: the provider's
signature is their check. Every other endpoint but ``/health`` and ``/openapi.json`` needs
the bearer API key.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pipelines import settings
from pipelines.api import queries as api_queries
from pipelines.api.params import (
    CHANGES,
    INBOX,
    RECORDS,
    VERSIONS,
    BadParameter,
    Param,
    parse_query,
)
from pipelines.api.queries import NotFound, jsonable
from pipelines.api.triggers import MODES, Busy, SyncTriggers
from pipelines.cli.arguments import PORT
from pipelines.engine.writer import Writer
from pipelines.home import Home
from pipelines.ingress.applier import Applier
from pipelines.ingress.inbox import STATUSES, Inbox
from pipelines.ingress.receive import Ingress, TooLarge
from pipelines.notify.dispatcher import Attempt, Dispatcher
from pipelines.runs import after_each_run
from pipelines.store.api_keys import ensure_api_key, key_matches
from sources.errors import ConfigError, SyncsError

log = logging.getLogger(__name__)
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})
PROVIDER_WEBHOOKS = "/webhooks/"
# How long the applier's warehouse connection stays open after a commit for the next one:
# reopening costs a checkpoint (about 0.2 s) that a burst of webhooks would pay each time.
APPLIER_LINGER = 0.5


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=jsonable, separators=(",", ":")).encode()


def error(status: int, code: str, message: str, **extra: Any) -> JSON:
    return JSON({"error": code, "message": message, **extra}, status_code=status)


class RequireApiKey:
    """Refuses (401) every request without ``Authorization: Bearer <a valid key>``."""

    def __init__(self, app: ASGIApp, key_hashes: frozenset[str]) -> None:
        self.app = app
        self.key_hashes = key_hashes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in PUBLIC_PATHS
            or (scope["path"].startswith(PROVIDER_WEBHOOKS) and scope["method"] == "POST")
        ):
            await self.app(scope, receive, send)
            return
        scheme, _, key = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            response = error(
                401, "unauthorized", "missing API key; send the header Authorization: Bearer <key>"
            )
        elif not key_matches(key.strip(), self.key_hashes):
            response = error(
                401,
                "unauthorized",
                "invalid API key; use the key syncs serve printed or SYNCS_API_KEY",
            )
        else:
            await self.app(scope, receive, send)
            return
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


def _query(request: Request, params: tuple[Param, ...]) -> dict[str, Any]:
    return parse_query(request.query_params.multi_items(), params, request.url.path)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    home: Home, key_hashes: frozenset[str], *, ingress: Ingress | None = None
) -> Starlette:
    """The API over one ``SYNCS_HOME``; only requests with one of these key hashes pass.
    ``ingress`` receives the providers' webhooks (one that wakes nothing if not given)."""
    triggers = SyncTriggers(home)
    ingress = ingress or Ingress(home)
    inbox = Inbox(home)

    async def provider_webhook(request: Request) -> Response:
        integration = request.path_params["integration"]
        try:
            body = await _read_body(request, ingress.max_bytes)
        except TooLarge:
            log.warning("refused a %s webhook over %d bytes", integration, ingress.max_bytes)
            return error(
                413,
                "too_large",
                f"the body is over {ingress.max_bytes} bytes (SYNCS_WEBHOOK_MAX_BYTES)",
            )
        answer = await run_in_threadpool(
            ingress.receive,
            integration,
            request.path_params.get("connection_id"),
            method=request.method,
            own_base=f"{request.url.scheme}://{request.url.netloc}",
            path=request.url.path,
            query=request.url.query,
            headers=dict(request.headers),
            body=body,
        )
        if answer.raw is not None:
            return Response(answer.raw, status_code=answer.status, media_type=answer.content_type)
        return JSON(dict(answer.body or {}), status_code=answer.status)

    def inbox_events(request: Request) -> JSON:
        q = _query(request, INBOX)
        if q["status"] is not None and q["status"] not in STATUSES:
            raise BadParameter("status", f"status takes {', '.join(STATUSES)}, got {q['status']!r}")
        events = inbox.list(
            status=q["status"],
            integration=q["integration"],
            connection_id=q["connection_id"],
            after=q["after"],
            limit=q["limit"],
        )
        return JSON(
            {
                "events": events,
                "next_after": events[-1]["inbox_id"] if events else q["after"],
                "has_more": len(events) == q["limit"],
                "counts": inbox.counts(),
            }
        )

    def records(request: Request) -> JSON:
        q = _query(request, RECORDS)
        return JSON(
            api_queries.read_records(
                home,
                integration=q["integration"],
                model=q["model"],
                connection_id=q["connection_id"],
                cursor=q["cursor"],
                modified_after=q["modified_after"],
                actions=q["filter"],
                limit=q["limit"],
                ids=q["ids"],
                as_of=q["as_of"],
            )
        )

    def record_versions(request: Request) -> JSON:
        q = _query(request, VERSIONS)
        return JSON(
            api_queries.read_versions(
                home,
                integration=request.path_params["integration"],
                model=request.path_params["model"],
                connection_id=q["connection_id"],
                record_id=request.path_params["record_id"],
                cursor=q["cursor"],
                limit=q["limit"],
            )
        )

    def changes(request: Request) -> JSON:
        q = _query(request, CHANGES)
        if q["model"] is not None and q["integration"] is None:
            raise BadParameter("model", "model needs integration: pass both")
        return JSON(
            api_queries.read_changes(
                home,
                connection_id=q["connection_id"],
                integration=q["integration"],
                model=q["model"],
                cursor=q["cursor"],
                actions=q["filter"],
                limit=q["limit"],
            )
        )

    def connection_syncs(request: Request) -> JSON:
        _query(request, ())
        connection_id = request.path_params["connection_id"]
        status = api_queries.sync_status(home, connection_id)
        running = triggers.running(connection_id)
        for sync in status["syncs"]:
            sync["running"] = running is not None and sync["sync"] in running.syncs
        return JSON(status)

    async def trigger(request: Request) -> JSON:
        _query(request, ())
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise BadParameter(
                "body",
                'the body must be a JSON object like {"connection_id": "acme", "mode": "incremental"}',
            )
        unknown = sorted(set(body) - {"connection_id", "sync", "mode", "confirm_deletions"})
        if unknown:
            raise BadParameter(
                unknown[0],
                f"unknown field {unknown[0]!r}; give connection_id, sync, mode and "
                "confirm_deletions",
            )
        connection_id, sync, mode = body.get("connection_id"), body.get("sync"), body.get("mode")
        confirm = body.get("confirm_deletions", False)
        if not isinstance(confirm, bool):
            raise BadParameter("confirm_deletions", "confirm_deletions must be true or false")
        if not isinstance(connection_id, str) or not connection_id:
            raise BadParameter("connection_id", "connection_id is required (a string)")
        if sync is not None and not isinstance(sync, str):
            raise BadParameter("sync", "sync must be a string, or left out for every sync")
        mode = mode if mode is not None else "incremental"
        if mode not in MODES:
            raise BadParameter("mode", f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if confirm and mode == "incremental":
            raise BadParameter(
                "confirm_deletions",
                "confirm_deletions applies the deletions a full listing finds: "
                'give "mode": "full" (or "reset")',
            )
        connection = api_queries.connection(home, connection_id)
        if sync is not None and sync not in connection.spec.syncs:
            raise BadParameter(
                "sync",
                f"{connection.integration} has no sync {sync!r}; its syncs: "
                f"{', '.join(connection.spec.syncs)}",
            )
        started = triggers.start(connection_id, sync, mode, confirm_deletions=confirm)
        return JSON(
            started.describe(),
            status_code=202,
            headers={"Location": f"/syncs/triggers/{started.trigger_id}"},
        )

    def trigger_status(request: Request) -> JSON:
        _query(request, ())
        found = triggers.get(request.path_params["trigger_id"])
        if found is None:
            raise NotFound(f"unknown trigger {request.path_params['trigger_id']!r}")
        return JSON(found.describe())

    def health(request: Request) -> JSON:
        return JSON({"status": "ok"})

    def openapi(request: Request) -> JSON:
        return JSON(openapi_document())

    async def bad_parameter(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadParameter)
        return error(400, "bad_parameter", str(exc), parameter=exc.parameter)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return error(400, "bad_request", str(exc))

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, "not_found", str(exc))

    async def busy(request: Request, exc: Exception) -> Response:
        return error(409, "conflict", str(exc))

    async def syncs_error(request: Request, exc: Exception) -> Response:
        status = 503 if getattr(exc, "retryable", False) else 500
        return error(status, "unavailable" if status == 503 else "error", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = (
            f"no such endpoint {request.url.path}; see /openapi.json"
            if exc.status_code == 404
            else f"{request.method} is not allowed on {request.url.path}"
            if exc.status_code == 405
            else str(exc.detail)
        )
        return error(
            exc.status_code, "not_found" if exc.status_code == 404 else "bad_request", message
        )

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("records API request failed", exc_info=exc)
        return error(500, "internal", "internal error; see the server's log")

    handlers: dict[Any, Callable[..., Any]] = {
        BadParameter: bad_parameter,
        NotFound: not_found,
        Busy: busy,
        ConfigError: bad_request,
        SyncsError: syncs_error,
        HTTPException: http_error,
        Exception: internal,
    }
    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/openapi.json", openapi),
            Route("/records", records),
            Route("/records/{integration}/{model}/{record_id}/versions", record_versions),
            Route("/changes", changes),
            Route("/connections/{connection_id}/syncs", connection_syncs),
            Route("/syncs/trigger", trigger, methods=["POST"]),
            Route("/syncs/triggers/{trigger_id}", trigger_status),
            Route("/inbox", inbox_events),
            Route("/webhooks/{integration}", provider_webhook, methods=["POST"]),
            Route("/webhooks/{integration}/{connection_id}", provider_webhook, methods=["POST"]),
        ],
        exception_handlers=handlers,
    )
    app.add_middleware(RequireApiKey, key_hashes=key_hashes)
    app.state.triggers = triggers
    return app


def openapi_document() -> dict[str, Any]:
    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def answers(ok: int, schema: str, *codes: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            str(ok): {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}}
        }
        texts = {
            400: "a bad parameter, named",
            401: "no valid API key",
            404: "unknown connection, integration or model",
            409: "the connection is already running the sync (a trigger, `syncs run` or Dagster)",
        }
        for code in (*codes, 401):
            out[str(code)] = {
                "description": texts[code],
                "content": {"application/json": {"schema": ref("Error")}},
            }
        return out

    path_param = {
        "name": "connection_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    nullable_int = {"type": ["integer", "null"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "syncs records API",
            "version": "1",
            "description": "Read the records syncs keeps, from a cursor, after a webhook said "
            "what changed.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "parameter": {"type": "string"},
                    },
                    "required": ["error", "message"],
                },
                "Metadata": {
                    "type": "object",
                    "properties": {
                        "first_seen_at": {"type": "string", "format": "date-time"},
                        "last_modified_at": {"type": "string", "format": "date-time"},
                        "last_action": {"enum": ["ADDED", "UPDATED", "DELETED"]},
                        "deleted_at": {"type": ["string", "null"], "format": "date-time"},
                        "cursor": {"type": "integer"},
                        "run_id": {"type": "string"},
                        "sync_type": {
                            "enum": ["INITIAL", "INCREMENTAL", "FULL", "WEBHOOK", "ACTION", None],
                            "description": "where the record's last change came from",
                        },
                        "rejected_reason": {"type": ["string", "null"]},
                        "rejected_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "RecordPage": {
                    "type": "object",
                    "properties": {
                        "records": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "_metadata": ref("Metadata"),
                                },
                                "additionalProperties": True,
                            },
                        },
                        "next_cursor": nullable_int,
                        "has_more": {"type": "boolean"},
                    },
                },
                "VersionPage": {
                    "type": "object",
                    "properties": {
                        "integration": {"type": "string"},
                        "model": {"type": "string"},
                        "connection_id": {"type": "string"},
                        "record_id": {"type": "string"},
                        "versions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "_metadata": {
                                        "type": "object",
                                        "properties": {
                                            "valid_from": {"type": "string", "format": "date-time"},
                                            "valid_to": {
                                                "type": ["string", "null"],
                                                "format": "date-time",
                                            },
                                            "last_action": {"type": "string"},
                                            "cursor": {"type": "integer"},
                                        },
                                        "additionalProperties": True,
                                    },
                                },
                                "additionalProperties": True,
                            },
                        },
                        "next_cursor": nullable_int,
                        "has_more": {"type": "boolean"},
                    },
                },
                "ChangePage": {
                    "type": "object",
                    "properties": {
                        "changes": {"type": "array", "items": {"type": "object"}},
                        "next_cursor": nullable_int,
                        "has_more": {"type": "boolean"},
                    },
                },
                "SyncStatus": {"type": "object"},
                "TriggerRequest": {
                    "type": "object",
                    "properties": {
                        "connection_id": {"type": "string"},
                        "sync": {"type": "string"},
                        "mode": {"enum": list(MODES), "default": "incremental"},
                        "confirm_deletions": {
                            "type": "boolean",
                            "default": False,
                            "description": "with mode full or reset: apply every deletion the "
                            "full listing finds, past the mass-deletion limit",
                        },
                    },
                    "required": ["connection_id"],
                    "additionalProperties": False,
                },
                "Trigger": {"type": "object"},
                "Inbox": {"type": "object"},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/records": {
                "get": {
                    "summary": "A connection's records changed after a cursor, in cursor order",
                    "parameters": [p.openapi() for p in RECORDS],
                    "responses": answers(200, "RecordPage", 400, 404),
                }
            },
            "/records/{integration}/{model}/{record_id}/versions": {
                "get": {
                    "summary": "One record's versions, oldest first, each with valid_from and "
                    "valid_to (deleted records keep theirs)",
                    "parameters": [
                        *(
                            {
                                "name": n,
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                            for n in ("integration", "model", "record_id")
                        ),
                        *(p.openapi() for p in VERSIONS),
                    ],
                    "responses": answers(200, "VersionPage", 400, 404),
                }
            },
            "/changes": {
                "get": {
                    "summary": "Change events after a cursor, with the fields that changed",
                    "parameters": [p.openapi() for p in CHANGES],
                    "responses": answers(200, "ChangePage", 400, 404),
                }
            },
            "/connections/{connection_id}/syncs": {
                "get": {
                    "summary": "Each sync of a connection: last run, counts, cursor, next run",
                    "parameters": [path_param],
                    "responses": answers(200, "SyncStatus", 404),
                }
            },
            "/syncs/trigger": {
                "post": {
                    "summary": "Run a connection's syncs now: incremental, full refresh or reset",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ref("TriggerRequest")}},
                    },
                    "responses": answers(202, "Trigger", 400, 404, 409),
                }
            },
            "/syncs/triggers/{trigger_id}": {
                "get": {
                    "summary": "What a triggered sync did",
                    "parameters": [{**path_param, "name": "trigger_id"}],
                    "responses": answers(200, "Trigger", 404),
                }
            },
            "/inbox": {
                "get": {
                    "summary": "Providers' webhook events: received, applied, unmatched, paused",
                    "parameters": [p.openapi() for p in INBOX],
                    "responses": answers(200, "Inbox", 400),
                }
            },
            "/webhooks/{integration}": {
                "post": {
                    "security": [],
                    "summary": "A provider's webhook (checked with the provider's signature)",
                    "parameters": [{**path_param, "name": "integration"}],
                    "responses": {
                        "200": {"description": "kept in the inbox (or a duplicate)"},
                        "400": {"description": "a body that cannot be read"},
                        "401": {"description": "unsigned, forged or expired"},
                        "413": {"description": "over SYNCS_WEBHOOK_MAX_BYTES"},
                    },
                }
            },
            "/health": {"get": {"security": [], "responses": {"200": {"description": "up"}}}},
        },
    }


def bind(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"cannot listen on {host}:{port} ({reason}); choose another --port"
        ) from None
    return sock


class ApiServer:
    """uvicorn serving an app on a bound socket, in a thread (tests, the demo) or blocking."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        self.socket = sock or bind(host, port)
        self.host = host
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.socket.getsockname()[1]}"

    def start(self) -> ApiServer:
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start within 10 s")
            time.sleep(0.01)
        return self

    def run(self) -> None:
        self.server.run(sockets=[self.socket])

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()


def serve(host: str = "127.0.0.1", port: int = 8080, *, new_key: bool = False) -> int:
    settings.check_all()
    home = Home.from_env()
    sock = bind(host, port)
    hashes, shown = ensure_api_key(home, regenerate=new_key)

    def show(attempt: Attempt) -> None:
        from pipelines.cli.webhooks import format_attempt

        print(format_attempt(attempt), flush=True)

    realtime = Realtime(home, on_attempt=show).start()
    app = create_app(home, hashes, ingress=realtime.ingress)
    server = ApiServer(app, host, port, sock=sock)
    if shown:
        print(f"API key (shown once; send it as 'Authorization: Bearer <key>'): {shown}")
    print(
        f"records API on {server.url} (OpenAPI at {server.url}/openapi.json); "
        f"providers' webhooks at {server.url}/webhooks/INTEGRATION; "
        "delivering webhooks; Ctrl-C to stop",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        realtime.stop()
        app.state.triggers.join(timeout=1)
    return 0


class Realtime:
    """What ``syncs serve`` runs beside the API: the ingress of providers' webhooks, the
    applier of their events (woken the moment events are stored) and the dispatcher of the
    app's webhooks (woken the moment a run's messages are written)."""

    def __init__(self, home: Home, *, on_attempt: Any = None) -> None:
        self.dispatcher = Dispatcher(home, on_attempt=on_attempt)
        notify = after_each_run(home)

        def announced(result: Any) -> None:
            notify(result)
            self.dispatcher.wake()

        self.writer = Writer(home, linger=APPLIER_LINGER)
        self.applier = Applier(home, writer=self.writer, on_result=announced)
        self.ingress = Ingress(home, on_stored=self.applier.wake)

    def start(self) -> Realtime:
        self.dispatcher.start()
        self.applier.start()
        return self

    def stop(self) -> None:
        self.applier.stop()
        self.writer.close()
        self.dispatcher.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """uvicorn stops on SIGTERM, then raises it again: end the way Ctrl-C does."""
    raise KeyboardInterrupt


def cmd_serve(args: Any) -> int:
    return serve(args.host, args.port, new_key=args.new_api_key)


def register(sub: Any) -> None:
    srv = sub.add_parser("serve", help="the records API and the webhook dispatcher")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=PORT, default=8080)
    srv.add_argument(
        "--new-api-key", action="store_true", help="replace the generated API key and print it"
    )
    srv.set_defaults(func=cmd_serve)
