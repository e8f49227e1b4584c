"""Streaming exports of a dataset version: CSV, JSON, JSONL, a chunk of records at a time.

Records are read with a server-side iterator and written out in chunks of
about 64 KB, so a version of any size streams in constant memory.

JSONL (and JSON) is the lossless format: importing an export gives the same
records (``id`` and ``index`` are the old version's identity and are not
copied; see :mod:`datasets.importers`). CSV is for spreadsheets: structured
cells are JSON text, and cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a
leading apostrophe (OWASP CSV injection), which a re-import keeps.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from itertools import chain

from evalhub.errors import InvalidInput

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ["id", "index", "input", "expected_output", "actual_output", "context", "metadata"]
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
CHUNK_BYTES = 64 * 1024


def neutralise(cell) -> str:
    """A CSV cell that no spreadsheet will evaluate as a formula."""
    if cell is None:
        return ""
    text = cell if isinstance(cell, str) else json.dumps(cell, ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_START) else text


def _chunked(pieces: Iterable[str]) -> Iterator[bytes]:
    """Join small strings into chunks of about CHUNK_BYTES (one write per record is slow)."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def csv_rows(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for cells in chain([header], rows):
            writer.writerow([neutralise(c) for c in cells])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return _chunked(lines())


def json_lines(objects: Iterable[dict]) -> Iterator[bytes]:
    return _chunked(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects)


def json_array(objects: Iterable[dict]) -> Iterator[bytes]:
    def pieces() -> Iterator[str]:
        yield "["
        for n, obj in enumerate(objects):
            yield ("," if n else "") + "\n" + json.dumps(obj, ensure_ascii=False)
        yield "\n]\n"

    return _chunked(pieces())


def record_dicts(version) -> Iterator[dict]:
    """The records of ``version`` in order, as export objects."""
    rows = (
        version.records.order_by("index")
        .values_list(
            "uuid", "index", "input", "expected_output", "actual_output", "context", "metadata"
        )
        .iterator(chunk_size=2000)
    )
    for uuid, index, input, expected, actual, context, metadata in rows:
        yield {
            "id": str(uuid),
            "index": index,
            "input": input,
            "expected_output": expected,
            "actual_output": actual,
            "context": context,
            "metadata": metadata,
        }


def iter_export(version, format: str) -> Iterator[bytes]:
    """The bytes of ``version`` exported as csv, json or jsonl, produced lazily."""
    if format == "csv":
        return csv_rows(COLUMNS, ([d[c] for c in COLUMNS] for d in record_dicts(version)))
    if format == "jsonl":
        return json_lines(record_dicts(version))
    if format == "json":
        return json_array(record_dicts(version))
    raise InvalidInput(
        f"Unknown format {format!r}: use csv, json or jsonl.", field="format", code="unknown_format"
    )
