"""From an integration's raw pages to the Arrow tables dlt loads.

Every record is validated against its model's pydantic class; a record that fails is
kept aside with its reason and raw payload instead of failing the run. A whole number sent
where the model says text (an id as a JSON number) is read as its digits, not rejected.
Valid records are batched into ``pyarrow`` tables whose schema comes from the model, which
is the fastest way dlt has to load (Parquet files, no per-row normalisation). Nested values are stored as
canonical JSON text (sorted keys), so key order in the API's answer never looks like a
change.

Records stay in the API's shape until a whole batch is converted: a model's
``RecordShape`` (which nested object becomes columns, which fields are kept) is applied in
Arrow for the batch, and record by record only on pydantic's way. A batch whose pages came
with their raw bodies is decoded from those by Arrow's JSON reader, which does not hold the
interpreter lock while it parses, so the thread fetching the next page is not held up.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from sources.spec import ModelSpec, Page, RawPage, RecordShape

RUN_ID = "_syncs_run_id"
SEQ = "_syncs_seq"
REJECTED_TABLE = "_syncs_rejected"
TOMBSTONES_TABLE = "_syncs_tombstones"
BATCH_ROWS = 5_000

REJECTED_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("record_id", pa.string()),
        ("reason", pa.string()),
        ("payload", pa.string()),
        (RUN_ID, pa.string()),
        (SEQ, pa.int64()),
    ]
)
TOMBSTONES_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("record_id", pa.string()),
        ("deleted_at", pa.timestamp("us", tz="UTC")),
        (RUN_ID, pa.string()),
        (SEQ, pa.int64()),
    ]
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else Any
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
    date: pa.date32(),
    Decimal: pa.decimal128(38, 9),
}


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """Arrow type for a model field, and whether its value is stored as JSON text."""
    base = _unwrap(annotation)
    if base in _SCALARS:
        return _SCALARS[base], False
    if isinstance(base, type) and issubclass(base, str):
        return pa.string(), False
    return pa.string(), True


def _optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _optional(typing.get_args(annotation)[0])
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether an Arrow cast from ``source`` accepts what pydantic's lax mode accepts."""
    if source == target:
        return True
    text = pa.types.is_string(source) or pa.types.is_large_string(source)
    if pa.types.is_string(target):
        return pa.types.is_integer(source)
    if pa.types.is_int64(target):
        return text
    if pa.types.is_floating(target) or pa.types.is_decimal(target):
        return text or pa.types.is_integer(source) or pa.types.is_floating(source)
    if pa.types.is_boolean(target):
        return text
    if pa.types.is_timestamp(target) or pa.types.is_date(target):
        return text
    return False


class ModelTable:
    """Validates one model's raw records and turns them into Arrow tables.

    Two ways, one result. For a model of plain typed fields (no custom validators, no
    defaults other than ``None`` or a constant) a batch is validated column by column:
    Arrow infers each raw column over all records, and a cast to the model's type either
    succeeds for every value or the batch takes the other way; so does a batch where a
    missing key and an explicit null would mean different things. That way is pydantic itself: the batch is
    validated in one call, and only a batch with a bad record is validated record by record
    to name it. The column-wise way does in C++ what pydantic does per value in Python
    objects, several times faster, and is never more lenient: anything it is unsure of
    goes to pydantic.
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        if "id" not in spec.schema.model_fields:
            raise TypeError(f"model {spec.name!r} must have an 'id' field")
        self.adapter: TypeAdapter[list[Any]] = TypeAdapter(list[spec.schema])  # type: ignore[name-defined]
        fields = []
        self.json_fields: list[str] = []
        for name, info in spec.schema.model_fields.items():
            arrow_type, as_json = _arrow_type(info.annotation)
            if name == "id":
                arrow_type, as_json = pa.string(), False
            if as_json:
                self.json_fields.append(name)
            fields.append(pa.field(name, arrow_type))
        self.schema = pa.schema(fields)
        self.known = set(self.schema.names)
        self.text_fields = [
            f.name for f in fields if pa.types.is_string(f.type) and f.name not in self.json_fields
        ]
        self.columnar_plan = self._columnar_plan(spec.schema)

    def _columnar_plan(self, schema: type[BaseModel]) -> list[tuple[str, pa.DataType, bool, Any]]:
        """Per field (name, type, nullable, default when missing); empty when not eligible."""
        decorators = schema.__pydantic_decorators__
        if (
            decorators.validators
            or decorators.field_validators
            or decorators.root_validators
            or decorators.model_validators
            or decorators.field_serializers
            or decorators.model_serializers
            or self.json_fields
            or schema.model_config.get("extra") == "forbid"
        ):
            return []
        plan = []
        for field in self.schema:
            info = schema.model_fields[field.name]
            if info.alias or info.default_factory is not None:
                return []
            if not info.is_required() and not isinstance(
                info.default, str | int | float | bool | None
            ):
                return []
            plan.append((field.name, field.type, _optional(info.annotation), info.default))
        return plan

    def columnar(
        self,
        raws: list[dict[str, Any]],
        run_id: str,
        first_seq: int,
        bodies: list[RawPage] | None = None,
    ) -> pa.Table | None:
        """The batch as a validated table, or ``None`` when pydantic must decide.

        With the batch's raw pages (``bodies``) the records are decoded from them by
        Arrow's JSON reader, which holds no interpreter lock while it parses; otherwise,
        or when the reader cannot take them, they are converted from the decoded objects.
        """
        if not self.columnar_plan:
            return None
        records = decode_pages(bodies) if bodies else None
        if records is None or len(records) != len(raws):
            try:
                records = pa.array(raws)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                return None
        if not pa.types.is_struct(records.type):
            return None
        table = shaped(records, self.spec.shape)
        n = table.num_rows
        columns: dict[str, Any] = {}
        for name, target, nullable, default in self.columnar_plan:
            if name not in table.column_names:
                if default is PydanticUndefined:
                    return None
                columns[name] = pa.array([default] * n, type=target)
                continue
            column = table[name]
            if column.null_count and (not nullable or default not in (None, PydanticUndefined)):
                return None
            if pa.types.is_null(column.type):
                columns[name] = pa.nulls(n, target)
                continue
            if not _castable(column.type, target):
                return None
            try:
                columns[name] = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        if self.spec.schema.model_config.get("extra") == "allow":
            for name in sorted(set(table.column_names) - self.known):
                column = table[name]
                if pa.types.is_null(column.type):
                    columns[name] = pa.nulls(n, pa.string())
                elif pa.types.is_string(column.type):
                    columns[name] = column
                else:
                    return None
        columns[RUN_ID] = pa.array([run_id] * n, type=pa.string())
        columns[SEQ] = pa.array(range(first_seq, first_seq + n), type=pa.int64())
        return pa.table(columns)

    def validate(
        self, raws: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], ValidationError]]]:
        """Valid records as plain dicts, and the invalid ones (as the API sent them) with
        their errors."""
        shape = self.spec.shape
        rows = [shape.apply(raw) for raw in raws] if shape is not None else raws
        try:
            return self.adapter.dump_python(self.adapter.validate_python(rows)), []
        except ValidationError:
            pass
        valid, invalid = [], []
        schema = self.spec.schema
        for raw, row in zip(raws, rows, strict=True):
            try:
                valid.append(schema.model_validate(row).model_dump())
            except ValidationError as error:
                reason = error
                coerced = self._numbers_as_text(row)
                if coerced is not None:
                    try:
                        valid.append(schema.model_validate(coerced).model_dump())
                        continue
                    except ValidationError as still:
                        reason = still
                invalid.append((raw, reason))
        return valid, invalid

    def _numbers_as_text(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with whole numbers in text fields as their digits (an id sent as a JSON
        number), or None when it has none: that reading is unambiguous, unlike a fraction's
        or a boolean's, which stay invalid."""
        changed: dict[str, Any] | None = None
        for name in self.text_fields:
            value = row.get(name)
            if type(value) is int:
                changed = changed if changed is not None else dict(row)
                changed[name] = str(value)
        return changed

    def to_arrow(self, rows: list[dict[str, Any]], run_id: str, first_seq: int) -> pa.Table:
        extras: set[str] = set()
        for row in rows:
            if len(row) > len(self.known):
                extras.update(k for k in row if k not in self.known)
        for name in self.json_fields:
            for row in rows:
                value = row.get(name)
                if value is not None:
                    row[name] = canonical_json(value)
        for name in extras:
            for row in rows:
                value = row.get(name)
                if value is not None and not isinstance(value, str):
                    row[name] = canonical_json(value)
        schema = self.schema
        for name in sorted(extras):
            schema = schema.append(pa.field(name, pa.string()))
        table = pa.Table.from_pylist(rows, schema=schema)
        table = table.append_column(RUN_ID, pa.array([run_id] * len(rows), type=pa.string()))
        return table.append_column(
            SEQ, pa.array(range(first_seq, first_seq + len(rows)), type=pa.int64())
        )


def decode_pages(pages: list[RawPage]) -> pa.StructArray | None:
    """The records of raw JSON pages as one struct array, or ``None`` if Arrow cannot.

    The bodies are joined into newline-delimited JSON (one page a line) and read in one
    call; a body with a line break in it (pretty-printed JSON) is left to ``json``.
    """
    path = pages[0].path
    if any(page.path != path or b"\n" in page.body for page in pages):
        return None
    joined = b"\n".join(page.body for page in pages)
    try:
        table = pajson.read_json(
            pa.BufferReader(joined),
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(joined) + 1),
        )
        keys = path.split(".")
        if keys[0] not in table.column_names:
            return None
        column: Any = table.column(keys[0]).combine_chunks()
        for key in keys[1:]:
            column = pc.struct_field(column, [key])
        if not pa.types.is_list(column.type):
            return None
        records = pc.list_flatten(column)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        return None
    return records if pa.types.is_struct(records.type) else None


def shaped(records: pa.StructArray, shape: RecordShape | None) -> pa.Table:
    """A batch of raw records as a table of columns, ``shape`` applied in Arrow."""
    if shape is None:
        return pa.Table.from_struct_array(records)
    names = [f.name for f in records.type]
    columns: dict[str, pa.Array] = {}
    if shape.lift in names:
        nested = pc.struct_field(records, [shape.lift])
        if pa.types.is_struct(nested.type):
            for field in nested.type:
                if field.name in shape.drop:
                    continue
                column = pc.struct_field(nested, [field.name])
                if shape.blank_is_null and pa.types.is_string(column.type):
                    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
                columns[field.name] = column
    kept = shape.fields if shape.fields is not None else {n: n for n in names if n != shape.lift}
    for key, column in kept.items():
        if key in names:
            columns[column] = pc.struct_field(records, [key])
    return pa.table(columns) if columns else pa.table({"id": pa.nulls(len(records))})


def _reason(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        got = err.get("input")
        got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
        parts.append(f"{where}: {err['msg']}{got_text}")
    return "; ".join(parts)


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


Batch = tuple[str, pa.Table]


class RecordBatcher:
    """Validates pages and emits Arrow tables per model, rejected and tombstone rows.

    Each output is ``(table name, Arrow table)``; ``first_seq`` numbers the rows on from
    where another batcher of the same run stopped, so fetch order stays comparable.
    """

    def __init__(
        self,
        integration: str,
        models: Mapping[str, ModelSpec],
        run_id: str,
        *,
        first_seq: int = 0,
    ) -> None:
        self.integration = integration
        self.run_id = run_id
        self.tables = {name: ModelTable(model) for name, model in models.items()}
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.bodies: dict[str, list[RawPage] | None] = {}
        self.rejected: list[dict[str, Any]] = []
        self.tombstones: list[dict[str, Any]] = []
        self.seq = first_seq
        self.rejected_counts: dict[str, int] = {}

    def _next_seq(self, n: int) -> int:
        first = self.seq
        self.seq += n
        return first

    def add(self, page: Page) -> Iterator[Batch]:
        table_of = self.tables.get(page.model)
        if table_of is None:
            raise KeyError(f"integration {self.integration!r} has no model {page.model!r}")
        if page.deleted:
            for raw in page.records:
                self.tombstones.append(
                    {
                        "model": page.model,
                        "record_id": str(raw["id"]),
                        "deleted_at": _parse_time(raw.get("deleted_at")),
                    }
                )
        else:
            self.pending.setdefault(page.model, []).extend(page.records)
            bodies = self.bodies.setdefault(page.model, [])
            if bodies is not None and page.raw is not None and table_of.columnar_plan:
                bodies.append(page.raw)
            else:
                self.bodies[page.model] = None
        if len(self.pending.get(page.model, ())) >= BATCH_ROWS:
            yield from self._flush_model(page.model)
        if len(self.rejected) >= BATCH_ROWS or len(self.tombstones) >= BATCH_ROWS:
            yield from self._flush_side()

    def _flush_model(self, model: str) -> Iterator[Batch]:
        raws = self.pending.pop(model, [])
        bodies = self.bodies.pop(model, None)
        if not raws:
            return
        table_of = self.tables[model]
        table = table_of.columnar(raws, self.run_id, self._next_seq(len(raws)), bodies)
        if table is None:
            valid, invalid = table_of.validate(raws)
            for raw, error in invalid:
                self.rejected_counts[model] = self.rejected_counts.get(model, 0) + 1
                self.rejected.append(
                    {
                        "model": model,
                        "record_id": None if raw.get("id") is None else str(raw.get("id")),
                        "reason": _reason(error),
                        "payload": canonical_json(raw),
                    }
                )
            table = (
                table_of.to_arrow(valid, self.run_id, self._next_seq(len(valid))) if valid else None
            )
        if table is not None:
            yield model, table

    def _flush_side(self) -> Iterator[Batch]:
        for name, rows, schema in (
            (REJECTED_TABLE, self.rejected, REJECTED_SCHEMA),
            (TOMBSTONES_TABLE, self.tombstones, TOMBSTONES_SCHEMA),
        ):
            if not rows:
                continue
            first = self._next_seq(len(rows))
            for i, row in enumerate(rows):
                row[RUN_ID] = self.run_id
                row[SEQ] = first + i
            yield name, pa.Table.from_pylist(rows, schema=schema)
            rows.clear()

    def flush(self) -> Iterator[Batch]:
        for model in list(self.pending):
            yield from self._flush_model(model)
        yield from self._flush_side()
