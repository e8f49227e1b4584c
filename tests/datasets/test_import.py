"""Uploads through dataset_import: new versions, all-or-nothing errors, permissions, concurrency."""

import io
import json
import threading
import uuid

import pytest
from django.db import connection

from datasets.models import DatasetVersion, Record
from datasets.services import dataset_create, dataset_import
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(member, org):
    return dataset_create(actor=member, name="Imports", organization=org)


def upload(actor, dataset, content, filename, **kw):
    data = content.encode() if isinstance(content, str) else content
    return dataset_import(
        actor=actor, dataset=dataset, fileobj=io.BytesIO(data), filename=filename, **kw
    )


def nothing_written():
    return not DatasetVersion.objects.exists() and not Record.objects.exists()


def test_jsonl_with_the_usual_column_names(member, dataset):
    content = (
        '{"question": "2+2?", "answer": "4", "response": "4", "context": "math", "topic": "sums"}\n'
        "\n"
        '{"question": "3+3?", "answer": 6}\n'
    )
    version = upload(member, dataset, content, "qa.jsonl")
    assert (version.number, version.record_count, version.source) == (1, 2, "upload")
    first, second = version.records.order_by("index")
    assert (first.input, first.expected_output, first.actual_output) == ("2+2?", "4", "4")
    assert first.context == "math" and first.metadata == {"topic": "sums"}
    assert second.expected_output == "6" and second.actual_output is None


def test_a_json_array_keeps_structured_inputs_and_outputs(member, dataset):
    rows = [{"input": {"q": f"q{i}"}, "expected_output": {"id": i}} for i in range(3)]
    version = upload(member, dataset, json.dumps(rows, indent=2), "qa.json")
    assert version.record_count == 3 and version.columns == ["q"]
    record = version.records.get(index=2)
    assert record.input == {"q": "q2"}
    assert record.expected_output == '{"id":2}'  # compact JSON text, so json_equal can parse it


def test_csv_with_the_usual_column_names(member, dataset):
    version = upload(member, dataset, "prompt,ideal,category\nHi?,Hello,greeting\n", "qa.csv")
    record = version.records.get()
    assert (record.input, record.expected_output, record.metadata) == (
        "Hi?",
        "Hello",
        {"category": "greeting"},
    )


def test_csv_with_an_explicit_column_mapping(member, dataset):
    version = upload(
        member,
        dataset,
        "Frage,Antwort,Bot\nHauptstadt?,Berlin,Berlin\n",
        "qa.csv",
        mapping={"input": "Frage", "expected_output": "Antwort", "actual_output": "Bot"},
    )
    record = version.records.get()
    assert (record.input, record.expected_output, record.actual_output) == (
        "Hauptstadt?",
        "Berlin",
        "Berlin",
    )


def test_the_format_may_be_given_when_the_name_says_nothing(member, dataset):
    version = upload(member, dataset, '{"input": "a"}\n', "upload.bin", format="jsonl")
    assert version.records.get().input == "a"


def test_a_utf8_bom_is_accepted(member, dataset):
    version = upload(member, dataset, "\ufeffinput,expected\nhi,there\n".encode(), "bom.csv")
    assert version.records.get().input == "hi"


@pytest.mark.parametrize(
    "content, filename, line, code",
    [
        (b'{"input": "a"}\n{"input": "b"\n', "x.jsonl", 2, "invalid_json"),
        (b'{"input": "a"}\n{"input": NaN}\n', "x.jsonl", 2, "not_finite"),
        (b'{"input": "a"}\n[1, 2]\n', "x.jsonl", 2, "not_an_object"),
        (b'{"input": "ok"}\n{"input": "bad \xff byte"}\n', "x.jsonl", 2, "invalid_utf8"),
        (b'{"input": "ok"}\n{"input": "nul \\u0000 here"}\n', "x.jsonl", 2, "nul_character"),
        (b'{"input": "ok"}\n{"input": ' + b"[" * 40 + b"]" * 40 + b"}\n", "x.jsonl", 2, "too_deep"),
        (b'{"input": "ok"}\n{"expected_output": "no input"}\n', "x.jsonl", 2, "missing_input"),
        (b"input,expected\na,b\nc,d,e\n", "x.csv", 3, "ragged_row"),
        (b"input,,expected\na,b,c\n", "x.csv", 1, "no_header"),
        (b"input,expected\na,b\nc,\x00\n", "x.csv", 3, "nul_character"),
        (b'[\n{"input": "a"},\n{"input": Infinity}\n]', "x.json", 3, "not_finite"),
        (b'[\n{"input": "a"},\n"just text"\n]', "x.json", 3, "not_an_object"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(member, dataset, content, filename, line, code):
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, content, filename)
    assert (err.value.field, err.value.code) == (f"line {line}", code)
    assert err.value.message.startswith(f"Line {line}: ")
    assert nothing_written()
    assert not AuditEvent.objects.filter(action="dataset.import").exists()


def test_a_bad_line_after_many_good_ones_still_writes_nothing(member, dataset):
    """The error comes after several write batches (and, on PostgreSQL, mid-COPY)."""
    good = "".join(json.dumps({"input": f"q{i}"}) + "\n" for i in range(12_000))
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, good + '{"input": NaN}\n', "x.jsonl")
    assert err.value.field == "line 12001"
    assert nothing_written()
    assert upload(member, dataset, good, "x.jsonl").number == 1  # the connection is fine


def test_a_line_longer_than_the_cap_is_refused(member, dataset, monkeypatch):
    from datasets import importers

    monkeypatch.setattr(importers, "MAX_LINE_BYTES", 1000)
    content = '{"input": "ok"}\n{"input": "' + "x" * 5000 + '"}\n'
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, content, "x.jsonl")
    assert (err.value.field, err.value.code) == ("line 2", "line_too_long")
    assert nothing_written()


@pytest.mark.parametrize(
    "content, filename",
    [("", "e.jsonl"), ("\n\n", "e.jsonl"), ("[]", "e.json"), ("a,b\n", "e.csv")],
)
def test_a_file_without_records_is_refused(member, dataset, content, filename):
    with pytest.raises(InvalidInput) as err:
        upload(member, dataset, content, filename)
    assert (err.value.field, err.value.code) == ("file", "empty")
    assert nothing_written()


def test_a_large_jsonl_file_imports_completely(member, dataset, tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(20_000):
            f.write(json.dumps({"input": {"q": f"question {i}"}, "expected_output": str(i)}) + "\n")
    with path.open("rb") as f:
        version = dataset_import(actor=member, dataset=dataset, fileobj=f, filename="big.jsonl")
    assert version.record_count == 20_000 == version.records.count()
    assert version.records.get(index=19_999).expected_output == "19999"
    assert version.records.values("uuid").distinct().count() == 20_000


def test_each_import_makes_the_next_version(member, dataset):
    assert upload(member, dataset, '{"input": "a"}\n', "a.jsonl").number == 1
    assert upload(member, dataset, '{"input": "b"}\n', "b.jsonl").number == 2
    assert dataset.latest_version().number == 2
    assert AuditEvent.objects.filter(action="dataset.import").count() == 2


def test_an_import_is_audited(member, dataset):
    version = upload(member, dataset, '{"input": "a"}\n', "a.jsonl", note="first cut")
    event = AuditEvent.objects.get(action="dataset.import")
    assert event.actor == member and event.organization == dataset.organization
    assert event.data["records"] == 1 and version.note == "first cut"


def test_a_viewer_cannot_import_and_an_outsider_cannot_see(viewer, outsider, dataset):
    with pytest.raises(PermissionDenied):
        upload(viewer, dataset, '{"input": "a"}\n', "a.jsonl")
    with pytest.raises(NotFound):
        upload(outsider, dataset, '{"input": "a"}\n', "a.jsonl")
    assert nothing_written()


def test_the_owner_of_the_org_may_import(owner, dataset):
    assert upload(owner, dataset, '{"input": "a"}\n', "a.jsonl").created_by == owner


def test_a_dynamic_dataset_cannot_be_uploaded_to(member, org):
    dynamic = dataset_create(
        actor=member, name="d", organization=org, kind="dynamic", filter={"model": "m"}
    )
    with pytest.raises(InvalidInput) as err:
        upload(member, dynamic, '{"input": "a"}\n', "a.jsonl")
    assert err.value.code == "dynamic_dataset"
    assert nothing_written()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_get_consecutive_version_numbers(member, org):
    dataset = dataset_create(actor=member, name="Race", organization=org)
    content = "".join(json.dumps({"input": f"q{i}"}) + "\n" for i in range(3000)).encode()
    start = threading.Barrier(2)
    numbers, errors = [], []

    def import_once():
        try:
            start.wait()
            version = dataset_import(
                actor=member, dataset=dataset, fileobj=io.BytesIO(content), filename="r.jsonl"
            )
            numbers.append(version.number)
        except Exception as err:  # reported below; a thread cannot fail the test itself
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=import_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(numbers) == [1, 2]
    assert Record.objects.filter(version__dataset=dataset).count() == 6000


# Each one needs its own escape in COPY's text format, or looks like COPY syntax.
AWKWARD_TEXT = [
    "back\\slash",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "\\N",
    "\\.",
    'quotes " and \\" and \\\\',
    "all of them \\t\t\\n\n\\r\r\\",
    "unicode é ✓ 😀 \u2028 \x7f",
    "  spaces around  ",
]


def test_awkward_text_round_trips_exactly_through_every_column(member, dataset):
    rows = [
        {
            "input": {"q": text, "nested": [text, {"k": text}]},
            "expected_output": text,
            "actual_output": text,
            "context": [text],
            "metadata": {"note": text, text: 1},
        }
        for text in AWKWARD_TEXT
    ]
    content = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    version = upload(member, dataset, content, "awkward.jsonl")
    records = list(version.records.order_by("index"))
    assert len(records) == len(rows)
    for row, record in zip(rows, records, strict=True):
        assert record.input == row["input"]
        assert record.expected_output == row["expected_output"]
        assert record.actual_output == row["actual_output"]
        assert record.context == row["context"]
        assert record.metadata == row["metadata"]


def test_numbers_round_trip_through_the_json_columns(member, dataset):
    numbers = {"big": 2**70, "negative": -(2**70), "fraction": 0.1, "tiny": 1.5e-7, "large": 1e16}
    version = upload(member, dataset, json.dumps({"input": numbers, "n": numbers}), "n.jsonl")
    record = version.records.get()
    assert record.input == numbers and record.metadata == {"n": numbers}
    assert type(record.input["big"]) is int


def test_each_record_gets_its_own_version_4_uuid(member, dataset):
    content = "".join(json.dumps({"input": f"q{i}"}) + "\n" for i in range(2500))
    version = upload(member, dataset, content, "ids.jsonl")
    ids = list(version.records.values_list("uuid", flat=True))
    assert len(set(ids)) == 2500
    assert {(u.version, u.variant) for u in ids} == {(4, uuid.RFC_4122)}


def test_the_versions_columns_are_the_input_keys_in_order_of_first_appearance(member, dataset):
    inputs = [
        {"city": "Paris", "country": "France"},
        {"country": "Peru", "year": 1},
        {"city": "Rome"},
    ]
    content = "".join(json.dumps({"input": i}) + "\n" for i in [*inputs, "a text input"])
    version = upload(member, dataset, content, "columns.jsonl")
    assert version.columns == ["city", "country", "year"]
