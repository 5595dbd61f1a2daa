"""HubSpot CRM: contacts, companies and deals through the CRM v3 API.

Full listings page through ``GET /crm/v3/objects/{object}``; incremental runs search on
the last-modified property from the cursor, and list archived objects as deletions.
Records are read by id with ``POST /crm/v3/objects/{object}/batch/read``, which is also
how the app's webhooks are applied (``webhooks``): HubSpot's events name records only.
A record's ``updatedAt`` is its version: an older one never replaces a newer one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import requests

from sources.cursors import CursorSpec
from sources.dlt_source import integration_source
from sources.http import ApiClient, BearerAuth
from sources.hubspot.api import OBJECTS, RECORD_SHAPE, HubSpotApi, to_millis
from sources.hubspot.config import HubSpotConfig, HubSpotCredentials
from sources.hubspot.models import Company, Contact, Deal
from sources.hubspot.webhooks import WEBHOOKS
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    RecordRef,
    SyncSpec,
    imported_on_call,
)

Context = ExtractContext[HubSpotConfig, HubSpotCredentials]


def pace(response: requests.Response) -> float:
    """Wait out the rest of the 10-second window when HubSpot says it is nearly used up."""
    remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining is None or interval is None:
        return 0.0
    try:
        if int(remaining) <= 1:
            return int(interval) / 1000
    except ValueError:
        return 0.0
    return 0.0


def connect(ctx: Context) -> HubSpotApi:
    client = ApiClient(
        ctx.config.base_url,
        connection_id=ctx.connection_id,
        auth=BearerAuth(ctx.credentials.access_token.get_secret_value()),
        request_log=ctx.request_log,
        pacer=pace,
    )
    return HubSpotApi(client)


def properties(api: HubSpotApi, config: HubSpotConfig, model: str) -> list[str]:
    """The properties a connection reads of ``model``: the defaults and the extra ones it
    names, or with ``all`` every live property the account defines, asked for on each call,
    so a property added in HubSpot is read from the next run on."""
    defaults = OBJECTS[model].default_properties
    extra = (
        api.property_names(model)
        if config.all_properties(model)
        else config.extra_properties(model)
    )
    return list(dict.fromkeys([*defaults, *extra]))


def extract(ctx: Context) -> Iterator[Page]:
    api = connect(ctx)
    for model in ctx.sync.models:
        since = ctx.cursor(model).since()
        since_ms = None if since is None else to_millis(since)
        wanted = properties(api, ctx.config, model)
        pages = (
            api.search_modified_since(model, since_ms, wanted)
            if since_ms is not None
            else api.list_objects(model, wanted)
        )
        for results in pages:
            yield Page(model, results, raw=getattr(results, "raw", None))
        if since_ms is not None:
            for results in api.list_objects(model, ["hs_object_id"], archived=True):
                gone = [
                    {"id": r["id"], "deleted_at": r.get("archivedAt")}
                    for r in results
                    if r.get("archivedAt") and to_millis(r["archivedAt"]) >= since_ms
                ]
                if gone:
                    yield Page(model, gone, deleted=True)


def fetch(ctx: Context, model: str, refs: Sequence[RecordRef]) -> Iterator[Page]:
    """The records by id; archived and erased ones come back absent, as tombstones."""
    api = connect(ctx)
    for results, missing in api.read_batch(
        model, [r.id for r in refs], properties(api, ctx.config, model)
    ):
        if results:
            yield Page(model, results, raw=results.raw)
        if missing:
            yield Page(model, [{"id": record_id} for record_id in missing], deleted=True)


SPEC = IntegrationSpec(
    name="hubspot",
    title="HubSpot CRM",
    description="contacts, companies and deals from HubSpot's CRM v3 API",
    config_model=HubSpotConfig,
    credentials_model=HubSpotCredentials,
    models={
        "contacts": ModelSpec(
            "contacts",
            Contact,
            frozenset({"updated_at", "lastmodifieddate"}),
            "CRM contacts",
            shape=RECORD_SHAPE,
            cursor=CursorSpec.timestamp(OBJECTS["contacts"].modified_property),
            version="updated_at",
        ),
        "companies": ModelSpec(
            "companies",
            Company,
            frozenset({"updated_at", "hs_lastmodifieddate"}),
            "companies",
            shape=RECORD_SHAPE,
            cursor=CursorSpec.timestamp(OBJECTS["companies"].modified_property),
            version="updated_at",
        ),
        "deals": ModelSpec(
            "deals",
            Deal,
            frozenset({"updated_at", "hs_lastmodifieddate"}),
            "deals",
            shape=RECORD_SHAPE,
            cursor=CursorSpec.timestamp(OBJECTS["deals"].modified_property),
            version="updated_at",
        ),
    },
    syncs={
        "crm": SyncSpec(
            "crm",
            ("contacts", "companies", "deals"),
            default_frequency=timedelta(minutes=30),
            description="contacts, companies and deals",
        )
    },
    extract=extract,
    fetch=fetch,
    sandbox=imported_on_call("sources.hubspot.sandbox.demo", "start_demo_sandbox"),
    webhooks=WEBHOOKS,
)

source = integration_source(SPEC)
