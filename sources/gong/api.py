"""Gong API v2: the endpoints syncs reads and their quirks.

* ``GET /v2/calls`` lists the calls of a start-time window (``fromDateTime`` inclusive,
  ``toDateTime`` exclusive; for web conferences Gong filters on the scheduled time), 100 a
  page, the next page's cursor in ``records.cursor`` and sent back as the ``cursor`` query
  parameter.
* A window without calls is not an empty page: Gong answers 404 with
  ``{"errors": ["No calls found corresponding to the provided filters"]}``. That answer is an
  empty result; any other 404 (a wrong base URL) is still an error.
* ``POST /v2/calls/transcript`` takes ``filter.callIds`` in its body and pages with a
  ``cursor`` in the body too; so does ``POST /v2/calls/extensive``, whose calls carry the
  fields ``GET /v2/calls`` answers in their ``metaData``.
* Every page reports the query's ``records.totalRecords``: a listing that ends short of it
  is incomplete and fails the run (``ApiClient.paginate_request``).
* About 3 requests a second and 10,000 a day per company; past that, 429 with
  ``Retry-After``, and no rate-limit headers on other answers to pace on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from sources.http import ApiClient

TRANSCRIPT_BATCH = 100
CALL_ID_BATCH = 100
NO_CALLS = "no calls found"


def iso_utc(at: datetime) -> str:
    """``2024-05-01T10:00:00Z``: the form Gong's date filters take."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def no_calls_found(response: requests.Response) -> bool:
    """Gong's way to say a filter matched nothing: 404 with that message in ``errors``."""
    if response.status_code != 404:
        return False
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(NO_CALLS in str(error).lower() for error in errors)


class GongApi:
    def __init__(self, client: ApiClient, workspace_id: str | None = None) -> None:
        self.client = client
        self.workspace_id = workspace_id

    def list_calls(self, since: datetime, until: datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of the calls that started in ``[since, until)``."""
        params: dict[str, Any] = {"fromDateTime": iso_utc(since), "toDateTime": iso_utc(until)}
        if self.workspace_id:
            params["workspaceId"] = self.workspace_id
        paginator = JSONResponseCursorPaginator(cursor_path="records.cursor", cursor_param="cursor")
        for page in self.client.paginate_request(
            "GET",
            "/v2/calls",
            params=params,
            paginator=paginator,
            data_selector="calls",
            empty=no_calls_found,
            total="records.totalRecords",
        ):
            yield list(page)

    def transcripts(self, call_ids: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Pages of the transcripts of these calls, asked for ``TRANSCRIPT_BATCH`` at a time."""
        for first in range(0, len(call_ids), TRANSCRIPT_BATCH):
            batch = list(call_ids[first : first + TRANSCRIPT_BATCH])
            paginator = JSONResponseCursorPaginator(
                cursor_path="records.cursor", cursor_body_path="cursor"
            )
            for page in self.client.paginate_request(
                "POST",
                "/v2/calls/transcript",
                json={"filter": {"callIds": batch}},
                paginator=paginator,
                data_selector="callTranscripts",
                empty=no_calls_found,
                total="records.totalRecords",
            ):
                yield list(page)

    def calls_by_id(self, call_ids: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Pages of these calls as ``GET /v2/calls`` renders them, ``CALL_ID_BATCH`` ids a
        request; the ones Gong does not have are left out."""
        for first in range(0, len(call_ids), CALL_ID_BATCH):
            spec: dict[str, Any] = {"callIds": list(call_ids[first : first + CALL_ID_BATCH])}
            if self.workspace_id:
                spec["workspaceId"] = self.workspace_id
            paginator = JSONResponseCursorPaginator(
                cursor_path="records.cursor", cursor_body_path="cursor"
            )
            for page in self.client.paginate_request(
                "POST",
                "/v2/calls/extensive",
                json={"filter": spec},
                paginator=paginator,
                data_selector="calls",
                empty=no_calls_found,
            ):
                yield [call["metaData"] for call in page if isinstance(call.get("metaData"), dict)]
