"""A loopback simulator of Gong's API v2: calls, transcripts, users and workspaces.

It follows Gong's public documentation closely enough that the production source runs
against it unchanged (only ``base_url`` differs), including what makes Gong awkward to sync:

* HTTP Basic authentication with a company's access key and its secret; 401 otherwise;
* ``GET /v2/calls`` takes an optional ``fromDateTime`` and ``toDateTime`` (ISO 8601 with a
  zone; from inclusive, to exclusive; without them, from the earliest or to the latest call)
  and ``workspaceId``, and filters web-conference calls on their *scheduled* time and the
  others on their start; 100 calls a page; ``records`` carries ``totalRecords``,
  ``currentPageSize``, ``currentPageNumber`` and, only when more pages follow, ``cursor``;
* a filter matching no call is answered 404 with
  ``{"requestId": ..., "errors": ["No calls found corresponding to the provided filters"]}``;
* ``POST /v2/calls/transcript`` takes ``{"filter": {...,"callIds": [...]}, "cursor": ...}``
  and answers ``callTranscripts``: per call its monologues (``speakerId``, ``topic``,
  ``sentences`` with ``start``/``end`` in milliseconds and ``text``);
* ``POST /v2/calls/extensive`` takes the same filter (and ``primaryUserIds``) and answers
  ``calls``, each call's fields in its ``metaData``. Of its ``contentSelector`` it simulates
  ``exposedFields.parties`` (the host, colleagues or the customer's people, each speaker
  with the ``speakerId`` its monologues carry), ``content.topics``, ``interaction.speakers``
  (talk time) and ``interaction.questions``, all derived from the transcript, and
  ``context: "None"``; any other field asked for (trackers, briefs, media URLs, comments,
  CRM context...) is a 400 naming it;
* ``GET /v2/users`` pages the company's users by ``records.cursor`` (``includeAvatars``
  adds the synthetic users of Gong's own staff), ``GET /v2/users/{id}`` reads one, and
  ``GET /v2/workspaces`` lists the company's workspace;
* a query parameter or body field an endpoint does not simulate is a 400 naming it;
* cursors are opaque signed tokens tied to their query (400 for another query or a forgery);
* timestamps are rendered to the second in the company's UTC offset;
* 3 requests a second and 10,000 a day per company, past which 429 with ``Retry-After``;
  no rate-limit headers otherwise;
* a call becomes readable only once Gong has processed it; tests can hold one back.

Besides the kit's faults, ``inject_page_fault("no_cursor")`` leaves ``records.cursor`` out of
a page that has a next one (``totalRecords`` still counts every match), as a misbehaving
API would.

Companies are seeded deterministically (``random.Random`` on the seed, times relative to a
fixed epoch), so the same seed gives identical data on every run.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sources.gong.sandbox.seed import (
    HALF_HOUR_MS,
    SEED_EPOCH,
    Party,
    User,
    numeric_id,
    seed_call,
    seed_parties,
    seed_users,
)
from sources.gong.sandbox.webhooks import GongWebhooks
from sources.sandbox.auth import basic_credentials
from sources.sandbox.limits import DailyQuota, RollingWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Fault,
    Request,
    Response,
    SandboxError,
    json_response,
)
from sources.sandbox.webhooks import WebhookSandbox

_EPOCH_MS = int(SEED_EPOCH.timestamp()) * 1000
_YEAR_MS = 365 * 24 * 3600 * 1000

NO_CALLS_MESSAGE = "No calls found corresponding to the provided filters"
USER_NOT_FOUND = "User not found"
PAGE_FAULTS = ("no_cursor",)
AUTH_MESSAGE = "Authentication failed: the access key or its secret is not valid"
CALL_FIELDS = (
    "id",
    "url",
    "title",
    "scheduled",
    "started",
    "duration",
    "primaryUserId",
    "direction",
    "system",
    "scope",
    "media",
    "language",
    "workspaceId",
    "sdrDisposition",
    "clientUniqueId",
    "customData",
    "purpose",
    "meetingUrl",
    "isPrivate",
    "calendarEventId",
)
TIME_FIELDS = ("started", "scheduled")
FIXED_FIELDS = ("id", "url")
_CURSOR_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=").decode()
CALL_FILTER = ("fromDateTime", "toDateTime", "workspaceId", "callIds")
# contentSelector.exposedFields as Gong documents it: a flag, or an object of flags; the
# (group, flag) pairs the sandbox simulates are those derived from a call's transcript.
EXPOSED_FIELDS: dict[str, tuple[str, ...] | None] = {
    "parties": None,
    "content": (
        "structure",
        "topics",
        "trackers",
        "trackerOccurrences",
        "pointsOfInterest",
        "brief",
        "outline",
        "highlights",
        "callOutcome",
        "keyPoints",
    ),
    "interaction": ("speakers", "video", "personInteractionStats", "questions"),
    "collaboration": ("publicComments",),
    "media": None,
}
SIMULATED_FIELDS = {
    ("parties", None),
    ("content", "topics"),
    ("interaction", "speakers"),
    ("interaction", "questions"),
}
CONTEXTS = ("None", "Basic", "Extended")


def to_ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def render_time(ms: int, offset: timedelta) -> str:
    """Gong's timestamp form: to the second, in the company's offset (``Z`` for UTC)."""
    at = datetime.fromtimestamp(ms // 1000, tz=timezone(offset))
    text = at.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_filter_time(value: Any, name: str) -> int:
    """Epoch milliseconds of an ISO 8601 time with a zone; 400 for anything else."""
    if not isinstance(value, str):
        raise SandboxError(400, f"{name} must be an ISO-8601 date-time string", "BAD_REQUEST")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(400, f"Invalid {name}: {value!r}", "BAD_REQUEST") from None
    if parsed.tzinfo is None:
        raise SandboxError(
            400, f"{name} must have a time zone (Z or an offset such as -07:00)", "BAD_REQUEST"
        )
    return to_ms(parsed)


def _as_ms(value: Any) -> int | None:
    """Epoch milliseconds of a datetime, epoch-millisecond number or ISO text (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_ms(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    try:
        return to_ms(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"invalid time {value!r}; give a datetime or ISO 8601 text") from None


def _call_filter(spec: dict[str, Any]) -> tuple[int | None, int | None, Any, set[str] | None]:
    """A POST body's ``filter``: its time window, workspace and call ids."""
    since = spec.get("fromDateTime")
    until = spec.get("toDateTime")
    since_ms = None if since is None else parse_filter_time(since, "fromDateTime")
    until_ms = None if until is None else parse_filter_time(until, "toDateTime")
    ids = spec.get("callIds")
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(i, str) and i.isdigit() for i in ids)
    ):
        raise SandboxError(400, "callIds must be a list of call id strings", "BAD_REQUEST")
    return since_ms, until_ms, spec.get("workspaceId"), None if ids is None else set(ids)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _request_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(19))


@dataclass(slots=True)
class _Call:
    id: str
    fields: dict[str, Any]
    started_ms: int
    scheduled_ms: int | None
    conference: bool
    transcript: list[dict[str, Any]]
    processed: bool = True
    company: str | None = None
    contact: str | None = None

    @property
    def filter_ms(self) -> int:
        """What Gong's date filters compare: the scheduled time of a web conference."""
        if self.conference and self.scheduled_ms is not None:
            return self.scheduled_ms
        return self.started_ms

    @property
    def order(self) -> tuple[int, int]:
        return (self.filter_ms, int(self.id))


@dataclass
class _Account:
    access_key: str
    secret: str
    seed: int
    workspace_id: str
    offset: timedelta
    rng: random.Random
    workspace_name: str = "Sales"
    users: list[str] = field(default_factory=list)
    people: dict[str, User] = field(default_factory=dict)
    calls: dict[str, _Call] = field(default_factory=dict)
    second_window: RollingWindow = field(default_factory=lambda: RollingWindow(1.0))
    daily: DailyQuota = field(default_factory=DailyQuota)


class GongSandbox(GongWebhooks, WebhookSandbox[_Account]):
    """Gong API v2 (calls, transcripts, users, workspaces) on 127.0.0.1, one company per
    access key.

    ``rate_limit_per_second`` and ``daily_limit`` (None disables either) are the company's
    limits; ``page_size`` the calls or users a listing page holds; ``transcript_page_size``
    the transcripts a page holds (Gong does not document it; smaller than a batch of 100 call
    ids by default, so a batch pages).
    """

    name = "gong"
    account_kind = "access key"
    rate_limit_message = "Too many requests: the API allows 3 calls per second"
    rate_limit_category = "RATE_LIMIT"
    server_error_message = "Internal server error"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = 3,
        daily_limit: int | None = 10_000,
        page_size: int = 100,
        transcript_page_size: int = 50,
    ) -> None:
        super().__init__(host=host, port=port)
        if page_size < 1 or transcript_page_size < 1:
            raise ValueError("page sizes must be at least 1")
        self.rate_limit_per_second = rate_limit_per_second
        self.daily_limit = daily_limit
        self.page_size = page_size
        self.transcript_page_size = transcript_page_size
        self._cursor_key = secrets.token_bytes(32)
        self._route("GET", r"/v2/calls", self._list_calls, (*CALL_FILTER[:3], "cursor"))
        self._route("POST", r"/v2/calls/transcript", self._transcripts)
        self._route("POST", r"/v2/calls/extensive", self._extensive)
        self._route("GET", r"/v2/calls/(?P<id>\d+)", self._get_call)
        self._route("GET", r"/v2/users", self._list_users, ("cursor", "includeAvatars"))
        self._route("GET", r"/v2/users/(?P<id>\d+)", self._get_user)
        self._route("GET", r"/v2/workspaces", self._workspaces)
        self._page_faults: list[Fault] = []

    def _route(
        self,
        method: str,
        pattern: str,
        handler: Callable[[Request, _Account], Response],
        params: Iterable[str] = (),
    ) -> None:
        """An API route taking exactly the query parameters ``params``; any other is a 400."""
        taken = frozenset(params)

        def serve(request: Request, account: _Account) -> Response:
            unknown = sorted(set(request.query) - taken)
            if unknown:
                accepted = ", ".join(sorted(taken)) or "no query parameters"
                raise SandboxError(
                    400,
                    f"query parameter {unknown[0]!r} is not simulated by this sandbox for "
                    f"{method} {request.path} (it takes {accepted})",
                    "BAD_REQUEST",
                )
            return handler(request, account)

        self.api(method, pattern, serve)

    # errors

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """Gong's error shape: a request id and a list of messages."""
        return {"requestId": _request_id(), "errors": [message]}

    # companies and calls (admin operations)

    @admin_operation
    def add_account(
        self,
        access_key: str,
        secret: str,
        *,
        seed: int = 0,
        calls: int = 0,
        workspace_id: str | None = None,
        workspace_name: str = "Sales",
        email_domain: str = "example.com",
        utc_offset_minutes: int = 0,
    ) -> None:
        """Create the company of ``access_key`` holding ``calls`` deterministic seeded calls,
        and users (their people at ``email_domain``) in one workspace."""
        if not access_key or not secret:
            raise ValueError("access_key and secret must be non-empty strings")
        if calls < 0:
            raise ValueError("calls must not be negative")
        rng = random.Random(f"{seed}:gong")
        taken: set[str] = set()
        account = _Account(
            access_key=access_key,
            secret=secret,
            seed=seed,
            workspace_id=workspace_id or numeric_id(rng, taken, 18),
            offset=timedelta(minutes=utc_offset_minutes),
            rng=rng,
            workspace_name=workspace_name,
        )
        account.users = [numeric_id(rng, taken) for _ in range(rng.randint(3, 6))]
        start = _EPOCH_MS - _YEAR_MS
        step = _YEAR_MS / max(calls, 1)
        for i in range(calls):
            moment = start + int((i + rng.random()) * step)
            conference = rng.random() < 0.6
            self._new_call(account, taken, moment, conference, None, processed=True)
        people = random.Random(f"{seed}:gong:users")
        avatar = numeric_id(people, taken)
        profiles = seed_users(people, account.users, avatar, email_domain, _EPOCH_MS)
        account.people = {user.id: user for user in profiles}
        self.accounts.add(access_key, account)

    @admin_operation
    def rotate_secret(self, access_key: str, secret: str | None = None) -> str:
        """Replace the company's secret (as an admin regenerating it does); the new one."""
        with self._data:
            account = self.accounts[access_key]
            account.secret = secret or secrets.token_urlsafe(24)
            return account.secret

    @admin_operation
    def create_call(
        self,
        access_key: str,
        fields: dict[str, Any] | None = None,
        *,
        started: datetime | None = None,
        conference: bool = False,
        transcript: list[dict[str, Any]] | None = None,
        processed: bool = True,
    ) -> dict[str, Any]:
        """Record a call (by default one that just ended); returns it as the API would.

        A web conference is scheduled on the half hour before it starts and filtered on that
        time. Without ``transcript`` one is generated. With ``processed=False`` the call stays
        unreadable until ``finish_processing``.
        """
        fields = dict(fields or {})
        self._check_fields(fields)
        now = time.time_ns() // 1_000_000
        with self._data:
            account = self.accounts[access_key]
            call = self._new_call(
                account, set(account.calls), now, conference, transcript, processed=processed
            )
            if started is not None:
                fields = {**fields, "started": started}
            if "started" not in fields:
                duration = fields.get("duration", call.fields["duration"])
                fields["started"] = now - (duration if isinstance(duration, int) else 0) * 1000
            if "scheduled" not in fields:
                at = _as_ms(fields["started"]) or 0
                fields["scheduled"] = at - at % HALF_HOUR_MS if conference else at
            self._apply(account, call, fields)
            if call.processed:
                self.emit_call(account, call)
            return self._render(account, call)

    @admin_operation
    def update_call(
        self, access_key: str, call_id: str | int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Change a call's fields (``started``/``scheduled`` take a datetime or ISO text)."""
        self._check_fields(fields)
        with self._data:
            account = self.accounts[access_key]
            call = self._call(account, call_id)
            self._apply(account, call, dict(fields))
            return self._render(account, call)

    @admin_operation
    def set_transcript(
        self, access_key: str, call_id: str | int, transcript: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not isinstance(transcript, list) or not all(isinstance(m, dict) for m in transcript):
            raise ValueError("transcript must be a list of monologue objects")
        with self._data:
            call = self._call(self.accounts[access_key], call_id)
            call.transcript = copy.deepcopy(transcript)
            return copy.deepcopy(call.transcript)

    @admin_operation
    def get_transcript(self, access_key: str, call_id: str | int) -> list[dict[str, Any]]:
        with self._data:
            return copy.deepcopy(self._call(self.accounts[access_key], call_id).transcript)

    @admin_operation
    def finish_processing(self, access_key: str, call_id: str | int) -> dict[str, Any]:
        """Make a call held back as unprocessed readable."""
        with self._data:
            account = self.accounts[access_key]
            call = self._call(account, call_id)
            call.processed = True
            self.emit_call(account, call)
            return self._render(account, call)

    @admin_operation
    def delete_call(self, access_key: str, call_id: str | int) -> None:
        """Delete a call and its transcript for good."""
        with self._data:
            account = self.accounts[access_key]
            self._call(account, call_id)
            del account.calls[str(call_id)]

    @admin_operation
    def get_call(self, access_key: str, call_id: str | int) -> dict[str, Any]:
        """A call as the API renders it, processed or not; KeyError if unknown."""
        with self._data:
            account = self.accounts[access_key]
            return self._render(account, self._call(account, call_id))

    @admin_operation
    def call_ids(self, access_key: str) -> list[str]:
        """Ids of the readable calls, in listing order (by filter time, then id)."""
        with self._data:
            account = self.accounts[access_key]
            return [c.id for c in sorted(account.calls.values(), key=_order) if c.processed]

    # the verbs every sandbox has, as ``syncs sandbox gong --url URL VERB KEY calls [ID]``

    @admin_operation
    def create(
        self, access_key: str, object_type: str, fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record a call that just ended, with these fields."""
        _only_calls(object_type)
        return self.create_call(access_key, fields)

    @admin_operation
    def update(
        self, access_key: str, object_type: str, call_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        _only_calls(object_type)
        return self.update_call(access_key, call_id, fields)

    @admin_operation
    def erase(self, access_key: str, object_type: str, call_id: str) -> None:
        _only_calls(object_type)
        self.delete_call(access_key, call_id)

    @staticmethod
    def _call(account: _Account, call_id: str | int) -> _Call:
        call = account.calls.get(str(call_id))
        if call is None:
            raise KeyError(f"unknown call {call_id!r}")
        return call

    @staticmethod
    def _check_fields(fields: dict[str, Any]) -> None:
        unknown = sorted(set(fields) - set(CALL_FIELDS))
        if unknown:
            raise ValueError(f"unknown call fields {unknown}; Gong's call fields: {CALL_FIELDS}")
        fixed = sorted(set(fields) & set(FIXED_FIELDS))
        if fixed:
            raise ValueError(f"call fields {fixed} cannot be changed")

    @staticmethod
    def _apply(account: _Account, call: _Call, fields: dict[str, Any]) -> None:
        if "started" in fields:
            started = _as_ms(fields.pop("started"))
            if started is None:
                raise ValueError("started cannot be removed")
            call.started_ms = started
        if "scheduled" in fields:
            call.scheduled_ms = _as_ms(fields.pop("scheduled"))
        call.fields.update(fields)

    @staticmethod
    def _new_call(
        account: _Account,
        taken: set[str],
        moment: int,
        conference: bool,
        transcript: list[dict[str, Any]] | None,
        *,
        processed: bool,
    ) -> _Call:
        call_id = numeric_id(account.rng, taken)
        seeded = seed_call(account.rng, moment, conference, account.users, account.workspace_id)
        call = _Call(
            id=call_id,
            fields=seeded.fields,
            started_ms=seeded.started_ms,
            scheduled_ms=seeded.scheduled_ms,
            conference=conference,
            transcript=copy.deepcopy(seeded.transcript if transcript is None else transcript),
            processed=processed,
            company=seeded.company,
            contact=seeded.contact,
        )
        account.calls[call_id] = call
        return call

    @staticmethod
    def _render(account: _Account, call: _Call) -> dict[str, Any]:
        values = {
            **call.fields,
            "id": call.id,
            "url": f"https://app.gong.io/call?id={call.id}",
            "started": render_time(call.started_ms, account.offset),
            "scheduled": None
            if call.scheduled_ms is None
            else render_time(call.scheduled_ms, account.offset),
        }
        return {name: values.get(name) for name in CALL_FIELDS}

    # provider hooks: authentication and limits

    def authenticate(self, request: Request) -> _Account:
        """HTTP Basic with the access key and its secret."""
        key, secret = basic_credentials(request) or ("", "")
        account = self.accounts.get(key)
        if account is None or not hmac.compare_digest(account.secret, secret):
            raise SandboxError(401, AUTH_MESSAGE, "UNAUTHORIZED")
        return account

    def charge(self, request: Request, account: _Account | None, limit: str) -> dict[str, str]:
        """The company's daily and per-second limits; Gong sends no rate-limit headers."""
        assert account is not None
        retry = account.daily.check(self.daily_limit)
        if retry:
            raise SandboxError(
                429,
                f"Too many requests: the API allows {self.daily_limit} calls per day",
                "RATE_LIMIT",
                {"Retry-After": str(retry)},
            )
        retry = account.second_window.take(self.rate_limit_per_second)
        if retry:
            raise SandboxError(
                429,
                f"Too many requests: the API allows {self.rate_limit_per_second} calls per second",
                "RATE_LIMIT",
                {"Retry-After": str(retry)},
            )
        account.daily.add()
        return {}

    # paging

    def _cursor(self, fingerprint: str, last: tuple[int, int], page: int) -> str:
        payload = _b64(json.dumps({"q": fingerprint, "after": list(last), "page": page}).encode())
        signed = f"{_CURSOR_HEADER}.{payload}"
        signature = hmac.new(self._cursor_key, signed.encode(), hashlib.sha256).digest()
        return f"{signed}.{_b64(signature)}"

    def _read_cursor(self, token: Any, fingerprint: str) -> tuple[tuple[int, int], int]:
        """The last key a cursor's page ended on and the next page's number."""
        try:
            header, payload, signature = str(token).split(".")
            expected = hmac.new(
                self._cursor_key, f"{header}.{payload}".encode(), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(_unb64(signature), expected):
                raise ValueError("bad signature")
            data = json.loads(_unb64(payload))
            after = (int(data["after"][0]), int(data["after"][1]))
            page = int(data["page"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise SandboxError(400, "Invalid cursor", "BAD_REQUEST") from None
        if data.get("q") != fingerprint:
            raise SandboxError(
                400, "The cursor does not belong to this request's filter", "BAD_REQUEST"
            )
        return after, page

    def _page(
        self,
        account: _Account,
        matches: list[Any],
        fingerprint: str,
        cursor: Any,
        size: int,
        empty: str = NO_CALLS_MESSAGE,
    ) -> tuple[list[Any], dict[str, Any]]:
        """One page of ``matches`` (sorted by their ``order``) after ``cursor``; 404 with
        ``empty`` when nothing is left."""
        page_number = 0
        rest = matches
        if cursor is not None and cursor != "":
            after, page_number = self._read_cursor(cursor, fingerprint)
            rest = [c for c in matches if c.order > after]
        page = rest[:size]
        if not page:
            raise SandboxError(404, empty, "NOT_FOUND")
        records: dict[str, Any] = {
            "totalRecords": len(matches),
            "currentPageSize": len(page),
            "currentPageNumber": page_number,
        }
        if len(rest) > size and not self._take_page_fault():
            records["cursor"] = self._cursor(fingerprint, page[-1].order, page_number + 1)
        return page, records

    @admin_operation
    def inject_page_fault(self, kind: str, *, count: int = 1) -> None:
        """Make the next ``count`` pages that have a next one leave out ``records.cursor``."""
        if kind not in PAGE_FAULTS:
            raise ValueError(f"unknown page fault {kind!r}; expected one of {PAGE_FAULTS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._data:
            self._page_faults.append(Fault(kind, int(count)))

    def _take_page_fault(self) -> bool:
        with self._data:
            if not self._page_faults:
                return False
            fault = self._page_faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._page_faults.pop(0)
            return True

    @staticmethod
    def _fingerprint(account: _Account, *parts: Any) -> str:
        text = json.dumps([account.access_key, *parts], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @staticmethod
    def _matching(
        account: _Account,
        since: int | None,
        until: int | None,
        workspace: str | None,
        call_ids: set[str] | None,
    ) -> list[_Call]:
        calls = [
            c
            for c in account.calls.values()
            if c.processed
            and (since is None or c.filter_ms >= since)
            and (until is None or c.filter_ms < until)
            and (workspace is None or c.fields.get("workspaceId") == workspace)
            and (call_ids is None or c.id in call_ids)
        ]
        calls.sort(key=_order)
        return calls

    # GET /v2/calls

    def _list_calls(self, request: Request, account: _Account) -> Response:
        """Calls of a window; without ``fromDateTime`` from the earliest call, without
        ``toDateTime`` up to the latest."""
        since_text, until_text = request.arg("fromDateTime"), request.arg("toDateTime")
        since = None if since_text is None else parse_filter_time(since_text, "fromDateTime")
        until = None if until_text is None else parse_filter_time(until_text, "toDateTime")
        if since is not None and until is not None and since > until:
            raise SandboxError(400, "fromDateTime must not be after toDateTime", "BAD_REQUEST")
        workspace = request.arg("workspaceId") or None
        fingerprint = self._fingerprint(account, "calls", since, until, workspace)
        with self._data:
            matches = self._matching(account, since, until, workspace, None)
            page, records = self._page(
                account, matches, fingerprint, request.arg("cursor"), self.page_size
            )
            calls = [self._render(account, c) for c in page]
        return json_response({"requestId": _request_id(), "records": records, "calls": calls})

    # GET /v2/calls/{id}

    def _get_call(self, request: Request, account: _Account) -> Response:
        with self._data:
            call = account.calls.get(request.params["id"])
            if call is None or not call.processed:
                raise SandboxError(404, f"Call {request.params['id']} not found", "NOT_FOUND")
            return json_response({"requestId": _request_id(), "call": self._render(account, call)})

    # POST /v2/calls/transcript

    def _transcripts(self, request: Request, account: _Account) -> Response:
        body = _filter_body(request.json(), ("filter", "cursor"), CALL_FILTER)
        since_ms, until_ms, workspace, wanted = _call_filter(body["filter"])
        fingerprint = self._fingerprint(
            account, "transcripts", since_ms, until_ms, workspace, sorted(wanted or ())
        )
        with self._data:
            matches = self._matching(account, since_ms, until_ms, workspace, wanted)
            page, records = self._page(
                account, matches, fingerprint, body.get("cursor"), self.transcript_page_size
            )
            transcripts = [
                {"callId": c.id, "transcript": copy.deepcopy(c.transcript)} for c in page
            ]
        return json_response(
            {"requestId": _request_id(), "records": records, "callTranscripts": transcripts}
        )

    # POST /v2/calls/extensive

    def _extensive(self, request: Request, account: _Account) -> Response:
        """Calls by the filter of ``/v2/calls/transcript`` (and ``primaryUserIds``), each as
        ``{"metaData": <the call as GET /v2/calls renders it>}`` plus what the content
        selector asks for and the sandbox simulates."""
        body = _filter_body(
            request.json(),
            ("filter", "cursor", "contentSelector"),
            (*CALL_FILTER, "primaryUserIds"),
        )
        spec = body["filter"]
        exposed = _content_selector(body.get("contentSelector"))
        since_ms, until_ms, workspace, wanted = _call_filter(spec)
        users = spec.get("primaryUserIds")
        if users is not None and not (
            isinstance(users, list) and all(isinstance(u, str) for u in users)
        ):
            raise SandboxError(400, "primaryUserIds must be a list of user ids", "BAD_REQUEST")
        fingerprint = self._fingerprint(
            account, "extensive", since_ms, until_ms, workspace, sorted(wanted or ()), users
        )
        with self._data:
            matches = self._matching(account, since_ms, until_ms, workspace, wanted)
            if users is not None:
                matches = [c for c in matches if c.fields.get("primaryUserId") in users]
            page, records = self._page(
                account, matches, fingerprint, body.get("cursor"), self.page_size
            )
            calls = [self._extensive_call(account, c, exposed) for c in page]
        return json_response({"requestId": _request_id(), "records": records, "calls": calls})

    def _extensive_call(
        self, account: _Account, call: _Call, exposed: set[tuple[str, str | None]]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"metaData": self._render(account, call)}
        parties = self._parties(account, call)
        if ("parties", None) in exposed:
            out["parties"] = [_render_party(p) for p in parties]
        if ("content", "topics") in exposed:
            out["content"] = {"topics": _topics(call.transcript)}
        interaction: dict[str, Any] = {}
        if ("interaction", "speakers") in exposed:
            interaction["speakers"] = _talk_times(call.transcript, parties)
        if ("interaction", "questions") in exposed:
            interaction["questions"] = _questions(call.transcript, parties)
        if interaction:
            out["interaction"] = interaction
        return out

    @staticmethod
    def _parties(account: _Account, call: _Call) -> list[Party]:
        """The call's participants, the same on every read of an unchanged call."""
        host_id = call.fields.get("primaryUserId")
        speakers = list(
            dict.fromkeys(
                str(m["speakerId"]) for m in call.transcript if m.get("speakerId") is not None
            )
        )
        colleagues = [u for u in account.people.values() if not u.avatar and u.id != host_id]
        return seed_parties(
            random.Random(f"{account.seed}:{call.id}:parties"),
            speakers,
            account.people.get(str(host_id)),
            colleagues,
            internal=call.fields.get("scope") == "Internal",
            conference=call.conference,
            company=call.company,
            contact=call.contact,
        )

    # GET /v2/users, /v2/users/{id}, /v2/workspaces

    def _list_users(self, request: Request, account: _Account) -> Response:
        avatars = _bool_arg(request, "includeAvatars")
        fingerprint = self._fingerprint(account, "users", avatars)
        with self._data:
            people = sorted(
                (u for u in account.people.values() if avatars or not u.avatar),
                key=lambda u: u.order,
            )
            page, records = self._page(
                account,
                people,
                fingerprint,
                request.arg("cursor"),
                self.page_size,
                empty=USER_NOT_FOUND,
            )
            users = [_render_user(account, u) for u in page]
        return json_response({"requestId": _request_id(), "records": records, "users": users})

    def _get_user(self, request: Request, account: _Account) -> Response:
        with self._data:
            user = account.people.get(request.params["id"])
            if user is None:
                raise SandboxError(404, USER_NOT_FOUND, "NOT_FOUND")
            return json_response({"requestId": _request_id(), "user": _render_user(account, user)})

    def _workspaces(self, request: Request, account: _Account) -> Response:
        workspace = {
            "id": account.workspace_id,
            "name": account.workspace_name,
            "description": f"The {account.workspace_name} workspace",
        }
        return json_response({"requestId": _request_id(), "workspaces": [workspace]})

    # paging (admin operation)

    @admin_operation
    def set_page_size(self, size: int) -> None:
        """Answer at most ``size`` calls, and ``size`` transcripts, a page from now on, so a
        small company spans many pages."""
        if size < 1:
            raise ValueError("size must be at least 1")
        self.page_size = self.transcript_page_size = size


def _filter_body(body: Any, fields: Iterable[str], filters: Iterable[str]) -> dict[str, Any]:
    """A POST body with a ``filter`` object, holding only the fields and filters given."""
    if not isinstance(body, dict) or not isinstance(body.get("filter"), dict):
        raise SandboxError(400, "filter is required", "BAD_REQUEST")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise SandboxError(400, f"{unknown[0]} is not a field of this request", "BAD_REQUEST")
    unknown = sorted(set(body["filter"]) - set(filters))
    if unknown:
        raise SandboxError(400, f"filter.{unknown[0]} is not simulated", "BAD_REQUEST")
    return body


def _content_selector(selector: Any) -> set[tuple[str, str | None]]:
    """The exposed fields asked for; 400 for a malformed selector or one asking for what the
    sandbox does not simulate."""
    if selector is None:
        return set()
    if not isinstance(selector, dict):
        raise SandboxError(400, "contentSelector must be an object", "BAD_REQUEST")
    unknown = sorted(set(selector) - {"context", "contextTiming", "exposedFields"})
    if unknown:
        raise SandboxError(400, f"contentSelector.{unknown[0]} is not a field", "BAD_REQUEST")
    context = selector.get("context", "None")
    if context not in CONTEXTS:
        raise SandboxError(
            400, f"contentSelector.context must be one of {', '.join(CONTEXTS)}", "BAD_REQUEST"
        )
    if context != "None":
        raise SandboxError(
            400,
            f"contentSelector.context {context!r} (CRM and telephony context) is not simulated "
            "by this sandbox",
            "BAD_REQUEST",
        )
    if "contextTiming" in selector:
        raise SandboxError(
            400,
            "contentSelector.contextTiming can be provided only when context is 'Extended'",
            "BAD_REQUEST",
        )
    fields = selector.get("exposedFields") or {}
    if not isinstance(fields, dict):
        raise SandboxError(400, "contentSelector.exposedFields must be an object", "BAD_REQUEST")
    asked: set[tuple[str, str | None]] = set()
    for group, value in fields.items():
        where = f"contentSelector.exposedFields.{group}"
        if group not in EXPOSED_FIELDS:
            raise SandboxError(400, f"{where} is not a field", "BAD_REQUEST")
        flags = EXPOSED_FIELDS[group]
        if flags is None:
            if not isinstance(value, bool):
                raise SandboxError(400, f"{where} must be a boolean", "BAD_REQUEST")
            if value:
                asked.add((group, None))
            continue
        if not isinstance(value, dict):
            raise SandboxError(400, f"{where} must be an object", "BAD_REQUEST")
        for flag, on in value.items():
            if flag not in flags:
                raise SandboxError(400, f"{where}.{flag} is not a field", "BAD_REQUEST")
            if not isinstance(on, bool):
                raise SandboxError(400, f"{where}.{flag} must be a boolean", "BAD_REQUEST")
            if on:
                asked.add((group, flag))
    missing = sorted(asked - SIMULATED_FIELDS, key=str)
    if missing:
        group, flag = missing[0]
        name = group if flag is None else f"{group}.{flag}"
        raise SandboxError(
            400,
            f"contentSelector.exposedFields.{name} is not simulated by this sandbox",
            "BAD_REQUEST",
        )
    return asked


def _bool_arg(request: Request, name: str) -> bool:
    value = request.arg(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise SandboxError(400, f"{name} must be true or false", "BAD_REQUEST")
    return value.lower() == "true"


def _render_user(account: _Account, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "emailAddress": user.email,
        "created": render_time(user.created_ms, account.offset),
        "active": user.active,
        "emailAliases": [],
        "trustedEmailAddress": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "title": user.title,
        "phoneNumber": user.phone,
        "extension": user.extension,
        "personalMeetingUrls": list(user.meeting_urls),
        "settings": dict(user.settings),
        "managerId": user.manager_id,
        "meetingConsentPageUrl": None
        if user.avatar
        else f"https://join.gong.io/{account.workspace_id}/{user.id}",
        "spokenLanguages": [
            {"language": language, "primary": index == 0}
            for index, language in enumerate(user.languages)
        ],
    }


def _render_party(party: Party) -> dict[str, Any]:
    """A participant as ``parties`` lists it; fields it does not have are left out."""
    values = {
        "id": party.id,
        "emailAddress": party.email,
        "name": party.name,
        "title": party.title,
        "userId": party.user_id,
        "speakerId": party.speaker_id,
        "affiliation": party.affiliation,
        "phoneNumber": party.phone,
        "methods": list(party.methods),
    }
    return {k: v for k, v in values.items() if v is not None}


def _sentences(transcript: list[dict[str, Any]]) -> Iterable[tuple[str, str | None, dict]]:
    for monologue in transcript:
        for sentence in monologue.get("sentences") or ():
            yield str(monologue.get("speakerId")), monologue.get("topic"), sentence


def _spoken_ms(sentence: dict[str, Any]) -> int:
    return max(int(sentence.get("end", 0)) - int(sentence.get("start", 0)), 0)


def _topics(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seconds spent on each topic of the transcript, in the order they came up."""
    spent: dict[str, int] = {}
    for _, topic, sentence in _sentences(transcript):
        if topic:
            spent[topic] = spent.get(topic, 0) + _spoken_ms(sentence)
    return [{"name": name, "duration": round(ms / 1000)} for name, ms in spent.items()]


def _talk_times(transcript: list[dict[str, Any]], parties: list[Party]) -> list[dict[str, Any]]:
    """Each speaking participant's talk time in seconds."""
    spoken: dict[str, int] = {}
    for speaker, _, sentence in _sentences(transcript):
        spoken[speaker] = spoken.get(speaker, 0) + _spoken_ms(sentence)
    return [
        {"id": p.id, "userId": p.user_id, "talkTime": round(spoken[p.speaker_id] / 1000, 2)}
        for p in parties
        if p.speaker_id is not None and p.speaker_id in spoken
    ]


def _questions(transcript: list[dict[str, Any]], parties: list[Party]) -> dict[str, int]:
    """Questions asked by the company's people and by the others."""
    internal = {p.speaker_id for p in parties if p.affiliation == "Internal"}
    counts = {"companyCount": 0, "nonCompanyCount": 0}
    for speaker, _, sentence in _sentences(transcript):
        if str(sentence.get("text", "")).rstrip().endswith("?"):
            counts["companyCount" if speaker in internal else "nonCompanyCount"] += 1
    return counts


def _order(call: _Call) -> tuple[int, int]:
    return call.order


def _only_calls(object_type: str) -> None:
    if object_type != "calls":
        raise ValueError(f"the Gong sandbox holds 'calls', not {object_type!r}")
