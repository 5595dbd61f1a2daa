"""Gong: calls and their transcripts through the Gong API v2.

Every run lists calls by start time, page by page, and asks for the transcripts of each
page's calls. A full listing reads from the connection's ``start_date``; an incremental run
from the cursor — the start of the newest call seen — less ``lookback_minutes``, because
Gong makes a call readable only once it has processed the recording, sometimes after calls
that started later. Re-reading is harmless: the engine compares content.

Gong has no feed of changes or deletions: a call's later edits (title, transcript) and its
deletion are seen by the periodic full refresh, which lists everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from requests.auth import HTTPBasicAuth

from sources.cursors import SAFETY_MARGIN, advance
from sources.gong.api import GongApi, iso_utc, parse_time
from sources.gong.config import GongConfig, GongCredentials
from sources.gong.models import Call, CallTranscript
from sources.http import ApiClient, RequestRatePacer
from sources.spec import (
    ExtractContext,
    IntegrationSpec,
    ModelSpec,
    Page,
    SyncSpec,
    imported_on_call,
)

CALLS = "calls"
TRANSCRIPTS = "call_transcripts"


def _stored_cursor(ctx: ExtractContext) -> datetime | None:
    """The oldest of the sync's model cursors, so no model misses what another saw."""
    seen = [
        parse_time(cursor["started"])
        for model in ctx.sync.models
        if isinstance(cursor := ctx.cursors.get(model), dict) and cursor.get("started")
    ]
    return min(seen) if seen else None


def _started(call: dict[str, Any]) -> datetime | None:
    """A call's start; None when missing or malformed (validation rejects that call)."""
    try:
        return parse_time(call["started"])
    except (KeyError, TypeError, ValueError):
        return None


def _transcript_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry.get("callId"), **entry}


def extract(ctx: ExtractContext) -> Iterator[Page]:
    config: GongConfig = ctx.config
    credentials: GongCredentials = ctx.credentials
    client = ApiClient(
        config.base_url,
        connection_id=ctx.connection_id,
        auth=HTTPBasicAuth(
            credentials.access_key.get_secret_value(),
            credentials.access_key_secret.get_secret_value(),
        ),
        request_log=ctx.http,
        pacer=RequestRatePacer(config.requests_per_second),
    )
    api = GongApi(client, config.workspace_id)
    started = datetime.now(UTC).replace(microsecond=0)
    previous = None if ctx.full_listing else _stored_cursor(ctx)
    since = (
        config.start_date
        if previous is None
        else max(config.start_date, previous - timedelta(minutes=config.lookback_minutes))
    )
    newest: datetime | None = None
    for calls in api.list_calls(since, started):
        if not calls:
            continue
        yield Page(CALLS, calls)
        for call in calls:
            at = _started(call)
            if at is not None:
                newest = at if newest is None else max(newest, at)
        if TRANSCRIPTS in ctx.sync.models:
            ids = [str(call["id"]) for call in calls if call.get("id") is not None]
            for transcripts in api.transcripts(ids):
                yield Page(TRANSCRIPTS, [_transcript_row(t) for t in transcripts])
    cursor = advance(previous or config.start_date, newest, started - SAFETY_MARGIN)
    for model in ctx.sync.models:
        ctx.new_cursors[model] = {"started": iso_utc(cursor)}


SPEC = IntegrationSpec(
    name="gong",
    title="Gong",
    description="calls and call transcripts from the Gong API v2",
    config_model=GongConfig,
    credentials_model=GongCredentials,
    models={
        CALLS: ModelSpec(CALLS, Call, description="recorded calls and their metadata"),
        TRANSCRIPTS: ModelSpec(
            TRANSCRIPTS, CallTranscript, description="one row per call: its transcript"
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
    sandbox=imported_on_call("sources.gong.sandbox.demo", "start_demo_sandbox"),
)
