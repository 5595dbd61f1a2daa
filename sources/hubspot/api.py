"""HubSpot CRM v3: the endpoints syncs reads and their quirks.

Incremental reads use the search endpoint, which answers at most 10,000 results for one
query and pages by offset. Offsets shift when a record of an earlier page is modified
while we page (it moves to the end of the ascending sort), which silently skips a record.
So every page is its own query that starts from the last-modified time seen so far
(keyset paging): nothing shifts under us, the 10,000 cap is never reached by paging, and
records sharing the edge timestamp are skipped by id rather than lost or repeated. Only
when a whole page shares one timestamp do we page by offset inside that timestamp.

A page that contradicts itself fails the run: ``results`` null or missing (list or search),
or a search page with no results where its ``total`` says more match. The list endpoint
reports no total, so a listing cut short by a page without ``paging.next`` looks complete;
the engine's mass-deletion limit keeps it from deleting what it did not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from sources.errors import ApiError
from sources.http import ApiClient, PageRecords, decoded_json
from sources.spec import RawPage, RecordShape

# HubSpot's largest pages: 100 records for a listing, 200 for a search.
LIST_PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
# Ids a search leaves out with one NOT_IN filter; HubSpot takes up to 100 values.
MAX_EXCLUDED = 100
# Ids one batch read takes.
BATCH_READ_SIZE = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class HubSpotObjectType:
    name: str
    modified_property: str
    default_properties: tuple[str, ...]


OBJECTS: dict[str, HubSpotObjectType] = {
    "contacts": HubSpotObjectType(
        "contacts",
        "lastmodifieddate",
        (
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "jobtitle",
            "lifecyclestage",
            "hs_lead_status",
            "city",
            "state",
            "country",
            "website",
            "createdate",
            "lastmodifieddate",
        ),
    ),
    "companies": HubSpotObjectType(
        "companies",
        "hs_lastmodifieddate",
        (
            "name",
            "domain",
            "industry",
            "phone",
            "city",
            "state",
            "country",
            "numberofemployees",
            "annualrevenue",
            "lifecyclestage",
            "createdate",
            "hs_lastmodifieddate",
        ),
    ),
    "deals": HubSpotObjectType(
        "deals",
        "hs_lastmodifieddate",
        (
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "hubspot_owner_id",
            "createdate",
            "hs_lastmodifieddate",
        ),
    ),
}


def to_millis(value: str | datetime) -> int:
    """Epoch milliseconds, rounded down (exactly: no float on the way)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(milliseconds=1)


# One API object as a flat row: its properties (an unset one is sent as "") and the
# top-level fields, renamed to the warehouse's names.
RECORD_SHAPE = RecordShape(
    lift="properties",
    fields={
        "id": "id",
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "archived": "archived",
        "archivedAt": "archived_at",
    },
    drop=frozenset({"hs_object_id"}),
    blank_is_null=True,
)


# A record's own columns (``RECORD_SHAPE``): a custom property of one of these names would be
# overwritten by the record's field, so ``properties=all`` leaves it out.
OWN_COLUMNS = frozenset({"id", "connection_id", *(RECORD_SHAPE.fields or {}).values()})


class HubSpotApi:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def property_names(self, object_type: str) -> list[str]:
        """The names of every live (not archived) property the account defines for the
        object type, custom ones included, from ``GET /crm/v3/properties/{object}``."""
        path = f"/crm/v3/properties/{object_type}"
        body = decoded_json(self.client.get(path, params={"archived": "false"}))
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise ApiError(
                f"connection {self.client.connection_id!r}: GET {self.client.base_url}{path} "
                "answered no list of properties; the run fails and the next one asks again"
            )
        names = (d.get("name") for d in results if isinstance(d, dict) and not d.get("archived"))
        return [n for n in names if isinstance(n, str) and n and n not in OWN_COLUMNS]

    def list_objects(
        self, object_type: str, properties: list[str], *, archived: bool = False
    ) -> Iterator[PageRecords]:
        """Every object of a type, 100 a page, following ``paging.next.after``."""
        params = {
            "limit": LIST_PAGE_SIZE,
            "properties": ",".join(properties),
            "archived": "true" if archived else "false",
        }
        paginator = JSONResponseCursorPaginator(
            cursor_path="paging.next.after", cursor_param="after"
        )
        yield from self.client.paginate(
            f"/crm/v3/objects/{object_type}",
            params=params,
            paginator=paginator,
            data_selector="results",
        )

    def search_modified_since(
        self, object_type: str, since_ms: int, properties: list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Objects modified at or after ``since_ms``, oldest first, each exactly once.

        Keyset windows: each page starts a new query from the last modification time seen,
        so a record modified while the sync pages moves to a later window instead of
        shifting the pages of this one, and no window reaches the search cap. The records
        already seen at that time are left out of the next query by id (``NOT_IN``), so
        a page of 200 brings 200 new records even when thousands share a millisecond;
        only when a whole page shares one time does the window page on by offset.
        """
        prop = OBJECTS[object_type].modified_property
        since = since_ms
        edge_ids: set[str | None] = set()
        excluded: list[str] = []
        offset = 0
        while True:
            filters: list[dict[str, Any]] = [
                {"propertyName": prop, "operator": "GTE", "value": str(since)}
            ]
            if excluded:
                filters.append(
                    {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": excluded}
                )
            body: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": SEARCH_PAGE_SIZE,
            }
            if offset:
                body["after"] = str(offset)
            path = f"/crm/v3/objects/{object_type}/search"
            answer = self.client.post(path, json=body).json()
            results: list[dict[str, Any]] = self._search_results(answer, path, offset)
            fresh = [
                r
                for r in results
                if not (self._modified(r, prop) == since and r.get("id") in edge_ids)
            ]
            if fresh:
                yield fresh
            has_next = bool((answer.get("paging") or {}).get("next"))
            total = answer.get("total")
            if not results or (not has_next and (total is None or offset + len(results) >= total)):
                return
            last = self._modified(results[-1], prop)
            if last > since:
                since = last
                edge_ids = {r.get("id") for r in results if self._modified(r, prop) == last}
                named = sorted(str(i) for i in edge_ids if i is not None)
                excluded = named if len(named) <= MAX_EXCLUDED else []
                offset = 0
            elif has_next:
                edge_ids.update(r.get("id") for r in results)
                offset += len(results)
            else:
                raise ApiError(
                    f"{total} {object_type} match from modification time {since} and more than "
                    "HubSpot's search can page through share that one time; run a full refresh"
                )

    def _search_results(self, answer: Any, path: str, offset: int) -> list[dict[str, Any]]:
        """A search page's ``results``, or ``ApiError`` when the page contradicts itself: no
        ``results`` at all, or none where its ``total`` says there are more from ``offset``
        (the run would take the window for done and move the cursor past them)."""
        where = f"connection {self.client.connection_id!r}: POST {self.client.base_url}{path}"
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise ApiError(
                f"{where} answered a page whose results are null or missing; the run fails "
                "and the next one reads it again"
            )
        total = answer.get("total")
        if not results and isinstance(total, int) and total > offset:
            raise ApiError(
                f"{where} answered no results although its total says {total} match "
                f"({offset} read so far); the run fails and the next one reads it again"
            )
        return results

    def read_batch(
        self, object_type: str, ids: list[str], properties: list[str]
    ) -> Iterator[tuple[PageRecords, list[str]]]:
        """The live objects of ``ids``, ``BATCH_READ_SIZE`` a request, each with the ids
        HubSpot no longer has (archived or erased): absent from ``results``, or named by an
        ``OBJECT_NOT_FOUND`` error of a 207 answer. Ids another error names are in neither."""
        for first in range(0, len(ids), BATCH_READ_SIZE):
            batch = list(dict.fromkeys(ids[first : first + BATCH_READ_SIZE]))
            response = self.client.post(
                f"/crm/v3/objects/{object_type}/batch/read",
                params={"archived": "false"},
                json={"inputs": [{"id": i} for i in batch], "properties": properties},
            )
            body = decoded_json(response)
            results = PageRecords(body.get("results") or [])
            results.raw = RawPage(response.content, "results")
            unexplained: set[str] = set()
            for error in body.get("errors") or []:
                if error.get("category") != "OBJECT_NOT_FOUND":
                    unexplained.update(str(i) for i in (error.get("context") or {}).get("ids", []))
            found = {str(r.get("id")) for r in results}
            yield results, [i for i in batch if i not in found and i not in unexplained]

    @staticmethod
    def _modified(record: Any, prop: str) -> int:
        """When a search result was last modified: its property, else ``updatedAt``. A
        record that says neither in a form HubSpot uses sorts first (it is rejected when
        validated; the window moves on by the others)."""
        properties = record.get("properties") if isinstance(record, dict) else None
        for value in (
            properties.get(prop) if isinstance(properties, dict) else None,
            record.get("updatedAt") if isinstance(record, dict) else None,
        ):
            if isinstance(value, str) and value:
                try:
                    return to_millis(value)
                except ValueError:
                    continue
        return 0
