"""The HTTP client every integration uses.

Built on dlt's ``RESTClient`` and its retrying ``Client`` (429, 5xx, connection errors and
timeouts; exponential backoff; ``Retry-After`` honoured). What dlt does not do, and this
module adds: a record of every attempt (method, redacted URL, status, duration, attempt
number, time spent waiting), pacing on an API's own rate-limit headers before it answers
429, turning 401/403 into an ``AuthenticationError`` that names the connection, and
retrying a successful answer whose JSON body does not decode (a body that ended early with
a ``Content-Length`` that agrees, as a proxy or a crashing server sends it): dlt retries a
connection that breaks mid-body, but hands such a body on as if it were whole.

Pacing and ``Retry-After``: an answer that says when to come back (``Retry-After``, on a
429 or any other status) decides the pause before the client's next request, whatever the
integration's pacer would make of its other headers; the pacer's own wait (the rest of a
rate-limit window, say) applies only to answers without one. A HubSpot 429 carries both a
``Retry-After`` of a second or two and ``X-HubSpot-RateLimit-Remaining: 0``, on which its
pacer alone would wait out the whole ten-second window.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from queue import Empty, Queue
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs.runtime_configuration import RuntimeConfiguration
from dlt.sources.helpers.requests.retry import (
    Client,
    RetryPredicate,
    wait_exponential_retry_after,
)
from dlt.sources.helpers.requests.session import Session
from dlt.sources.helpers.rest_client.client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator, SinglePagePaginator
from dlt.sources.helpers.rest_client.redaction import SENSITIVE_PARAMS, sanitize_url
from requests.auth import AuthBase

from sources.errors import ApiError, AuthenticationError, TransientError
from sources.spec import RawPage

REDACTED_PARAMS = set(SENSITIVE_PARAMS) | {
    "refresh_token",
    "code",
    "client_id",
    "signature",
    "sig",
    "hapikey",
}

Pacer = Callable[[requests.Response], float]
T = TypeVar("T")
RateLimited = Callable[[requests.Response], bool]


@dataclass
class RequestRecord:
    method: str
    url: str
    status: int | None
    duration_ms: float
    attempt: int
    waited_ms: float
    requested_at: datetime
    error: str | None = None


@dataclass
class RequestLog:
    """Collects every HTTP attempt of one run; thread-safe."""

    records: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)


_SENSITIVE_QUERY = re.compile(
    r"[?&](?:" + "|".join(re.escape(p) for p in sorted(REDACTED_PARAMS)) + r")=", re.IGNORECASE
)


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#]*@")


def redact(url: str) -> str:
    """The URL with its user name and password and its secret query parameters replaced by
    ``***``.

    Most URLs carry none, so they are returned as they are after two regex searches; only
    a URL with a secret parameter is parsed and re-encoded (dlt's ``sanitize_url``).
    """
    url = _USERINFO.sub(r"\1***@", url)
    if _SENSITIVE_QUERY.search(url) is None:
        return url
    return sanitize_url(url, REDACTED_PARAMS)


_RETRY_AFTER = wait_exponential_retry_after()


def retry_after(response: requests.Response) -> float | None:
    """Seconds the answer's ``Retry-After`` asks for (delay or date), parsed as dlt's retries
    parse it; None without one."""
    header = response.headers.get("Retry-After")
    return _RETRY_AFTER._parse_retry_after(header) if header else None


class _State(threading.local):
    attempt = 0
    last_end: float | None = None
    paced_ms = 0.0


class _LoggedSession(Session):
    """A session whose every ``send`` (each retry attempt included) is recorded."""

    request_log: RequestLog | None = None
    pacer: Pacer | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = _State()
        self._not_before = 0.0
        self._pace_lock = threading.Lock()

    def begin_logical_request(self) -> None:
        self._state.attempt = 0
        self._state.last_end = None
        self._state.paced_ms = 0.0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        state = self._state
        state.attempt += 1
        waited = 0.0
        with self._pace_lock:
            delay = self._not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            waited += delay
        start = time.monotonic()
        if state.last_end is not None:
            waited += start - state.last_end
        requested_at = datetime.now(UTC)
        status: int | None = None
        error: str | None = None
        try:
            response = super().send(request, **kwargs)
            status = response.status_code
            pause = self.pacer(response) if self.pacer is not None else 0.0
            told = retry_after(response)
            if told is not None:
                pause = told
            if pause > 0:
                with self._pace_lock:
                    self._not_before = max(self._not_before, time.monotonic() + pause)
            return response
        except requests.RequestException as exc:
            error = type(exc).__name__
            raise
        finally:
            end = time.monotonic()
            state.last_end = end
            if self.request_log is not None:
                self.request_log.add(
                    RequestRecord(
                        method=request.method or "GET",
                        url=redact(request.url or ""),
                        status=status,
                        duration_ms=(end - start) * 1000,
                        attempt=state.attempt,
                        waited_ms=waited * 1000,
                        requested_at=requested_at,
                        error=error,
                    )
                )


def _is_json(response: requests.Response) -> bool:
    return "json" in (response.headers.get("Content-Type") or "").lower()


def undecodable(response: requests.Response | None, exception: BaseException | None = None) -> bool:
    """A dlt retry predicate: a 2xx JSON answer whose body is not valid JSON. The body is
    decoded once here and kept (``decoded_json``), so it costs no second parse."""
    if response is None or not 200 <= response.status_code < 300 or not response.content:
        return False
    if not _is_json(response):
        return False
    try:
        decoded_json(response)
    except ValueError:
        return True
    return False


class _LoggedClient(Client):
    def __init__(
        self,
        request_log: RequestLog | None,
        pacer: Pacer | None,
        retry_condition: RetryPredicate | Sequence[RetryPredicate] | None = None,
        **kwargs: Any,
    ):
        super().__init__(raise_for_status=False, retry_condition=retry_condition, **kwargs)
        self._request_log = request_log
        self._pacer = pacer

    def _make_session(self) -> Session:
        session = _LoggedSession(**self._session_kwargs)  # type: ignore[arg-type]
        session.request_log = self._request_log
        session.pacer = self._pacer
        for key, value in self._session_attrs.items():
            setattr(session, key, value)
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        from dlt.sources.helpers.requests.retry import _make_retry

        retry = _make_retry(**self._retry_kwargs)
        retried_send = retry.wraps(session.send)

        def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            session.begin_logical_request()
            return retried_send(request, **kwargs)

        session.send = send  # type: ignore[method-assign]
        return session


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``; the token can be swapped (an OAuth refresh)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class RequestRatePacer:
    """Keeps a client under an API's documented request rate (``max_requests`` per ``per``
    seconds) when the API sends no headers to pace on, so it is not answered 429 at all.

    Use one per client: it remembers when the client's last requests were answered.
    """

    def __init__(self, max_requests: float, per: float = 1.0) -> None:
        if max_requests <= 0 or per <= 0:
            raise ValueError("max_requests and per must be positive")
        self.per = float(per)
        self.burst = max(int(max_requests * per), 1)
        self._answered: deque[float] = deque()
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response) -> float:
        """Seconds to wait before the next request."""
        now = time.monotonic()
        with self._lock:
            answered = self._answered
            answered.append(now)
            while answered and answered[0] <= now - self.per:
                answered.popleft()
            if len(answered) < self.burst:
                return 0.0
            return max(answered[-self.burst] + self.per - now, 0.0)


class RateLimitHeaders:
    """A pacer for APIs that announce their budget on every answer.

    GitHub (and many others) send ``x-ratelimit-remaining`` and ``x-ratelimit-reset``. Once
    the remaining budget is down to ``reserve``, the next request waits for the reset instead
    of being refused. An epoch reset is measured against the server's own clock (its
    ``Date`` header, which is truncated to the second and so never makes the wait too
    short), so a skewed local clock neither wastes time nor trips the limit. A pause is never
    longer than ``max_pause`` seconds.
    """

    def __init__(
        self,
        *,
        remaining_header: str = "x-ratelimit-remaining",
        reset_header: str = "x-ratelimit-reset",
        reset_is_epoch: bool = True,
        reserve: int = 0,
        max_pause: float = 3600.0,
    ) -> None:
        self.remaining_header = remaining_header
        self.reset_header = reset_header
        self.reset_is_epoch = reset_is_epoch
        self.reserve = reserve
        self.max_pause = max_pause

    def __call__(self, response: requests.Response) -> float:
        remaining = _number_header(response, self.remaining_header)
        if remaining is None or remaining > self.reserve:
            return 0.0
        reset = _number_header(response, self.reset_header)
        if reset is None:
            return 0.0
        pause = reset - _server_time(response) if self.reset_is_epoch else reset
        return min(max(pause, 0.0), self.max_pause)


def _number_header(response: requests.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


def _server_time(response: requests.Response) -> float:
    """The server's clock from its ``Date`` header; ours when it sent none."""
    date = response.headers.get("Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


@dataclass
class HttpSettings:
    """Retry and timeout settings, from dlt's runtime configuration.

    So ``RUNTIME__REQUEST_MAX_ATTEMPTS``, ``…_BACKOFF_FACTOR``, ``…_MAX_RETRY_DELAY`` and
    ``…_TIMEOUT`` (or the same keys in dlt's config files) tune every integration at once.
    """

    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay: float = 300.0
    timeout: float = 60.0

    @classmethod
    def from_dlt(cls) -> HttpSettings:
        config = resolve_configuration(RuntimeConfiguration())
        timeout = config.request_timeout
        return cls(
            max_attempts=config.request_max_attempts,
            backoff_factor=config.request_backoff_factor,
            max_retry_delay=float(config.request_max_retry_delay),
            timeout=float(timeout if isinstance(timeout, int | float) else 60.0),
        )


def logged_session(
    request_log: RequestLog | None, settings: HttpSettings | None = None
) -> requests.Session:
    """A session with the shared retries and request log, for a URL outside an API's base
    (an OAuth2 token endpoint, say); the caller checks the final status itself."""
    settings = settings or HttpSettings.from_dlt()
    client = _LoggedClient(
        request_log,
        None,
        request_timeout=settings.timeout,
        request_max_attempts=settings.max_attempts,
        request_backoff_factor=settings.backoff_factor,
        request_max_retry_delay=settings.max_retry_delay,
    )
    return client.session


class ApiClient:
    """One integration's client for one connection: base URL, auth, retries, logging.

    ``rate_limited`` recognises an API's own way of saying "slow down" when it is not a 429
    (Google answers 403 with a rate-limit reason): such answers are retried with backoff like
    a 429, and one that persists is a ``TransientError``. ``retry_condition`` adds dlt retry
    predicates, e.g. an OAuth2 auth that refreshes its token after a 401 and asks to resend.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connection_id: str,
        auth: AuthBase | None = None,
        headers: dict[str, str] | None = None,
        request_log: RequestLog | None = None,
        pacer: Pacer | None = None,
        settings: HttpSettings | None = None,
        rate_limited: RateLimited | None = None,
        retry_condition: RetryPredicate | Sequence[RetryPredicate] | None = None,
    ) -> None:
        settings = settings or HttpSettings.from_dlt()
        self.connection_id = connection_id
        self.base_url = base_url.rstrip("/")
        self.rate_limited = rate_limited
        conditions: list[RetryPredicate] = [undecodable]
        if rate_limited is not None:
            conditions.append(lambda response, _: response is not None and rate_limited(response))
        if retry_condition is not None:
            conditions.extend(
                [retry_condition] if callable(retry_condition) else list(retry_condition)
            )
        self._client = _LoggedClient(
            request_log,
            pacer,
            conditions,
            request_timeout=settings.timeout,
            request_max_attempts=settings.max_attempts,
            request_backoff_factor=settings.backoff_factor,
            request_max_retry_delay=settings.max_retry_delay,
        )
        self._environment: dict[tuple[str, str], dict[str, Any]] = {}
        self.rest = RESTClient(
            base_url=self.base_url,
            headers={"Accept": "application/json", **(headers or {})},
            auth=auth,
            session=self._client.session,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        auth: AuthBase | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request (with retries); raise a clear error for a final failure."""
        try:
            response = self._send(
                self.rest._create_request(
                    path_or_url=path,
                    method=method,  # type: ignore[arg-type]
                    params=params,
                    json=json,
                    auth=auth,
                    headers=headers,
                )
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"connection {self.connection_id!r}: {method} {redact(self._url(path))} failed "
                f"after retries: {type(exc).__name__}"
            ) from None
        if response.status_code in ok:
            return response
        self._check(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def paginate(
        self,
        path: str,
        *,
        paginator: BasePaginator | None = None,
        params: dict[str, Any] | None = None,
        data_selector: str | None = None,
    ) -> Iterator[PageRecords]:
        """Pages of ``GET path`` with one of dlt's paginators."""
        return self.paginate_request(
            "GET", path, paginator=paginator, params=params, data_selector=data_selector
        )

    def _send(self, request: requests.Request) -> requests.Response:
        """Send a request through the retrying session.

        Like dlt's ``RESTClient._send_request``, but the environment's proxy and TLS
        settings are looked up once per host instead of on every page, and no URL is
        formatted for a log line that is not written; the request log records every
        attempt already.
        """
        session = self.rest.session
        prepared = session.prepare_request(request)
        host = urlsplit(prepared.url or "")[:2]
        settings = self._environment.get(host)
        if settings is None:
            settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            self._environment[host] = settings
        return session.send(prepared, **settings)

    def _check(self, response: requests.Response) -> None:
        if response.status_code >= 400 and self.rate_limited and self.rate_limited(response):
            raise TransientError(
                f"connection {self.connection_id!r}: {response.request.method} "
                f"{redact(response.url)} was still rate limited after retries "
                f"({response.status_code}: {_error_message(response)}); the next run resumes "
                "from the last good cursor"
            )
        check_response(response, self.connection_id)
        if undecodable(response):
            raise TransientError(
                f"connection {self.connection_id!r}: {response.request.method} "
                f"{redact(response.url)} answered {response.status_code} with a body that is not "
                f"valid JSON ({len(response.content)} bytes), also after retries; the next run "
                "resumes from the last good cursor"
            )

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def paginate_request(
        self,
        method: str,
        path: str,
        *,
        paginator: BasePaginator | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        data_selector: str | None = None,
        empty: Callable[[requests.Response], bool] | None = None,
        total: str | None = None,
    ) -> Iterator[PageRecords]:
        """Pages of any request, a POST with a JSON body included.

        dlt's own ``paginate`` checks status in a response hook, which runs on every
        attempt — before its retries — so this loop checks each page after the retries.
        A paginator with ``cursor_body_path`` carries the cursor in the body (the caller's
        ``json`` is copied, never changed). ``empty`` recognises an answer that means "no
        records" although its status is an error (some APIs answer an empty filter with
        404): such an answer ends the listing instead of failing it.

        A listing that contradicts itself raises ``ApiError`` rather than look complete
        (a complete listing is what deletions are inferred from): a page whose records
        (``data_selector``, or the body) are null or missing, and a listing that ends —
        no next page, or ``empty`` — before the number of records the API reported at the
        dotted path ``total`` (Gong's ``records.totalRecords``).
        """
        paginator = paginator or SinglePagePaginator()
        request = self.rest._create_request(
            path_or_url=path,
            method=method,  # type: ignore[arg-type]
            params=params,
            json=copy.deepcopy(json) if json is not None else None,
        )
        paginator.init_request(request)
        seen = 0
        reported: int | None = None
        while True:
            try:
                response = self._send(request)
            except requests.RequestException as exc:
                raise TransientError(
                    f"connection {self.connection_id!r}: {method} {redact(self._url(path))} "
                    f"failed after retries: {type(exc).__name__}"
                ) from None
            if empty is not None and empty(response):
                self._check_total(response, seen, reported, total)
                return
            self._check(response)
            body = decoded_json(response)
            records = select(body, data_selector)
            if records is None:
                raise ApiError(
                    f"connection {self.connection_id!r}: {response.request.method} "
                    f"{redact(response.url)} answered a page whose records "
                    f"({data_selector or 'the body'}) are null or missing; the listing cannot "
                    "be complete, so the run fails and the next one reads it again"
                )
            data = PageRecords(records)
            if data_selector and data_selector != "$":
                data.raw = RawPage(response.content, data_selector)
            seen += len(data)
            if total is not None:
                count = value_at(body, total)
                if isinstance(count, int) and not isinstance(count, bool):
                    reported = count
            paginator.update_state(response, data)
            paginator.update_request(request)
            yield data
            if not paginator.has_next_page:
                self._check_total(response, seen, reported, total)
                return

    def _check_total(
        self, response: requests.Response, seen: int, reported: int | None, path: str | None
    ) -> None:
        """A listing that ended must have brought the records the API said it holds."""
        if reported is not None and seen < reported:
            raise ApiError(
                f"connection {self.connection_id!r}: {response.request.method} "
                f"{redact(response.url)} ended the listing (no next page) after {seen} of the "
                f"{reported} records it reported ({path}); the listing is incomplete, so the "
                "run fails and the next one reads it again"
            )


class PageRecords(list[Any]):
    """A page's records, with the body they were selected from (``raw``) when there is one."""

    raw: RawPage | None = None


_DECODED = "_syncs_decoded"


def decoded_json(response: requests.Response) -> Any:
    """The body decoded once; later calls and ``response.json()`` (dlt's paginators) reuse it."""
    if _DECODED in response.__dict__:
        return response.__dict__[_DECODED]
    body = json.loads(response.content)
    response.__dict__[_DECODED] = body
    response.json = lambda **_: body  # type: ignore[method-assign]
    return body


def value_at(body: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` (``results``, ``records.totalRecords``); ``$`` or no
    path is the body; None when a step is missing."""
    value = body
    if path and path != "$":
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
    return value


def select(body: Any, path: str | None) -> list[Any] | None:
    """The page's records at a dotted ``path``; None when they are null or missing."""
    value = value_at(body, path)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def prefetch(pages: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run ``pages`` in a thread, ``depth`` ahead, so waiting on the API overlaps our work.

    Paging with a cursor is sequential, but while the next page is in flight the caller
    validates and converts the last one. Errors are raised in the caller, in order.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                queue.put(("page", page))
            queue.put(("end", None))
        except BaseException as error:
            queue.put(("error", error))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "page":
                yield item
            elif kind == "end":
                return
            else:
                raise item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                queue.get_nowait()
            except Empty:
                worker.join(timeout=0.05)


def check_response(response: requests.Response, connection_id: str) -> None:
    """Raise ours for a final error status; pass a success through."""
    status = response.status_code
    if status < 400:
        return
    where = f"{response.request.method} {redact(response.url)}"
    detail = _error_message(response)
    if status in (401, 403) and not _is_rate_limit(response):
        raise AuthenticationError(
            f"connection {connection_id!r}: the API refused the credentials ({status} on "
            f"{where}{': ' + detail if detail else ''}); update them with "
            f"`syncs connections add ... --credential ...` and run again"
        )
    if status == 429 or status >= 500:
        raise TransientError(
            f"connection {connection_id!r}: {where} still answered {status} after retries"
            f"{': ' + detail if detail else ''}; the next run resumes from the last good cursor"
        )
    raise ApiError(f"connection {connection_id!r}: {where} answered {status}: {detail}")


def _is_rate_limit(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    if "retry-after" in {k.lower() for k in response.headers}:
        return True
    return response.headers.get("x-ratelimit-remaining") == "0"


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "errors"):
            if key in body:
                value = body[key]
                if isinstance(value, dict) and "message" in value:
                    value = value["message"]
                return str(value)[:200]
    return str(body)[:200]
