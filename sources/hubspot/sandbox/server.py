"""A loopback simulator of HubSpot's CRM v3 objects and search APIs (the account's property
definitions, owners, pipelines and associations are answered by ``schema_api``, from what
``catalog`` holds).

It follows HubSpot's public documentation closely enough that the production source runs
against it unchanged (only ``base_url`` differs), including what makes HubSpot awkward to sync:

* every property value is a string (or null); ``createdAt``/``updatedAt`` are ISO 8601 with
  milliseconds, and the ``createdate``/last-modified/``hs_object_id`` properties mirror them;
* the list endpoint pages with an opaque ``after`` cursor and an absolute ``paging.next.link``;
  archived records are only listed with ``archived=true``;
* the batch read takes up to 100 ids and answers 207 naming the ones it does not have;
* the search endpoint pages by numeric offset, caps any query at 10,000 results (400 beyond it,
  no ``paging.next`` at it), has its own per-second limit and sends no rate-limit headers;
* other endpoints send ``X-HubSpot-RateLimit-*`` headers and answer 429 past the ten-second
  rolling limit, per account (private-app token);
* ``associations=`` on a listing or read adds each record's associated contacts, companies or
  deals; a query parameter or body field the sandbox does not simulate answers 400 naming it
  (``params`` lists the few HubSpot ignores, which the sandbox ignores too).

Besides the kit's faults, ``inject_page_fault`` makes listing and search pages contradict
themselves, as a misbehaving API would: ``no_next`` leaves ``paging.next`` out of a page that
has a next one, ``null_results`` answers ``"results": null`` (``paging`` kept); or carry
records HubSpot would never send: ``missing_ids`` leaves ``id`` out of the page's first
record, ``numeric_ids`` sends every id as a JSON number, ``wrong_types`` sends the first
record's ``createdAt`` as a number and its first property as an object.

Accounts are seeded deterministically (``random.Random`` on the seed, timestamps relative to a
fixed epoch), so the same seed gives identical data on every run.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from sources.hubspot.sandbox import catalog
from sources.hubspot.sandbox.catalog import (
    ALL_OBJECT_TYPES,
    CREATED_PROPERTY,
    OBJECT_ALIASES,
    PRIMARY,
    UNLABELED,
    iso_ms,
    to_ms,
)
from sources.hubspot.sandbox.catalog import now_ms as _now_ms
from sources.hubspot.sandbox.params import bool_param as _bool_param
from sources.hubspot.sandbox.params import int_param as _int_param
from sources.hubspot.sandbox.params import object_type_of, refuse_set, refuse_unknown
from sources.hubspot.sandbox.schema_api import CrmSchemaApi
from sources.hubspot.sandbox.webhooks import HubSpotWebhooks
from sources.sandbox.auth import bearer_token
from sources.sandbox.limits import DailyQuota, RollingWindow
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import (
    Fault,
    Request,
    Response,
    SandboxError,
    iter_query_list,
    json_bytes,
    json_response,
)
from sources.sandbox.webhooks import WebhookSandbox

PAGE_FAULTS = ("no_next", "null_results", "missing_ids", "numeric_ids", "wrong_types")
LAST_MODIFIED_PROPERTY = {
    **{t: "hs_lastmodifieddate" for t in ALL_OBJECT_TYPES},
    "contacts": "lastmodifieddate",
}
# The HubSpot-defined properties every record has (null where unset).
PROPERTIES: dict[str, tuple[str, ...]] = {
    t: tuple(spec[0] for spec in catalog.HUBSPOT_DEFINED[t]) for t in ALL_OBJECT_TYPES
}
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": tuple(
        sorted(("firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"))
    ),
    "companies": tuple(
        sorted(("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"))
    ),
    "deals": tuple(
        sorted(
            (
                "dealname",
                "amount",
                "dealstage",
                "pipeline",
                "closedate",
                "createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
            )
        )
    ),
}
DEFAULT_PROPERTIES.update(
    {
        t: tuple(sorted((CREATED_PROPERTY[t], "hs_lastmodifieddate", "hs_object_id")))
        for t in catalog.OTHER_OBJECT_TYPES
    }
)
SEARCH_TEXT_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email", "phone", "company", "website"),
    "companies": ("name", "domain", "phone", "website"),
    "deals": ("dealname",),
}
DATETIME_PROPERTIES = frozenset(
    spec[0] for specs in catalog.HUBSPOT_DEFINED.values() for spec in specs if spec[2] == "datetime"
)
NUMBER_PROPERTIES = frozenset(
    spec[0] for specs in catalog.HUBSPOT_DEFINED.values() for spec in specs if spec[2] == "number"
)

SEED_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH_MS = int(SEED_EPOCH.timestamp()) * 1000
_YEAR_MS = 365 * 24 * 3600 * 1000

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
RATE_INTERVAL_MS = 10_000
MAX_LIST_LIMIT = 100
LIST_PARAMS = frozenset(
    {"limit", "after", "properties", "propertiesWithHistory", "associations", "archived"}
)
GET_PARAMS = frozenset(
    {"properties", "propertiesWithHistory", "associations", "archived", "idProperty"}
)
SEARCH_FIELDS = frozenset({"query", "limit", "after", "sorts", "properties", "filterGroups"})
MAX_BATCH_INPUTS = 100
BATCH_READ_FIELDS = frozenset({"inputs", "properties", "propertiesWithHistory", "idProperty"})
OBJECT_LABELS = {t: catalog.SINGULAR[t].upper() for t in ALL_OBJECT_TYPES}
MAX_SEARCH_LIMIT = 200
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


def parse_time(value: Any) -> int | None:
    """Millisecond epoch from an epoch-millisecond number/string, an ISO timestamp or a date."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return to_ms(parsed)


def _as_property_value(value: Any) -> str | None:
    """HubSpot stores every property value as a string."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_ms(to_ms(value))
    return str(value)


@dataclass(slots=True)
class _Record:
    id: int
    properties: dict[str, str | None]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None
    rev: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None


@dataclass
class _Store:
    records: dict[int, _Record] = field(default_factory=dict)
    active: list[int] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)
    next_id: int = 1
    fragments: dict[tuple[str, ...], dict[int, tuple[int, bytes]]] = field(default_factory=dict)
    modified_index: tuple[int, list[tuple[int, int]]] | None = None


@dataclass
class _Account:
    token: str
    seed: int
    stores: dict[str, _Store] = field(
        default_factory=lambda: {t: _Store() for t in ALL_OBJECT_TYPES}
    )
    definitions: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {t: catalog.hubspot_defined(t) for t in ALL_OBJECT_TYPES}
    )
    owners: list[dict[str, Any]] = field(default_factory=list)
    # (from, to) -> from id -> to id -> positions in ``catalog.ASSOCIATION_TYPES``; every
    # association is held in both directions.
    links: dict[tuple[str, str], dict[int, dict[int, tuple[int, ...]]]] = field(
        default_factory=lambda: {pair: {} for pair in catalog.ASSOCIATION_TYPES}
    )
    version: int = 0
    ten_second_window: RollingWindow = field(
        default_factory=lambda: RollingWindow(RATE_INTERVAL_MS / 1000)
    )
    search_window: RollingWindow = field(default_factory=lambda: RollingWindow(1.0))
    daily: DailyQuota = field(default_factory=DailyQuota)

    def known_properties(self, object_type: str) -> set[str]:
        """The names of the object type's properties that are not archived."""
        return {n for n, d in self.definitions[object_type].items() if not d.get("archived")}

    def link(
        self, from_type: str, from_id: int, to_type: str, to_id: int, kinds: tuple[int, ...]
    ) -> None:
        """Associate two records with the types at ``kinds``, in both directions."""
        self.links[(from_type, to_type)].setdefault(from_id, {})[to_id] = kinds
        self.links[(to_type, from_type)].setdefault(to_id, {})[from_id] = kinds

    def unlink(self, object_type: str, record_id: int) -> None:
        """Forget every association of a record (it is erased)."""
        for (from_type, to_type), by_id in self.links.items():
            if from_type == object_type:
                for to_id in by_id.pop(record_id, {}):
                    self.links[(to_type, from_type)].get(to_id, {}).pop(record_id, None)


# Seed data vocabularies.
_FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sofia", "Lucas", "Mia", "Ethan",
    "Isabella", "Hugo", "Amelia", "Leo", "Chloe", "Arjun", "Yuki", "Fatima", "Omar", "Zoe",
    "Priya", "Jonas", "Elena", "Marco", "Nina", "Kai", "Lena", "Diego", "Sara", "Tomás",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Rossi", "Kim", "Nguyen", "Silva", "Patel", "Cohen", "Novak",
    "Dubois", "Jensen", "Tanaka", "Okafor", "Larsen", "Moreau", "Kowalski", "Haddad", "Berg",
    "O'Brien", "Fischer", "Costa", "Ivanova", "Schmidt", "Lopez", "Wright", "Ahmed", "Walsh",
)  # fmt: skip
_PLACES = (
    ("Boston", "MA", "United States"),
    ("Austin", "TX", "United States"),
    ("Seattle", "WA", "United States"),
    ("Denver", "CO", "United States"),
    ("New York", "NY", "United States"),
    ("Toronto", "ON", "Canada"),
    ("London", None, "United Kingdom"),
    ("Dublin", None, "Ireland"),
    ("Berlin", None, "Germany"),
    ("Paris", None, "France"),
    ("Lisbon", None, "Portugal"),
    ("Sydney", "NSW", "Australia"),
)
_JOB_TITLES = (
    "CEO", "CTO", "VP Sales", "Head of Marketing", "Account Executive", "Data Engineer",
    "Product Manager", "Operations Lead", "Customer Success Manager", "Software Engineer",
)  # fmt: skip
_CONTACT_STAGES = tuple(value for value, _ in catalog.CONTACT_STAGES)
_LEAD_STATUSES = tuple(value for value, _ in catalog.LEAD_STATUSES)
_COMPANY_STAGES = tuple(value for value, _ in catalog.COMPANY_STAGES)
_INDUSTRIES = tuple(value for value, _ in catalog.INDUSTRIES)
_ANALYTICS_SOURCES = tuple(value for value, _ in catalog.ANALYTICS_SOURCES)
_COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Wonka", "Oscorp", "Pied Piper", "Nakatomi", "Massive Dynamic",
)  # fmt: skip
_COMPANY_SUFFIXES = ("Inc", "LLC", "Group", "Labs", "Systems", "Partners", "GmbH", "Ltd")
_DEAL_STAGES = tuple(stage for stage, *_ in catalog.DEAL_STAGES)
_DEAL_KINDS = ("Renewal", "Expansion", "New license", "Pilot", "Upgrade", "Services")


def _damaged(records: list[dict[str, Any]], fault: str) -> list[dict[str, Any]]:
    """A page's records as the page fault ``fault`` spoils them."""
    if fault == "numeric_ids":
        return [{**r, "id": int(r["id"])} for r in records]
    first = dict(records[0])
    if fault == "missing_ids":
        del first["id"]
    else:
        first["createdAt"] = to_ms(datetime.fromisoformat(first["createdAt"]))
        properties = dict(first.get("properties") or {})
        name = next((k for k in sorted(properties) if k != "hs_object_id"), None)
        if name is not None:
            properties[name] = {"value": properties[name]}
        first["properties"] = properties
    return [first, *records[1:]]


def _timeline(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """(createdAt, updatedAt) pairs spread over the year before ``SEED_EPOCH``, ascending-ish."""
    out: list[tuple[int, int]] = []
    start = _EPOCH_MS - _YEAR_MS
    step = _YEAR_MS / max(count, 1)
    for i in range(count):
        created = start + int((i + rng.random()) * step)
        remaining = _EPOCH_MS - created
        updated = created + int(rng.random() ** 3 * remaining)
        out.append((created, updated))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower().replace("ü", "u").replace("á", "a"))


def _seed_companies(rng: random.Random, count: int) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = []
    for i in range(count):
        word = rng.choice(_COMPANY_WORDS)
        name = f"{word} {rng.choice(_COMPANY_SUFFIXES)}" + (f" {i}" if i >= 16 else "")
        domain = f"{_slug(word)}{i}.example.com"
        city, state, country = rng.choice(_PLACES)
        rows.append(
            {
                "name": name,
                "domain": domain,
                "industry": rng.choice(_INDUSTRIES) if rng.random() < 0.9 else None,
                "city": city,
                "state": state,
                "country": country,
                "phone": f"+1 555-{rng.randrange(1000, 10000)}" if rng.random() < 0.7 else None,
                "numberofemployees": str(rng.choice((5, 12, 25, 50, 120, 250, 800, 2500))),
                "annualrevenue": str(rng.randrange(1, 500) * 100_000)
                if rng.random() < 0.8
                else None,
                "lifecyclestage": rng.choice(_COMPANY_STAGES),
            }
        )
    return rows


def _seed_contacts(
    rng: random.Random, count: int, companies: list[dict[str, str | None]], employers: list[int]
) -> list[dict[str, str | None]]:
    """Contacts, each working at one of ``companies`` (its index appended to ``employers``)."""
    rows: list[dict[str, str | None]] = []
    for i in range(count):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        if companies:
            employers.append(rng.randrange(len(companies)))
            employer = companies[employers[-1]]
            company, domain = employer["name"], employer["domain"]
        else:
            word = rng.choice(_COMPANY_WORDS)
            company, domain = (
                f"{word} {rng.choice(_COMPANY_SUFFIXES)}",
                f"{_slug(word)}.example.com",
            )
        city, state, country = rng.choice(_PLACES)
        rows.append(
            {
                "firstname": first,
                "lastname": last,
                "email": f"{_slug(first)}.{_slug(last)}{i}@{domain}",
                "phone": f"+1 555-{rng.randrange(1000, 10000)}" if rng.random() < 0.6 else None,
                "company": company,
                "jobtitle": rng.choice(_JOB_TITLES) if rng.random() < 0.8 else None,
                "lifecyclestage": rng.choice(_CONTACT_STAGES),
                "city": city,
                "state": state,
                "country": country,
                "website": f"http://www.{domain}" if rng.random() < 0.5 else None,
                "hs_lead_status": rng.choice(_LEAD_STATUSES) if rng.random() < 0.7 else None,
            }
        )
    return rows


def _seed_deals(
    rng: random.Random, count: int, companies: list[dict[str, str | None]], buyers: list[int]
) -> list[dict[str, str | None]]:
    """Deals, each sold to one of ``companies`` (its index appended to ``buyers``)."""
    rows: list[dict[str, str | None]] = []
    for _ in range(count):
        if companies:
            buyers.append(rng.randrange(len(companies)))
            buyer = companies[buyers[-1]]["name"]
        else:
            buyer = rng.choice(_COMPANY_WORDS)
        close = _EPOCH_MS + rng.randrange(-300, 120) * 86_400_000
        rows.append(
            {
                "dealname": f"{buyer} - {rng.choice(_DEAL_KINDS)}",
                "amount": str(rng.randrange(5, 500) * 100) if rng.random() < 0.9 else None,
                "dealstage": rng.choice(_DEAL_STAGES),
                "pipeline": "default",
                "closedate": iso_ms(close) if rng.random() < 0.8 else None,
                "hubspot_owner_id": rng.choice(catalog.OWNER_IDS) if rng.random() < 0.85 else None,
                "dealtype": rng.choice(("newbusiness", "existingbusiness")),
            }
        )
    return rows


def _seed_owned(rng: random.Random, object_type: str, rows: list[dict[str, str | None]]) -> None:
    """Give contacts and companies their owners (and contacts their original source), from
    a random stream of their own, so the rest of the seeded data stays as it was."""
    for row in rows:
        if object_type != "deals":
            row["hubspot_owner_id"] = rng.choice(catalog.OWNER_IDS) if rng.random() < 0.8 else None
        if object_type == "contacts":
            row["hs_analytics_source"] = rng.choice(_ANALYTICS_SOURCES)


def _seed_links(
    account: _Account, rng: random.Random, employers: list[int], buyers: list[int]
) -> None:
    """A contact's employer is its primary company; a deal's buyer its primary company, and
    most deals have one of the buyer's people as their contact. Ids follow creation order."""
    staff: dict[int, list[int]] = {}
    for contact, company in enumerate(employers):
        account.link("contacts", contact + 1, "companies", company + 1, (PRIMARY, UNLABELED))
        staff.setdefault(company, []).append(contact)
    for deal, company in enumerate(buyers):
        account.link("deals", deal + 1, "companies", company + 1, (PRIMARY, UNLABELED))
        people = staff.get(company)
        if people and rng.random() < 0.8:
            account.link("deals", deal + 1, "contacts", rng.choice(people) + 1, (0,))


class HubSpotSandbox(HubSpotWebhooks, CrmSchemaApi, WebhookSandbox[_Account]):
    """HubSpot CRM v3 (``/crm/v3/objects/...``) on 127.0.0.1, one account per token.

    ``rate_limit_per_10s`` (None disables) is the per-account ten-second rolling limit of the
    non-search endpoints; ``search_rate_per_second`` (None disables) the search limit;
    ``search_cap`` the number of results a search query can page through; ``daily_limit``
    (None disables) the per-account daily allowance.
    """

    name = "hubspot"
    account_kind = "account token"
    rate_limit_message = "You have reached your ten_secondly_rolling limit."
    rate_limit_category = "TEN_SECONDLY_ROLLING"
    page_size: int | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_10s: int | None = 190,
        search_rate_per_second: int | None = 5,
        search_cap: int = 10_000,
        daily_limit: int | None = 650_000,
    ) -> None:
        super().__init__(host=host, port=port)
        self.rate_limit_per_10s = rate_limit_per_10s
        self.search_rate_per_second = search_rate_per_second
        self.search_cap = search_cap
        self.daily_limit = daily_limit
        self._search_cache: OrderedDict[tuple[Any, ...], Sequence[int]] = OrderedDict()
        self._page_faults: list[Fault] = []
        obj = r"/crm/v3/objects/(?P<object>[^/]+)"
        self.api("GET", obj, self._list)
        self.api("POST", obj + r"/search", self._search, limit="search")
        self.api("POST", obj + r"/batch/read", self._batch_read)
        self.api("GET", obj + r"/(?P<id>[^/]+)", self._get_one)
        self._route_schema_api()

    # errors

    def error_body(self, status: int, message: str, category: str) -> dict[str, Any]:
        """HubSpot's error shape; for 429 ``category`` is the rate-limit policy name."""
        correlation = str(uuid.uuid4())
        if status == 429:
            return {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "correlationId": correlation,
                "policyName": category,
            }
        return {
            "status": "error",
            "message": message,
            "correlationId": correlation,
            "category": category,
        }

    def fault_headers(self, request: Request, status: int) -> dict[str, str]:
        if status != 429 or request.path.endswith("/search") or self.rate_limit_per_10s is None:
            return {}
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(RATE_INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(self.rate_limit_per_10s),
            "X-HubSpot-RateLimit-Remaining": "0",
        }

    # page faults

    @admin_operation
    def inject_page_fault(
        self, kind: str, *, count: int = 1, path_prefix: str | None = None
    ) -> None:
        """Make the next ``count`` list or search pages under ``path_prefix`` contradict
        themselves: ``no_next`` (no ``paging.next`` though more follow) or ``null_results``
        (``"results": null``)."""
        if kind not in PAGE_FAULTS:
            raise ValueError(f"unknown page fault {kind!r}; expected one of {PAGE_FAULTS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._page_faults.append(Fault(kind, int(count), path_prefix=path_prefix))

    def _page_fault(self, request: Request, has_next: bool) -> str | None:
        """The page fault this answer takes, if any (``no_next`` only where a next page is)."""
        with self._lock:
            for index, fault in enumerate(self._page_faults):
                if fault.matches(request.path) and (fault.kind != "no_next" or has_next):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._page_faults[index]
                    return fault.kind
        return None

    def _page_body(self, request: Request, results: bytes, paging: dict[str, Any] | None) -> bytes:
        fault = self._page_fault(request, paging is not None)
        listed = b"[" + results + b"]"
        if fault in ("missing_ids", "numeric_ids", "wrong_types") and results:
            listed = json_bytes(_damaged(json.loads(listed), fault))
        body = b'{"results":' + (b"null" if fault == "null_results" else listed)
        if paging is not None and fault != "no_next":
            body += b',"paging":' + json_bytes(paging)
        return body

    # accounts and records (admin operations)

    @admin_operation
    def add_account(
        self,
        token: str,
        *,
        seed: int = 0,
        contacts: int = 0,
        companies: int = 0,
        deals: int = 0,
    ) -> None:
        """Create the account of private-app ``token`` holding deterministic seeded records."""
        if not token:
            raise ValueError("token must be a non-empty string")
        account = _Account(token=token, seed=seed, owners=catalog.seed_owners(seed))
        company_rows = _seed_companies(random.Random(f"{seed}:companies"), companies)
        employers: list[int] = []
        buyers: list[int] = []
        seeded = {
            "companies": company_rows,
            "contacts": _seed_contacts(
                random.Random(f"{seed}:contacts"), contacts, company_rows, employers
            ),
            "deals": _seed_deals(random.Random(f"{seed}:deals"), deals, company_rows, buyers),
        }
        for object_type, rows in seeded.items():
            _seed_owned(random.Random(f"{seed}:{object_type}:owners"), object_type, rows)
            store = account.stores[object_type]
            times = _timeline(random.Random(f"{seed}:{object_type}:time"), len(rows))
            for props, (created, updated) in zip(rows, times, strict=True):
                record = self._new_record(object_type, store, props, created)
                self._touch(object_type, record, updated)
        _seed_links(account, random.Random(f"{seed}:links"), employers, buyers)
        self.accounts.add(token, account)

    @admin_operation
    def tokens(self) -> list[str]:
        return self.accounts.keys()

    @admin_operation
    def create(
        self,
        token: str,
        object_type: str,
        properties: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create a record (created and modified at ``at`` or now); returns it as the API would."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account, object_type, store = self._locate(token, object_type)
            self._register_properties(account, object_type, properties)
            record = self._new_record(object_type, store, properties, when)
            account.version += 1
            self.emit_change(token, object_type, "creation", record.id, when)
            return self._render(record, None, object_type, all_properties=True)

    @admin_operation
    def update(
        self,
        token: str,
        object_type: str,
        record_id: str | int,
        properties: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Merge ``properties`` into a live record and bump its modification time."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account, object_type, store = self._locate(token, object_type)
            record = self._record(store, record_id, archived=False)
            self._register_properties(account, object_type, properties)
            for name, value in properties.items():
                if name not in (
                    "hs_object_id",
                    CREATED_PROPERTY[object_type],
                    LAST_MODIFIED_PROPERTY[object_type],
                ):
                    record.properties[name] = _as_property_value(value)
            self._touch(object_type, record, when)
            account.version += 1
            self.emit_change(token, object_type, "propertyChange", record.id, when, properties)
            return self._render(record, None, object_type, all_properties=True)

    @admin_operation
    def archive(
        self, token: str, object_type: str, record_id: str | int, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Archive (soft-delete) a live record, as ``DELETE /crm/v3/objects/...`` does."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account, object_type, store = self._locate(token, object_type)
            record = self._record(store, record_id, archived=False)
            archived = self._set_archived(account, object_type, store, record, when)
            self.emit_change(token, object_type, "deletion", record.id, when)
            return archived

    @admin_operation
    def restore(
        self, token: str, object_type: str, record_id: str | int, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Bring an archived record back, modified at ``at`` or now."""
        when = to_ms(at) if at is not None else _now_ms()
        with self._data:
            account, object_type, store = self._locate(token, object_type)
            record = self._record(store, record_id, archived=True)
            restored = self._set_archived(account, object_type, store, record, when, archived=False)
            self.emit_change(token, object_type, "restore", record.id, when)
            return restored

    def _set_archived(
        self,
        account: _Account,
        object_type: str,
        store: _Store,
        record: _Record,
        when: int,
        *,
        archived: bool = True,
    ) -> dict[str, Any]:
        """Move a record between the live and archived lists, modified at ``when``."""
        record.archived_ms = when if archived else None
        self._touch(object_type, record, when)
        source, target = (
            (store.active, store.archived) if archived else (store.archived, store.active)
        )
        source.pop(bisect_left(source, record.id))
        insort(target, record.id)
        account.version += 1
        return self._render(record, None, object_type, all_properties=True)

    @admin_operation
    def erase(self, token: str, object_type: str, record_id: str | int) -> None:
        """Delete a record (live or archived) for good, as a GDPR delete does: no trace is left."""
        with self._data:
            account, object_type, store = self._locate(token, object_type)
            record = self._record(store, record_id, archived=None)
            ids = store.archived if record.archived else store.active
            ids.pop(bisect_left(ids, record.id))
            del store.records[record.id]
            account.unlink(object_type, record.id)
            account.version += 1
            self.emit_change(token, object_type, "privacyDeletion", record.id, _now_ms())

    @admin_operation
    def get(self, token: str, object_type: str, record_id: str | int) -> dict[str, Any]:
        """A record (live or archived) with all its properties; KeyError if unknown."""
        with self._data:
            _, object_type, store = self._locate(token, object_type)
            record = self._record(store, record_id, archived=None)
            return self._render(record, None, object_type, all_properties=True)

    @admin_operation
    def ids(self, token: str, object_type: str, archived: bool = False) -> list[str]:
        """Ids of the live (or archived) records, ascending."""
        with self._data:
            _, _, store = self._locate(token, object_type)
            return [str(i) for i in (store.archived if archived else store.active)]

    def _locate(self, token: str, object_type: str) -> tuple[_Account, str, _Store]:
        account = self.accounts[token]
        canonical = OBJECT_ALIASES.get(object_type)
        if canonical is None:
            raise KeyError(f"unknown object type {object_type!r}")
        return account, canonical, account.stores[canonical]

    @staticmethod
    def _record(store: _Store, record_id: str | int, *, archived: bool | None) -> _Record:
        try:
            record = store.records[int(record_id)]
        except (KeyError, ValueError):
            raise KeyError(f"unknown record {record_id!r}") from None
        if archived is not None and record.archived != archived:
            state = "archived" if record.archived else "not archived"
            raise KeyError(f"record {record_id!r} is {state}")
        return record

    @staticmethod
    def _register_properties(
        account: _Account, object_type: str, properties: dict[str, Any]
    ) -> None:
        """A property no definition names yet becomes a custom text property, as if made in
        HubSpot's settings first (``create_property`` makes one of another type)."""
        definitions = account.definitions[object_type]
        for name in properties:
            if name not in definitions:
                definitions[name] = catalog.custom_definition(
                    object_type,
                    name,
                    label=name.replace("_", " ").capitalize(),
                    type="string",
                    field_type="text",
                    group_name=None,
                    description="",
                    options=None,
                    has_unique_value=False,
                    at=_now_ms(),
                    display_order=-1,
                )

    @staticmethod
    def _new_record(
        object_type: str, store: _Store, properties: dict[str, Any], created: int
    ) -> _Record:
        record_id = store.next_id
        store.next_id += 1
        props: dict[str, str | None] = {p: None for p in PROPERTIES[object_type]}
        props.update({k: _as_property_value(v) for k, v in properties.items()})
        props["hs_object_id"] = str(record_id)
        props[CREATED_PROPERTY[object_type]] = iso_ms(created)
        record = _Record(record_id, props, created, created)
        HubSpotSandbox._touch(object_type, record, created)
        store.records[record_id] = record
        store.active.append(record_id)
        return record

    @staticmethod
    def _touch(object_type: str, record: _Record, when: int) -> None:
        record.rev += 1
        record.updated_ms = when
        record.properties[LAST_MODIFIED_PROPERTY[object_type]] = iso_ms(when)

    def _rendered(
        self, store: _Store, ids: Iterable[int], names: tuple[str, ...], object_type: str
    ) -> bytes:
        """The records as comma-joined JSON; each record is serialized once per revision
        and property selection, so large pages cost the sandbox almost nothing."""
        fragments = store.fragments.setdefault(names, {})
        parts = []
        for i in ids:
            record = store.records[i]
            cached = fragments.get(i)
            if cached is None or cached[0] != record.rev:
                cached = (record.rev, json_bytes(self._render(record, names, object_type)))
                fragments[i] = cached
            parts.append(cached[1])
        return b",".join(parts)

    @staticmethod
    def _render(
        record: _Record,
        names: Iterable[str] | None,
        object_type: str,
        *,
        all_properties: bool = False,
    ) -> dict[str, Any]:
        props = record.properties
        if all_properties:
            selected = {k: props[k] for k in sorted(props)}
        else:
            selected = {k: props.get(k) for k in names or DEFAULT_PROPERTIES[object_type]}
        out: dict[str, Any] = {
            "id": str(record.id),
            "properties": selected,
            "createdAt": iso_ms(record.created_ms),
            "updatedAt": iso_ms(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived_ms is not None:
            out["archivedAt"] = iso_ms(record.archived_ms)
        return out

    # provider hooks: authentication, rate limits

    def authenticate(self, request: Request) -> _Account:
        account = self.accounts.get(bearer_token(request))
        if account is None:
            raise SandboxError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
        return account

    def charge(self, request: Request, account: _Account | None, limit: str) -> dict[str, str]:
        """The daily allowance, then the search endpoints' per-second limit (no headers) or
        the others' ten-second rolling limit, with HubSpot's headers."""
        assert account is not None
        retry = account.daily.check(self.daily_limit)
        if retry:
            raise SandboxError(
                429,
                "You have reached your daily limit.",
                "DAILY",
                {"Retry-After": str(retry), **self._daily_headers(account)},
            )
        headers: dict[str, str] = {}
        if limit == "search":
            if account.search_window.take(self.search_rate_per_second):
                raise SandboxError(
                    429, "You have reached your secondly limit.", "SECONDLY", {"Retry-After": "1"}
                )
            account.daily.add()
            return headers
        per_10s = self.rate_limit_per_10s
        if per_10s is not None:
            retry = account.ten_second_window.take(per_10s)
            if retry:
                raise SandboxError(
                    429,
                    self.rate_limit_message,
                    self.rate_limit_category,
                    {
                        "Retry-After": str(retry),
                        **self._interval_headers(per_10s, 0),
                        **self._daily_headers(account),
                    },
                )
            remaining = per_10s - account.ten_second_window.used
            headers.update(self._interval_headers(per_10s, remaining))
        account.daily.add()
        headers.update(self._daily_headers(account))
        return headers

    @staticmethod
    def _interval_headers(limit: int, remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(RATE_INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(remaining, 0)),
        }

    def _daily_headers(self, account: _Account) -> dict[str, str]:
        if self.daily_limit is None:
            return {}
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(
                max(self.daily_limit - account.daily.used, 0)
            ),
        }

    @staticmethod
    def _object_store(account: _Account, name: str) -> tuple[str, _Store]:
        object_type = object_type_of(name)
        return object_type, account.stores[object_type]

    @staticmethod
    def _selected(
        account: _Account, object_type: str, requested: list[str] | None
    ) -> tuple[str, ...]:
        """Requested properties that exist, plus the ones HubSpot always returns."""
        if not requested:
            return DEFAULT_PROPERTIES[object_type]
        known = account.known_properties(object_type)
        names = {p for p in requested if p in known}
        names.update(
            ("hs_object_id", CREATED_PROPERTY[object_type], LAST_MODIFIED_PROPERTY[object_type])
        )
        return tuple(sorted(names))

    # GET /crm/v3/objects/{object}

    def _list(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, LIST_PARAMS, ("sort", "order_by"))
        refuse_set(request, ("propertiesWithHistory",))
        object_type, store = self._object_store(account, request.params["object"])
        limit = min(
            _int_param(request.arg("limit"), "limit", 10, minimum=1),
            self.page_size or MAX_LIST_LIMIT,
            MAX_LIST_LIMIT,
        )
        after = _int_param(request.arg("after") or None, "after", 0, minimum=0)
        archived = _bool_param(request.arg("archived"), "archived")
        names = self._selected(account, object_type, list(iter_query_list(request, "properties")))
        targets = self.association_targets(request, object_type)
        with self._data:
            ids = store.archived if archived else store.active
            start = bisect_left(ids, after)
            page = ids[start : start + limit]
            more = start + limit < len(ids)
            if targets:
                results = b",".join(
                    json_bytes(
                        self._with_associations(
                            account, object_type, store.records[i], names, targets
                        )
                    )
                    for i in page
                )
            else:
                results = self._rendered(store, page, names, object_type)
        paging = self._next_page(request, str(page[-1] + 1)) if more else None
        return Response(200, self._page_body(request, results, paging) + b"}")

    def _with_associations(
        self,
        account: _Account,
        object_type: str,
        record: _Record,
        names: tuple[str, ...],
        targets: list[str],
    ) -> dict[str, Any]:
        """A record as an object read with ``associations=`` renders it."""
        out = self._render(record, names, object_type)
        associations = self.record_associations(account, object_type, record.id, targets)
        if associations:
            out["associations"] = associations
        return out

    # GET /crm/v3/objects/{object}/{id}

    def _get_one(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, GET_PARAMS)
        refuse_set(request, ("propertiesWithHistory", "idProperty"))
        object_type, store = self._object_store(account, request.params["object"])
        archived = _bool_param(request.arg("archived"), "archived")
        names = self._selected(account, object_type, list(iter_query_list(request, "properties")))
        targets = self.association_targets(request, object_type)
        with self._data:
            try:
                record = self._record(store, request.params["id"], archived=archived)
            except KeyError:
                raise SandboxError(404, "resource not found", "OBJECT_NOT_FOUND") from None
            return json_response(
                self._with_associations(account, object_type, record, names, targets)
            )

    # POST /crm/v3/objects/{object}/batch/read

    def _batch_read(self, request: Request, account: _Account) -> Response:
        """Objects by id (``inputs``, at most 100). Ids it does not have — unknown, or
        archived unless ``archived=true`` — are left out of ``results`` and named in an
        ``OBJECT_NOT_FOUND`` error, and the answer is 207 Multi-Status."""
        object_type, store = self._object_store(account, request.params["object"])
        refuse_unknown(request, {"archived"})
        archived = _bool_param(request.arg("archived"), "archived")
        body = request.json()
        if not isinstance(body, dict):
            raise SandboxError(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        extra = sorted(set(body) - BATCH_READ_FIELDS)
        if extra:
            raise SandboxError(400, f"Unrecognized field {extra[0]!r}", "VALIDATION_ERROR")
        for name in ("propertiesWithHistory", "idProperty"):
            if body.get(name):
                raise SandboxError(400, f"{name} is not simulated", "VALIDATION_ERROR")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in inputs
        ):
            raise SandboxError(
                400, "inputs must be a list of objects with a string id", "VALIDATION_ERROR"
            )
        if len(inputs) > MAX_BATCH_INPUTS:
            raise SandboxError(
                400,
                f"The maximum number of inputs supported in a batch request is {MAX_BATCH_INPUTS}.",
                "VALIDATION_ERROR",
            )
        requested = body.get("properties")
        if requested is not None and not (
            isinstance(requested, list) and all(isinstance(p, str) for p in requested)
        ):
            raise SandboxError(400, "properties must be a list of strings", "VALIDATION_ERROR")
        names = self._selected(account, object_type, requested)
        started = iso_ms(_now_ms())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self._data:
            for record_id in dict.fromkeys(i["id"] for i in inputs):
                try:
                    record = self._record(store, record_id, archived=archived)
                except KeyError:
                    missing.append(record_id)
                    continue
                results.append(self._render(record, names, object_type))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(_now_ms()),
        }
        if not missing:
            return json_response(answer)
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {OBJECT_LABELS[object_type]} objects, they may "
                "be deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
                "links": {},
                "errors": [],
            }
        ]
        return json_response(answer, 207)

    # POST /crm/v3/objects/{object}/search

    def _search(self, request: Request, account: _Account) -> Response:
        object_type, store = self._object_store(account, request.params["object"])
        refuse_unknown(request, ())
        body = request.json()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise SandboxError(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        extra = sorted(set(body) - SEARCH_FIELDS)
        if extra:
            raise SandboxError(400, f"Unrecognized field {extra[0]!r}", "VALIDATION_ERROR")
        limit = _int_param(body.get("limit"), "limit", 10, minimum=0)
        if limit > MAX_SEARCH_LIMIT:
            raise SandboxError(
                400,
                f"limit must be less than or equal to {MAX_SEARCH_LIMIT}",
                "VALIDATION_ERROR",
            )
        limit = min(limit, self.page_size or limit)
        after = _int_param(body.get("after") or None, "after", 0, minimum=0)
        if after >= self.search_cap:
            raise SandboxError(
                400,
                f"There was a problem with the request. The search API can only return the "
                f"first {self.search_cap} results of a query (after={after}).",
                "VALIDATION_ERROR",
            )
        requested = body.get("properties")
        if requested is not None and not (
            isinstance(requested, list) and all(isinstance(p, str) for p in requested)
        ):
            raise SandboxError(400, "properties must be a list of strings", "VALIDATION_ERROR")
        names = self._selected(account, object_type, requested)
        with self._data:
            known = account.known_properties(object_type)
            groups = _compile_filter_groups(body.get("filterGroups"), known, object_type)
            sort = _compile_sorts(body.get("sorts"), known)
            text = body.get("query")
            if text is not None and not isinstance(text, str):
                raise SandboxError(400, "query must be a string", "VALIDATION_ERROR")
            key = (
                account.token,
                object_type,
                account.version,
                json.dumps([body.get("filterGroups"), body.get("sorts"), text], sort_keys=True),
            )
            matches = self._search_cache.get(key)
            if matches is None:
                self._forget_stale_searches(account, object_type)
                since = _modified_since_query(body, object_type)
                if since is not None:
                    matches = _modified_since(store, account.version, *since)
                else:
                    matches = _matching_ids(store, object_type, groups, sort, text)
                self._search_cache[key] = matches
                while len(self._search_cache) > 64:
                    self._search_cache.popitem(last=False)
            else:
                self._search_cache.move_to_end(key)
            total = len(matches)
            end = min(after + limit, total, self.search_cap)
            results = self._rendered(store, matches[after:end], names, object_type)
        paging = {"next": {"after": str(end)}} if end < total and end < self.search_cap else None
        page = self._page_body(request, results, paging)
        return Response(200, b'{"total":' + str(total).encode() + b"," + page[1:] + b"}")

    def _forget_stale_searches(self, account: _Account, object_type: str) -> None:
        """Drop the cached answers of this account's earlier versions, which no search
        can hit again. They hold the old modified-time index: freed on eviction, dozens
        of requests later, it would stall that request for a quarter of a second."""
        stale = [
            key
            for key in self._search_cache
            if key[:2] == (account.token, object_type) and key[2] != account.version
        ]
        for key in stale:
            del self._search_cache[key]

    # paging (admin operation)

    @admin_operation
    def set_page_size(self, size: int | None) -> None:
        """Answer at most ``size`` records a list or search page, fewer than the request's
        ``limit`` asks (``none``: as many as it asks), so a small account spans many pages."""
        if size is not None and size < 1:
            raise ValueError("size must be at least 1")
        self.page_size = size


# search evaluation

_Predicate = Callable[[_Record], bool]


def _typed(name: str, raw: Any) -> Any:
    """A property value as search compares it: epoch ms, number or lower-cased string."""
    if raw is None or raw == "":
        return None
    if name in DATETIME_PROPERTIES:
        return parse_time(raw)
    if name in NUMBER_PROPERTIES:
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    return str(raw).lower()


def _value_getter(name: str, object_type: str) -> Callable[[_Record], Any]:
    """Reads a property's typed value; mirrored timestamps come straight from the record."""
    if name == CREATED_PROPERTY[object_type]:
        return lambda r: r.created_ms
    if name == LAST_MODIFIED_PROPERTY[object_type]:
        return lambda r: r.updated_ms
    if name == "hs_object_id":
        return lambda r: float(r.id)
    return lambda r: _typed(name, r.properties.get(name))


def _compile_filter(spec: Any, known: set[str], object_type: str) -> _Predicate:
    if not isinstance(spec, dict):
        raise SandboxError(400, "each filter must be an object", "VALIDATION_ERROR")
    name, operator = spec.get("propertyName"), spec.get("operator", "EQ")
    if not isinstance(name, str) or not name:
        raise SandboxError(400, "filter propertyName is required", "VALIDATION_ERROR")
    if name not in known:
        raise SandboxError(400, f"Property {name!r} does not exist", "VALIDATION_ERROR")
    if operator not in OPERATORS:
        raise SandboxError(400, f"Unknown filter operator {operator!r}", "VALIDATION_ERROR")

    value_of = _value_getter(name, object_type)

    if operator == "HAS_PROPERTY":
        return lambda r: value_of(r) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: value_of(r) is None

    def target(key: str) -> Any:
        if key not in spec:
            raise SandboxError(
                400, f"{operator} filter on {name} needs '{key}'", "VALIDATION_ERROR"
            )
        value = _typed(name, spec[key])
        if value is None:
            raise SandboxError(
                400, f"Invalid value {spec[key]!r} for property {name}", "VALIDATION_ERROR"
            )
        return value

    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SandboxError(400, f"{operator} filter needs 'values'", "VALIDATION_ERROR")
        wanted = {_typed(name, v) for v in values}
        if operator == "IN":
            return lambda r: value_of(r) in wanted
        return lambda r: (v := value_of(r)) is not None and v not in wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", "")).lower()
        pattern = re.compile(re.escape(token).replace(r"\*", ".*"))

        def contains(r: _Record) -> bool:
            raw = r.properties.get(name)
            if not raw:
                return False
            text = str(raw).lower()
            return any(pattern.fullmatch(t) for t in [text, *re.split(r"[\s@.,;:/_-]+", text)])

        if operator == "CONTAINS_TOKEN":
            return contains
        return lambda r: not contains(r)
    if operator == "BETWEEN":
        low, high = target("value"), target("highValue")
        return lambda r: (v := value_of(r)) is not None and low <= v <= high
    wanted_value = target("value")
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == wanted_value,
        "NEQ": lambda v: v != wanted_value,
        "LT": lambda v: v < wanted_value,
        "LTE": lambda v: v <= wanted_value,
        "GT": lambda v: v > wanted_value,
        "GTE": lambda v: v >= wanted_value,
    }
    check = compare[operator]
    return lambda r: (v := value_of(r)) is not None and check(v)


def _compile_filter_groups(spec: Any, known: set[str], object_type: str) -> list[list[_Predicate]]:
    if spec is None:
        return []
    if not isinstance(spec, list):
        raise SandboxError(400, "filterGroups must be a list", "VALIDATION_ERROR")
    if len(spec) > MAX_FILTER_GROUPS:
        raise SandboxError(
            400, f"At most {MAX_FILTER_GROUPS} filterGroups are allowed", "VALIDATION_ERROR"
        )
    groups: list[list[_Predicate]] = []
    total = 0
    for group in spec:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SandboxError(400, "each filterGroup needs a 'filters' list", "VALIDATION_ERROR")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SandboxError(
                400,
                f"At most {MAX_FILTERS_PER_GROUP} filters are allowed in a filterGroup",
                "VALIDATION_ERROR",
            )
        total += len(filters)
        groups.append([_compile_filter(f, known, object_type) for f in filters])
    if total > MAX_FILTERS:
        raise SandboxError(400, f"At most {MAX_FILTERS} filters are allowed", "VALIDATION_ERROR")
    return [g for g in groups if g]


def _compile_sorts(spec: Any, known: set[str]) -> tuple[str, bool] | None:
    """The one sort HubSpot allows: (property, descending)."""
    if not spec:
        return None
    if not isinstance(spec, list):
        raise SandboxError(400, "sorts must be a list", "VALIDATION_ERROR")
    if len(spec) > 1:
        raise SandboxError(400, "Only one sort is allowed", "VALIDATION_ERROR")
    item = spec[0]
    if isinstance(item, str):
        name, direction = item.lstrip("-"), "DESCENDING" if item.startswith("-") else "ASCENDING"
    elif isinstance(item, dict):
        name, direction = item.get("propertyName"), item.get("direction", "ASCENDING")
    else:
        raise SandboxError(400, "each sort must be an object", "VALIDATION_ERROR")
    if not isinstance(name, str) or name not in known:
        raise SandboxError(400, f"Property {name!r} does not exist", "VALIDATION_ERROR")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise SandboxError(400, f"Invalid sort direction {direction!r}", "VALIDATION_ERROR")
    return name, direction == "DESCENDING"


def _modified_since_query(
    body: dict[str, Any], object_type: str
) -> tuple[int, bool, frozenset[int]] | None:
    """``(millis, inclusive, excluded ids)`` when the query is "modified since, oldest
    first", optionally leaving out some records by ``hs_object_id``, and nothing else.

    That is the query every incremental sync sends; answering it from a sorted index keeps
    the sandbox fast at a million records, as HubSpot's own index does.
    """
    prop = LAST_MODIFIED_PROPERTY[object_type]
    groups, sorts = body.get("filterGroups"), body.get("sorts")
    if body.get("query") or not isinstance(groups, list) or len(groups) != 1:
        return None
    filters = groups[0].get("filters") if isinstance(groups[0], dict) else None
    if not isinstance(filters, list) or not 1 <= len(filters) <= 2:
        return None
    if not all(isinstance(f, dict) for f in filters):
        return None
    since_filter, *rest = filters
    if since_filter.get("propertyName") != prop or since_filter.get("operator") not in (
        "GTE",
        "GT",
    ):
        return None
    excluded: frozenset[int] = frozenset()
    if rest:
        (other,) = rest
        values = other.get("values")
        if (
            other.get("propertyName") != "hs_object_id"
            or other.get("operator") != "NOT_IN"
            or not isinstance(values, list)
            or not all(str(v).isdigit() for v in values)
        ):
            return None
        excluded = frozenset(int(v) for v in values)
    if sorts not in ([{"propertyName": prop, "direction": "ASCENDING"}], [prop]):
        return None
    since = parse_time(since_filter.get("value"))
    if since is None:
        return None
    return since, since_filter["operator"] == "GTE", excluded


class _IndexTail(Sequence[int]):
    """Record ids from ``start`` to the end of a modified-time index, read lazily, less
    the entries at the index positions ``skipped``: a keyset query over a million records
    then costs only the page it returns."""

    def __init__(self, index: list[tuple[int, int]], start: int, skipped: list[int]) -> None:
        self.index = index
        self.start = start
        self.skipped = sorted(p for p in set(skipped) if p >= start)

    def __len__(self) -> int:
        return len(self.index) - self.start - len(self.skipped)

    def _position(self, logical: int) -> int:
        """The index position of the ``logical``-th id kept."""
        position = self.start + logical
        for skipped in self.skipped:
            if skipped > position:
                break
            position += 1
        return position

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> list[int]: ...
    def __getitem__(self, key: int | slice) -> int | list[int]:
        if isinstance(key, int):
            return self.index[self._position(range(len(self))[key])][1]
        low, high, _ = key.indices(len(self))
        ids: list[int] = []
        position = self._position(low) if low < high else len(self.index)
        skipped = set(self.skipped)
        while len(ids) < high - low:
            if position not in skipped:
                ids.append(self.index[position][1])
            position += 1
        return ids


def _modified_since(
    store: _Store, version: int, since: int, inclusive: bool, excluded: frozenset[int]
) -> Sequence[int]:
    """The ids modified since ``since``, less ``excluded``, oldest first (ties by id)."""
    if store.modified_index is None or store.modified_index[0] != version:
        index = sorted((store.records[i].updated_ms, i) for i in store.active)
        store.modified_index = (version, index)
    index = store.modified_index[1]
    start = bisect_left(index, (since, 0) if inclusive else (since + 1, 0))
    skipped = []
    for record_id in excluded:
        record = store.records.get(record_id)
        if record is None:
            continue
        position = bisect_left(index, (record.updated_ms, record_id))
        if position < len(index) and index[position] == (record.updated_ms, record_id):
            skipped.append(position)
    return _IndexTail(index, start, skipped)


def _matching_ids(
    store: _Store,
    object_type: str,
    groups: list[list[_Predicate]],
    sort: tuple[str, bool] | None,
    text: str | None,
) -> list[int]:
    """Ids of live records matching any filter group, sorted; ties (and no sort) by id."""
    records = [store.records[i] for i in store.active]
    if groups:
        records = [r for r in records if any(all(f(r) for f in g) for g in groups)]
    if text:
        needle = text.lower()
        fields = SEARCH_TEXT_PROPERTIES.get(object_type, ())
        records = [
            r for r in records if any(needle in (r.properties.get(p) or "").lower() for p in fields)
        ]
    if sort is not None:
        name, descending = sort
        value_of = _value_getter(name, object_type)
        keyed = [(value_of(r), r) for r in records]
        present = [(k, r) for k, r in keyed if k is not None]
        present.sort(key=lambda kr: kr[0], reverse=descending)
        records = [r for _, r in present] + [r for k, r in keyed if k is None]
    return [r.id for r in records]
