"""Drive's query language (``q``) and partial responses (``fields``), as the sandbox reads them.

``q`` is a boolean expression of search terms (``'<id>' in parents``, ``name contains 'x'``,
``trashed = false``, ``modifiedTime > '2024-01-01T00:00:00'`` ...) joined by ``and``, ``or``,
``not`` and parentheses; strings are single-quoted with ``\\'`` and ``\\\\`` escapes, and times
are RFC 3339 (UTC when no offset is given). Files (``FILE_TERMS``) and shared drives
(``DRIVE_TERMS``) have search terms of their own. ``fields`` selects parts of a response:
``nextPageToken,files(id,name,owners(emailAddress))``, ``files/id``, or ``*``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class QueryError(ValueError):
    """``q`` or ``fields`` could not be read."""


class UnsupportedQuery(QueryError):
    """``q`` uses a documented search term the sandbox does not simulate; says which."""


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
    is_folder: bool = False
    modified_by_me_ms: int | None = None
    viewed_by_me_ms: int | None = None
    shared_with_me_ms: int | None = None
    quota_bytes: int = 0

    @property
    def recency_ms(self) -> int:
        times = (self.modified_by_me_ms, self.viewed_by_me_ms, self.shared_with_me_ms)
        return max(self.created_ms, self.modified_ms, *(t for t in times if t is not None))


@dataclass(frozen=True)
class DriveView:
    """What a search term can look at in one shared drive."""

    name: str
    hidden: bool


@dataclass(frozen=True)
class Terms:
    """The search terms of one resource, by kind, each mapped to the attribute it reads.

    ``text`` terms take ``=``, ``!=`` and ``contains`` (a word-prefix match for ``name``, a
    substring match otherwise); ``times`` and ``flags`` compare; ``collections`` take
    ``'value' in term``; ``full_text`` is what ``fullText contains`` searches; ``refused``
    maps documented terms the sandbox does not simulate to the reason it says.
    """

    text: Mapping[str, str]
    times: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, str] = field(default_factory=dict)
    collections: Mapping[str, str] = field(default_factory=dict)
    full_text: str | None = None
    refused: Mapping[str, str] = field(default_factory=dict)


FILE_TERMS = Terms(
    text={"name": "name", "mimeType": "mime_type"},
    times={"modifiedTime": "modified_ms", "createdTime": "created_ms"},
    flags={"trashed": "trashed", "starred": "starred", "sharedWithMe": "shared_with_me"},
    collections={
        "parents": "parents",
        "owners": "owners",
        "writers": "owners",
        "readers": "owners",
    },
    full_text="full_text",
)
_NEEDS_ADMIN = "needs useDomainAdminAccess=true, which the sandbox does not simulate"
DRIVE_TERMS = Terms(
    text={"name": "name"},
    flags={"hidden": "hidden"},
    refused=dict.fromkeys(
        ("createdTime", "memberCount", "organizerCount", "orgUnitId"), _NEEDS_ADMIN
    ),
)

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>)|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<number>-?\d+))"
)
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
    def __init__(self, text: str, terms: Terms) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.terms = terms

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
        terms = self.terms
        kind, value = self.take()
        if kind == "string":
            if not self.keyword("in"):
                raise QueryError(f"expected 'in' after {value!r}")
            kind2, term = self.take()
            attr = terms.collections.get(term) if kind2 == "word" else None
            if attr is None:
                raise QueryError(f"cannot search for a value in {term!r}")
            return lambda f: value in getattr(f, attr)
        if kind != "word":
            raise QueryError(f"unexpected {value!r}")
        term = value
        if term in terms.refused:
            raise UnsupportedQuery(f"The search term {term} {terms.refused[term]}.")
        if self.keyword("contains"):
            kind2, needle = self.take()
            if kind2 != "string":
                raise QueryError("contains needs a quoted string")
            if term == "fullText" and terms.full_text is not None:
                lowered = needle.lower()
                attr = terms.full_text
                return lambda f: lowered in getattr(f, attr).lower()
            attr = terms.text.get(term)
            if attr is None:
                raise QueryError(f"{term!r} does not support contains")
            if term == "name":
                lowered = needle.lower()
                return lambda f: any(w.startswith(lowered) for w in _words(getattr(f, attr)))
            return lambda f: needle in getattr(f, attr)
        kind2, op = self.take()
        if kind2 != "op":
            raise QueryError(f"expected an operator after {term!r}")
        kind3, raw = self.take()
        compare = _COMPARE[op]
        if term in terms.flags:
            if kind3 != "word" or raw.lower() not in ("true", "false") or op not in ("=", "!="):
                raise QueryError(f"{term} compares with = or != to true or false")
            wanted = raw.lower() == "true"
            attr = terms.flags[term]
            return lambda f: compare(getattr(f, attr), wanted)
        if kind3 != "string":
            raise QueryError(f"{term} compares with a quoted string")
        if term in terms.times:
            moment = _parse_time(raw)
            attr = terms.times[term]
            return lambda f: compare(getattr(f, attr), moment)
        if term in terms.text:
            if op not in ("=", "!="):
                raise QueryError(f"{term} compares with = or !=")
            attr = terms.text[term]
            return lambda f: compare(getattr(f, attr), raw)
        raise QueryError(f"unknown search term {term!r}")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s._-]+", text.lower()) if w] + [text.lower()]


def compile_query(text: str, terms: Terms = FILE_TERMS) -> Predicate:
    """A predicate over the views ``terms`` reads (``FileView`` for files) for Drive query
    ``text``; QueryError if it is invalid, UnsupportedQuery if it is not simulated."""
    return _Parser(text, terms).parse()


def uses_full_text(text: str) -> bool:
    """Whether query ``text`` has a ``fullText`` term (Drive cannot sort such a search)."""
    try:
        return ("word", "fullText") in _tokens(text)
    except QueryError:
        return False


# orderBy

ORDER_KEYS = (
    "createdTime", "folder", "modifiedByMeTime", "modifiedTime", "name", "name_natural",
    "quotaBytesUsed", "recency", "sharedWithMeTime", "starred", "viewedByMeTime",
)  # fmt: skip
_NATURAL = re.compile(r"(\d+)")


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """``name`` split into text and numbers, numbers compared by value: 1, 2, 12, 22."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in _NATURAL.split(name.casefold())
        if part
    )


_SORT_VALUES: dict[str, Callable[[FileView], Any]] = {
    "createdTime": lambda f: f.created_ms,
    "folder": lambda f: 0 if f.is_folder else 1,
    "modifiedByMeTime": lambda f: f.modified_by_me_ms or 0,
    "modifiedTime": lambda f: f.modified_ms,
    "name": lambda f: f.name.casefold(),
    "name_natural": lambda f: _natural(f.name),
    "quotaBytesUsed": lambda f: f.quota_bytes,
    "recency": lambda f: f.recency_ms,
    "sharedWithMeTime": lambda f: f.shared_with_me_ms or 0,
    "starred": lambda f: 0 if f.starred else 1,
    "viewedByMeTime": lambda f: f.viewed_by_me_ms or 0,
}


@functools.total_ordering
class _Descending:
    """A sort value compared the other way round, for a key with the ``desc`` modifier."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass(frozen=True)
class OrderBy:
    """A parsed ``orderBy``: sort keys, each ascending or descending.

    Folders and starred files come first when their key ascends; times a file does not have
    (``sharedWithMeTime`` of one's own file) sort as the earliest; names compare without case.
    Ties keep the listing's own order. ``values`` are what a page token carries to resume
    after a file; ``key`` turns them into what sorts.
    """

    keys: tuple[tuple[str, bool], ...] = ()

    @property
    def text(self) -> str:
        return ",".join(name + (" desc" if desc else "") for name, desc in self.keys)

    def values(self, view: FileView) -> list[Any]:
        return [_SORT_VALUES[name](view) for name, _ in self.keys]

    def key(self, values: list[Any]) -> tuple[Any, ...]:
        return tuple(
            _Descending(value) if desc else value
            for (_, desc), value in zip(self.keys, values, strict=True)
        )

    def check(self, values: Any) -> list[Any]:
        """``values`` read back from a page token, if they are what this order sorts by."""
        if not isinstance(values, list) or len(values) != len(self.keys):
            raise QueryError("the values do not fit the order")
        out: list[Any] = []
        for (name, _), value in zip(self.keys, values, strict=True):
            if name == "name":
                ok = isinstance(value, str)
            elif name == "name_natural":
                value = tuple(tuple(part) for part in value) if isinstance(value, list) else None
                ok = value is not None and all(
                    len(p) == 2 and (p[0], type(p[1])) in ((0, int), (1, str)) for p in value
                )
            else:
                ok = type(value) is int
            if not ok:
                raise QueryError("the values do not fit the order")
            out.append(value)
        return out


def parse_order_by(text: str) -> OrderBy:
    """``orderBy`` as sort keys; QueryError naming a key Drive does not sort by."""
    keys: list[tuple[str, bool]] = []
    for item in text.split(","):
        words = item.split()
        if not words:
            raise QueryError(f"Invalid orderBy {text!r}: an empty sort key")
        name, modifiers = words[0], words[1:]
        if name not in _SORT_VALUES:
            raise QueryError(
                f"Invalid sort key {name!r} in orderBy; valid keys: {', '.join(ORDER_KEYS)}"
            )
        if modifiers not in ([], ["desc"]):
            raise QueryError(
                f"Invalid orderBy {item.strip()!r}: a sort key takes only the desc modifier"
            )
        keys.append((name, bool(modifiers)))
    return OrderBy(tuple(keys))


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
