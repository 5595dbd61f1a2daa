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
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    id: str
    """HubSpot's record id (hs_object_id)."""
    created_at: datetime
    """When the record was created (createdAt)."""
    updated_at: datetime
    """When HubSpot last changed the record (updatedAt)."""
    archived: bool = False
    """Whether the record is archived (deleted in HubSpot)."""
    archived_at: datetime | None = None
    """When the record was archived."""
    createdate: datetime | None = None
    """The createdate property: when the record was created."""


class Contact(HubSpotObject):
    email: str | None = None
    """Primary email address."""
    firstname: str | None = None
    """First name."""
    lastname: str | None = None
    """Last name."""
    phone: str | None = None
    """Phone number."""
    company: str | None = None
    """Company name as typed on the contact."""
    jobtitle: str | None = None
    """Job title."""
    lifecyclestage: str | None = None
    """Lifecycle stage (subscriber, lead, customer, ...)."""
    hs_lead_status: str | None = None
    """Lead status."""
    city: str | None = None
    """City."""
    state: str | None = None
    """State or region."""
    country: str | None = None
    """Country."""
    website: str | None = None
    """Website URL."""
    lastmodifieddate: datetime | None = None
    """When any property of the contact last changed."""


class Company(HubSpotObject):
    name: str | None = None
    """Company name."""
    domain: str | None = None
    """Company domain."""
    industry: str | None = None
    """Industry."""
    phone: str | None = None
    """Phone number."""
    city: str | None = None
    """City."""
    state: str | None = None
    """State or region."""
    country: str | None = None
    """Country."""
    numberofemployees: int | None = None
    """Number of employees."""
    annualrevenue: Decimal | None = None
    """Annual revenue."""
    lifecyclestage: str | None = None
    """Lifecycle stage (subscriber, lead, customer, ...)."""
    hs_lastmodifieddate: datetime | None = None
    """When any property of the record last changed."""


class Deal(HubSpotObject):
    dealname: str | None = None
    """Deal name."""
    amount: Decimal | None = None
    """Deal amount."""
    dealstage: str | None = None
    """Deal stage id in its pipeline."""
    pipeline: str | None = None
    """Pipeline id."""
    closedate: datetime | None = None
    """Expected or actual close date."""
    hubspot_owner_id: str | None = None
    """The owner's id (see /crm/v3/owners)."""
    hs_lastmodifieddate: datetime | None = None
    """When any property of the record last changed."""
