"""HubSpot CRM records as stored: one flat row per object, properties parsed to types.

HubSpot sends every property value as a string (``api.RECORD_SHAPE`` makes an empty one
null); the models parse them, so a value that cannot be parsed is a rejected record, not a
crash.
Extra properties a connection asks for are kept as strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class HubSpotObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None
    createdate: datetime | None = None


class Contact(HubSpotObject):
    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    phone: str | None = None
    company: str | None = None
    jobtitle: str | None = None
    lifecyclestage: str | None = None
    hs_lead_status: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    website: str | None = None
    lastmodifieddate: datetime | None = None


class Company(HubSpotObject):
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    phone: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    numberofemployees: int | None = None
    annualrevenue: Decimal | None = None
    lifecyclestage: str | None = None
    hs_lastmodifieddate: datetime | None = None


class Deal(HubSpotObject):
    dealname: str | None = None
    amount: Decimal | None = None
    dealstage: str | None = None
    pipeline: str | None = None
    closedate: datetime | None = None
    hubspot_owner_id: str | None = None
    hs_lastmodifieddate: datetime | None = None
