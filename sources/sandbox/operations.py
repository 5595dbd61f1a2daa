"""Admin operations: a sandbox's Python methods, callable by name from another process.

A method marked ``@admin_operation`` is what tests call in-process and what
``POST /_sandbox/operations/{name}`` runs for the demo, the command line and the benchmark: the
request's JSON object is bound to the method's parameters by name and validated against their
type hints by pydantic (ISO text becomes a ``datetime``, ``"12"`` an ``int``, ``"true"`` a
``bool``), and the return value is the answer. So a mutation is written once, as a method,
instead of once more as a route and again as a client method.

Values given as text, as on a command line, are read the way a shell user means them: ``a,b``
for a list, JSON text for a mapping, and ``none`` (or nothing) for "no value" where a
parameter that is not text may be None.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

MARK = "__sandbox_operation__"
F = TypeVar("F", bound=Callable[..., Any])
_SEQUENCES = (list, tuple, set, frozenset, Sequence, Iterable)
_MAPPINGS = (dict, Mapping)


def admin_operation(func: F | None = None, /, *, name: str | None = None) -> Any:
    """Mark a sandbox method as an admin operation, named ``name`` or after the method.

    An override of a marked method stays an operation without being marked again.
    """

    def mark(method: F) -> F:
        setattr(method, MARK, name or method.__name__)
        return method

    return mark(func) if func is not None else mark


def _members(hint: Any) -> tuple[Any, ...]:
    return get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)


def _is_sequence(hint: Any) -> bool:
    members = [m for m in _members(hint) if m is not type(None)]
    return bool(members) and all(
        (get_origin(m) or m) in _SEQUENCES and m is not str for m in members
    )


def _is_mapping(hint: Any) -> bool:
    return any((get_origin(m) or m) in _MAPPINGS for m in _members(hint))


def _from_text(hint: Any) -> Callable[[Any], Any]:
    """What a text value means for a parameter of type ``hint``."""
    members = _members(hint)
    nullable = type(None) in members and str not in members and Any not in members
    sequence, mapping = _is_sequence(hint), _is_mapping(hint)

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if nullable and value.strip().lower() in ("", "none", "null"):
            return None
        if sequence:
            return [part.strip() for part in value.split(",") if part.strip()]
        if mapping:
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("give a JSON object") from None
        return value

    return convert


def type_name(hint: Any) -> str:
    """A parameter's type as the operations listing shows it: ``datetime | None``."""
    if hint is inspect.Parameter.empty or hint is Any:
        return "any"
    text = hint.__name__ if isinstance(hint, type) and not get_args(hint) else str(hint)
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])", "", text)


class Operation:
    """One admin operation: its method's signature as a pydantic model of its arguments."""

    def __init__(self, name: str, attribute: str, method: Callable[..., Any]) -> None:
        self.name = name
        self.attribute = attribute
        signature = inspect.signature(method)
        hints = get_type_hints(method)
        parameters = list(signature.parameters.values())[1:]
        if any(p.kind is p.VAR_POSITIONAL for p in parameters):
            raise TypeError(f"admin operation {name} cannot take *args")
        self.extra = next((p.name for p in parameters if p.kind is p.VAR_KEYWORD), None)
        self.parameters = [p for p in parameters if p.kind is not p.VAR_KEYWORD]
        self.hints = {p.name: hints.get(p.name, Any) for p in self.parameters}
        fields: dict[str, Any] = {}
        for index, p in enumerate(self.parameters):
            hint = self.hints[p.name]
            default = ... if p.default is p.empty else p.default
            fields[f"p{index}"] = (
                Annotated[hint, BeforeValidator(_from_text(hint))],
                Field(default, alias=p.name),
            )
        config = ConfigDict(extra="allow" if self.extra else "forbid", arbitrary_types_allowed=True)
        self._arguments = create_model(f"{name}_arguments", __config__=config, **fields)
        doc = inspect.getdoc(method) or ""
        self.description = " ".join(doc.split("\n\n")[0].split())

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def bind(self, payload: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments ``payload`` gives; ValueError naming what is
        wrong if it does not fit the signature."""
        if "self" in payload:
            raise ValueError(f"{self.name}: unknown field 'self'; {self._takes()}")
        try:
            bound = self._arguments.model_validate(payload)
        except ValidationError as exc:
            raise ValueError(f"{self.name}: {self._explain(exc)}") from None
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for index, p in enumerate(self.parameters):
            value = getattr(bound, f"p{index}")
            if p.kind is p.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[p.name] = value
        kwargs.update(bound.model_extra or {})
        return args, kwargs

    def call(self, sandbox: Any, payload: Mapping[str, Any]) -> Any:
        args, kwargs = self.bind(payload)
        return to_jsonable_python(getattr(sandbox, self.attribute)(*args, **kwargs))

    def _takes(self) -> str:
        names = self.names + ([f"**{self.extra}"] if self.extra else [])
        return f"it takes {', '.join(names)}" if names else "it takes no fields"

    def _explain(self, exc: ValidationError) -> str:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown field {where!r}; {self._takes()}")
            elif error["type"] == "missing":
                problems.append(f"missing field {where!r}")
            else:
                problems.append(f"{where}: {error['msg']}")
        return "; ".join(problems)

    def describe(self) -> dict[str, Any]:
        """The operation as ``GET /_sandbox/operations`` lists it."""
        parameters = []
        for p in self.parameters:
            item: dict[str, Any] = {
                "name": p.name,
                "type": type_name(self.hints[p.name]),
                "required": p.default is p.empty,
                "keyword_only": p.kind is p.KEYWORD_ONLY,
                "mapping": _is_mapping(self.hints[p.name]),
            }
            if p.default is not p.empty:
                item["default"] = to_jsonable_python(p.default, fallback=repr)
            parameters.append(item)
        return {
            "name": self.name,
            "description": self.description,
            "parameters": parameters,
            "extra_fields": self.extra is not None,
        }


@cache
def operations_of(cls: type) -> dict[str, Operation]:
    """The admin operations of a sandbox class, by name, in the order they are defined."""
    marked: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            name = getattr(value, MARK, None)
            if isinstance(name, str):
                marked[name] = attribute
    return {name: Operation(name, attr, getattr(cls, attr)) for name, attr in marked.items()}
