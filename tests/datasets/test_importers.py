"""The streaming parsers on their own: formats, column mapping, and errors that name the line."""

import io
import json
import sys

import pytest

from datasets import importers
from datasets.importers import guess_format, iter_records, resolve_mapping
from evalhub.errors import InvalidInput


def parse(content, format=None, mapping=None, filename=""):
    data = content.encode() if isinstance(content, str) else content
    return list(iter_records(io.BytesIO(data), format=format, mapping=mapping, filename=filename))


def error_of(content, format=None, mapping=None) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        parse(content, format=format, mapping=mapping)
    return err.value


def test_the_usual_column_names_are_recognised_in_every_format():
    rows = [
        {"question": "2+2?", "answer": "4", "response": "four", "contexts": ["sums"], "topic": "x"}
    ]
    jsonl = "\n".join(json.dumps(r) for r in rows)
    csv_text = 'question,answer,response,contexts,topic\n2+2?,4,four,"[""sums""]",x\n'
    for content, fmt in ((jsonl, "jsonl"), (json.dumps(rows), "json"), (csv_text, "csv")):
        (record,) = parse(content, format=fmt)
        assert record.input == "2+2?"
        assert (record.expected_output, record.actual_output) == ("4", "four")
        assert record.context == ["sums"]
        assert record.metadata == {"topic": "x"}


def test_an_explicit_mapping_wins_over_the_usual_names():
    rows = [{"Frage": "Hauptstadt?", "Antwort": "Berlin", "answer": "not me", "Bot": "Berlin"}]
    mapping = {"input": "Frage", "expected_output": "Antwort", "actual_output": "Bot"}
    for content, fmt in (
        ("\n".join(json.dumps(r) for r in rows), "jsonl"),
        (json.dumps(rows), "json"),
        ("Frage,Antwort,answer,Bot\nHauptstadt?,Berlin,not me,Berlin\n", "csv"),
    ):
        (record,) = parse(content, format=fmt, mapping=mapping)
        assert (record.input, record.expected_output, record.actual_output) == (
            "Hauptstadt?",
            "Berlin",
            "Berlin",
        )
        assert record.metadata == {"answer": "not me"}


def test_a_role_mapped_to_no_column_is_left_empty():
    (record,) = parse('{"input": "q", "answer": "a"}\n', "jsonl", {"expected_output": None})
    assert record.expected_output is None and record.metadata == {"answer": "a"}


def test_without_an_input_column_the_other_columns_are_the_inputs_variables():
    (record,) = parse("city,country,expected\nParis,France,yes\n", "csv")
    assert record.input == {"city": "Paris", "country": "France"}
    assert record.expected_output == "yes" and record.metadata == {}


def test_structured_outputs_are_kept_as_compact_json_text():
    (record,) = parse('{"input": "q", "expected_output": {"a": [1, 2]}, "output": 3}\n', "jsonl")
    assert record.expected_output == '{"a":[1,2]}' and record.actual_output == "3"


def test_json_records_may_name_their_columns_differently():
    content = '[{"question": "a", "answer": "1"}, {"input": "b", "expected": "2"}]'
    records = parse(content, "json")
    assert [(r.input, r.expected_output) for r in records] == [("a", "1"), ("b", "2")]


def test_a_bom_crlf_line_ends_and_blank_lines_are_accepted():
    jsonl = '\ufeff{"input": "a"}\r\n\r\n   \n{"input": "b"}'.encode()
    assert [(r.line, r.input) for r in parse(jsonl, "jsonl")] == [(1, "a"), (4, "b")]
    csv_bytes = "\ufeffinput,expected\r\nhi,there\r\n".encode()
    (record,) = parse(csv_bytes, "csv")
    assert (record.input, record.expected_output) == ("hi", "there")
    (record,) = parse('\ufeff[{"input": "x"}]'.encode(), "json")
    assert record.input == "x"


def test_a_csv_cell_may_span_lines_and_errors_name_the_rows_first_line():
    content = 'input,expected\n"two\nlines",x\n"a",b,extra\n'
    with pytest.raises(InvalidInput) as err:
        parse(content, "csv")
    assert err.value.field == "line 4"
    assert err.value.message == "Line 4: expected 2 columns, got 3"
    records = parse('input,expected\n"two\nlines",x\nnext,y\n', "csv")
    assert [(r.line, r.input) for r in records] == [(2, "two\nlines"), (4, "next")]


def test_json_array_elements_carry_their_own_line_numbers():
    content = '[\n  {"input": "a"},\n\n  {"input":\n     "b"},\n  {"input": "c"}\n]\n'
    assert [(r.line, r.input) for r in parse(content, "json")] == [(2, "a"), (4, "b"), (6, "c")]


def test_a_json_array_is_read_in_small_pieces(monkeypatch):
    monkeypatch.setattr(importers, "JSON_READ_CHUNK", 7)
    rows = [{"input": f"question {i} ✓", "expected_output": "é" * i} for i in range(50)]
    records = parse(json.dumps(rows, ensure_ascii=False, indent=1), "json")
    assert [r.input for r in records] == [r["input"] for r in rows]
    assert records[-1].expected_output == "é" * 49


def test_an_evalhub_export_keeps_its_id_and_index_out_of_the_records():
    line = {"id": "x", "index": 0, "input": "q", "expected_output": None, "actual_output": None}
    (record,) = parse(json.dumps({**line, "context": None, "metadata": {"k": 1}}), "jsonl")
    assert record.metadata == {"k": 1}
    (record,) = parse(json.dumps({"id": "ext-7", "input": "q"}), "jsonl")
    assert record.metadata == {"id": "ext-7"}  # a user's own id column is data


@pytest.mark.parametrize(
    "filename, head, expected",
    [
        ("a.CSV", b"", "csv"),
        ("a.ndjson", b"", "jsonl"),
        ("a.json", b"{", "json"),
        ("upload", b"\xef\xbb\xbf  [{", "json"),
        ("upload", b'\n{"input"', "jsonl"),
        ("upload", b"input,expected", "csv"),
    ],
)
def test_the_format_is_guessed_from_the_name_then_the_first_byte(filename, head, expected):
    assert guess_format(filename, head) == expected


def test_the_format_is_guessed_when_not_given():
    assert parse('[{"input": "a"}]')[0].input == "a"
    assert parse('{"input": "a"}\n{"input": "b"}\n')[1].input == "b"


@pytest.mark.parametrize(
    "content, fmt, line, code",
    [
        (b'{"input": "a"}\n{"input": "b"\n', "jsonl", 2, "invalid_json"),
        (b'{"input": "a"} trailing\n', "jsonl", 1, "invalid_json"),
        (b'{"input": "a"}\n{"input": NaN}\n', "jsonl", 2, "not_finite"),
        (b'{"input": "a"}\n{"input": -Infinity}\n', "jsonl", 2, "not_finite"),
        (b'{"input": "a", "n": 1e999}\n', "jsonl", 1, "not_finite"),
        (b'{"input": "a"}\n[1, 2]\n', "jsonl", 2, "not_an_object"),
        (b'{"input": "ok"}\n{"input": "bad \xff byte"}\n', "jsonl", 2, "invalid_utf8"),
        (b'{"input": "ok"}\n{"input": "nul \\u0000 here"}\n', "jsonl", 2, "nul_character"),
        (b'{"input": "ok"}\n{"input": "half \\ud800 pair"}\n', "jsonl", 2, "invalid_unicode"),
        (b'{"input": "ok"}\n{"input": ' + b"[" * 40 + b"]" * 40 + b"}\n", "jsonl", 2, "too_deep"),
        (b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "jsonl", 1, "too_deep"),
        (b'{"input": "ok"}\n{"expected_output": "no input"}\n', "jsonl", 2, "missing_input"),
        (b'{"input": "ok"}\n{"input": "   "}\n', "jsonl", 2, "missing_input"),
        (b"input,expected\na,b\nc,d,e\n", "csv", 3, "ragged_row"),
        (b"input,expected\na,b\nc\n", "csv", 3, "ragged_row"),
        (b"input,expected\na,b\n,c\n", "csv", 3, "missing_input"),
        (b"input,expected\na,b\nc,\x00d\n", "csv", 3, "nul_character"),
        (b"input,expected\na,b\nc,\xc3\x28\n", "csv", 3, "invalid_utf8"),
        (b"input,,expected\na,b,c\n", "csv", 1, "no_header"),
        (b"input,input\na,b\n", "csv", 1, "no_header"),
        (b'[\n{"input": "a"},\n{"input": Infinity}\n]', "json", 3, "not_finite"),
        (b'[\n{"input": "a"},\n"just text"\n]', "json", 3, "not_an_object"),
        (b'[\n{"input": "a"},\n{"input": "b" "c"}\n]', "json", 3, "invalid_json"),
        (b'[\n{"input": "a"}\n{"input": "b"}\n]', "json", 3, "invalid_json"),
        (b'[\n{"input": "a"},\n{"input": "\\u0000"}\n]', "json", 3, "nul_character"),
        (b'[\n{"input": "a"},\n{"input": "\xff"}\n]', "json", 3, "invalid_utf8"),
        (b'[{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]", "json", 1, "too_deep"),
        (b'{"input": "a"}', "json", 1, "not_an_array"),
        (b'[{"input": "a"}] []', "json", 1, "invalid_json"),
    ],
)
def test_a_bad_line_is_named_with_its_reason(content, fmt, line, code):
    err = error_of(content, fmt)
    assert (err.field, err.code) == (f"line {line}", code)
    assert err.message.startswith(f"Line {line}: ")


def test_invalid_utf8_names_the_byte_offset():
    err = error_of(b'{"input": "ok"}\n{"input": "\xff"}\n', "jsonl")
    assert "byte 27" in err.message


def test_a_line_longer_than_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(importers, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(importers, "READ_BLOCK", 16)
    content = '{"input": "ok"}\n{"input": "' + "x" * 200 + '"}\n'
    err = error_of(content, "jsonl")
    assert (err.field, err.code) == ("line 2", "line_too_long")
    err = error_of('[{"input": "ok"},\n {"input": "' + "x" * 200 + '"}]', "json")
    assert (err.field, err.code) == ("line 2", "element_too_large")


def test_a_csv_cell_may_be_larger_than_the_csv_modules_default_limit():
    (record,) = parse("input,expected\n" + "q" * 200_000 + ",a\n", "csv")
    assert len(record.input) == 200_000


def test_an_empty_file_yields_no_records():
    for content, fmt in ((b"", "csv"), (b"", "json"), (b"", "jsonl"), (b"\n\n", "jsonl")):
        assert parse(content, fmt) == []
    assert parse(b"[]", "json") == []
    assert parse(b"input,expected\n", "csv") == []


def test_a_mapping_is_checked_before_reading():
    err = error_of('{"input": "a"}', "jsonl", mapping={"inptu": "x"})
    assert (err.field, err.code) == ("mapping.inptu", "unknown_role")
    err = error_of("a,b\n1,2\n", "csv", mapping={"input": "c"})
    assert (err.field, err.code) == ("mapping.input", "unknown_column")
    err = error_of('{"input": "a"}', "jsonl", mapping={"input": 3})
    assert err.field == "mapping.input"


def test_an_unknown_format_is_refused():
    err = error_of("x", "xml")
    assert (err.field, err.code) == ("format", "unknown_format")


def test_resolve_mapping_reports_the_column_of_each_role():
    assert resolve_mapping(["Question", "Ideal", "Completion", "Documents", "meta"], None) == {
        "input": "Question",
        "expected_output": "Ideal",
        "actual_output": "Completion",
        "context": "Documents",
        "metadata": "meta",
    }


def test_records_are_produced_one_at_a_time():
    content = io.BytesIO(b'{"input": "a"}\n' + b"not json\n" * 10)
    records = iter_records(content, format="jsonl")
    assert next(records).input == "a"
    with pytest.raises(InvalidInput):
        next(records)


# --- the JSONL fast path (msgspec) must read and refuse exactly what the general path does ---


@pytest.mark.parametrize(
    "content, message",
    [
        (
            b'{"input": "a"}\n{"input": "b"\n',
            "Line 2: not valid JSON (Expecting ',' delimiter at column 14)",
        ),
        (b'{"input": "a"} trailing\n', "Line 1: not valid JSON (extra data at column 15)"),
        (
            b'{"input": "a",}\n',
            "Line 1: not valid JSON (Expecting property name enclosed in double quotes at column 15)",
        ),
        (
            b'{"input": "a"}\n{"input": NaN}\n',
            "Line 2: NaN is not allowed (JSON has no NaN or Infinity)",
        ),
        (
            b'{"input": -Infinity}\n',
            "Line 1: -Infinity is not allowed (JSON has no NaN or Infinity)",
        ),
        (b'{"input": "a", "n": 1e999}\n', "Line 1: the number 1e999 is too large to store"),
        (
            b'{"input": "tab\tinside"}\n',
            "Line 1: not valid JSON (Invalid control character at at column 15)",
        ),
        (
            b'{"input": "x"}\n{"input": "half \\udc00 pair"}\n',
            "Line 2: contains a lone UTF-16 surrogate (\\ud800–\\udfff)",
        ),
        (
            b'{"input": "x"}\n\xef\xbb\xbf{"input": "a BOM inside the file"}\n',
            "Line 2: not valid JSON (Expecting value at column 1)",
        ),
    ],
)
def test_an_invalid_jsonl_line_gets_the_general_parsers_message(content, message):
    assert error_of(content, "jsonl").message == message


def test_lines_the_fast_decoder_refuses_but_json_accepts_are_still_read():
    # Whitespace that is Python's but not JSON's around the object.
    content = '\x0c{"input": "form feed before"}\n{"input": "no-break space after"}\u00a0\n'
    assert [r.input for r in parse(content, "jsonl")] == [
        "form feed before",
        "no-break space after",
    ]


def test_integers_beyond_64_bits_are_kept_exactly():
    big = 123456789012345678901234567890
    (record,) = parse(json.dumps({"input": {"id": -big}, "n": big}), "jsonl")
    assert record.input == {"id": -big} and record.metadata == {"n": big}
    assert type(record.metadata["n"]) is int


def test_a_number_with_more_digits_than_python_converts_is_refused_with_its_line():
    limit = sys.get_int_max_str_digits()
    if not limit:
        pytest.skip("this Python converts integers of any length")
    number = "7" * (limit + 1)
    jsonl = '{"input": "a"}\n{"input": "b", "n": ' + number + "}\n"
    array = '[{"input": "a"},\n{"input": "b", "n": ' + number + "}]"
    for content, fmt in ((jsonl, "jsonl"), (array, "json")):
        err = error_of(content, fmt)
        assert (err.field, err.code) == ("line 2", "number_too_long")
        assert err.message == f"Line 2: a number has more than {limit:,} digits"


def test_an_overlong_line_is_reported_after_the_problems_of_the_lines_before_it(monkeypatch):
    monkeypatch.setattr(importers, "MAX_LINE_BYTES", 100)
    good = '{"input": "ok"}\n'
    long_line = '{"input": "' + "x" * 200 + '"}\n'
    # All three lines sit in one read block; the bad JSON on line 2 comes first.
    err = error_of(good + '{"input": }\n' + long_line, "jsonl")
    assert (err.field, err.code) == ("line 2", "invalid_json")
    err = error_of(good + good + long_line + good, "jsonl")
    assert (err.field, err.code) == ("line 3", "line_too_long")
    records = iter_records(io.BytesIO((good * 2 + long_line).encode()), format="jsonl")
    assert [next(records).line, next(records).line] == [1, 2]


def test_csv_rows_keep_their_line_numbers_and_line_ends_across_read_blocks(monkeypatch):
    monkeypatch.setattr(importers, "READ_BLOCK", 7)
    content = 'input,expected\r\n"two\r\nlines",x\r\nlast,"no newline at the end"'
    records = parse(content, "csv")
    assert [(r.line, r.input, r.expected_output) for r in records] == [
        (2, "two\r\nlines", "x"),
        (4, "last", "no newline at the end"),
    ]
