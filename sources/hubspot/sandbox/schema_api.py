"""The HubSpot sandbox's endpoints about an account's shape rather than its records: property
definitions, owners, the deal pipeline, and associations (v4, and the v3 listing that an
object read's ``associations=`` links to).

As HubSpot documents them: the properties API answers every definition at once (no paging)
and lists archived properties only with ``archived=true``; owners page with ``after`` and
``limit`` (at most 500); pipelines answer without paging; v4 associations page 500 at a time
per record, and the batch read takes at most 1,000 ids and answers 207 naming the ones that
have no association. Associations to archived records are not listed.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sources.hubspot.sandbox import catalog
from sources.hubspot.sandbox.catalog import PRIMARY, UNLABELED, iso_ms, to_ms
from sources.hubspot.sandbox.params import (
    bool_param,
    int_param,
    object_type_of,
    refuse_unknown,
)
from sources.sandbox.operations import admin_operation
from sources.sandbox.server import Request, Response, SandboxError, json_response

if TYPE_CHECKING:
    from sources.hubspot.sandbox.server import _Account, _Record, _Store
    from sources.sandbox.accounts import Accounts

MAX_OWNERS_LIMIT = 500
ASSOCIATIONS_PAGE = 500
V3_ASSOCIATIONS_PAGE = 100
MAX_ASSOCIATION_INPUTS = 1000
# Not parameters of the properties or legacy pipelines APIs (they do not page); HubSpot
# ignores them.
IGNORED_BY_PROPERTIES = frozenset({"limit", "after"})


def _pipeline_of(name: str) -> dict[str, Any]:
    """The one pipeline of deals or tickets; 400 for object types without pipelines."""
    object_type = object_type_of(name)
    pipeline = catalog.pipeline(object_type)
    if pipeline is None:
        raise SandboxError(400, f"pipelines of {object_type} are not simulated", "VALIDATION_ERROR")
    return pipeline


def _not_found(message: str) -> SandboxError:
    return SandboxError(404, message, "OBJECT_NOT_FOUND")


class CrmSchemaApi:
    """Mixed into ``HubSpotSandbox``: the routes above and their admin operations."""

    if TYPE_CHECKING:
        accounts: Accounts[_Account]
        _data: threading.RLock
        base_url: str

        def api(self, method: str, pattern: str, handler: Any, *, limit: str = ...) -> None: ...
        def _locate(self, token: str, object_type: str) -> tuple[_Account, str, _Store]: ...
        @staticmethod
        def _record(store: _Store, record_id: str | int, *, archived: bool | None) -> _Record: ...

    def _route_schema_api(self) -> None:
        props = r"/crm/v3/properties/(?P<object>[^/]+)"
        self.api("GET", props, self._list_properties)
        self.api("GET", props + r"/groups", self._list_property_groups)
        self.api("GET", props + r"/(?P<name>[^/]+)", self._get_property)
        self.api("GET", r"/properties/v2/(?P<object>[^/]+)/properties", self._list_properties_v2)
        self.api("GET", r"/crm/v3/schemas", self._list_schemas)
        self.api("GET", r"/crm-object-schemas/v3/schemas", self._list_schemas)
        self.api("GET", r"/crm/v3/owners/?", self._list_owners)
        self.api("GET", r"/crm/v3/owners/(?P<id>[^/]+)", self._get_owner)
        pipelines = r"/crm/v3/pipelines/(?P<object>[^/]+)"
        self.api("GET", pipelines, self._list_pipelines)
        self.api("GET", pipelines + r"/(?P<pipeline>[^/]+)", self._get_pipeline)
        self.api("GET", pipelines + r"/(?P<pipeline>[^/]+)/stages", self._list_stages)
        self.api(
            "GET", pipelines + r"/(?P<pipeline>[^/]+)/stages/(?P<stage>[^/]+)", self._get_stage
        )
        self.api(
            "GET", r"/crm-pipelines/v1/pipelines/(?P<object>[^/]+)", self._list_legacy_pipelines
        )
        links = r"/(?P<object>[^/]+)/(?P<id>[^/]+)/associations/(?P<to>[^/]+)"
        self.api("GET", r"/crm/v4/objects" + links, self._associations_v4)
        self.api("GET", r"/crm/v3/objects" + links, self._associations_v3)
        self.api(
            "POST",
            r"/crm/v4/associations/(?P<object>[^/]+)/(?P<to>[^/]+)/batch/read",
            self._associations_batch,
        )

    # admin operations

    @admin_operation
    def create_property(
        self,
        token: str,
        object_type: str,
        name: str,
        *,
        label: str | None = None,
        type: str = "string",
        field_type: str = "text",
        group_name: str | None = None,
        description: str = "",
        options: list[dict[str, Any]] | None = None,
        has_unique_value: bool = False,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create a custom property, as an account admin does in HubSpot's settings; returns
        its definition. Records have no value for it until one is set."""
        with self._data:
            account, object_type, _ = self._locate(token, object_type)
            definitions = account.definitions[object_type]
            if name in definitions:
                state = "an archived" if definitions[name].get("archived") else "a"
                raise ValueError(f"{object_type} already have {state} property named {name!r}")
            definition = catalog.custom_definition(
                object_type,
                name,
                label=label or name.replace("_", " ").capitalize(),
                type=type,
                field_type=field_type,
                group_name=group_name,
                description=description,
                options=options,
                has_unique_value=has_unique_value,
                at=to_ms(at) if at is not None else catalog.now_ms(),
                display_order=-1,
            )
            definitions[name] = definition
            return dict(definition)

    @admin_operation
    def archive_property(
        self, token: str, object_type: str, name: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Archive a custom property: it leaves the property listings and record reads
        (its values are kept, as HubSpot keeps them until the property is purged)."""
        with self._data:
            account, object_type, _ = self._locate(token, object_type)
            definition = account.definitions[object_type].get(name)
            if definition is None or definition.get("archived"):
                raise KeyError(f"{object_type} have no live property {name!r}")
            if definition.get("hubspotDefined"):
                raise ValueError(f"{name!r} is defined by HubSpot and cannot be archived")
            when = iso_ms(to_ms(at) if at is not None else catalog.now_ms())
            definition.update(archived=True, archivedAt=when, updatedAt=when)
            return dict(definition)

    @admin_operation
    def associate(
        self,
        token: str,
        from_type: str,
        from_id: str | int,
        to_type: str,
        to_id: str | int,
        *,
        primary: bool = False,
    ) -> dict[str, Any]:
        """Associate two live records (``primary``: as the one's primary company, which
        demotes its previous primary to unlabeled); returns the association as v4 lists it."""
        with self._data:
            account, from_type, from_store = self._locate(token, from_type)
            _, to_type, to_store = self._locate(token, to_type)
            types = catalog.ASSOCIATION_TYPES.get((from_type, to_type))
            if types is None:
                raise ValueError(f"no association type between {from_type} and {to_type}")
            source = self._record(from_store, from_id, archived=False)
            target = self._record(to_store, to_id, archived=False)
            kinds: tuple[int, ...] = (0,)
            if len(types) > 1:
                kinds = (UNLABELED,)
                if primary:
                    kinds = (PRIMARY, UNLABELED)
                    for other, held in (
                        account.links[(from_type, to_type)].get(source.id, {}).items()
                    ):
                        if PRIMARY in held:
                            account.link(from_type, source.id, to_type, other, (UNLABELED,))
            elif primary:
                raise ValueError(f"{from_type} to {to_type} associations have no primary")
            account.link(from_type, source.id, to_type, target.id, kinds)
            return self._v4_item(from_type, to_type, target.id, kinds)

    @admin_operation
    def dissociate(
        self, token: str, from_type: str, from_id: str | int, to_type: str, to_id: str | int
    ) -> None:
        """Remove every association between two records."""
        with self._data:
            account, from_type, _ = self._locate(token, from_type)
            _, to_type, _ = self._locate(token, to_type)
            if (from_type, to_type) not in catalog.ASSOCIATION_TYPES:
                raise ValueError(f"no association type between {from_type} and {to_type}")
            source, target = int(from_id), int(to_id)
            held = account.links[(from_type, to_type)].get(source, {})
            if target not in held:
                raise KeyError(f"{from_type} {from_id} is not associated with {to_type} {to_id}")
            del held[target]
            account.links[(to_type, from_type)].get(target, {}).pop(source, None)

    # GET /crm/v3/properties/{object}[/{name}], /groups

    def _list_properties(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, {"archived"}, IGNORED_BY_PROPERTIES)
        archived = bool_param(request.arg("archived"), "archived")
        object_type = object_type_of(request.params["object"])
        with self._data:
            results = [
                dict(d)
                for d in account.definitions[object_type].values()
                if bool(d.get("archived")) == archived
            ]
        return json_response({"results": results})

    def _get_property(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, {"archived"}, IGNORED_BY_PROPERTIES)
        archived = bool_param(request.arg("archived"), "archived")
        object_type = object_type_of(request.params["object"])
        name = request.params["name"]
        with self._data:
            definition = account.definitions[object_type].get(name)
            if definition is None or bool(definition.get("archived")) != archived:
                raise _not_found(f"Unable to find property {name} for object type {object_type}")
            return json_response(dict(definition))

    def _list_properties_v2(self, request: Request, account: _Account) -> Response:
        """``GET /properties/v2/{object}/properties``: the legacy API's list of the live
        properties, a bare array with epoch-millisecond times and ``deleted`` for archived."""
        refuse_unknown(request, ())
        object_type = object_type_of(request.params["object"])
        with self._data:
            live = [d for d in account.definitions[object_type].values() if not d.get("archived")]
            return json_response([catalog.legacy_definition(d) for d in live])

    def _list_schemas(self, request: Request, account: _Account) -> Response:
        """Custom object schemas: a sandbox account has none (it simulates no custom objects)."""
        refuse_unknown(request, {"archived"})
        bool_param(request.arg("archived"), "archived")
        return json_response({"results": []})

    def _list_property_groups(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, ())
        object_type = object_type_of(request.params["object"])
        groups = [
            {"name": name, "label": label, "displayOrder": order, "archived": False}
            for order, (name, label) in enumerate(catalog.GROUPS[object_type])
        ]
        return json_response({"results": groups})

    # GET /crm/v3/owners[/{id}]

    def _list_owners(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, {"email", "after", "limit", "archived"})
        limit = min(int_param(request.arg("limit"), "limit", 100, minimum=1), MAX_OWNERS_LIMIT)
        after = int_param(request.arg("after") or None, "after", 0, minimum=0)
        archived = bool_param(request.arg("archived"), "archived")
        email = (request.arg("email") or "").lower()
        owners = [
            o
            for o in account.owners
            if o["archived"] == archived and (not email or o["email"].lower() == email)
        ]
        page = owners[after : after + limit]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(owners):
            body["paging"] = self._next_page(request, str(after + limit))
        return json_response(body)

    def _get_owner(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, {"idProperty", "archived"})
        archived = bool_param(request.arg("archived"), "archived")
        id_property = request.arg("idProperty") or "id"
        if id_property not in ("id", "userId"):
            raise SandboxError(400, f"Invalid idProperty: {id_property!r}", "VALIDATION_ERROR")
        wanted = request.params["id"]
        for owner in account.owners:
            if str(owner.get(id_property)) == wanted and owner["archived"] == archived:
                return json_response(owner)
        raise _not_found(f"Owner {wanted} not found")

    # GET /crm/v3/pipelines/{object}[/{pipeline}[/stages[/{stage}]]]

    def _list_pipelines(self, request: Request, account: _Account) -> Response:
        refuse_unknown(request, ())
        return json_response({"results": [_pipeline_of(request.params["object"])]})

    def _list_legacy_pipelines(self, request: Request, account: _Account) -> Response:
        """``GET /crm-pipelines/v1/pipelines/{object}``, which clients still read; it has no
        inactive pipelines to include."""
        refuse_unknown(request, {"includeInactive"}, IGNORED_BY_PROPERTIES)
        include = request.arg("includeInactive") or "EXCLUDE_DELETED"
        if include not in ("EXCLUDE_DELETED", "INCLUDE_DELETED"):
            raise SandboxError(400, f"Invalid includeInactive: {include!r}", "VALIDATION_ERROR")
        object_type = object_type_of(request.params["object"])
        legacy = catalog.legacy_pipeline(object_type)
        if legacy is None:
            raise SandboxError(
                400, f"pipelines of {object_type} are not simulated", "VALIDATION_ERROR"
            )
        return json_response({"results": [legacy]})

    def _pipeline(self, request: Request) -> dict[str, Any]:
        refuse_unknown(request, ())
        pipeline = _pipeline_of(request.params["object"])
        if request.params["pipeline"] != pipeline["id"]:
            raise _not_found(f"Unable to find pipeline {request.params['pipeline']}")
        return pipeline

    def _get_pipeline(self, request: Request, account: _Account) -> Response:
        return json_response(self._pipeline(request))

    def _list_stages(self, request: Request, account: _Account) -> Response:
        return json_response({"results": self._pipeline(request)["stages"]})

    def _get_stage(self, request: Request, account: _Account) -> Response:
        for stage in self._pipeline(request)["stages"]:
            if stage["id"] == request.params["stage"]:
                return json_response(stage)
        raise _not_found(f"Unable to find stage {request.params['stage']}")

    # associations

    def _linked(
        self, account: _Account, from_type: str, from_id: int, to_type: str, after: int = 0
    ) -> list[tuple[int, tuple[int, ...]]]:
        """The live records ``from_id`` is associated with, from id ``after`` on, ascending."""
        held = account.links.get((from_type, to_type), {}).get(from_id, {})
        store = account.stores[to_type]
        return [
            (to_id, held[to_id])
            for to_id in sorted(held)
            if to_id >= after and (r := store.records.get(to_id)) is not None and not r.archived
        ]

    @staticmethod
    def _pair(request: Request) -> tuple[str, str]:
        return object_type_of(request.params["object"]), object_type_of(request.params["to"])

    @staticmethod
    def _v4_item(
        from_type: str, to_type: str, to_id: int, kinds: tuple[int, ...]
    ) -> dict[str, Any]:
        types = catalog.ASSOCIATION_TYPES[(from_type, to_type)]
        return {
            "toObjectId": to_id,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": types[k].type_id, "label": types[k].label}
                for k in kinds
            ],
        }

    def _v4_page(
        self, account: _Account, from_type: str, from_id: int, to_type: str, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        linked = self._linked(account, from_type, from_id, to_type, after)
        items = [self._v4_item(from_type, to_type, i, k) for i, k in linked[:limit]]
        more = str(linked[limit][0]) if len(linked) > limit else None
        return items, more

    def _associations_v4(self, request: Request, account: _Account) -> Response:
        """``GET /crm/v4/objects/{from}/{id}/associations/{to}``."""
        refuse_unknown(request, {"after", "limit"})
        from_type, to_type = self._pair(request)
        limit = min(int_param(request.arg("limit"), "limit", 500, minimum=1), ASSOCIATIONS_PAGE)
        after = int_param(request.arg("after") or None, "after", 0, minimum=0)
        from_id = int_param(request.params["id"], "objectId", 0, minimum=0)
        with self._data:
            items, more = self._v4_page(account, from_type, from_id, to_type, after, limit)
        body: dict[str, Any] = {"results": items}
        if more is not None:
            body["paging"] = self._next_page(request, more)
        return json_response(body)

    def _associations_v3(self, request: Request, account: _Account) -> Response:
        """``GET /crm/v3/objects/{from}/{id}/associations/{to}``: where the ``paging`` of an
        object read's ``associations`` leads."""
        refuse_unknown(request, {"after", "limit"})
        from_type, to_type = self._pair(request)
        limit = min(
            int_param(request.arg("limit"), "limit", V3_ASSOCIATIONS_PAGE, minimum=1),
            ASSOCIATIONS_PAGE,
        )
        after = int_param(request.arg("after") or None, "after", 0, minimum=0)
        from_id = int_param(request.params["id"], "objectId", 0, minimum=0)
        with self._data:
            body = self._v3_associations(account, from_type, from_id, to_type, after, limit)
        if body.get("paging"):
            body["paging"] = self._next_page(request, body["paging"]["next"]["after"])
        return json_response(body)

    def _v3_associations(
        self, account: _Account, from_type: str, from_id: int, to_type: str, after: int, limit: int
    ) -> dict[str, Any]:
        types = catalog.ASSOCIATION_TYPES[(from_type, to_type)]
        linked = self._linked(account, from_type, from_id, to_type, after)
        results = [
            {"id": str(to_id), "type": types[k].name}
            for to_id, kinds in linked[:limit]
            for k in kinds
        ]
        body: dict[str, Any] = {"results": results}
        if len(linked) > limit:
            after_id = str(linked[limit][0])
            path = f"/crm/v3/objects/{from_type}/{from_id}/associations/{to_type}"
            link = f"{self.base_url}{path}?{urlencode({'after': after_id})}"
            body["paging"] = {"next": {"after": after_id, "link": link}}
        return body

    def record_associations(
        self, account: _Account, object_type: str, record_id: int, targets: list[str]
    ) -> dict[str, Any]:
        """An object read's ``associations``: per object type asked for, the first 100
        associated records (each with every type it is associated by) and a link to the rest;
        types with none are left out, as HubSpot leaves them."""
        out: dict[str, Any] = {}
        for to_type in targets:
            if (object_type, to_type) not in catalog.ASSOCIATION_TYPES:
                continue
            body = self._v3_associations(
                account, object_type, record_id, to_type, 0, V3_ASSOCIATIONS_PAGE
            )
            if body["results"]:
                out[to_type] = body
        return out

    @staticmethod
    def association_targets(request: Request, object_type: str) -> list[str]:
        """The object types of an object read's ``associations=`` (400 naming one the sandbox
        does not have)."""
        targets: list[str] = []
        for value in request.query.get("associations", ()):
            for part in value.split(","):
                if part.strip():
                    to_type = object_type_of(part.strip())
                    if to_type not in targets and to_type != object_type:
                        targets.append(to_type)
        return targets

    def _associations_batch(self, request: Request, account: _Account) -> Response:
        """``POST /crm/v4/associations/{from}/{to}/batch/read``."""
        refuse_unknown(request, ())
        from_type, to_type = self._pair(request)
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise SandboxError(400, "inputs must be a list", "VALIDATION_ERROR")
        extra = sorted(set(body) - {"inputs"})
        if extra:
            raise SandboxError(400, f"Unrecognized field {extra[0]!r}", "VALIDATION_ERROR")
        inputs = body["inputs"]
        if len(inputs) > MAX_ASSOCIATION_INPUTS:
            raise SandboxError(
                400,
                f"The maximum number of inputs supported in a batch request is "
                f"{MAX_ASSOCIATION_INPUTS}.",
                "VALIDATION_ERROR",
            )
        for item in inputs:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise SandboxError(400, "each input needs a string id", "VALIDATION_ERROR")
            unknown = sorted(set(item) - {"id", "after"})
            if unknown:
                raise SandboxError(400, f"Unrecognized field {unknown[0]!r}", "VALIDATION_ERROR")
        started = iso_ms(catalog.now_ms())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self._data:
            for item in inputs:
                from_id = item["id"]
                after = int_param(item.get("after") or None, "after", 0, minimum=0)
                page: list[dict[str, Any]] = []
                more = None
                if from_id.isdigit():
                    page, more = self._v4_page(
                        account, from_type, int(from_id), to_type, after, ASSOCIATIONS_PAGE
                    )
                if not page:
                    errors.append(self._no_associations(from_type, to_type, from_id))
                    continue
                result: dict[str, Any] = {"from": {"id": from_id}, "to": page}
                if more is not None:
                    result["paging"] = {"next": {"after": more}}
                results.append(result)
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso_ms(catalog.now_ms()),
        }
        if not errors:
            return json_response(answer)
        answer.update(numErrors=len(errors), errors=errors)
        return json_response(answer, 207)

    @staticmethod
    def _no_associations(from_type: str, to_type: str, from_id: str) -> dict[str, Any]:
        singular = catalog.SINGULAR
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {singular[to_type]} is associated with {singular[from_type]} "
            f"{from_id}.",
            "context": {"fromObjectId": [from_id]},
            "links": {},
            "errors": [],
        }

    def _next_page(self, request: Request, after: str) -> dict[str, Any]:
        """``paging`` of a page followed by another from ``after``, with its absolute link."""
        query = [(k, v) for k, vs in request.query.items() if k != "after" for v in vs]
        query.append(("after", after))
        link = f"{self.base_url}{request.path}?{urlencode(query)}"
        return {"next": {"after": after, "link": link}}
