"""Drive's query language (``q``) and partial responses (``fields``), as the sandbox reads them.

``q`` is a boolean expression of search terms (``'<id>' in parents``, ``name contains 'x'``,
``trashed = false``, ``modifiedTime > '2024-01-01T00:00:00'`` ...) joined by ``and``, ``or``,
``not`` and parentheses; strings are single-quoted with ``\\'`` and ``\\\\`` escapes, and times
are RFC 3339 (UTC when no offset is given). ``fields`` selects parts of a response:
``nextPageToken,files(id,name,owners(emailAddress))``, ``files/id``, or ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class QueryError(ValueError):
    """``q`` or ``fields`` could not be read."""


@dataclass(frozen=True)
class FileView:
    """What a search term can look at in one file."""

    name: str
    mime_type: str
    full_text: str
    trashed: bool
    starred: bool
    parents: tuple[str, ...]
    owners: tuple[str, ...]
    created_ms: int
    modified_ms: int
    shared_with_me: bool


Predicate = Callable[[FileView], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>)|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_TIME_FIELDS = {"modifiedTime": "modified_ms", "createdTime": "created_ms"}
_TEXT_FIELDS = {"name": "name", "mimeType": "mime_type"}
_BOOL_FIELDS = {"trashed": "trashed", "starred": "starred", "sharedWithMe": "shared_with_me"}
_COLLECTIONS = {"parents": "parents", "owners": "owners", "writers": "owners", "readers": "owners"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise QueryError(f"cannot read the query at {text[pos : pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


def _parse_time(value: str) -> int:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError("the query ends too early")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.tokens:
            raise QueryError("the query is empty")
        predicate = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.keyword("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda f: any(t(f) for t in terms))

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.keyword("and"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda f: all(t(f) for t in terms))

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda f: not inner(f)
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise QueryError("a parenthesis is not closed")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, value = self.take()
        if kind == "string":
            if not self.keyword("in"):
                raise QueryError(f"expected 'in' after {value!r}")
            kind2, field = self.take()
            attr = _COLLECTIONS.get(field) if kind2 == "word" else None
            if attr is None:
                raise QueryError(f"cannot search for a value in {field!r}")
            return lambda f: value in getattr(f, attr)
        if kind != "word":
            raise QueryError(f"unexpected {value!r}")
        field = value
        if self.keyword("contains"):
            kind2, needle = self.take()
            if kind2 != "string":
                raise QueryError("contains needs a quoted string")
            if field == "fullText":
                lowered = needle.lower()
                return lambda f: lowered in f.full_text.lower()
            attr = _TEXT_FIELDS.get(field)
            if attr is None:
                raise QueryError(f"{field!r} does not support contains")
            if field == "name":
                lowered = needle.lower()
                return lambda f: any(w.startswith(lowered) for w in _words(f.name))
            return lambda f: needle in getattr(f, attr)
        kind2, op = self.take()
        if kind2 != "op":
            raise QueryError(f"expected an operator after {field!r}")
        kind3, raw = self.take()
        compare = _COMPARE[op]
        if field in _BOOL_FIELDS:
            if kind3 != "word" or raw.lower() not in ("true", "false") or op not in ("=", "!="):
                raise QueryError(f"{field} compares with = or != to true or false")
            wanted = raw.lower() == "true"
            attr = _BOOL_FIELDS[field]
            return lambda f: compare(getattr(f, attr), wanted)
        if kind3 != "string":
            raise QueryError(f"{field} compares with a quoted string")
        if field in _TIME_FIELDS:
            moment = _parse_time(raw)
            attr = _TIME_FIELDS[field]
            return lambda f: compare(getattr(f, attr), moment)
        if field in _TEXT_FIELDS:
            if op not in ("=", "!="):
                raise QueryError(f"{field} compares with = or !=")
            attr = _TEXT_FIELDS[field]
            return lambda f: compare(getattr(f, attr), raw)
        raise QueryError(f"unknown search field {field!r}")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s._-]+", text.lower()) if w] + [text.lower()]


def compile_query(text: str) -> Predicate:
    """A predicate over ``FileView`` for Drive query ``text``; QueryError if invalid."""
    return _Parser(text).parse()


# partial responses

Selection = dict[str, "Selection | None"]
Schema = Mapping[str, "Schema | None"]


def parse_fields(text: str) -> Selection:
    """``a,b(c,d),e/f`` as nested selections; ``None`` selects a whole value."""
    selection: Selection = {}
    pos = _parse_selection(text.replace(" ", ""), 0, selection, top=True)
    if pos != len(text.replace(" ", "")):
        raise QueryError(f"Invalid field selection {text}")
    return selection


def _parse_selection(text: str, pos: int, into: Selection, *, top: bool) -> int:
    while True:
        match = re.compile(r"[A-Za-z*][A-Za-z0-9_*]*(?:/[A-Za-z*][A-Za-z0-9_*]*)*").match(text, pos)
        if match is None:
            raise QueryError(f"Invalid field selection {text}")
        path = match.group(0).split("/")
        pos = match.end()
        sub: Selection | None = None
        if pos < len(text) and text[pos] == "(":
            sub = {}
            pos = _parse_selection(text, pos + 1, sub, top=False)
            if pos >= len(text) or text[pos] != ")":
                raise QueryError(f"Invalid field selection {text}")
            pos += 1
        _merge(into, path, sub)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return pos


def _merge(into: Selection, path: list[str], leaf: Selection | None) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if head in into and into[head] is not None and leaf is not None:
            into[head].update(leaf)  # type: ignore[union-attr]
        elif head in into and (into[head] is None or leaf is None):
            into[head] = None
        else:
            into[head] = leaf
        return
    child = into.get(head, {})
    if child is None:
        return
    into[head] = child
    _merge(child, rest, leaf)


def check_fields(selection: Selection, schema: Schema, where: str = "") -> None:
    """Raise QueryError naming the first selected field the schema does not have."""
    for name, sub in selection.items():
        if name == "*":
            continue
        if name not in schema:
            raise QueryError(f"Invalid field selection {where}{name}")
        nested = schema[name]
        if sub is not None:
            if nested is None:
                raise QueryError(f"Invalid field selection {where}{name}")
            check_fields(sub, nested, f"{where}{name}/")


def select(value: Any, selection: Selection | None) -> Any:
    """The parts of a JSON value that ``selection`` names (all of it for None or ``*``)."""
    if selection is None:
        return value
    if isinstance(value, list):
        return [select(item, selection) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in selection:
        return {k: select(v, selection.get(k)) for k, v in value.items()}
    return {k: select(value[k], sub) for k, sub in selection.items() if k in value}
