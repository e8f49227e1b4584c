"""The metric contract: typed arguments, samples, results, and the registry.

A metric declares its arguments (type, default, required, allowed values) so
that every surface validates them the same way and the pages can render an
argument form from the schema. Argument errors name the argument and the
problem (seed 004: unknown args, wrong types and missing required args are
rejected).
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


def _type_name(value) -> str:
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
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclass(frozen=True)
class Arg:
    name: str
    type: str
    default: Any = NO_DEFAULT
    required: bool = False
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    help: str = ""

    def __post_init__(self):
        if self.type not in ARG_TYPES:
            raise ValueError(f"unknown arg type {self.type!r}")

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def as_schema(self) -> dict:
        schema = {
            "name": self.name,
            "type": self.type,
            "required": self.required and not self.has_default,
        }
        if self.has_default:
            schema["default"] = self.default
        if self.choices is not None:
            schema["choices"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.nullable:
            schema["nullable"] = True
        schema["help"] = self.help
        return schema

    def check(self, metric: str, value):
        """The value if it is valid for this argument; raises InvalidInput naming it."""
        if value is None and (self.nullable or (self.has_default and self.default is None)):
            return None

        def wrong_type(expected):
            return InvalidInput(
                f"Argument '{self.name}' of metric {metric} must be {expected}, got {_type_name(value)}.",
                field=self.name,
                code="invalid_argument_type",
            )

        if self.type == "boolean":
            if not isinstance(value, bool):
                raise wrong_type("a boolean")
        elif self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong_type("an integer")
        elif self.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong_type("a number")
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInput(
                    f"Argument '{self.name}' of metric {metric} must be a finite number.",
                    field=self.name,
                    code="invalid_argument_value",
                )
        elif self.type == "string":
            if not isinstance(value, str):
                raise wrong_type("a string")
        elif self.type == "string_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise wrong_type("a list of strings")
        elif self.type == "object" and not isinstance(value, dict):
            raise wrong_type("an object")
        if self.choices is not None and value not in self.choices:
            raise InvalidInput(
                f"Argument '{self.name}' of metric {metric} must be one of "
                f"{', '.join(map(str, self.choices))}, got {value!r}.",
                field=self.name,
                code="invalid_argument_value",
            )
        if self.minimum is not None and value < self.minimum:
            raise InvalidInput(
                f"Argument '{self.name}' of metric {metric} must be at least {self.minimum}, got {value}.",
                field=self.name,
                code="invalid_argument_value",
            )
        if self.maximum is not None and value > self.maximum:
            raise InvalidInput(
                f"Argument '{self.name}' of metric {metric} must be at most {self.maximum}, got {value}.",
                field=self.name,
                code="invalid_argument_value",
            )
        return value


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
    """Base class: subclasses set the class attributes and implement ``score``."""

    id: int
    slug: str
    name: str
    kind: str = "deterministic"
    args: tuple[Arg, ...] = ()
    higher_is_better: bool = True
    value_range: tuple[float, float | None] = (0.0, 1.0)
    requires: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return " ".join((type(self).__doc__ or "").split())

    def validate_args(self, args: dict | None) -> dict:
        """Complete, checked arguments: defaults filled; unknown, mistyped or missing args refused."""
        args = {} if args is None else args
        if not isinstance(args, dict):
            raise InvalidInput(
                f"Arguments of metric {self.slug} must be an object.",
                field="args",
                code="invalid_argument_type",
            )
        known = {a.name: a for a in self.args}
        for name in args:
            if name not in known:
                raise InvalidInput(
                    f"Unknown argument '{name}' for metric {self.slug}"
                    + (f" (known: {', '.join(known)})." if known else " (it takes none)."),
                    field=name,
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


REGISTRY: dict[str, Metric] = {}
_BY_ID: dict[int, Metric] = {}


def register(cls):
    """Class decorator: instantiate and register; ids and slugs must be unique."""
    metric = cls()
    if metric.slug in REGISTRY or metric.id in _BY_ID:
        raise ValueError(f"duplicate metric {metric.id} {metric.slug}")
    REGISTRY[metric.slug] = metric
    _BY_ID[metric.id] = metric
    return cls


def get_metric(slug_or_id) -> Metric:
    if isinstance(slug_or_id, bool):
        slug_or_id = str(slug_or_id)
    if isinstance(slug_or_id, int) or (
        isinstance(slug_or_id, str) and slug_or_id.strip().isdigit()
    ):
        metric = _BY_ID.get(int(slug_or_id))
    else:
        metric = REGISTRY.get(slug_or_id) if isinstance(slug_or_id, str) else None
    if metric is None:
        raise InvalidInput(f"Unknown metric {slug_or_id!r}.", field="metric", code="unknown_metric")
    return metric


def all_metrics() -> list[Metric]:
    return sorted(REGISTRY.values(), key=lambda m: m.id)
