"""Streaming exports of a dataset version: CSV, JSON, JSONL, one chunk of records at a time.

CSV cells that a spreadsheet would run as a formula (starting with = + - @,
a tab or a carriage return) get a leading apostrophe (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ["id", "index", "input", "expected_output", "actual_output", "context", "metadata"]
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}


def neutralise(cell) -> str:
    """A CSV cell that no spreadsheet will evaluate as a formula."""
    if cell is None:
        return ""
    text = cell if isinstance(cell, str) else json.dumps(cell, ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_rows(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([neutralise(c) for c in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def json_lines(objects: Iterable[dict]) -> Iterator[bytes]:
    for obj in objects:
        yield (json.dumps(obj, ensure_ascii=False) + "\n").encode()


def json_array(objects: Iterable[dict]) -> Iterator[bytes]:
    yield b"["
    for n, obj in enumerate(objects):
        yield (("," if n else "") + json.dumps(obj, ensure_ascii=False)).encode()
    yield b"]"


def record_dicts(version) -> Iterator[dict]:
    for r in version.records.order_by("index").iterator(chunk_size=2000):
        yield {
            "id": str(r.uuid),
            "index": r.index,
            "input": r.input,
            "expected_output": r.expected_output,
            "actual_output": r.actual_output,
            "context": r.context,
            "metadata": r.metadata,
        }


def iter_export(version, format: str) -> Iterator[bytes]:
    if format == "csv":
        return csv_rows(COLUMNS, ([d[c] for c in COLUMNS] for d in record_dicts(version)))
    if format == "jsonl":
        return json_lines(record_dicts(version))
    if format == "json":
        return json_array(record_dicts(version))
    from evalhub.errors import InvalidInput

    raise InvalidInput(
        f"Unknown format {format!r}: use csv, json or jsonl.", field="format", code="unknown_format"
    )
