"""The metric contract: typed arguments, samples, results, and the registry.

A metric declares its arguments (type, default, required, allowed values) so
that every surface validates them the same way and the pages can render an
argument form from the schema. Argument errors name the argument and the
problem (seed 004: unknown args, wrong types and missing required args are
rejected).

Validated arguments stay plain JSON, because they are stored on the run and
shown back to users; anything expensive to build from them (a compiled
regex, a schema validator) is cached by the metric module that needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evalhub.errors import InvalidInput


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()

ARG_TYPES = ("string", "integer", "number", "boolean", "string_list", "object")
METRIC_KINDS = ("deterministic", "statistical", "embedding", "judge")


def json_type_name(value) -> str:
    """The JSON word for a value's type, as users see it in their request body."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_EXPECTED_KIND = {
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "string_list": "a list of strings",
    "object": "an object",
}


@dataclass(frozen=True)
class Arg:
    """One typed argument of a metric.

    A default of ``None`` means "not set" and is the only way ``null`` is
    accepted as a value (``starts_with``'s ``prefix``, ``length_between``'s
    ``max_length``).
    """

    name: str
    type: str
    default: Any = NO_DEFAULT
    required: bool = False
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""

    def __post_init__(self):
        if self.type not in ARG_TYPES:
            raise ValueError(f"unknown arg type {self.type!r}")

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def as_schema(self) -> dict:
        schema = {"name": self.name, "type": self.type}
        if self.has_default:
            schema["default"] = self.default
        schema["required"] = self.required and not self.has_default
        schema["choices"] = list(self.choices) if self.choices is not None else None
        schema["minimum"] = self.minimum
        schema["maximum"] = self.maximum
        schema["help"] = self.help
        return schema

    def check(self, metric: str, value):
        """The value if it is valid for this argument; raises InvalidInput naming it."""
        if value is None and self.has_default and self.default is None:
            return None
        if not self._has_type(value):
            raise self._error(
                metric,
                f"must be {_EXPECTED_KIND[self.type]}, got {json_type_name(value)}",
                "invalid_argument_type",
            )
        if self.type == "number" and not math.isfinite(value):
            raise self._error(metric, f"must be a finite number, got {value}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise self._error(metric, f"must be one of {allowed}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise self._error(metric, f"must be at least {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise self._error(metric, f"must be at most {self.maximum:g}, got {value:g}")
        return value

    def _has_type(self, value) -> bool:
        # bool is a subclass of int in Python but never a number in a request body.
        if self.type == "boolean":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.type == "integer":
            return isinstance(value, int)
        if self.type == "number":
            return isinstance(value, int | float)
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "string_list":
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        return isinstance(value, dict)

    def _error(self, metric: str, problem: str, code: str = "invalid_argument_value"):
        return InvalidInput(
            f"Argument '{self.name}' of metric {metric} {problem}.", field=self.name, code=code
        )


@dataclass(frozen=True)
class Sample:
    """What a metric sees of one item."""

    output: str
    input: Any = None
    expected_output: str | None = None
    context: Any = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricResult:
    value: float | None
    passed: bool | None
    reason: str = ""


class Metric:
    """Base class: subclasses set the class attributes and implement ``score``.

    ``requires`` names the record fields the metric cannot do without; the
    engine refuses a run whose records lack them, so ``score`` only meets a
    missing field when it is called directly, and then it fails the item
    with a reason rather than raising.
    """

    id: int
    slug: str
    name: str
    kind: str = "deterministic"
    args: tuple[Arg, ...] = ()
    higher_is_better: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    requires: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return " ".join((type(self).__doc__ or "").split())

    def validate_args(self, args: dict | None) -> dict:
        """Complete, checked arguments: defaults filled; unknown, mistyped or missing args refused."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise InvalidInput(
                f"Arguments of metric {self.slug} must be an object, got {json_type_name(args)}.",
                field="args",
                code="invalid_argument_type",
            )
        known = [a.name for a in self.args]
        for name in args:
            if name not in known:
                listing = f"known: {', '.join(known)}" if known else "it takes none"
                raise InvalidInput(
                    f"Unknown argument '{name}' for metric {self.slug} ({listing}).",
                    field=str(name),
                    code="unknown_argument",
                )
        valid = {}
        for arg in self.args:
            if arg.name in args:
                valid[arg.name] = arg.check(self.slug, args[arg.name])
            elif arg.has_default:
                valid[arg.name] = arg.default
            elif arg.required:
                raise InvalidInput(
                    f"Metric {self.slug} needs argument '{arg.name}'.",
                    field=arg.name,
                    code="missing_argument",
                )
        self.check_args(valid)
        return valid

    def check_args(self, args: dict) -> None:
        """Cross-argument and content checks (a regex compiles, a schema is valid)."""

    def arg_error(self, name: str, problem: str) -> InvalidInput:
        """The InvalidInput for a value that has the right type but cannot be used."""
        return InvalidInput(
            f"Argument '{name}' of metric {self.slug} {problem}.",
            field=name,
            code="invalid_argument_value",
        )

    def score(self, sample: Sample, args: dict) -> MetricResult:
        raise NotImplementedError

    def arg_schema(self) -> list[dict]:
        return [a.as_schema() for a in self.args]

    def as_catalogue_entry(self) -> dict:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "higher_is_better": self.higher_is_better,
            "value_range": list(self.value_range),
            "requires": list(self.requires),
            "args": self.arg_schema(),
        }

    def __repr__(self) -> str:
        return f"<metric {self.id} {self.slug}>"


# What a comparison metric returns when called without the field it needs (the engine
# refuses such runs up front, so this is for direct callers).
NO_EXPECTED_OUTPUT = MetricResult(0.0, False, "The record has no expected output to compare with.")


REGISTRY: dict[str, Metric] = {}
_BY_ID: dict[int, Metric] = {}


def register(cls):
    """Class decorator: instantiate and register.

    Ids and slugs must be unique, and every default must pass its own
    argument's check, so a catalogue mistake fails at import rather than
    on a user's run.
    """
    metric = cls()
    if metric.slug in REGISTRY or metric.id in _BY_ID:
        raise ValueError(f"duplicate metric {metric.id} {metric.slug}")
    if metric.kind not in METRIC_KINDS:
        raise ValueError(f"metric {metric.slug} has unknown kind {metric.kind!r}")
    for arg in metric.args:
        if arg.has_default:
            arg.check(metric.slug, arg.default)
    REGISTRY[metric.slug] = metric
    _BY_ID[metric.id] = metric
    return cls


def get_metric(slug_or_id: str | int) -> Metric:
    """The metric with this slug or id (``"json_equal"``, ``1`` or ``"1"``)."""
    metric = None
    if isinstance(slug_or_id, int) and not isinstance(slug_or_id, bool):
        metric = _BY_ID.get(slug_or_id)
    elif isinstance(slug_or_id, str):
        key = slug_or_id.strip()
        metric = _BY_ID.get(int(key)) if key.isascii() and key.isdigit() else REGISTRY.get(key)
    if metric is None:
        raise InvalidInput(
            f"Unknown metric {slug_or_id!r}.", field="metric", code="unknown_metric", status=404
        )
    return metric


def all_metrics() -> list[Metric]:
    return sorted(REGISTRY.values(), key=lambda m: m.id)
