"""Streaming CSV / JSON / JSONL parsing into records, with errors that name the line.

Files are read incrementally (a JSON array element by element), so an import
of any size that fits on disk never holds the whole file in memory. What
PostgreSQL or a spreadsheet would choke on is refused up front with the line
number and the reason: invalid UTF-8, NUL characters, NaN/Infinity, absurd
nesting, ragged CSV rows.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from evalhub.errors import InvalidInput

MAX_LINE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 32
READ_CHUNK = 1 << 16

ROLES = ("input", "expected_output", "actual_output", "context", "metadata")
ALIASES = {
    "input": ("input", "question", "prompt", "query", "inputs"),
    "expected_output": (
        "expected_output",
        "expected",
        "answer",
        "ideal",
        "reference",
        "target",
        "ground_truth",
    ),
    "actual_output": ("actual_output", "output", "response", "completion", "actual", "prediction"),
    "context": ("context", "contexts", "documents", "retrieved_context"),
    "metadata": ("metadata", "meta", "tags"),
}


@dataclass
class ParsedRecord:
    line: int
    input: object
    expected_output: str | None = None
    actual_output: str | None = None
    context: object = None
    metadata: dict = field(default_factory=dict)


def _error(line: int, message: str, code: str = "invalid_line") -> InvalidInput:
    return InvalidInput(f"Line {line}: {message}", field=f"line {line}", code=code)


def _reject_constant(value):
    raise ValueError(f"{value} is not allowed (JSON has no NaN or Infinity)")


def _depth(value, line: int, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise _error(line, f"nesting deeper than {MAX_DEPTH} levels", "too_deep")
    if isinstance(value, dict):
        for v in value.values():
            _depth(v, line, level + 1)
    elif isinstance(value, list):
        for v in value:
            _depth(v, line, level + 1)


def _check_text(value, line: int) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise _error(
                line, "contains a NUL character, which the database cannot store", "nul_character"
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, line)
            _check_text(v, line)
    elif isinstance(value, list):
        for v in value:
            _check_text(v, line)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def resolve_mapping(columns: list[str], mapping: dict | None) -> dict[str, str | None]:
    """Which source column feeds each role; explicit ``mapping`` wins over the usual names."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(ROLES)
    if unknown:
        raise InvalidInput(
            f"Unknown mapping role {sorted(unknown)[0]!r} (roles: {', '.join(ROLES)}).",
            field=f"mapping.{sorted(unknown)[0]}",
            code="unknown_role",
        )
    lowered = {c.lower().strip(): c for c in columns}
    resolved: dict[str, str | None] = {}
    for role in ROLES:
        if role in mapping:
            column = mapping[role]
            if column not in (None, "") and column not in columns:
                raise InvalidInput(
                    f"Column {column!r} mapped to {role} is not in the file (columns: {', '.join(columns)}).",
                    field=f"mapping.{role}",
                    code="unknown_column",
                )
            resolved[role] = column or None
            continue
        resolved[role] = next((lowered[a] for a in ALIASES[role] if a in lowered), None)
    return resolved


def record_from(row: dict, line: int, roles: dict[str, str | None]) -> ParsedRecord:
    used = {c for c in roles.values() if c}
    rest = {k: v for k, v in row.items() if k not in used}
    if roles["input"]:
        value = row.get(roles["input"])
    else:
        # No input column: the remaining columns are the input's variables.
        value, rest = rest, {}
    if value is None or value == "" or value == {}:
        raise _error(line, "the input is missing or empty", "missing_input")
    metadata = row.get(roles["metadata"]) if roles["metadata"] else None
    if isinstance(metadata, str) and metadata.strip().startswith("{"):
        with contextlib.suppress(ValueError):
            metadata = json.loads(metadata)
    if metadata is not None and not isinstance(metadata, dict):
        metadata = {"value": metadata}
    metadata = {**(metadata or {}), **rest} if rest else (metadata or {})
    record = ParsedRecord(
        line=line,
        input=value,
        expected_output=_as_text(row.get(roles["expected_output"]))
        if roles["expected_output"]
        else None,
        actual_output=_as_text(row.get(roles["actual_output"])) if roles["actual_output"] else None,
        context=row.get(roles["context"]) if roles["context"] else None,
        metadata=metadata,
    )
    if record.expected_output == "":
        record.expected_output = None
    if record.actual_output == "":
        record.actual_output = None
    if record.context == "":
        record.context = None
    return record


def guess_format(filename: str, head: bytes) -> str:
    name = (filename or "").lower()
    for ext in ("jsonl", "ndjson", "json", "csv"):
        if name.endswith("." + ext):
            return "jsonl" if ext == "ndjson" else ext
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def _lines(fileobj) -> Iterator[tuple[int, str]]:
    """Decoded lines with their numbers; invalid UTF-8 and oversized lines name the line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    number = 0
    for raw in iter(lambda: fileobj.readline(MAX_LINE_BYTES + 1), b""):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise _error(
                number, f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MB", "line_too_long"
            )
        try:
            text = decoder.decode(raw)
        except UnicodeDecodeError as err:
            raise _error(number, f"invalid UTF-8 at byte {err.start}", "invalid_utf8") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield number, text


def iter_jsonl(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    roles = None
    for number, text in _lines(fileobj):
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError as err:
            raise _error(number, f"not valid JSON ({err})", "invalid_json") from None
        if not isinstance(value, dict):
            raise _error(number, "each line must be a JSON object", "not_an_object")
        _depth(value, number)
        _check_text(value, number)
        if roles is None:
            roles = resolve_mapping(list(value), mapping)
        yield record_from(value, number, roles)


def iter_json_array(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    """Elements of a top-level JSON array, decoded one at a time from a rolling buffer."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    text_decoder = codecs.getincrementaldecoder("utf-8")()
    buffer, pos, line, eof, started, roles = "", 0, 1, False, False, None
    bytes_read = 0

    def fill():
        nonlocal buffer, pos, eof, bytes_read
        chunk = fileobj.read(READ_CHUNK)
        if not chunk:
            eof = True
            try:
                buffer = buffer[pos:] + text_decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _error(line, "invalid UTF-8 at the end of the file", "invalid_utf8") from None
            pos = 0
            return
        try:
            decoded = text_decoder.decode(chunk)
        except UnicodeDecodeError as err:
            bad_line = line + buffer[pos:].count("\n")
            raise _error(
                bad_line, f"invalid UTF-8 at byte {bytes_read + err.start}", "invalid_utf8"
            ) from None
        bytes_read += len(chunk)
        buffer = buffer[pos:] + decoded
        pos = 0
        if not started:
            buffer = buffer.removeprefix("\ufeff")

    def skip_ws():
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                if buffer[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buffer) or eof:
                return
            fill()

    fill()
    skip_ws()
    if pos >= len(buffer) or buffer[pos] != "[":
        raise _error(line, "a JSON file must hold an array of objects", "not_an_array")
    pos += 1
    started = True
    index = 0
    while True:
        skip_ws()
        if pos < len(buffer) and buffer[pos] == "]":
            pos += 1
            skip_ws()
            if pos < len(buffer):
                raise _error(line, "unexpected data after the array", "invalid_json")
            return
        if index:
            if pos >= len(buffer) or buffer[pos] != ",":
                raise _error(line, "expected ',' or ']' between elements", "invalid_json")
            pos += 1
            skip_ws()
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as err:
                # Possibly just incomplete: read more, up to one element's size cap.
                if eof or len(buffer) - pos > MAX_LINE_BYTES:
                    raise _error(line, f"not valid JSON ({err.msg})", "invalid_json") from None
                fill()
            except ValueError as err:  # NaN / Infinity, refused by parse_constant
                raise _error(line, str(err), "invalid_json") from None
        element_line = line
        line += buffer.count("\n", pos, end)
        pos = end
        if not isinstance(value, dict):
            raise _error(element_line, "each array element must be a JSON object", "not_an_object")
        _depth(value, element_line)
        _check_text(value, element_line)
        if roles is None:
            roles = resolve_mapping(list(value), mapping)
        yield record_from(value, element_line, roles)
        index += 1


def iter_csv(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    lines = _lines(fileobj)
    current = {"line": 0}

    def text_lines():
        for number, text in lines:
            current["line"] = number
            if "\x00" in text:
                raise _error(
                    number,
                    "contains a NUL character, which the database cannot store",
                    "nul_character",
                )
            yield text

    reader = csv.reader(text_lines())
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("The file is empty: no records.", field="file", code="empty") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise _error(1, "a CSV file needs a header row naming its columns", "no_header")
    if len(set(header)) != len(header):
        raise _error(1, "the header repeats a column name", "duplicate_column")
    roles = resolve_mapping(header, mapping)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            line = current["line"]
            if len(row) != len(header):
                raise _error(line, f"expected {len(header)} columns, got {len(row)}", "ragged_row")
            values = dict(zip(header, row, strict=True))
            yield record_from(values, line, roles)
    except csv.Error as err:
        raise _error(current["line"], f"malformed CSV ({err})", "invalid_csv") from None


FORMATS = {"csv": iter_csv, "json": iter_json_array, "jsonl": iter_jsonl}


def iter_records(
    fileobj, *, format: str | None = None, mapping: dict | None = None, filename: str = ""
):
    """Records of a binary file object; raises InvalidInput naming the line of the first problem."""
    if format is None:
        head = fileobj.read(512)
        fileobj.seek(0)
        format = guess_format(filename, head)
    if format not in FORMATS:
        raise InvalidInput(
            f"Unknown format {format!r}: use csv, json or jsonl.",
            field="format",
            code="unknown_format",
        )
    if isinstance(fileobj, io.TextIOBase):
        raise TypeError("iter_records needs a binary file object")
    return FORMATS[format](fileobj, mapping)
