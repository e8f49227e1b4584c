"""Deterministic metrics: the same answer always gets the same score, no network.

Compiled regular expressions and JSON Schema validators are cached by their
source, because a run calls the same metric with the same arguments on every
item and args must stay JSON (they are stored on the run).
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from functools import lru_cache

import jsonschema
import re2
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from evalhub.errors import InvalidInput
from runs.metrics.base import Arg, Metric, MetricResult, register

_WS = re.compile(r"\s+")
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»…–—¿¡")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def normalise(
    text: str | None, *, case_sensitive=True, strip_whitespace=True, ignore_punctuation=False
) -> str:
    text = unicodedata.normalize("NFC", text or "")
    if ignore_punctuation:
        text = text.translate(_PUNCT)
    if strip_whitespace:
        text = _WS.sub(" ", text).strip()
    if not case_sensitive:
        text = text.casefold()
    return text


def _verdict(passed: bool, ok: str, bad: str) -> MetricResult:
    return MetricResult(1.0 if passed else 0.0, passed, ok if passed else bad)


def _clip(text: str | None, n: int = 80) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


# --- JSON --------------------------------------------------------------------------


def _reject_constant(value):
    raise ValueError(f"{value} is not valid JSON")


def parse_json(text):
    """Parse JSON text, refusing NaN/Infinity; a non-string (already parsed) passes through."""
    if not isinstance(text, str):
        return text
    return json.loads(text, parse_constant=_reject_constant)


def json_matches(
    expected, actual, *, ignore_extra_keys: bool, ignore_order: bool
) -> tuple[bool, str]:
    """Whether ``actual`` equals ``expected``; returns (equal, where they differ)."""
    return _match(expected, actual, ignore_extra_keys, ignore_order, "$")


def _match(expected, actual, extra, order, path) -> tuple[bool, str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False, f"{path}: expected an object, got {_type(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return False, f"{path}.{key}: missing"
            ok, where = _match(value, actual[key], extra, order, f"{path}.{key}")
            if not ok:
                return False, where
        if not extra:
            surplus = [k for k in actual if k not in expected]
            if surplus:
                return False, f"{path}.{surplus[0]}: unexpected key"
        return True, ""
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False, f"{path}: expected an array, got {_type(actual)}"
        if len(expected) != len(actual):
            return False, f"{path}: expected {len(expected)} items, got {len(actual)}"
        if not order:
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                ok, where = _match(e, a, extra, order, f"{path}[{i}]")
                if not ok:
                    return False, where
            return True, ""
        # Order ignored: find a distinct partner for each expected element.
        unused = list(range(len(actual)))
        for i, e in enumerate(expected):
            for j in unused:
                if _match(e, actual[j], extra, order, path)[0]:
                    unused.remove(j)
                    break
            else:
                return False, f"{path}[{i}]: no matching element"
        return True, ""
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = expected is actual
    elif isinstance(expected, int | float) and isinstance(actual, int | float):
        same = float(expected) == float(actual)
    else:
        same = expected == actual
    return (
        (True, "")
        if same
        else (False, f"{path}: expected {json.dumps(expected)[:60]}, got {json.dumps(actual)[:60]}")
    )


def _type(value) -> str:
    from runs.metrics.base import _type_name

    return _type_name(value)


@register
class JsonEqual(Metric):
    """The output, parsed as JSON, equals the expected JSON. ``ignore_extra_keys`` tolerates keys
    the expected object lacks (at any depth); ``ignore_order`` compares arrays as multisets."""

    id, slug, name = 1, "json_equal", "JSON equal"
    requires = ("expected_output",)
    args = (
        Arg(
            "ignore_extra_keys",
            "boolean",
            default=False,
            help="Keys in the output that the expected JSON lacks are ignored.",
        ),
        Arg("ignore_order", "boolean", default=False, help="Arrays match in any order."),
    )

    def score(self, sample, args):
        try:
            expected = parse_json(sample.expected_output)
        except ValueError as err:
            return MetricResult(0.0, False, f"Expected output is not valid JSON: {err}")
        try:
            actual = parse_json(sample.output)
        except ValueError as err:
            return MetricResult(0.0, False, f"Output is not valid JSON: {err}")
        ok, where = json_matches(
            expected,
            actual,
            ignore_extra_keys=args["ignore_extra_keys"],
            ignore_order=args["ignore_order"],
        )
        return _verdict(ok, "JSON matches.", f"JSON differs at {where}.")


@register
class ExactMatch(Metric):
    """The output equals the expected output, after the chosen normalisation."""

    id, slug, name = 2, "exact_match", "Exact match"
    requires = ("expected_output",)
    args = (
        Arg("case_sensitive", "boolean", default=True),
        Arg(
            "strip_whitespace",
            "boolean",
            default=True,
            help="Trim and collapse runs of whitespace.",
        ),
        Arg("ignore_punctuation", "boolean", default=False),
    )

    def score(self, sample, args):
        out = normalise(sample.output, **args)
        exp = normalise(sample.expected_output, **args)
        return _verdict(
            out == exp, "Output matches exactly.", f"Expected {_clip(exp)!r}, got {_clip(out)!r}."
        )


def _substring_args():
    return (
        Arg("substrings", "string_list", required=True, help="Texts to look for."),
        Arg("mode", "string", default="all", choices=("all", "any")),
        Arg("case_sensitive", "boolean", default=True),
    )


def _found(sample, args) -> list[bool]:
    text = sample.output or ""
    subs = args["substrings"]
    if not args["case_sensitive"]:
        text, subs = text.casefold(), [s.casefold() for s in subs]
    return [s in text for s in subs]


class _SubstringMetric(Metric):
    def check_args(self, args):
        if not args["substrings"]:
            raise InvalidInput(
                f"Argument 'substrings' of metric {self.slug} needs at least one text.",
                field="substrings",
                code="invalid_argument_value",
            )


@register
class Contains(_SubstringMetric):
    """The output contains all (or any) of the given substrings."""

    id, slug, name = 3, "contains", "Contains"
    args = _substring_args()

    def score(self, sample, args):
        found = _found(sample, args)
        missing = [s for s, f in zip(args["substrings"], found, strict=True) if not f]
        passed = all(found) if args["mode"] == "all" else any(found)
        value = sum(found) / len(found)
        return MetricResult(
            value,
            passed,
            "All found." if not missing else f"Missing: {', '.join(map(repr, missing))}.",
        )


@register
class NotContains(_SubstringMetric):
    """The output contains none (mode all) or not every one (mode any) of the given substrings."""

    id, slug, name = 4, "not_contains", "Does not contain"
    args = _substring_args()

    def score(self, sample, args):
        found = _found(sample, args)
        present = [s for s, f in zip(args["substrings"], found, strict=True) if f]
        passed = not any(found) if args["mode"] == "all" else not all(found)
        value = 1 - sum(found) / len(found)
        return MetricResult(
            value,
            passed,
            "None found." if not present else f"Found: {', '.join(map(repr, present))}.",
        )


@lru_cache(maxsize=256)
def _compile_re2(pattern: str, case_sensitive: bool):
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.max_mem = 64 << 20
    return re2.compile(pattern, options)


@register
class RegexMatch(Metric):
    """The output matches a regular expression. Patterns run on RE2, in linear time, so a
    user's pattern can never wedge a worker (no catastrophic backtracking)."""

    id, slug, name = 5, "regex_match", "Regex match"
    args = (
        Arg("pattern", "string", required=True),
        Arg("case_sensitive", "boolean", default=True),
        Arg("full_match", "boolean", default=False, help="The whole output must match."),
    )

    def check_args(self, args):
        try:
            _compile_re2(args["pattern"], args["case_sensitive"])
        except re2.error as err:
            raise InvalidInput(
                f"Argument 'pattern' of metric regex_match is not a valid RE2 expression: {err}.",
                field="pattern",
                code="invalid_argument_value",
            ) from None

    def score(self, sample, args):
        regex = _compile_re2(args["pattern"], args["case_sensitive"])
        text = sample.output or ""
        match = regex.fullmatch(text) if args["full_match"] else regex.search(text)
        return _verdict(
            bool(match),
            "Pattern matches.",
            f"Pattern {_clip(args['pattern'], 40)!r} does not match.",
        )


@register
class StartsWith(Metric):
    """The output starts with ``prefix`` (or with the expected output when no prefix is given)."""

    id, slug, name = 6, "starts_with", "Starts with"
    args = (
        Arg("prefix", "string", default=None, nullable=True),
        Arg("case_sensitive", "boolean", default=True),
    )

    def score(self, sample, args):
        prefix = args["prefix"] if args["prefix"] is not None else (sample.expected_output or "")
        text = (sample.output or "").lstrip()
        if not args["case_sensitive"]:
            text, prefix = text.casefold(), prefix.casefold()
        return _verdict(
            text.startswith(prefix),
            "Prefix found.",
            f"Output does not start with {_clip(prefix, 40)!r}.",
        )


@register
class OneOf(Metric):
    """The output (trimmed) is one of the allowed answers, e.g. a classification label."""

    id, slug, name = 7, "one_of", "One of"
    args = (
        Arg("choices", "string_list", required=True),
        Arg("case_sensitive", "boolean", default=False),
    )

    def score(self, sample, args):
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        allowed = {normalise(c, case_sensitive=args["case_sensitive"]) for c in args["choices"]}
        return _verdict(
            out in allowed,
            "Allowed answer.",
            f"{_clip(out, 40)!r} is not one of the allowed answers.",
        )


@register
class JsonValid(Metric):
    """The output parses as JSON (optionally: as a JSON object)."""

    id, slug, name = 8, "json_valid", "Valid JSON"
    args = (Arg("require_object", "boolean", default=False),)

    def score(self, sample, args):
        try:
            value = parse_json(sample.output or "")
        except ValueError as err:
            return MetricResult(0.0, False, f"Not valid JSON: {err}")
        if args["require_object"] and not isinstance(value, dict):
            return MetricResult(0.0, False, f"Valid JSON but a {_type(value)}, not an object.")
        return MetricResult(1.0, True, "Valid JSON.")


@lru_cache(maxsize=128)
def _schema_validator(schema_json: str):
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@register
class JsonSchema(Metric):
    """The output parses as JSON and validates against a JSON Schema."""

    id, slug, name = 9, "json_schema", "JSON Schema"
    args = (Arg("schema", "object", required=True),)

    def check_args(self, args):
        try:
            jsonschema.validators.validator_for(args["schema"]).check_schema(args["schema"])
        except jsonschema.SchemaError as err:
            raise InvalidInput(
                f"Argument 'schema' of metric json_schema is not a valid JSON Schema: {err.message}.",
                field="schema",
                code="invalid_argument_value",
            ) from None

    def score(self, sample, args):
        try:
            value = parse_json(sample.output or "")
        except ValueError as err:
            return MetricResult(0.0, False, f"Not valid JSON: {err}")
        validator = _schema_validator(json.dumps(args["schema"], sort_keys=True))
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return MetricResult(1.0, True, "Valid against the schema.")
        where = "$" + "".join(
            f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        return MetricResult(0.0, False, f"{where}: {error.message}")


def _first_number(text: str | None) -> float | None:
    match = _NUMBER.search(text or "")
    if not match:
        return None
    raw = match.group(0)
    if raw.count(",") and "." not in raw:
        raw = raw.replace(",", "") if len(raw.split(",")[-1]) == 3 else raw.replace(",", ".")
    else:
        raw = raw.replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@register
class NumericClose(Metric):
    """The first number in the output is within tolerance of the first number in the expected output."""

    id, slug, name = 10, "numeric_close", "Numeric closeness"
    requires = ("expected_output",)
    args = (
        Arg("abs_tol", "number", default=0.0, minimum=0),
        Arg("rel_tol", "number", default=1e-9, minimum=0),
    )

    def score(self, sample, args):
        expected = _first_number(sample.expected_output)
        if expected is None:
            return MetricResult(0.0, False, "Expected output has no number.")
        actual = _first_number(sample.output)
        if actual is None:
            return MetricResult(0.0, False, "Output has no number.")
        close = math.isclose(actual, expected, rel_tol=args["rel_tol"], abs_tol=args["abs_tol"])
        return _verdict(
            close,
            f"{actual:g} ≈ {expected:g}.",
            f"{actual:g} is not within tolerance of {expected:g}.",
        )


@register
class LevenshteinSimilarity(Metric):
    """Normalised Levenshtein similarity (0–1) between output and expected output."""

    id, slug, name = 11, "levenshtein", "Levenshtein similarity"
    requires = ("expected_output",)
    args = (
        Arg("threshold", "number", default=0.8, minimum=0, maximum=1),
        Arg("case_sensitive", "boolean", default=True),
    )

    def score(self, sample, args):
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        exp = normalise(sample.expected_output, case_sensitive=args["case_sensitive"])
        value = Levenshtein.normalized_similarity(out, exp)
        passed = value >= args["threshold"]
        return MetricResult(
            value, passed, f"Similarity {value:.2f} {'≥' if passed else '<'} {args['threshold']}."
        )


_FUZZ = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
}


@register
class FuzzyRatio(Metric):
    """Fuzzy string similarity (rapidfuzz), 0–1; token methods ignore word order or repeats."""

    id, slug, name = 12, "fuzzy_ratio", "Fuzzy match"
    requires = ("expected_output",)
    args = (
        Arg("threshold", "number", default=0.8, minimum=0, maximum=1),
        Arg("method", "string", default="ratio", choices=tuple(_FUZZ)),
        Arg("case_sensitive", "boolean", default=False),
    )

    def score(self, sample, args):
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        exp = normalise(sample.expected_output, case_sensitive=args["case_sensitive"])
        value = _FUZZ[args["method"]](out, exp) / 100
        passed = value >= args["threshold"]
        return MetricResult(
            value,
            passed,
            f"{args['method']} {value:.2f} {'≥' if passed else '<'} {args['threshold']}.",
        )


@register
class LengthBetween(Metric):
    """The output's length in characters or words lies within [min_length, max_length]."""

    id, slug, name = 13, "length_between", "Length between"
    value_range = (0.0, None)  # no upper bound
    args = (
        Arg("min_length", "integer", default=0, minimum=0),
        Arg("max_length", "integer", default=None, nullable=True, minimum=0),
        Arg("unit", "string", default="chars", choices=("chars", "words")),
    )

    def check_args(self, args):
        if args["max_length"] is not None and args["max_length"] < args["min_length"]:
            raise InvalidInput(
                "Argument 'max_length' of metric length_between must not be below min_length.",
                field="max_length",
                code="invalid_argument_value",
            )

    def score(self, sample, args):
        text = sample.output or ""
        length = len(text.split()) if args["unit"] == "words" else len(text)
        high = args["max_length"]
        passed = length >= args["min_length"] and (high is None or length <= high)
        bounds = f"[{args['min_length']}, {'∞' if high is None else high}]"
        return MetricResult(
            float(length),
            passed,
            f"{length} {args['unit']} {'within' if passed else 'outside'} {bounds}.",
        )
