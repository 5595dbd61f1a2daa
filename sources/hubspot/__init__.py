"""HubSpot CRM: contacts, companies and deals through the CRM v3 API.

Full listings page through ``GET /crm/v3/objects/{object}``; incremental runs search on
the last-modified property from the cursor, and list archived objects as deletions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import requests

from sources.cursors import SAFETY_MARGIN, advance
from sources.http import ApiClient, BearerAuth
from sources.hubspot.api import OBJECTS, RECORD_SHAPE, HubSpotApi, to_millis
from sources.hubspot.config import HubSpotConfig, HubSpotCredentials
from sources.hubspot.models import Company, Contact, Deal
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    SyncSpec,
    imported_on_call,
)


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


def extract(ctx: ExtractContext) -> Iterator[Page]:
    config: HubSpotConfig = ctx.config
    credentials: HubSpotCredentials = ctx.credentials
    client = ApiClient(
        config.base_url,
        connection_id=ctx.connection_id,
        auth=BearerAuth(credentials.access_token.get_secret_value()),
        request_log=ctx.http,
        pacer=pace,
    )
    api = HubSpotApi(client)
    started = datetime.now(UTC)
    for model in ctx.sync.models:
        object_type = OBJECTS[model]
        properties = list(
            dict.fromkeys([*object_type.default_properties, *config.extra_properties(model)])
        )
        cursor = ctx.cursors.get(model) or {}
        since = cursor.get("modified_since") if not ctx.full_listing else None
        newest: int | None = None
        pages = (
            api.search_modified_since(model, since, properties)
            if since is not None
            else api.list_objects(model, properties)
        )
        for results in pages:
            latest = HubSpotApi.latest_modified(results, object_type.modified_property)
            if latest is not None:
                newest = latest if newest is None else max(newest, latest)
            yield Page(model, results, raw=getattr(results, "raw", None))
        if since is not None:
            for results in api.list_objects(model, ["hs_object_id"], archived=True):
                gone = [
                    {"id": r["id"], "deleted_at": r.get("archivedAt")}
                    for r in results
                    if r.get("archivedAt") and to_millis(r["archivedAt"]) >= since
                ]
                if gone:
                    yield Page(model, gone, deleted=True)
        ceiling = to_millis(started - SAFETY_MARGIN)
        ctx.new_cursors[model] = {"modified_since": advance(since, newest, ceiling)}


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
        ),
        "companies": ModelSpec(
            "companies",
            Company,
            frozenset({"updated_at", "hs_lastmodifieddate"}),
            "companies",
            shape=RECORD_SHAPE,
        ),
        "deals": ModelSpec(
            "deals",
            Deal,
            frozenset({"updated_at", "hs_lastmodifieddate"}),
            "deals",
            shape=RECORD_SHAPE,
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
    rate_limit_pacer=pace,
    sandbox=imported_on_call("sources.hubspot.sandbox.demo", "start_demo_sandbox"),
)
