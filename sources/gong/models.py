"""Gong calls and their transcripts as stored: the API's field names, parsed to types.

A call row is the call object ``GET /v2/calls`` answers. A transcript row is one call's
entry from ``POST /v2/calls/transcript``, keyed by the call's id, its monologues (speaker,
topic, sentences with start and end in milliseconds from the start of the call) kept
whole as JSON.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Call(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    url: str | None = None
    title: str | None = None
    scheduled: datetime | None = None
    started: datetime
    duration: int | None = None
    primaryUserId: str | None = None
    direction: str | None = None
    system: str | None = None
    scope: str | None = None
    media: str | None = None
    language: str | None = None
    workspaceId: str | None = None
    sdrDisposition: str | None = None
    clientUniqueId: str | None = None
    customData: str | None = None
    purpose: str | None = None
    meetingUrl: str | None = None
    isPrivate: bool | None = None
    calendarEventId: str | None = None


class Sentence(BaseModel):
    start: int
    end: int
    text: str


class Monologue(BaseModel):
    speakerId: str | None = None
    topic: str | None = None
    sentences: list[Sentence]


class CallTranscript(BaseModel):
    id: str
    callId: str
    transcript: list[Monologue]
