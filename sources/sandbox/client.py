"""``SandboxClient``: any sandbox's admin operations, from another process.

``client.call("update", token, "contacts", 12, {"jobtitle": "CEO"})``, or the same as
``client.update(...)``: positional arguments are named from the sandbox's operations listing,
values are sent as JSON (datetimes as ISO text), and the answer is the operation's return
value. A refusal raises what the method itself raises in-process, so code that drives a
sandbox reads the same either way: ``SandboxNotFound`` is a ``KeyError``, ``SandboxRefused`` a
``ValueError``, and both are ``SandboxAdminError``, whose message is the sandbox's one line.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Self

import requests
from pydantic_core import to_jsonable_python

from sources.errors import SyncsError

OPERATIONS_PATH = "/_sandbox/operations"


class SandboxAdminError(SyncsError):
    """A sandbox refused an admin operation, or did not answer."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SandboxNotFound(SandboxAdminError, KeyError):
    """The operation, or something it names, does not exist (HTTP 404)."""


class SandboxRefused(SandboxAdminError, ValueError):
    """The operation's arguments were wrong (HTTP 400)."""


class SandboxUnreachable(SandboxAdminError):
    """Nothing answered at the sandbox's URL."""


class SandboxClient:
    """Calls the admin operations of the sandbox at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self._listing: dict[str, dict[str, Any]] | None = None

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise SandboxUnreachable(f"no sandbox answers at {self.base_url} ({reason})") from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            text = message or f"{method} {path} answered {response.status_code}"
            error = {404: SandboxNotFound, 400: SandboxRefused}.get(response.status_code)
            raise (error or SandboxAdminError)(text)
        return body

    def operations(self) -> dict[str, dict[str, Any]]:
        """The sandbox's operations by name, as ``GET /_sandbox/operations`` lists them."""
        if self._listing is None:
            listing = self._request("GET", OPERATIONS_PATH)["operations"]
            self._listing = {op["name"]: op for op in listing}
        return self._listing

    def call(self, operation: str, /, *args: Any, **kwargs: Any) -> Any:
        """Run ``operation`` with these arguments; its return value."""
        arguments = dict(kwargs)
        if args:
            described = self.operations().get(operation)
            if described is None:
                raise SandboxNotFound(
                    f"the sandbox has no operation {operation!r}; "
                    f"it has: {', '.join(self.operations())}"
                )
            names = [p["name"] for p in described["parameters"] if not p["keyword_only"]]
            if len(args) > len(names):
                raise SandboxRefused(
                    f"{operation} takes {len(names)} positional arguments "
                    f"({', '.join(names)}), got {len(args)}"
                )
            for name, value in zip(names, args, strict=False):
                if name in arguments:
                    raise SandboxRefused(f"{operation}: {name} given twice")
                arguments[name] = value
        payload = to_jsonable_python(arguments)
        return self._request("POST", f"{OPERATIONS_PATH}/{operation}", payload)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return partial(self.call, name)

    def health(self) -> dict[str, Any]:
        return dict(self.call("health"))

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the sandbox answers (e.g. right after spawning it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except SandboxAdminError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def requests_seen(self) -> list[tuple[str, str, int]]:
        """The API requests the sandbox answered: method, path, status."""
        return [(str(m), str(p), int(s)) for m, p, s in self.call("requests_seen")]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
