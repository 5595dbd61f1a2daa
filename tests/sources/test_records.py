"""Validation: the column-wise way and pydantic's way agree, and bad records are named."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator

from sources.records import ModelTable, RecordBatcher
from sources.registry import get_integration
from sources.spec import IntegrationSpec, ModelSpec, Page, SyncSpec


class Thing(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    seen_at: datetime
    size: int | None = None
    price: Decimal | None = None
    active: bool = True
    tags: list[str] | None = None


class Plain(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    seen_at: datetime
    size: int | None = None
    price: Decimal | None = None
    active: bool = True


class Checked(Plain):
    @field_validator("id")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


RAWS = [
    {
        "id": "a",
        "seen_at": "2024-01-02T03:04:05.678Z",
        "size": "12",
        "price": "9.50",
        "x": "1",
        "active": True,
    },
    {"id": "b", "seen_at": "2024-02-02T03:04:05Z", "size": None, "active": False, "y": "2"},
]


def test_columnar_and_pydantic_give_the_same_table():
    table = ModelTable(ModelSpec("plain", Plain))
    assert table.columnar_plan
    fast = table.columnar([dict(r) for r in RAWS], "run", 0)
    valid, invalid = table.validate([dict(r) for r in RAWS])
    assert invalid == []
    slow = table.to_arrow(valid, "run", 0)
    assert fast is not None
    assert fast.select(slow.column_names).equals(slow)
    assert fast.column("x").to_pylist() == ["1", None]
    assert fast.column("y").to_pylist() == [None, "2"]


def test_anything_unsure_goes_to_pydantic():
    table = ModelTable(ModelSpec("plain", Plain))
    assert (
        table.columnar([{"id": "a", "seen_at": "2024-01-02T03:04:05Z", "size": "lots"}], "r", 0)
        is None
    )
    assert table.columnar([{"id": "a", "seen_at": "2024-01-02"}], "r", 0) is None
    assert table.columnar([{"id": 1.5, "seen_at": "2024-01-02T03:04:05Z"}], "r", 0) is None
    assert table.columnar([{"id": "a"}], "r", 0) is None
    late = [
        {"id": "a", "seen_at": "2024-01-02T03:04:05Z"},
        {"id": "b", "seen_at": "2024-01-02T03:04:05Z", "size": "lots"},
    ]
    assert table.columnar(late, "r", 0) is None
    assert ModelTable(ModelSpec("checked", Checked)).columnar_plan == []
    assert ModelTable(ModelSpec("thing", Thing)).columnar_plan == []


def test_bad_records_are_rejected_with_reasons_and_the_rest_load():
    spec = IntegrationSpec(
        name="things",
        title="Things",
        config_model=Plain,
        credentials_model=Plain,
        models={"plain": ModelSpec("plain", Plain)},
        syncs={"all": SyncSpec("all", ("plain",))},
        extract=lambda ctx: iter(()),
    )
    batcher = RecordBatcher(spec.name, spec.models, "run")
    good = {"id": "ok", "seen_at": "2024-01-02T03:04:05Z"}
    bad = {"id": "bad", "seen_at": "2024-01-02T03:04:05Z", "size": "lots"}
    list(batcher.add(Page("plain", [good, bad])))
    tables = list(batcher.flush())
    assert batcher.rejected_counts == {"plain": 1}
    loaded, rejected = (table for _, table in tables)
    assert loaded.column("id").to_pylist() == ["ok"]
    assert rejected.column("record_id").to_pylist() == ["bad"]
    assert "size" in rejected.column("reason")[0].as_py()
    assert '"size":"lots"' in rejected.column("payload")[0].as_py()


def test_hubspot_models_take_the_columnar_way():
    hubspot = get_integration("hubspot")
    for model in hubspot.models.values():
        assert ModelTable(model).columnar_plan, model.name


def _hubspot_record(i: int, **properties: str | None) -> dict:
    return {
        "id": str(i),
        "properties": {
            "hs_object_id": str(i),
            "email": f"p{i}@example.com",
            "jobtitle": "",
            "createdate": "2024-01-02T03:04:05.678Z",
            "lastmodifieddate": "2024-02-02T03:04:05.678Z",
            **properties,
        },
        "createdAt": "2024-01-02T03:04:05.678Z",
        "updatedAt": "2024-02-02T03:04:05.678Z",
        "archived": False,
    }


def test_record_shape_is_the_same_in_arrow_and_record_by_record():
    model = get_integration("hubspot").model("contacts")
    assert model.shape is not None
    raws = [_hubspot_record(1), _hubspot_record(2, jobtitle="CEO", custom_score="7")]
    by_record = [model.shape.apply(raw) for raw in raws]
    assert by_record[0]["jobtitle"] is None  # HubSpot's blank is null
    assert "hs_object_id" not in by_record[0] and "properties" not in by_record[0]
    assert by_record[1]["created_at"] == "2024-01-02T03:04:05.678Z"
    table = ModelTable(model)
    columnar = table.columnar(raws, "run", 0)
    assert columnar is not None
    valid, invalid = table.validate(raws)
    assert not invalid
    for row, expected in zip(columnar.to_pylist(), valid, strict=True):
        assert {k: row[k] for k in expected} == expected
    assert columnar.column("custom_score").to_pylist() == [None, "7"]


def test_raw_pages_decode_to_the_same_table_and_fall_back_when_arrow_cannot():
    import json

    from sources.records import decode_pages
    from sources.spec import RawPage

    model = get_integration("hubspot").model("contacts")
    table = ModelTable(model)
    pages = [[_hubspot_record(i) for i in range(k, k + 3)] for k in (0, 3)]
    raws = [r for page in pages for r in page]
    bodies = [RawPage(json.dumps({"results": page}).encode(), "results") for page in pages]
    from_objects = table.columnar(raws, "run", 0)
    from_bodies = table.columnar(raws, "run", 0, bodies)
    assert from_bodies is not None and from_bodies.equals(from_objects)
    assert decode_pages(bodies) is not None

    pretty = [
        RawPage(json.dumps({"results": page}, indent=2).encode(), "results") for page in pages
    ]
    assert decode_pages(pretty) is None
    assert table.columnar(raws, "run", 0, pretty).equals(from_objects)

    clashing = [
        RawPage(b'{"results": [{"id": 1}]}', "results"),
        RawPage(b'{"results": [{"id": "x"}]}', "results"),
    ]
    assert decode_pages(clashing) is None


def test_whole_numbers_in_text_fields_are_read_as_their_digits_both_ways():
    table = ModelTable(ModelSpec("plain", Plain))
    numeric = [{"id": 7, "seen_at": "2024-01-02T03:04:05Z"}, {"id": 12, "seen_at": None}]
    columnar = table.columnar(numeric[:1], "r", 0)
    assert columnar is not None and columnar.column("id").to_pylist() == ["7"]
    valid, invalid = table.validate(numeric)
    assert [row["id"] for row in valid] == ["7"]
    ((raw, error),) = invalid
    assert raw == {"id": 12, "seen_at": None} and "seen_at" in str(error)
    # A fraction or a boolean has no one reading as text: still rejected.
    valid, invalid = table.validate(
        [{"id": 1.5, "seen_at": "2024-01-02T03:04:05Z"}, {"id": True, "seen_at": "2024-01-02"}]
    )
    assert valid == [] and len(invalid) == 2


def test_a_page_of_ids_sent_as_numbers_loads_whole():
    thing = ModelSpec("thing", Thing)
    batcher = RecordBatcher("things", {"thing": thing}, "run")
    page = [{"id": i, "seen_at": "2024-01-02T03:04:05Z", "tags": ["x"]} for i in range(50)]
    page.append({"id": "51", "seen_at": "2024-01-02T03:04:05Z"})
    list(batcher.add(Page("thing", page)))
    ((name, loaded),) = list(batcher.flush())
    assert name == "thing" and batcher.rejected_counts == {}
    assert loaded.column("id").to_pylist() == [str(i) for i in range(50)] + ["51"]
