"""Exports: streamed CSV / JSON / JSONL, safe for spreadsheets, lossless through a re-import."""

import csv
import io
import json

import pytest

from datasets.exporters import iter_export, neutralise
from datasets.services import dataset_create, dataset_export, dataset_import
from evalhub.errors import InvalidInput, NotFound
from evalhub.models import AuditEvent

pytestmark = pytest.mark.django_db

RECORDS = [
    {
        "input": {"q": "a", "n": 1},
        "expected_output": "x",
        "actual_output": "line one\nline two\twith a tab",
        "context": ["c1", {"doc": "c2"}],
        "metadata": {"k": 1, "tags": ["t"]},
    },
    {
        "input": '=HYPERLINK("http://evil")',
        "expected_output": "+1",
        "actual_output": None,
        "context": None,
        "metadata": {},
    },
    {"input": "ünïcødé ✓ \\ backslash", "expected_output": None, "actual_output": "-2"},
]


@pytest.fixture
def version(member, org):
    dataset = dataset_create(actor=member, name="Export me", organization=org)
    content = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    return dataset_import(
        actor=member, dataset=dataset, fileobj=io.BytesIO(content), filename="a.jsonl"
    )


def fields(version):
    return [
        (r.input, r.expected_output, r.actual_output, r.context, r.metadata)
        for r in version.records.order_by("index")
    ]


def reimport(member, version, fmt):
    data = b"".join(iter_export(version, fmt))
    return dataset_import(
        actor=member, dataset=version.dataset, fileobj=io.BytesIO(data), filename=f"again.{fmt}"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_an_export_imported_again_gives_the_same_records(member, version, fmt):
    again = reimport(member, version, fmt)
    assert again.number == 2
    assert fields(again) == fields(version)
    old_ids = set(version.records.values_list("uuid", flat=True))
    assert old_ids.isdisjoint(again.records.values_list("uuid", flat=True))  # new record ids


def test_csv_export_neutralises_spreadsheet_formulas(version):
    text = b"".join(iter_export(version, "csv")).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "id",
        "index",
        "input",
        "expected_output",
        "actual_output",
        "context",
        "metadata",
    ]
    assert rows[2][2] == '\'=HYPERLINK("http://evil")'
    assert rows[2][3] == "'+1"
    assert rows[3][4] == "'-2"
    assert rows[1][4] == "line one\nline two\twith a tab"  # quoted, not neutralised
    assert json.loads(rows[1][2]) == {"q": "a", "n": 1}


@pytest.mark.parametrize("cell", ["=cmd()", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_start_gets_an_apostrophe(cell):
    assert neutralise(cell) == "'" + cell


def test_plain_cells_and_empty_values_are_left_alone():
    assert neutralise("plain = fine") == "plain = fine"
    assert neutralise(None) == ""
    assert neutralise({"a": 1}) == '{"a": 1}'


def test_a_csv_export_reads_back_as_structured_records(member, version):
    again = reimport(member, version, "csv")
    first = again.records.get(index=0)
    assert first.input == {"q": "a", "n": 1}
    assert first.context == ["c1", {"doc": "c2"}] and first.metadata == {"k": 1, "tags": ["t"]}


def test_json_export_is_one_array(version):
    data = json.loads(b"".join(iter_export(version, "json")))
    assert [d["index"] for d in data] == [0, 1, 2]
    assert data[0]["id"] == str(version.records.get(index=0).uuid)


def test_a_large_version_streams_in_chunks(member, org):
    dataset = dataset_create(actor=member, name="big", organization=org)
    content = "".join(json.dumps({"input": f"q{i}" * 20}) + "\n" for i in range(5000)).encode()
    version = dataset_import(
        actor=member, dataset=dataset, fileobj=io.BytesIO(content), filename="b.jsonl"
    )
    chunks = list(iter_export(version, "jsonl"))
    assert len(chunks) > 5 and all(len(c) < 200_000 for c in chunks)
    assert b"".join(chunks).count(b"\n") == 5000


def test_the_export_service_checks_permission_and_audits(member, viewer, outsider, version):
    export = dataset_export(actor=viewer, version=version, format="jsonl", source="ui")
    assert export.filename == "Export me-v1.jsonl"
    assert export.content_type == "application/x-ndjson"
    assert b"".join(export.chunks).count(b"\n") == 3
    assert AuditEvent.objects.filter(action="dataset.export", actor=viewer).exists()
    with pytest.raises(NotFound):
        dataset_export(actor=outsider, version=version, format="csv")
    with pytest.raises(InvalidInput) as err:
        dataset_export(actor=member, version=version, format="xlsx")
    assert err.value.code == "unknown_format"
