"""What a HubSpot account knows besides its records: property definitions, owners, the deal
pipeline and the association types between contacts, companies and deals.

Written from HubSpot's public documentation of the CRM properties, owners, pipelines and v4
associations APIs (field names and the association type ids are HubSpot's). The definitions
cover every property the seeded records carry, plus a few HubSpot-defined ones they leave
empty, as an account's are.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# The object types whose records the sandbox seeds and associates.
OBJECT_TYPES = ("contacts", "companies", "deals")
# HubSpot's other standard objects: name -> (type id, singular, property group, when-created
# property). An account has them with their core properties; a sandbox account holds none
# of their records until an admin operation creates one, and associates none.
OTHER_OBJECT_TYPES = {
    "tickets": ("0-5", "ticket", "ticketinformation", "createdate"),
    "products": ("0-7", "product", "productinformation", "createdate"),
    "line_items": ("0-8", "line_item", "lineiteminformation", "createdate"),
    "quotes": ("0-14", "quote", "quoteinformation", "hs_createdate"),
    "calls": ("0-48", "call", "callinformation", "hs_createdate"),
    "emails": ("0-49", "email", "emailinformation", "hs_createdate"),
    "meetings": ("0-47", "meeting", "meetinginformation", "hs_createdate"),
    "notes": ("0-46", "note", "noteinformation", "hs_createdate"),
    "tasks": ("0-27", "task", "taskinformation", "hs_createdate"),
    "communications": ("0-18", "communication", "communicationinformation", "hs_createdate"),
    "postal_mail": ("0-116", "postal_mail", "postalmailinformation", "hs_createdate"),
    "feedback_submissions": (
        "0-19", "feedback_submission", "feedbacksubmissioninformation", "hs_createdate",
    ),
    "goal_targets": ("0-74", "goal_target", "goaltargetinformation", "hs_createdate"),
    "leads": ("0-136", "lead", "leadinformation", "hs_createdate"),
    "deal_split": (None, "deal_split", "dealsplitinformation", "hs_createdate"),
}  # fmt: skip
ALL_OBJECT_TYPES = (*OBJECT_TYPES, *OTHER_OBJECT_TYPES)
SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    **{name: singular for name, (_, singular, _, _) in OTHER_OBJECT_TYPES.items()},
}
_TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    **{name: type_id for name, (type_id, _, _, _) in OTHER_OBJECT_TYPES.items() if type_id},
}
OBJECT_ALIASES = {
    alias: name
    for name in ALL_OBJECT_TYPES
    for alias in (name, SINGULAR[name], _TYPE_IDS.get(name, name))
}
CREATED_PROPERTY = {
    **{name: "createdate" for name in OBJECT_TYPES},
    **{name: created for name, (_, _, _, created) in OTHER_OBJECT_TYPES.items()},
}
PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = (
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "phonenumber",
    "html",
)
# The field types each property type can be shown with (HubSpot refuses other pairs).
FIELD_TYPES_OF = {
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox"}),
}
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
# When HubSpot made its own properties: fixed, so definitions are the same on every run.
DEFINED_AT = int(datetime(2019, 8, 6, 2, 41, 52, 616000, tzinfo=UTC).timestamp() * 1000)
CUSTOM_PROPERTY_USER = "9586504"

GROUPS = {
    "contacts": (
        ("contactinformation", "Contact information"),
        ("sales_properties", "Sales properties"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "companies": (("companyinformation", "Company information"),),
    "deals": (("dealinformation", "Deal information"),),
}

CONTACT_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
LEAD_STATUSES = (
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)
ANALYTICS_SOURCES = (
    ("ORGANIC_SEARCH", "Organic Search"),
    ("PAID_SEARCH", "Paid Search"),
    ("EMAIL_MARKETING", "Email Marketing"),
    ("SOCIAL_MEDIA", "Organic Social"),
    ("REFERRALS", "Referrals"),
    ("OTHER_CAMPAIGNS", "Other Campaigns"),
    ("DIRECT_TRAFFIC", "Direct Traffic"),
    ("OFFLINE", "Offline Sources"),
    ("PAID_SOCIAL", "Paid Social"),
)
INDUSTRIES = (
    ("COMPUTER_SOFTWARE", "Computer Software"),
    ("FINANCIAL_SERVICES", "Financial Services"),
    ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"),
    ("RETAIL", "Retail"),
    ("MARKETING_AND_ADVERTISING", "Marketing & Advertising"),
    ("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology & Services"),
    ("INTERNET", "Internet"),
    ("CONSTRUCTION", "Construction"),
    ("EDUCATION_MANAGEMENT", "Education Management"),
    ("TELECOMMUNICATIONS", "Telecommunications"),
    ("LOGISTICS_AND_SUPPLY_CHAIN", "Logistics & Supply Chain"),
)
COMPANY_STAGES = tuple(
    s for s in CONTACT_STAGES if s[0] in {"lead", "opportunity", "customer", "evangelist", "other"}
)
DEAL_TYPES = (("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))

# The deal pipeline every account has: (stage id, label, probability, closed).
DEAL_PIPELINE_ID = "default"
DEAL_PIPELINE_LABEL = "Sales Pipeline"
DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
)

TICKET_PIPELINE_ID = "0"
TICKET_PIPELINE_LABEL = "Support Pipeline"
TICKET_STAGES = (
    ("1", "New", "OPEN"),
    ("2", "Waiting on contact", "OPEN"),
    ("3", "Waiting on us", "OPEN"),
    ("4", "Closed", "CLOSED"),
)

# One HubSpot-defined property: (name, label, type, fieldType, group, options, read-only value).
_Spec = tuple[str, str, str, str, str, tuple[tuple[str, str], ...], bool]
_TEXT: tuple[tuple[str, str], ...] = ()
_OWNER = ("hubspot_owner_id",)
HUBSPOT_DEFINED: dict[str, tuple[_Spec, ...]] = {
    "contacts": (
        ("firstname", "First Name", "string", "text", "contactinformation", _TEXT, False),
        ("lastname", "Last Name", "string", "text", "contactinformation", _TEXT, False),
        ("email", "Email", "string", "text", "contactinformation", _TEXT, False),
        ("phone", "Phone Number", "string", "phonenumber", "contactinformation", _TEXT, False),
        ("company", "Company Name", "string", "text", "contactinformation", _TEXT, False),
        ("jobtitle", "Job Title", "string", "text", "contactinformation", _TEXT, False),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation",
         CONTACT_STAGES, False),
        ("city", "City", "string", "text", "contactinformation", _TEXT, False),
        ("state", "State/Region", "string", "text", "contactinformation", _TEXT, False),
        ("country", "Country/Region", "string", "text", "contactinformation", _TEXT, False),
        ("website", "Website URL", "string", "text", "contactinformation", _TEXT, False),
        ("hs_lead_status", "Lead Status", "enumeration", "radio", "sales_properties",
         LEAD_STATUSES, False),
        ("hubspot_owner_id", "Contact owner", "enumeration", "select", "sales_properties",
         _TEXT, False),
        ("hs_analytics_source", "Original Source", "enumeration", "select",
         "analyticsinformation", ANALYTICS_SOURCES, True),
        ("notes_last_updated", "Last Activity Date", "datetime", "date", "sales_properties",
         _TEXT, True),
        ("createdate", "Create Date", "datetime", "date", "contactinformation", _TEXT, True),
        ("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation",
         _TEXT, True),
        ("hs_object_id", "Record ID", "number", "number", "contactinformation", _TEXT, True),
    ),
    "companies": (
        ("name", "Company name", "string", "text", "companyinformation", _TEXT, False),
        ("domain", "Company Domain Name", "string", "text", "companyinformation", _TEXT, False),
        ("industry", "Industry", "enumeration", "select", "companyinformation", INDUSTRIES,
         False),
        ("city", "City", "string", "text", "companyinformation", _TEXT, False),
        ("state", "State/Region", "string", "text", "companyinformation", _TEXT, False),
        ("country", "Country/Region", "string", "text", "companyinformation", _TEXT, False),
        ("phone", "Phone Number", "string", "phonenumber", "companyinformation", _TEXT, False),
        ("numberofemployees", "Number of Employees", "number", "number", "companyinformation",
         _TEXT, False),
        ("annualrevenue", "Annual Revenue", "number", "number", "companyinformation", _TEXT,
         False),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "companyinformation",
         COMPANY_STAGES, False),
        ("hubspot_owner_id", "Company owner", "enumeration", "select", "companyinformation",
         _TEXT, False),
        ("description", "Description", "string", "textarea", "companyinformation", _TEXT, False),
        ("createdate", "Create Date", "datetime", "date", "companyinformation", _TEXT, True),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", "companyinformation",
         _TEXT, True),
        ("hs_object_id", "Record ID", "number", "number", "companyinformation", _TEXT, True),
    ),
    "deals": (
        ("dealname", "Deal Name", "string", "text", "dealinformation", _TEXT, False),
        ("amount", "Amount", "number", "number", "dealinformation", _TEXT, False),
        ("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation",
         tuple((s[0], s[1]) for s in DEAL_STAGES), False),
        ("pipeline", "Pipeline", "enumeration", "select", "dealinformation",
         ((DEAL_PIPELINE_ID, DEAL_PIPELINE_LABEL),), False),
        ("closedate", "Close Date", "datetime", "date", "dealinformation", _TEXT, False),
        ("hubspot_owner_id", "Deal owner", "enumeration", "select", "dealinformation", _TEXT,
         False),
        ("dealtype", "Deal Type", "enumeration", "radio", "dealinformation", DEAL_TYPES, False),
        ("description", "Deal Description", "string", "textarea", "dealinformation", _TEXT,
         False),
        ("createdate", "Create Date", "datetime", "date", "dealinformation", _TEXT, True),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", "dealinformation",
         _TEXT, True),
        ("hs_object_id", "Record ID", "number", "number", "dealinformation", _TEXT, True),
    ),
}  # fmt: skip
# The other standard objects' properties beyond their core three (when created, last
# modified, record id): (name, label, type, fieldType).
_OTHER_PROPERTIES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "tickets": (
        ("subject", "Ticket name", "string", "text"),
        ("content", "Ticket description", "string", "textarea"),
        ("hs_pipeline", "Pipeline", "enumeration", "select"),
        ("hs_pipeline_stage", "Ticket status", "enumeration", "select"),
        ("hs_ticket_priority", "Priority", "enumeration", "select"),
        ("hs_ticket_category", "Category", "enumeration", "checkbox"),
        ("hubspot_owner_id", "Ticket owner", "enumeration", "select"),
    ),
    "products": (
        ("name", "Name", "string", "text"),
        ("description", "Description", "string", "textarea"),
        ("price", "Unit price", "number", "number"),
        ("hs_sku", "SKU", "string", "text"),
    ),
    "line_items": (
        ("name", "Name", "string", "text"),
        ("quantity", "Quantity", "number", "number"),
        ("price", "Unit price", "number", "number"),
        ("amount", "Net price", "number", "number"),
        ("hs_product_id", "Product ID", "number", "number"),
    ),
    "quotes": (
        ("hs_title", "Quote name", "string", "text"),
        ("hs_status", "Quote approval status", "enumeration", "select"),
        ("hs_expiration_date", "Quote expiration date", "datetime", "date"),
        ("hs_public_url_key", "Quote public URL key", "string", "text"),
    ),
    "calls": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_call_title", "Call Title", "string", "text"),
        ("hs_call_body", "Call notes", "string", "html"),
        ("hs_call_duration", "Call duration", "number", "number"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "emails": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_email_subject", "Email subject", "string", "text"),
        ("hs_email_text", "Email body", "string", "textarea"),
        ("hs_email_direction", "Email direction", "enumeration", "select"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "meetings": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_meeting_title", "Meeting name", "string", "text"),
        ("hs_meeting_body", "Meeting description", "string", "html"),
        ("hs_meeting_start_time", "Meeting start time", "datetime", "date"),
        ("hs_meeting_end_time", "Meeting end time", "datetime", "date"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "notes": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_note_body", "Note body", "string", "html"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "tasks": (
        ("hs_timestamp", "Due date", "datetime", "date"),
        ("hs_task_subject", "Task Title", "string", "text"),
        ("hs_task_body", "Notes", "string", "html"),
        ("hs_task_status", "Task Status", "enumeration", "select"),
        ("hs_task_priority", "Priority", "enumeration", "select"),
        ("hubspot_owner_id", "Assigned to", "enumeration", "select"),
    ),
    "communications": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_communication_channel_type", "Channel type", "enumeration", "select"),
        ("hs_communication_body", "Body", "string", "html"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "postal_mail": (
        ("hs_timestamp", "Activity date", "datetime", "date"),
        ("hs_postal_mail_body", "Body", "string", "html"),
        ("hubspot_owner_id", "Activity assigned to", "enumeration", "select"),
    ),
    "feedback_submissions": (
        ("hs_content", "Response", "string", "textarea"),
        ("hs_survey_type", "Survey type", "enumeration", "select"),
        ("hs_submission_timestamp", "Submitted at", "datetime", "date"),
    ),
    "goal_targets": (
        ("hs_goal_name", "Goal name", "string", "text"),
        ("hs_target_amount", "Target", "number", "number"),
        ("hs_start_datetime", "Start date", "datetime", "date"),
        ("hs_end_datetime", "End date", "datetime", "date"),
    ),
    "leads": (
        ("hs_lead_name", "Lead name", "string", "text"),
        ("hs_pipeline", "Pipeline", "enumeration", "select"),
        ("hs_pipeline_stage", "Lead stage", "enumeration", "select"),
        ("hubspot_owner_id", "Lead owner", "enumeration", "select"),
    ),
    "deal_split": (
        ("hs_split_percentage", "Split percentage", "number", "number"),
        ("hubspot_owner_id", "Owner", "enumeration", "select"),
    ),
}
for _name, (_, _, _group, _created) in OTHER_OBJECT_TYPES.items():
    HUBSPOT_DEFINED[_name] = (
        *((n, label, kind, field, _group, _TEXT, False)
          for n, label, kind, field in _OTHER_PROPERTIES[_name]),
        (_created, "Create Date", "datetime", "date", _group, _TEXT, True),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", _group, _TEXT, True),
        ("hs_object_id", "Record ID", "number", "number", _group, _TEXT, True),
    )  # fmt: skip
    GROUPS[_name] = ((_group, f"{SINGULAR[_name].replace('_', ' ').capitalize()} information"),)


def to_ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch; a naive datetime is taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(ms: int) -> str:
    """HubSpot's timestamp format: ``2024-01-02T03:04:05.678Z``."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _options(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


def hubspot_defined(object_type: str) -> dict[str, dict[str, Any]]:
    """The HubSpot-defined property definitions of an object type, by name."""
    out: dict[str, dict[str, Any]] = {}
    for order, (name, label, kind, field, group, options, read_only) in enumerate(
        HUBSPOT_DEFINED[object_type]
    ):
        definition: dict[str, Any] = {
            "updatedAt": iso_ms(DEFINED_AT),
            "createdAt": iso_ms(DEFINED_AT),
            "name": name,
            "label": label,
            "type": kind,
            "fieldType": field,
            "description": "",
            "groupName": group,
            "options": _options(options),
            "displayOrder": order,
            "calculated": False,
            "externalOptions": name in _OWNER,
            "archived": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": True,
            "modificationMetadata": {
                "archivable": not read_only,
                "readOnlyDefinition": True,
                "readOnlyValue": read_only,
            },
            "formField": not read_only,
            "dataSensitivity": "non_sensitive",
        }
        if name in _OWNER:
            definition["referencedObjectType"] = "OWNER"
        out[name] = definition
    return out


def custom_definition(
    object_type: str,
    name: str,
    *,
    label: str,
    type: str,
    field_type: str,
    group_name: str | None,
    description: str,
    options: list[dict[str, Any]] | None,
    has_unique_value: bool,
    at: int,
    display_order: int,
) -> dict[str, Any]:
    """A custom property's definition as HubSpot answers it; ValueError naming what is
    wrong with the request."""
    if not PROPERTY_NAME.fullmatch(name):
        raise ValueError(
            f"property name {name!r} is not valid: lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    if type not in PROPERTY_TYPES:
        raise ValueError(f"unknown property type {type!r}; types: {', '.join(PROPERTY_TYPES)}")
    if field_type not in FIELD_TYPES_OF[type]:
        allowed = ", ".join(sorted(FIELD_TYPES_OF[type]))
        raise ValueError(f"fieldType {field_type!r} does not fit type {type!r}; use {allowed}")
    groups = [g for g, _ in GROUPS[object_type]]
    group = group_name or groups[0]
    if group not in groups:
        raise ValueError(
            f"no property group {group!r} for {object_type}; groups: {', '.join(groups)}"
        )
    choices: list[dict[str, Any]] = []
    if type == "enumeration":
        if not options:
            raise ValueError("an enumeration property needs options")
        for i, option in enumerate(options):
            if not isinstance(option, dict) or not option.get("value") or not option.get("label"):
                raise ValueError("each option needs a label and a value")
            choices.append(
                {
                    "label": str(option["label"]),
                    "value": str(option["value"]),
                    "displayOrder": int(option.get("displayOrder", i)),
                    "hidden": bool(option.get("hidden", False)),
                }
            )
    elif options:
        raise ValueError(f"a {type} property takes no options")
    return {
        "updatedAt": iso_ms(at),
        "createdAt": iso_ms(at),
        "name": name,
        "label": label,
        "type": type,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": choices,
        "createdUserId": CUSTOM_PROPERTY_USER,
        "updatedUserId": CUSTOM_PROPERTY_USER,
        "displayOrder": display_order,
        "calculated": False,
        "externalOptions": False,
        "archived": False,
        "hasUniqueValue": has_unique_value,
        "hidden": False,
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": False,
            "readOnlyValue": False,
        },
        "formField": True,
        "dataSensitivity": "non_sensitive",
    }


def legacy_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """A v3 property definition as the legacy properties API (``/properties/v2``) shows it."""
    metadata = definition["modificationMetadata"]
    return {
        "name": definition["name"],
        "label": definition["label"],
        "description": definition["description"],
        "groupName": definition["groupName"],
        "type": definition["type"],
        "fieldType": definition["fieldType"],
        "options": [{**o, "readOnly": False} for o in definition["options"]],
        "displayOrder": definition["displayOrder"],
        "hidden": definition["hidden"],
        "calculated": definition["calculated"],
        "externalOptions": definition["externalOptions"],
        "hasUniqueValue": definition["hasUniqueValue"],
        "hubspotDefined": bool(definition.get("hubspotDefined")),
        "formField": definition["formField"],
        "readOnlyValue": metadata["readOnlyValue"],
        "readOnlyDefinition": metadata["readOnlyDefinition"],
        "mutableDefinitionNotDeletable": not metadata["archivable"],
        "deleted": bool(definition.get("archived")),
        "favorited": False,
        "createdUserId": definition.get("createdUserId"),
        "updatedUserId": definition.get("updatedUserId"),
        "createdAt": _epoch_ms(definition["createdAt"]),
        "updatedAt": _epoch_ms(definition["updatedAt"]),
    }


def _epoch_ms(iso: str) -> int:
    return to_ms(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def pipeline(object_type: str) -> dict[str, Any] | None:
    """The one pipeline of deals or of tickets as ``GET /crm/v3/pipelines/{object}`` lists
    it; None for an object type without pipelines."""
    at = iso_ms(DEFINED_AT)
    if object_type == "deals":
        pipeline_id, label = DEAL_PIPELINE_ID, DEAL_PIPELINE_LABEL
        stages = [
            (stage, name, {"isClosed": "true" if closed else "false", "probability": chance})
            for stage, name, chance, closed in DEAL_STAGES
        ]
    elif object_type == "tickets":
        pipeline_id, label = TICKET_PIPELINE_ID, TICKET_PIPELINE_LABEL
        stages = [
            (stage, name, {"ticketState": state, "isClosed": str(state == "CLOSED").lower()})
            for stage, name, state in TICKET_STAGES
        ]
    else:
        return None
    return {
        "label": label,
        "displayOrder": 0,
        "id": pipeline_id,
        "stages": [
            {
                "label": name,
                "displayOrder": order,
                "metadata": metadata,
                "id": stage,
                "createdAt": at,
                "updatedAt": at,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for order, (stage, name, metadata) in enumerate(stages)
        ],
        "createdAt": at,
        "updatedAt": at,
        "archived": False,
    }


def legacy_pipeline(object_type: str) -> dict[str, Any] | None:
    """A pipeline as the legacy pipelines API (``/crm-pipelines/v1``) shows it: ``pipelineId``
    and ``stageId``, ``active`` flags and epoch-millisecond times."""
    current = pipeline(object_type)
    if current is None:
        return None
    at = _epoch_ms(current["createdAt"])
    return {
        "pipelineId": current["id"],
        "createdAt": at,
        "updatedAt": at,
        "objectType": SINGULAR[object_type].upper(),
        "objectTypeId": _TYPE_IDS[object_type],
        "label": current["label"],
        "displayOrder": current["displayOrder"],
        "active": True,
        "default": True,
        "stages": [
            {
                "stageId": stage["id"],
                "createdAt": at,
                "updatedAt": at,
                "label": stage["label"],
                "displayOrder": stage["displayOrder"],
                "active": True,
                "metadata": stage["metadata"],
            }
            for stage in current["stages"]
        ],
    }


@dataclass(frozen=True, slots=True)
class AssociationType:
    """One direction of a HubSpot-defined association: its v4 type id and label, and the
    name ``associations=`` on an object read gives it."""

    type_id: int
    label: str | None
    name: str


# (from, to) -> the association types from one to the other, primary first; the inverse of
# each is the type at the same position of (to, from).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[AssociationType, ...]] = {
    ("contacts", "companies"): (
        AssociationType(1, "Primary", "contact_to_company"),
        AssociationType(279, None, "contact_to_company_unlabeled"),
    ),
    ("companies", "contacts"): (
        AssociationType(2, "Primary", "company_to_contact"),
        AssociationType(280, None, "company_to_contact_unlabeled"),
    ),
    ("deals", "companies"): (
        AssociationType(5, "Primary", "deal_to_company"),
        AssociationType(341, None, "deal_to_company_unlabeled"),
    ),
    ("companies", "deals"): (
        AssociationType(6, "Primary", "company_to_deal"),
        AssociationType(342, None, "company_to_deal_unlabeled"),
    ),
    ("deals", "contacts"): (AssociationType(3, None, "deal_to_contact"),),
    ("contacts", "deals"): (AssociationType(4, None, "contact_to_deal"),),
}
PRIMARY, UNLABELED = 0, 1


# Owners: the ids the seeded records point at (one owner deactivated, so archived).
OWNER_IDS = ("41234567", "52345678", "63456789", "74567890")
ARCHIVED_OWNER_ID = "85678901"
_OWNER_FIRST = ("Maya", "Tobias", "Grace", "Ravi", "Ingrid", "Samuel", "Lucia", "Kenji")
_OWNER_LAST = ("Lindqvist", "Okoro", "Halvorsen", "Mendes", "Achterberg", "Quinn", "Sato")
_TEAMS = (("3012345", "Sales"), ("3012346", "Customer Success"))


def seed_owners(seed: int) -> list[dict[str, Any]]:
    """The account's owners as ``GET /crm/v3/owners`` answers them, deterministic in ``seed``."""
    rng = random.Random(f"{seed}:owners")
    owners = []
    for index, owner_id in enumerate((*OWNER_IDS, ARCHIVED_OWNER_ID)):
        first, last = rng.choice(_OWNER_FIRST), rng.choice(_OWNER_LAST)
        team_id, team = _TEAMS[index % len(_TEAMS)]
        created = DEFINED_AT + (index + 1) * 86_400_000 * 30
        archived = owner_id == ARCHIVED_OWNER_ID
        user_id = 9_000_000 + int(owner_id) % 1_000_000
        owners.append(
            {
                "id": owner_id,
                "email": f"{first.lower()}.{last.lower()}{index}@sales{seed}.example.com",
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": None if archived else user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": iso_ms(created),
                "updatedAt": iso_ms(created + (400 if archived else 20) * 86_400_000),
                "archived": archived,
                "teams": [{"id": team_id, "name": team, "primary": True}],
            }
        )
    return owners
