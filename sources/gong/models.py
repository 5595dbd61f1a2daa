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
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    id: str
    """Gong's call id."""
    url: str | None = None
    """The call's page in Gong."""
    title: str | None = None
    """Title."""
    scheduled: datetime | None = None
    """When the call was scheduled to start."""
    started: datetime
    """When the call started."""
    duration: int | None = None
    """Duration in seconds."""
    primaryUserId: str | None = None
    """Id of the Gong user who hosted it."""
    direction: str | None = None
    """Inbound, Outbound, Conference or Unknown."""
    system: str | None = None
    """The system the call came from (Zoom, ...)."""
    scope: str | None = None
    """Internal, External or Unknown."""
    media: str | None = None
    """Video or Audio."""
    language: str | None = None
    """Language code of the call."""
    workspaceId: str | None = None
    """Workspace the call belongs to."""
    sdrDisposition: str | None = None
    """Disposition an SDR set."""
    clientUniqueId: str | None = None
    """The call's id in the system it came from."""
    customData: str | None = None
    """Custom data sent when the call was uploaded."""
    purpose: str | None = None
    """Purpose of the call."""
    meetingUrl: str | None = None
    """Meeting link."""
    isPrivate: bool | None = None
    """Whether the call is private."""
    calendarEventId: str | None = None
    """Calendar event the call came from."""


class Sentence(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    start: int
    """Milliseconds from the call's start."""
    end: int
    """Milliseconds from the call's start."""
    text: str
    """What was said."""


class Monologue(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    speakerId: str | None = None
    """Gong's speaker id."""
    topic: str | None = None
    """Topic Gong detected."""
    sentences: list[Sentence]
    """The monologue's sentences."""


class CallTranscript(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Gong's call id."""
    callId: str
    """The call's id."""
    transcript: list[Monologue]
    """Monologues in order: speaker, topic and timed sentences."""
