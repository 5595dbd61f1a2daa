"""Deterministic seed data for the Gong sandbox: calls that look like a sales team's.

Everything comes from the ``random.Random`` handed in, so the same seed gives the same
calls, speakers, transcripts, users and call participants on every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEED_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
CONFERENCE_SYSTEMS = ("Zoom", "Google Meet", "Microsoft Teams", "Webex")
TELEPHONY_SYSTEMS = ("RingCentral", "Aircall", "Dialpad", "Outreach")
HALF_HOUR_MS = 1_800_000

_COMPANIES = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Wonka", "Oscorp", "Pied Piper", "Nakatomi", "Massive Dynamic",
)  # fmt: skip
_FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sofia", "Lucas", "Mia", "Ethan",
    "Hugo", "Amelia", "Leo", "Chloe", "Arjun", "Yuki", "Fatima", "Omar", "Zoe", "Priya",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Rossi", "Kim", "Nguyen", "Silva", "Patel", "Cohen", "Novak",
    "Dubois", "Jensen", "Tanaka", "Okafor", "Larsen", "Moreau", "Kowalski", "Haddad", "Berg",
)  # fmt: skip
_SALES_TITLES = (
    "Account Executive", "Senior Account Executive", "Sales Development Representative",
    "Customer Success Manager", "Solutions Engineer",
)  # fmt: skip
_BUYER_TITLES = (
    "VP of Operations", "Head of Data", "CTO", "Procurement Manager", "Director of Sales", None,
)  # fmt: skip
_SPOKEN = ("en-US", "en-US", "en-GB", "fr-FR", "es-ES", "de-DE")
_PURPOSES = ("Discovery", "Demo", "Negotiation", "Kickoff", "Quarterly review", None)
_LANGUAGES = ("eng", "eng", "eng", "eng", "eng", "fre", "spa", "ger")
_DISPOSITIONS = ("Connected", "Left voicemail", "No answer", "Meeting booked", None)
_TOPICS = ("Call Setup", "Small Talk", "Pricing", "Product", "Objections", "Next Steps", None)
_SENTENCES = {
    "Call Setup": (
        "Can everyone hear me okay?",
        "Thanks for making the time today.",
        "I'll share my screen in a second.",
        "Let me quickly go over the agenda.",
    ),
    "Small Talk": (
        "How was the conference last week?",
        "The weather has been great here.",
        "We just moved into a new office.",
    ),
    "Pricing": (
        "Pricing depends on the number of seats.",
        "We can offer an annual discount.",
        "That is above the budget we planned for this quarter.",
        "Could you send over a formal quote?",
    ),
    "Product": (
        "The sync runs every fifteen minutes.",
        "Every change shows up as an event.",
        "Can it connect to our data warehouse?",
        "Let me show you how the dashboard works.",
    ),
    "Objections": (
        "Security review usually takes a few weeks.",
        "We already use a competitor for this.",
        "I need to check with our legal team.",
    ),
    "Next Steps": (
        "Let's schedule a follow-up for next Tuesday.",
        "I'll send a recap by email.",
        "Can you loop in your head of data?",
    ),
    None: ("Right.", "Sounds good.", "Makes sense.", "Okay, great."),
}


def numeric_id(rng: random.Random, taken: set[str], digits: int = 19) -> str:
    while True:
        value = str(rng.randrange(10 ** (digits - 1), 10**digits))
        if value not in taken:
            taken.add(value)
            return value


def seed_transcript(
    rng: random.Random, duration_s: int, speakers: list[str]
) -> list[dict[str, Any]]:
    monologues: list[dict[str, Any]] = []
    count = rng.randint(4, 10)
    clock = rng.randint(500, 5000)
    slot = max(duration_s * 1000 // (count + 1), 2000)
    for i in range(count):
        topic = _TOPICS[min(i * len(_TOPICS) // count, len(_TOPICS) - 1)]
        if rng.random() < 0.2:
            topic = None
        sentences = []
        for _ in range(rng.randint(1, 3)):
            length = rng.randint(800, max(slot // 3, 900))
            sentences.append(
                {"start": clock, "end": clock + length, "text": rng.choice(_SENTENCES[topic])}
            )
            clock += length + rng.randint(100, 600)
        monologues.append(
            {"speakerId": speakers[i % len(speakers)], "topic": topic, "sentences": sentences}
        )
    return monologues


@dataclass
class SeededCall:
    fields: dict[str, Any]
    started_ms: int
    scheduled_ms: int
    transcript: list[dict[str, Any]]
    company: str | None = None
    contact: str | None = None


@dataclass
class User:
    """A Gong user (``avatar``: a Gong employee's synthetic user, listed only on request)."""

    id: str
    first_name: str
    last_name: str
    email: str
    created_ms: int
    title: str | None
    phone: str | None
    extension: str | None
    manager_id: str | None
    languages: list[str]
    settings: dict[str, bool]
    active: bool = True
    avatar: bool = False
    meeting_urls: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def order(self) -> tuple[int, int]:
        return (self.created_ms, int(self.id))


def _email(first: str, last: str, domain: str) -> str:
    local = f"{first}.{last}".lower().replace(" ", "").replace("ü", "u")
    return f"{local}@{domain}"


def seed_users(
    rng: random.Random, ids: list[str], avatar_id: str, domain: str, epoch_ms: int
) -> list[User]:
    """Profiles for the company's user ids (the first is everyone's manager), and one avatar."""
    year_ms = 365 * 86_400_000
    users = []
    firsts, lasts = rng.sample(_FIRST_NAMES, len(ids)), rng.sample(_LAST_NAMES, len(ids))
    names = list(zip(firsts, lasts, strict=True))
    for index, (user_id, (first, last)) in enumerate(zip(ids, names, strict=True)):
        primary = rng.choice(_SPOKEN)
        users.append(
            User(
                id=user_id,
                first_name=first,
                last_name=last,
                email=_email(first, last, domain),
                created_ms=epoch_ms - 2 * year_ms + rng.randrange(0, year_ms),
                title="VP of Sales" if index == 0 else rng.choice(_SALES_TITLES),
                phone=f"+1 415-555-{rng.randrange(0, 10_000):04d}",
                extension=str(rng.randrange(100, 1000)) if rng.random() < 0.4 else None,
                manager_id=None if index == 0 else ids[0],
                languages=[primary, *(["es-ES"] if rng.random() < 0.15 else [])],
                settings={
                    "webConferencesRecorded": True,
                    "preventWebConferenceRecording": False,
                    "telephonyCallsImported": rng.random() < 0.8,
                    "emailsImported": rng.random() < 0.7,
                    "preventEmailImport": False,
                    "nonRecordedMeetingsImported": rng.random() < 0.5,
                    "gongConnectEnabled": rng.random() < 0.3,
                },
                meeting_urls=[f"https://zoom.us/j/{rng.randrange(10**9, 10**10)}"],
            )
        )
    users.append(
        User(
            id=avatar_id,
            first_name="Gong",
            last_name="Support",
            email=f"support+{avatar_id[-6:]}@gong.io",
            created_ms=epoch_ms - year_ms,
            title="Customer Success Manager",
            phone=None,
            extension=None,
            manager_id=None,
            languages=["en-US"],
            settings=dict.fromkeys(
                (
                    "webConferencesRecorded",
                    "preventWebConferenceRecording",
                    "telephonyCallsImported",
                    "emailsImported",
                    "preventEmailImport",
                    "nonRecordedMeetingsImported",
                    "gongConnectEnabled",
                ),
                False,
            ),
            avatar=True,
        )
    )
    return users


@dataclass
class Party:
    id: str
    name: str
    email: str | None
    title: str | None
    user_id: str | None
    speaker_id: str | None
    affiliation: str
    phone: str | None
    methods: list[str]


def seed_parties(
    rng: random.Random,
    speakers: list[str],
    host: User | None,
    colleagues: list[User],
    *,
    internal: bool,
    conference: bool,
    company: str | None,
    contact: str | None,
) -> list[Party]:
    """A call's participants: the host speaks first; the others are colleagues on an internal
    call and the company's contacts otherwise; a conference may have an invitee who never
    spoke. Each speaker's ``speakerId`` is the one its monologues carry."""
    company = company or rng.choice(_COMPANIES)
    domain = f"{company.lower().replace(' ', '')}.example.com"
    spoke = ["Invitee", "Attendee"] if conference else ["Attendee"]
    parties = []
    others = iter(colleagues)
    slots: list[str | None] = [*speakers] or [None]
    if conference and rng.random() < 0.3:
        slots.append(None)
    for index, speaker in enumerate(slots):
        methods = spoke if speaker is not None else ["Invitee"]
        user = host if index == 0 else (next(others, None) if internal else None)
        if user is not None:
            parties.append(
                Party(
                    numeric_id(rng, set()),
                    user.name,
                    user.email,
                    user.title,
                    user.id,
                    speaker,
                    "Internal",
                    user.phone,
                    methods,
                )
            )
            continue
        if index == 1 and contact:
            first, last = contact.split(" ", 1)
        else:
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        parties.append(
            Party(
                numeric_id(rng, set()),
                f"{first} {last}",
                _email(first, last, domain),
                rng.choice(_BUYER_TITLES),
                None,
                speaker,
                "Internal" if internal else "External",
                None if conference else f"+1 212-555-{rng.randrange(0, 10_000):04d}",
                methods,
            )
        )
    return parties


def seed_call(
    rng: random.Random, moment: int, conference: bool, users: list[str], workspace_id: str
) -> SeededCall:
    """A call around ``moment`` (epoch ms): a web conference is scheduled on the half hour
    and starts a little before or after; a phone call starts at ``moment``."""
    duration = rng.randint(5, 60) * 60
    company = rng.choice(_COMPANIES)
    person = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    if conference:
        scheduled = moment - moment % HALF_HOUR_MS
        started = scheduled + rng.randint(-120, 480) * 1000
        system = rng.choice(CONFERENCE_SYSTEMS)
        purpose = rng.choice(_PURPOSES)
        fields: dict[str, Any] = {
            "title": f"{company} <> Syncs | {purpose or 'Sync'}",
            "direction": "Conference",
            "system": system,
            "media": "Video",
            "purpose": purpose,
            "meetingUrl": f"https://meet.example.com/{system.lower().replace(' ', '-')}/"
            f"{rng.randrange(10**9, 10**10)}",
            "calendarEventId": f"{rng.getrandbits(64):016x}",
            "sdrDisposition": None,
            "clientUniqueId": None,
        }
    else:
        scheduled = started = moment
        system = rng.choice(TELEPHONY_SYSTEMS)
        fields = {
            "title": f"Call with {person} ({company})",
            "direction": rng.choice(("Inbound", "Outbound")),
            "system": system,
            "media": "Audio",
            "purpose": None,
            "meetingUrl": None,
            "calendarEventId": None,
            "sdrDisposition": rng.choice(_DISPOSITIONS),
            "clientUniqueId": f"{system.lower()}-{rng.getrandbits(48):012x}",
        }
    fields.update(
        {
            "duration": duration,
            "primaryUserId": rng.choice(users),
            "scope": "Internal" if rng.random() < 0.1 else "External",
            "language": rng.choice(_LANGUAGES),
            "workspaceId": workspace_id,
            "customData": None,
            "isPrivate": rng.random() < 0.05,
        }
    )
    speakers = [numeric_id(rng, set()) for _ in range(rng.randint(2, 4))]
    transcript = seed_transcript(rng, duration, speakers)
    return SeededCall(fields, started, scheduled, transcript, company, person)
