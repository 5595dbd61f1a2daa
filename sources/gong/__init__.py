"""Gong: calls and their transcripts through the Gong API v2.

Every run lists calls by start time, page by page, and asks for the transcripts of each
page's calls. A full listing reads from the connection's ``start_date``; an incremental run
from the cursor — the start of the newest call seen — less ``lookback_minutes``, because
Gong makes a call readable only once it has processed the recording, sometimes after calls
that started later. Re-reading is harmless: the engine compares content. Transcripts come
with their calls, so they share the calls' cursor.

Gong has no feed of changes or deletions: a call's later edits (title, transcript) and its
deletion are seen by the periodic full refresh, which lists everything. Calls are read by id
with ``POST /v2/calls/extensive``, transcripts with ``POST /v2/calls/transcript``. An
automation rule's webhook (``webhooks``) brings each call as soon as Gong has processed it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from requests.auth import HTTPBasicAuth

from sources.cursors import CursorSpec
from sources.dlt_source import integration_source
from sources.gong.api import GongApi
from sources.gong.config import GongConfig, GongCredentials
from sources.gong.models import Call, CallTranscript
from sources.gong.webhooks import WEBHOOKS
from sources.http import ApiClient, RequestRatePacer
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    RecordRef,
    SyncSpec,
    imported_on_call,
)

CALLS = "calls"
TRANSCRIPTS = "call_transcripts"
Context = ExtractContext[GongConfig, GongCredentials]


def connect(ctx: Context) -> GongApi:
    credentials = ctx.credentials
    client = ApiClient(
        ctx.config.base_url,
        connection_id=ctx.connection_id,
        auth=HTTPBasicAuth(
            credentials.access_key.get_secret_value(),
            credentials.access_key_secret.get_secret_value(),
        ),
        request_log=ctx.request_log,
        pacer=RequestRatePacer(ctx.config.requests_per_second),
    )
    return GongApi(client, ctx.config.workspace_id)


def _transcript_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry.get("callId"), **entry}


def extract(ctx: Context) -> Iterator[Page]:
    api = connect(ctx)
    until = datetime.now(UTC).replace(microsecond=0)
    since = ctx.cursor(CALLS).since()
    start = ctx.config.start_date if since is None else max(ctx.config.start_date, since)
    for calls in api.list_calls(start, until):
        if not calls:
            continue
        yield Page(CALLS, calls)
        if TRANSCRIPTS in ctx.sync.models:
            ids = [str(call["id"]) for call in calls if call.get("id") is not None]
            for transcripts in api.transcripts(ids):
                yield Page(TRANSCRIPTS, [_transcript_row(t) for t in transcripts])


def fetch(ctx: Context, model: str, refs: Sequence[RecordRef]) -> Iterator[Page]:
    """Calls or transcripts by call id; Gong's answer leaves out the ones it no longer has
    (or that moved out of the connection's workspace): those are tombstones."""
    api = connect(ctx)
    ids = list(dict.fromkeys(r.id for r in refs if r.id.isdigit()))
    found: set[str] = set()
    if model == CALLS:
        for calls in api.calls_by_id(ids):
            found.update(str(call.get("id")) for call in calls)
            yield Page(CALLS, calls)
    else:
        for transcripts in api.transcripts(ids):
            found.update(str(entry.get("callId")) for entry in transcripts)
            yield Page(TRANSCRIPTS, [_transcript_row(t) for t in transcripts])
    gone = [{"id": call_id} for call_id in ids if call_id not in found]
    if gone:
        yield Page(model, gone, deleted=True)


SPEC = IntegrationSpec(
    name="gong",
    title="Gong",
    description="calls and call transcripts from the Gong API v2",
    config_model=GongConfig,
    credentials_model=GongCredentials,
    models={
        CALLS: ModelSpec(
            CALLS,
            Call,
            description="recorded calls and their metadata",
            cursor=CursorSpec.timestamp(
                "started",
                lookback=lambda config: timedelta(minutes=config.lookback_minutes),
                advances_when_empty=False,
            ),
        ),
        TRANSCRIPTS: ModelSpec(
            TRANSCRIPTS,
            CallTranscript,
            description="one row per call: its transcript",
            cursor=CursorSpec.shared(CALLS),
        ),
    },
    syncs={
        "calls": SyncSpec(
            "calls",
            (CALLS, TRANSCRIPTS),
            default_frequency=timedelta(hours=1),
            description="calls and their transcripts",
        )
    },
    extract=extract,
    fetch=fetch,
    sandbox=imported_on_call("sources.gong.sandbox.demo", "start_demo_sandbox"),
    webhooks=WEBHOOKS,
)

source = integration_source(SPEC)
