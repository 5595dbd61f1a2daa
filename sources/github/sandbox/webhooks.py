"""The GitHub sandbox's repository webhooks: the hooks API and the events GitHub sends.

``POST /repos/{owner}/{repo}/hooks`` (``name`` ``web``, ``config`` with ``url``,
``content_type`` ``json`` and ``secret``, ``events``, ``active``) creates a hook and sends
it a ``ping``; ``GET`` lists or reads hooks (the secret shown as ``********``), ``DELETE``
removes one (204). When an issue or pull request changes the hook gets what GitHub sends:
an ``issues`` event (``opened``, ``edited``, ``closed``, ``reopened``, ``deleted``,
``transferred``) or a ``pull_request`` event (``opened``, ``edited``, ``closed``,
``reopened``) with the whole object, ``repository`` and ``sender``, one event a request,
with ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a GUID), ``X-GitHub-Hook-ID`` and
``X-Hub-Signature-256`` (``sha256=`` and the hex HMAC-SHA256 of the body under the hook's
secret). GitHub does not retry a failed delivery on its own; neither does the sandbox.

A hook is a kit subscription of the account whose event types are ``<repository>:<event>``
(every type a hook takes in its repository), so only that repository's events reach it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sources.github.sandbox.state import Account, IssueState, Repo, render_issue, render_pull
from sources.github.sandbox.state import render_repo as _render_repo
from sources.sandbox.server import Request, Response, SandboxError, json_bytes, json_response
from sources.sandbox.webhooks import Event, Subscription, WebhookRequest

if TYPE_CHECKING:
    from sources.sandbox.webhooks import Subscriptions

HOOK_EVENTS = ("issues", "pull_request")
DOCS = "https://docs.github.com/rest/repos/webhooks"


class GitHubWebhooks:
    """Mixed into ``GitHubSandbox`` (a ``WebhookSandbox``)."""

    webhook_batch_size = 1
    _hook_ids = itertools.count(480_000_001)

    if TYPE_CHECKING:
        subscriptions: Subscriptions
        base_url_or_default: str

        def emit(self, account: str, event_type: str, data: dict[str, Any]) -> Event: ...
        def api(self, method: str, pattern: str, handler: Any, *, limit: str = ...) -> None: ...
        def _find_repo(self, request: Request, account: Account | None) -> Repo: ...

    def _route_hooks(self, repo_pattern: str) -> None:
        self._hooks: dict[int, dict[str, Any]] = {}
        hooks = repo_pattern + r"/hooks"
        self.api("GET", hooks, self._list_hooks)
        self.api("POST", hooks, self._create_hook)
        self.api("GET", hooks + r"/(?P<hook_id>\d+)", self._get_hook)
        self.api("DELETE", hooks + r"/(?P<hook_id>\d+)", self._delete_hook)

    # the hooks API

    def _render_hook(self, hook: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url_or_default}/repos/{hook['repository']}/hooks/{hook['id']}"
        return {
            "type": "Repository",
            "id": hook["id"],
            "name": "web",
            "active": hook["active"],
            "events": hook["events"],
            "config": {
                "content_type": hook["content_type"],
                "insecure_ssl": "0",
                "url": hook["url"],
                **({"secret": "********"} if hook["secret"] else {}),
            },
            "updated_at": hook["created_at"],
            "created_at": hook["created_at"],
            "url": url,
            "test_url": f"{url}/test",
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    def _repo_hooks(self, repo: Repo) -> list[dict[str, Any]]:
        return [h for h in self._hooks.values() if h["repository"] == repo.full_name]

    def _list_hooks(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        return json_response([self._render_hook(h) for h in self._repo_hooks(repo)])

    def _hook(self, request: Request, account: Account | None) -> dict[str, Any]:
        repo = self._find_repo(request, account)
        hook = self._hooks.get(int(request.params["hook_id"]))
        if hook is None or hook["repository"] != repo.full_name:
            raise SandboxError(404, "Not Found", DOCS)
        return hook

    def _get_hook(self, request: Request, account: Account | None) -> Response:
        return json_response(self._render_hook(self._hook(request, account)))

    def _delete_hook(self, request: Request, account: Account | None) -> Response:
        hook = self._hook(request, account)
        del self._hooks[hook["id"]]
        self.subscriptions.remove(hook["subscription"])
        return Response(204)

    def _create_hook(self, request: Request, account: Account | None) -> Response:
        repo = self._find_repo(request, account)
        assert account is not None
        body = request.json()
        if not isinstance(body, dict):
            raise SandboxError(400, "Problems parsing JSON", DOCS)
        unknown = sorted(set(body) - {"name", "config", "events", "active"})
        if unknown:
            raise SandboxError(
                400, f"The field '{unknown[0]}' is not simulated by this sandbox.", DOCS
            )
        config = body.get("config")
        if not isinstance(config, dict) or not str(config.get("url", "")).startswith("http"):
            raise SandboxError(422, "Validation Failed: config.url is missing or not a URL", DOCS)
        unknown = sorted(set(config) - {"url", "content_type", "secret", "insecure_ssl"})
        if unknown:
            raise SandboxError(
                400, f"The field 'config.{unknown[0]}' is not simulated by this sandbox.", DOCS
            )
        if config.get("content_type", "form") != "json":
            raise SandboxError(
                400, "This sandbox sends content_type json only; set config.content_type", DOCS
            )
        events = list(body.get("events") or ["push"])
        wanted = [e for e in events if e in HOOK_EVENTS]
        if len(wanted) != len(events):
            others = sorted(set(events) - set(HOOK_EVENTS))
            raise SandboxError(
                400, f"The sandbox sends only issues and pull_request events, not {others}", DOCS
            )
        hook_id = next(self._hook_ids)
        secret = str(config.get("secret") or "")
        subscription = self.subscriptions.add(
            account.token,
            str(config["url"]),
            secret or "-",
            tuple(f"{repo.full_name}:{e}" for e in (*wanted, "ping")),
        )
        hook = {
            "id": hook_id,
            "repository": repo.full_name,
            "repository_id": repo.id,
            "url": str(config["url"]),
            "content_type": "json",
            "secret": secret,
            "events": wanted,
            "active": bool(body.get("active", True)),
            "subscription": subscription.id,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._hooks[hook_id] = hook
        self.emit(
            account.token,
            f"{repo.full_name}:ping",
            {
                "zen": "Keep it logically awesome.",
                "hook_id": hook_id,
                "hook": self._render_hook(hook),
                "repository": _render_repo(repo, self.base_url_or_default),
                "sender": {"login": account.user.login, "id": account.user.id},
            },
        )
        return json_response(self._render_hook(hook), 201)

    # events

    def emit_item(
        self,
        account: Account,
        repo: Repo,
        item: IssueState,
        action: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """What GitHub sends the repository's hooks when ``item`` changed by ``action``."""
        api = self.base_url_or_default
        if item.pull is not None:
            event, key, body = (
                "pull_request",
                "pull_request",
                render_pull(repo, account, item, api, single=True),
            )
        else:
            event, key, body = (
                "issues",
                "issue",
                render_issue(repo, account, item, api, single=True),
            )
        payload = {
            "action": action,
            key: body,
            **({"number": item.number} if key == "pull_request" else {}),
            **(extra or {}),
            "repository": _render_repo(repo, api),
            "sender": {"login": account.user.login, "id": account.user.id},
        }
        self.emit(account.token, f"{repo.full_name}:{event}", payload)

    def render_webhook(self, subscription: Subscription, events: list[Event]) -> bytes:
        (event,) = events
        return json_bytes(event.data)

    def sign_webhook(self, secret: str, request: WebhookRequest) -> dict[str, str]:
        (event,) = request.events
        name = event.type.rsplit(":", 1)[1]
        hook = next(
            (h for h in self._hooks.values() if h["subscription"] == request.subscription.id),
            None,
        )
        headers = {
            "X-GitHub-Event": name,
            "X-GitHub-Delivery": str(uuid.UUID(request.delivery_id)),
            "X-GitHub-Hook-ID": str(hook["id"] if hook else 0),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(hook["repository_id"] if hook else 0),
            "User-Agent": "GitHub-Hookshot/sandbox",
        }
        if hook is None or hook["secret"]:
            digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return headers
