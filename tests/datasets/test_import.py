"""Uploads: three formats, column mapping, and errors that name the line and write nothing."""

import io
import json

import pytest

from datasets.exporters import iter_export, neutralise
from datasets.models import DatasetVersion, Record
from datasets.services import dataset_create, dataset_import
from evalhub.errors import InvalidInput, NotFound, PermissionDenied

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(member, org):
    return dataset_create(actor=member, name="Imports", organization=org)


def upload(actor, dataset, text, filename, **kw):
    data = text.encode() if isinstance(text, str) else text
    return dataset_import(
        actor=actor, dataset=dataset, fileobj=io.BytesIO(data), filename=filename, **kw
    )


def test_jsonl_with_the_usual_column_names(member, dataset):
    text = '{"question": "2+2?", "answer": "4", "response": "4", "context": "math", "topic": "sums"}\n\n{"question": "3+3?", "answer": "6"}\n'
    version = upload(member, dataset, text, "qa.jsonl")
    assert version.number == 1 and version.record_count == 2
    first = version.records.get(index=0)
    assert first.input == "2+2?" and first.expected_output == "4" and first.actual_output == "4"
    assert first.context == "math" and first.metadata == {"topic": "sums"}


def test_a_json_array_is_read_element_by_element(member, dataset):
    rows = [{"input": {"q": f"q{i}"}, "expected_output": {"id": i}} for i in range(3)]
    version = upload(member, dataset, json.dumps(rows, indent=2), "qa.json")
    assert version.record_count == 3
    assert version.records.get(index=2).expected_output == '{"id":2}'  # JSON kept as compact text


def test_csv_with_an_explicit_column_mapping(member, dataset):
    text = "Frage,Antwort,Bot\nHauptstadt?,Berlin,Berlin\n"
    version = upload(
        member,
        dataset,
        text,
        "qa.csv",
        mapping={"input": "Frage", "expected_output": "Antwort", "actual_output": "Bot"},
    )
    record = version.records.get()
    assert (record.input, record.expected_output, record.actual_output) == (
        "Hauptstadt?",
        "Berlin",
        "Berlin",
    )


def test_without_an_input_column_the_other_columns_become_the_inputs_variables(member, dataset):
    version = upload(member, dataset, "city,country,expected\nParis,France,yes\n", "x.csv")
    assert version.records.get().input == {"city": "Paris", "country": "France"}


def test_a_utf8_bom_is_accepted(member, dataset):
    version = upload(member, dataset, "\ufeffinput,expected\nhi,there\n".encode(), "bom.csv")
    assert version.records.get().input == "hi"


@pytest.mark.parametrize(
    "content, filename, line, code",
    [
        (b'{"input": "a"}\n{"input": "b"\n', "x.jsonl", 2, "invalid_json"),
        (b'{"input": "a"}\n{"input": NaN}\n', "x.jsonl", 2, "invalid_json"),
        (b'{"input": "a"}\n[1, 2]\n', "x.jsonl", 2, "not_an_object"),
        (b'{"input": "ok"}\n{"input": "bad \xff byte"}\n', "x.jsonl", 2, "invalid_utf8"),
        (b'{"input": "ok"}\n{"input": "nul \\u0000 here"}\n', "x.jsonl", 2, "nul_character"),
        (b'{"input": "ok"}\n{"input": ' + b"[" * 40 + b"]" * 40 + b"}\n", "x.jsonl", 2, "too_deep"),
        (b'{"input": "ok"}\n{"expected_output": "no input"}\n', "x.jsonl", 2, "missing_input"),
        (b"input,expected\na,b\nc,d,e\n", "x.csv", 3, "ragged_row"),
        (b'[\n{"input": "a"},\n{"input": Infinity}\n]', "x.json", 3, "invalid_json"),
        (b'[\n{"input": "a"},\n"just text"\n]', "x.json", 3, "not_an_object"),
    ],
)
def test_bad_lines_are_named_and_nothing_is_written(member, dataset, content, filename, line, code):
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, content, filename)
    assert err.value.field == f"line {line}"
    assert err.value.code == code
    assert f"Line {line}" in err.value.message
    assert not DatasetVersion.objects.exists() and not Record.objects.exists()


def test_an_empty_file_holds_no_records(member, dataset):
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, "", "empty.jsonl")
    assert err.value.code == "empty"
    assert not DatasetVersion.objects.exists()


def test_a_large_jsonl_file_imports_completely(member, dataset, tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(20_000):
            f.write(json.dumps({"input": {"q": f"question {i}"}, "expected_output": str(i)}) + "\n")
    with path.open("rb") as f:
        version = dataset_import(actor=member, dataset=dataset, fileobj=f, filename="big.jsonl")
    assert version.record_count == 20_000 == version.records.count()
    assert version.records.get(index=19_999).expected_output == "19999"


def test_each_import_makes_the_next_version(member, dataset):
    assert upload(member, dataset, '{"input": "a"}\n', "a.jsonl").number == 1
    assert upload(member, dataset, '{"input": "b"}\n', "b.jsonl").number == 2
    assert dataset.latest_version().number == 2


def test_a_viewer_cannot_import_and_an_outsider_cannot_see(viewer, outsider, dataset):
    with pytest.raises(PermissionDenied):
        upload(viewer, dataset, '{"input": "a"}\n', "a.jsonl")
    with pytest.raises(NotFound):
        upload(outsider, dataset, '{"input": "a"}\n', "a.jsonl")
    assert not DatasetVersion.objects.exists()


def test_csv_export_neutralises_spreadsheet_formulas(member, dataset):
    version = upload(
        member,
        dataset,
        '{"input": "=HYPERLINK(\\"http://x\\")", "expected_output": "+1"}\n',
        "f.jsonl",
    )
    exported = b"".join(iter_export(version, "csv")).decode()
    assert "'=HYPERLINK" in exported and "'+1" in exported
    assert neutralise("@SUM(A1)") == "'@SUM(A1)" and neutralise("plain") == "plain"


def test_jsonl_export_then_import_gives_the_same_records(member, dataset):
    text = '{"input": {"q": "a"}, "expected_output": "x", "actual_output": "y", "context": ["c1"], "metadata": {"k": 1}}\n'
    first = upload(member, dataset, text, "a.jsonl")
    exported = b"".join(iter_export(first, "jsonl"))
    second = upload(member, dataset, exported, "again.jsonl")
    fields = ("input", "expected_output", "actual_output", "context")
    a, b = first.records.get(), second.records.get()
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert b.metadata["k"] == 1
