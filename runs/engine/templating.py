"""``{{ variable }}`` prompt templates filled from a record's input.

Deliberately not the Django template language: prompts are user text full of
braces and percent signs, and a prompt must never be able to call code.
"""

from __future__ import annotations

import json
import re

from evalhub.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


def variables_of(template: str) -> list[str]:
    """Names the template uses, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(template or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def _lookup(data, dotted: str):
    value = data
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(dotted)
    return value


def variables_for(record_input) -> dict:
    """The values a template may use: the input's keys, plus ``input`` for the whole input."""
    values = dict(record_input) if isinstance(record_input, dict) else {}
    values.setdefault(
        "input",
        record_input
        if isinstance(record_input, str)
        else json.dumps(record_input, ensure_ascii=False),
    )
    return values


def missing_variables(template: str, record_input) -> list[str]:
    values = variables_for(record_input)
    missing = []
    for name in variables_of(template):
        try:
            _lookup(values, name)
        except KeyError:
            missing.append(name)
    return missing


def render(template: str, record_input) -> str:
    values = variables_for(record_input)

    def fill(match):
        value = _lookup(values, match.group(1))
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    try:
        return PLACEHOLDER.sub(fill, template)
    except KeyError as err:
        raise InvalidInput(
            f"The prompt uses {{{{ {err.args[0]} }}}} but the record's input has no such key.",
            field="input",
            code="missing_variable",
        ) from None
