"""Streaming CSV / JSON / JSONL parsing into records, with errors that name the line.

Files are read incrementally (a JSON array element by element, line formats a
block at a time), so an import of any size that fits on disk never holds the
whole file in memory. What PostgreSQL or a spreadsheet would choke on is
refused up front with the line number and the reason: invalid UTF-8, NUL
characters and lone surrogates (PostgreSQL text and jsonb reject them),
NaN/Infinity, absurd nesting, ragged CSV rows, oversized lines.

Column mapping: each record *role* (input, expected_output, actual_output,
context, metadata) is fed by one source column. An explicit ``mapping``
(``{"input": "Frage"}``; ``None`` or ``""`` means "no column for this role")
wins; otherwise the usual names are recognised (``question``, ``answer``,
``response``, …). Columns that feed no role go into ``metadata``; when no
column is the input, the remaining columns together are the input (a dict of
prompt variables). A file whose columns are exactly those of an evalhub
export keeps its ``id``/``index`` columns out of the records, so export →
import gives the same records (the new version numbers them afresh).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from evalhub.errors import InvalidInput

MAX_LINE_BYTES = 10 * 1024 * 1024  # one line (or one JSON array element)
MAX_DEPTH = 32  # nesting levels of one record, the record object itself being level 1
READ_BLOCK = 1 << 20
JSON_READ_CHUNK = 1 << 16
_ROLE_CACHE_SIZE = 256

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
    "metadata": ("metadata", "meta"),
}
# What datasets.exporters writes; ``id`` and ``index`` are evalhub's own record identity.
EXPORT_COLUMNS = frozenset(
    {"id", "index", "input", "expected_output", "actual_output", "context", "metadata"}
)
IDENTITY_COLUMNS = frozenset({"id", "index"})
FORMATS = ("csv", "json", "jsonl")


@dataclass(slots=True)
class ParsedRecord:
    """One record read from a file; ``line`` is where it starts (1-based)."""

    line: int
    input: object
    expected_output: str | None = None
    actual_output: str | None = None
    context: object = None
    metadata: dict = field(default_factory=dict)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _error(line: int, message: str, code: str) -> InvalidInput:
    return InvalidInput(f"Line {line}: {message}", field=f"line {line}", code=code)


# --- values the database cannot store -----------------------------------------


class _NotFinite(ValueError):
    pass


def _reject_constant(name: str):
    raise _NotFinite(f"{name} is not allowed (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text} is too large to store")
    return value


def _json_decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_problem(value, level: int = 1) -> tuple[str, str] | None:
    """``(code, reason)`` for the first part of ``value`` the database cannot store, or None.

    PostgreSQL rejects NUL characters in text and jsonb, lone UTF-16
    surrogates and non-finite numbers in jsonb; nesting is capped so a hostile
    file cannot exhaust the stack of whoever reads the record later.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "nul_character", "contains a NUL character, which the database cannot store"
        if _has_lone_surrogate(value):
            return "invalid_unicode", "contains a lone UTF-16 surrogate (\\ud800–\\udfff)"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "not_finite", "NaN and Infinity are not allowed"
        return None
    if isinstance(value, dict | list):
        if level > MAX_DEPTH:
            return "too_deep", f"nesting deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                problem = find_problem(key, level) or find_problem(item, level + 1)
                if problem:
                    return problem
        else:
            for item in value:
                problem = find_problem(item, level + 1)
                if problem:
                    return problem
    return None


def _check_json(value, text: str, line: int) -> None:
    # Walking every value costs more than parsing it, so walk only when the
    # raw text could hide a problem: enough brackets to nest too deep, or a
    # \u escape (the only way JSON spells NUL or a lone surrogate).
    if "\\u" in text or text.count("{") + text.count("[") > MAX_DEPTH:
        problem = find_problem(value)
        if problem:
            raise _error(line, problem[1], problem[0])


def _too_many_digits(line: int) -> InvalidInput:
    # Python refuses to convert longer integers (CVE-2020-10735), so json raises a bare ValueError.
    return _error(
        line,
        f"a number has more than {sys.get_int_max_str_digits():,} digits",
        "number_too_long",
    )


def _fast_decoder():
    """``text → value`` for the valid lines that make up nearly every file, in C.

    msgspec accepts a subset of what :func:`_decode_json` does (no NaN, no
    lone surrogates, no other whitespace than JSON's, no integer beyond its
    digit limit) and yields the same values, big integers included (orjson
    would turn those into floats). Whatever it refuses goes through
    :func:`_decode_json`, which accepts it or words the error, so an invalid
    line gets exactly the same message as without the fast path.
    """
    return msgspec.json.Decoder().decode


# msgspec's DecodeError covers ValidationError ("number out of range").
_FAST_DECODE_ERRORS = (msgspec.DecodeError, RecursionError)


def _decode_json(raw_decode, text: str, line: int):
    """One JSON value filling ``text`` (surrounding whitespace allowed)."""
    try:
        if text[:1].isspace():
            stripped = text.lstrip()
            value, end = raw_decode(stripped)
            text = stripped
        else:
            value, end = raw_decode(text)
    except json.JSONDecodeError as err:
        raise _error(
            line, f"not valid JSON ({err.msg} at column {err.colno})", "invalid_json"
        ) from None
    except _NotFinite as err:
        raise _error(line, str(err), "not_finite") from None
    except RecursionError:
        raise _error(line, f"nesting deeper than {MAX_DEPTH} levels", "too_deep") from None
    except ValueError:
        raise _too_many_digits(line) from None
    if end != len(text) and not text[end:].isspace():
        raise _error(
            line, f"not valid JSON (extra data at column {end + 1})", "invalid_json"
        ) from None
    return value


# --- which column feeds which role ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Roles:
    """The source column of each role for one set of columns."""

    input: str | None
    expected_output: str | None
    actual_output: str | None
    context: str | None
    metadata: str | None
    excluded: frozenset  # columns not copied into metadata (used by a role, or identity)
    rest: tuple  # the other columns, in order: they go into metadata


def check_mapping(mapping) -> dict:
    """An explicit mapping, checked for shape: ``{role: column name or None}``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise InvalidInput(
            "mapping must be an object of role → column name.", field="mapping", code="invalid"
        )
    for role, column in mapping.items():
        if role not in ROLES:
            raise InvalidInput(
                f"Unknown mapping role {role!r} (roles: {', '.join(ROLES)}).",
                field=f"mapping.{role}",
                code="unknown_role",
            )
        if column is not None and not isinstance(column, str):
            raise InvalidInput(
                f"mapping.{role} must be a column name.", field=f"mapping.{role}", code="invalid"
            )
    return {role: (column or None) for role, column in mapping.items()}


def resolve_mapping(columns, mapping: dict | None, *, strict: bool = True) -> dict[str, str | None]:
    """Which source column feeds each role; explicit ``mapping`` wins over the usual names.

    ``strict`` (CSV, whose header is the whole truth) refuses a mapped column
    that is not in ``columns``; JSON objects may differ from one record to the
    next, so there a missing mapped key just means no value on that record.
    """
    mapping = check_mapping(mapping)
    columns = list(columns)
    lowered: dict[str, str] = {}
    for column in columns:
        lowered.setdefault(column.lower().strip(), column)
    chosen: dict[str, str | None] = {}
    for role in ROLES:
        if role in mapping:
            column = mapping[role]
            if strict and column is not None and column not in columns:
                raise InvalidInput(
                    f"Column {column!r} mapped to {role} is not in the file "
                    f"(columns: {', '.join(columns)}).",
                    field=f"mapping.{role}",
                    code="unknown_column",
                )
            chosen[role] = column
        else:
            chosen[role] = next((lowered[a] for a in ALIASES[role] if a in lowered), None)
    return chosen


def roles_for(columns, mapping: dict | None, *, strict: bool = True) -> Roles:
    """:func:`resolve_mapping` plus the columns kept out of metadata."""
    chosen = resolve_mapping(columns, mapping, strict=strict)
    excluded = {c for c in chosen.values() if c}
    keys = set(columns)
    if IDENTITY_COLUMNS <= keys <= EXPORT_COLUMNS and chosen["input"] == "input":
        excluded |= IDENTITY_COLUMNS
    rest = tuple(dict.fromkeys(c for c in columns if c not in excluded))
    return Roles(**chosen, excluded=frozenset(excluded), rest=rest)


class _RolesByKeys:
    """Roles per distinct key set: JSON records need not all have the same keys."""

    def __init__(self, mapping):
        self.mapping = mapping
        self.cache: dict[tuple, Roles] = {}

    def __call__(self, row: dict) -> Roles:
        keys = tuple(row)
        roles = self.cache.get(keys)
        if roles is None:
            roles = roles_for(keys, self.mapping, strict=False)
            if len(self.cache) < _ROLE_CACHE_SIZE:
                self.cache[keys] = roles
        return roles


def _as_text(value) -> str | None:
    """Outputs are text; structured ones are kept as compact JSON (so json_equal can parse them)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _is_empty(value) -> bool:
    kind = type(value)
    if kind is str:
        return not value or value.isspace()
    if kind is dict:
        # A loop with the usual case (text) inline: this runs on every record's input.
        for item in value.values():
            if type(item) is str:
                if item and not item.isspace():
                    return False
            elif not _is_empty(item):
                return False
        return True
    if kind is list:
        return not value
    return value is None


def record_from(row: dict, line: int, roles: Roles) -> ParsedRecord:
    """A record from one parsed row (CSV row or JSON object).

    ``roles`` must come from :func:`roles_for` over this row's own columns:
    ``roles.rest`` names the columns that go into metadata.
    """
    get = row.get
    # The common file has only role columns: no dict to build.
    rest = {k: row[k] for k in roles.rest} if roles.rest else {}
    if roles.input is not None:
        value = get(roles.input)
        if _is_empty(value):
            raise _error(
                line, f"the input (column {roles.input!r}) is missing or empty", "missing_input"
            )
    else:
        # No input column: the remaining columns are the input's variables.
        value, rest = rest, {}
        if _is_empty(value):
            raise _error(line, "the input is missing or empty", "missing_input")
    metadata = get(roles.metadata) if roles.metadata else None
    if type(metadata) is not dict:
        metadata = {} if metadata is None or metadata == "" else {roles.metadata: metadata}
    if rest:
        metadata = {**metadata, **rest}
    expected = get(roles.expected_output) if roles.expected_output else None
    actual = get(roles.actual_output) if roles.actual_output else None
    context = get(roles.context) if roles.context else None
    return ParsedRecord(
        line,
        value,
        expected if (type(expected) is str and expected) else _as_text(expected),
        actual if (type(actual) is str and actual) else _as_text(actual),
        None if context == "" else context,
        metadata,
    )


# --- reading ---------------------------------------------------------------------


def _format_from_name(filename: str) -> str | None:
    name = (filename or "").lower()
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if name.endswith(ext):
            return fmt
    return None


def guess_format(filename: str, head: bytes) -> str:
    """The format from the file name's extension, else from the first non-blank byte."""
    named = _format_from_name(filename)
    if named:
        return named
    stripped = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def _line_blocks(fileobj) -> Iterator[tuple[int, list[str], bool]]:
    """Decoded lines a block at a time: ``(number of the first, lines, newline-terminated)``.

    Splitting on the newline byte before decoding is safe (no UTF-8 sequence
    contains it) and lets one ``decode`` and one ``split`` serve a whole
    block of lines. Lines come without their newline; only the file's last
    line may lack one, and it then comes alone with ``False``.
    """
    number = 1  # of the next line
    offset = 0  # file offset of ``carry``
    carry = b""
    first = True
    while True:
        block = fileobj.read(READ_BLOCK)
        if first and block:
            first = False
            if block.startswith(codecs.BOM_UTF8):
                block = block[len(codecs.BOM_UTF8) :]
                offset = len(codecs.BOM_UTF8)
        data = carry + block if carry else block
        if not block:
            cut = len(data)  # the last line has no newline
        else:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    raise _error(number, f"longer than {_size(MAX_LINE_BYTES)}", "line_too_long")
                carry = data
                continue
        complete, carry = data[:cut], data[cut:]
        if not complete:
            return
        try:
            text = complete.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = number + complete.count(b"\n", 0, err.start)
            raise _error(
                bad, f"invalid UTF-8 at byte {offset + err.start} of the file", "invalid_utf8"
            ) from None
        offset += len(complete)
        parts = text.split("\n")
        if block:
            parts.pop()  # the empty string after the block's last newline
        if len(text) > MAX_LINE_BYTES:
            # Only a block this long can hold an overlong line. The lines before
            # it go out first, so that an earlier problem is still the one reported.
            for i, part in enumerate(parts):
                if len(part) > MAX_LINE_BYTES:
                    if i:
                        yield number, parts[:i], True
                    raise _error(
                        number + i, f"longer than {_size(MAX_LINE_BYTES)}", "line_too_long"
                    )
        yield number, parts, bool(block)
        number += len(parts)
        if not block:
            return


def _lines(fileobj, *, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """Decoded lines with their 1-based numbers (see :func:`_line_blocks`)."""
    for number, parts, terminated in _line_blocks(fileobj):
        if keepends and terminated:
            parts = [part + "\n" for part in parts]
        yield from enumerate(parts, number)


def iter_jsonl(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    """One JSON object per line; blank lines are skipped.

    This loop runs once per record of a million-line upload, so it is written
    for the common line (valid JSON, an object, no ``\\u`` escape, little
    nesting) and hands any other to the general code, which accepts it or
    words the error exactly as it would without the fast path.
    """
    fast_decode = _fast_decoder()
    raw_decode = _json_decoder().raw_decode
    roles_of = _RolesByKeys(mapping)
    cached_roles = roles_of.cache.get
    for first, lines, _terminated in _line_blocks(fileobj):
        for number, text in enumerate(lines, first):
            try:
                value = fast_decode(text)
            except _FAST_DECODE_ERRORS:
                if not text or text.isspace():
                    continue
                value = _decode_json(raw_decode, text, number)
            if type(value) is not dict:
                raise _error(number, "each line must be a JSON object", "not_an_object")
            _check_json(value, text, number)
            yield record_from(value, number, cached_roles(tuple(value)) or roles_of(value))


def iter_json_array(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    """Elements of a top-level JSON array, decoded one at a time from a rolling buffer.

    ``raw_decode`` parses one element from the buffer; when the element is
    cut off by the end of the buffer, more of the file is read (in growing
    chunks, up to the element size cap) and the element is parsed again.
    """
    decoder = _json_decoder()
    text_decoder = codecs.getincrementaldecoder("utf-8-sig")()
    roles_of = _RolesByKeys(mapping)
    buffer, pos, line, eof = "", 0, 1, False

    def fill(size: int = JSON_READ_CHUNK) -> None:
        nonlocal buffer, pos, eof
        chunk = fileobj.read(size)
        try:
            decoded = text_decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as err:
            bad = line + buffer.count("\n", pos) + chunk.count(b"\n", 0, max(err.start, 0))
            raise _error(bad, "invalid UTF-8", "invalid_utf8") from None
        eof = not chunk
        buffer = buffer[pos:] + decoded
        pos = 0

    def skip_ws() -> None:
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
    if pos >= len(buffer):
        return
    if buffer[pos] != "[":
        raise _error(line, "a JSON file must hold an array of objects", "not_an_array")
    pos += 1
    first = True
    while True:
        skip_ws()
        if pos < len(buffer) and buffer[pos] == "]":
            pos += 1
            skip_ws()
            if pos < len(buffer):
                raise _error(line, "unexpected data after the array", "invalid_json")
            return
        if not first:
            if pos >= len(buffer) or buffer[pos] != ",":
                raise _error(line, "expected ',' or ']' between elements", "invalid_json")
            pos += 1
            skip_ws()
        first = False
        size = JSON_READ_CHUNK
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as err:
                # Possibly just cut off by the buffer's end: read more and retry.
                if eof:
                    raise _error(line, f"not valid JSON ({err.msg})", "invalid_json") from None
                if len(buffer) - pos > MAX_LINE_BYTES:
                    raise _error(
                        line,
                        f"an array element larger than {_size(MAX_LINE_BYTES)}",
                        "element_too_large",
                    ) from None
                fill(size)
                size = min(size * 2, MAX_LINE_BYTES)
            except _NotFinite as err:
                raise _error(line, str(err), "not_finite") from None
            except RecursionError:
                raise _error(line, f"nesting deeper than {MAX_DEPTH} levels", "too_deep") from None
            except ValueError:
                raise _too_many_digits(line) from None
        element_line = line
        if end - pos > MAX_LINE_BYTES:
            raise _error(
                line, f"an array element larger than {_size(MAX_LINE_BYTES)}", "element_too_large"
            )
        text = buffer[pos:end]
        line += text.count("\n")
        pos = end
        if not isinstance(value, dict):
            raise _error(element_line, "each array element must be a JSON object", "not_an_object")
        _check_json(value, text, element_line)
        yield record_from(value, element_line, roles_of(value))


def _json_cell(value: str, kinds: tuple[type, ...]):
    """A CSV cell holding a JSON object/array (as evalhub's CSV export writes them), parsed."""
    if value[:1] in ("{", "["):
        try:
            parsed = _json_decoder().decode(value)
        except (ValueError, RecursionError):
            return value
        if isinstance(parsed, kinds) and find_problem(parsed) is None:
            return parsed
    return value


def iter_csv(fileobj, mapping=None) -> Iterator[ParsedRecord]:
    """Rows of a CSV file with a header row.

    A quoted cell may span lines; errors name the row's first line.
    """
    # A cell may be as long as a line may be (the csv module's default is 128 KB).
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    last_line = 0

    def text_lines():
        nonlocal last_line
        for number, text in _lines(fileobj, keepends=True):
            last_line = number
            if "\x00" in text:
                raise _error(
                    number,
                    "contains a NUL character, which the database cannot store",
                    "nul_character",
                )
            yield text

    reader = csv.reader(text_lines())
    header, header_line = None, 0
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                header, header_line = row, last_line
                break
    except csv.Error as err:
        raise _error(last_line, f"malformed CSV ({err})", "invalid_csv") from None
    if header is None:
        return
    header = [h.strip() for h in header]
    for i, name in enumerate(header, 1):
        if not name:
            raise _error(
                header_line,
                f"column {i} has no name; the first row must be a header naming every column",
                "no_header",
            )
    if len(set(header)) != len(header):
        repeated = next(h for h in header if header.count(h) > 1)
        raise _error(header_line, f"the header repeats the column {repeated!r}", "no_header")
    roles = roles_for(header, mapping)
    width = len(header)
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise _error(start, f"malformed CSV ({err})", "invalid_csv") from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            raise _error(start, f"expected {width} columns, got {len(row)}", "ragged_row")
        values = dict(zip(header, row, strict=True))
        if roles.input and roles.input in values:
            values[roles.input] = _json_cell(values[roles.input], (dict, list))
        if roles.context and roles.context in values:
            values[roles.context] = _json_cell(values[roles.context], (dict, list))
        if roles.metadata and roles.metadata in values:
            values[roles.metadata] = _json_cell(values[roles.metadata], (dict,))
        yield record_from(values, start, roles)


_READERS = {"csv": iter_csv, "json": iter_json_array, "jsonl": iter_jsonl}


def iter_records(
    fileobj, *, format: str | None = None, mapping: dict | None = None, filename: str = ""
) -> Iterator[ParsedRecord]:
    """Records of a binary file object, lazily; InvalidInput names the line of the first problem.

    ``format`` is csv, json (an array of objects) or jsonl; without it the
    file name's extension decides, else the first non-blank byte. The mapping
    is checked before anything is read. An empty file yields nothing: the
    caller decides that "no records" is an error.
    """
    if isinstance(fileobj, io.TextIOBase):
        raise TypeError("iter_records needs a binary file object")
    mapping = check_mapping(mapping)
    if format is None:
        format = _format_from_name(filename)
    if format is None:
        if not fileobj.seekable():
            raise InvalidInput(
                "Cannot tell the file's format; say csv, json or jsonl.",
                field="format",
                code="unknown_format",
            )
        position = fileobj.tell()
        format = guess_format("", fileobj.read(512))
        fileobj.seek(position)
    if format not in _READERS:
        raise InvalidInput(
            f"Unknown format {format!r}: use csv, json or jsonl.",
            field="format",
            code="unknown_format",
        )
    return _READERS[format](fileobj, mapping)
