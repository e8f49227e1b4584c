"""Deterministic metrics: the same answer always gets the same score, no network.

A run scores every item with the same arguments, and a benchmark scores
hundreds of thousands of items, so anything costly to derive from the
arguments (a compiled RE2 pattern, a JSON Schema validator, a set of
normalised labels) is cached by its JSON source rather than rebuilt per
item. The arguments themselves stay plain JSON because they are stored on
the run.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache

import jsonschema
import re2
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein
from referencing.exceptions import Unresolvable

from runs.metrics.base import (
    NO_EXPECTED_OUTPUT,
    Arg,
    Metric,
    MetricResult,
    json_type_name,
    register,
)

# --- text normalisation --------------------------------------------------------------

_ASCII_PUNCTUATION = string.punctuation.encode()
# string.punctuation (as SQuAD and HF exact_match strip it, $ and % included) plus every
# punctuation character of the Basic Multilingual Plane: curly quotes, dashes, ellipses,
# CJK and Arabic marks...
_UNICODE_PUNCTUATION = re.compile(
    "[{}]+".format(
        re.escape(
            string.punctuation
            + "".join(
                chr(c) for c in range(0x80, 0x10000) if unicodedata.category(chr(c)).startswith("P")
            )
        )
    )
)


def normalise(
    text: str | None,
    *,
    case_sensitive: bool = True,
    strip_whitespace: bool = True,
    ignore_punctuation: bool = False,
) -> str:
    """``text`` in NFC form, optionally without punctuation, with collapsed whitespace, casefolded.

    NFC first, so that "café" typed with a combining accent equals the precomposed one.
    """
    text = unicodedata.normalize("NFC", text or "")
    if ignore_punctuation:
        if text.isascii():  # the common case, about ten times faster than the regex
            text = text.encode().translate(None, _ASCII_PUNCTUATION).decode()
        else:
            text = _UNICODE_PUNCTUATION.sub("", text)
    if strip_whitespace:
        text = " ".join(text.split())
    if not case_sensitive:
        text = text.casefold()
    return text


def _verdict(passed: bool, ok: str, bad: str) -> MetricResult:
    return MetricResult(1.0 if passed else 0.0, passed, ok if passed else bad)


def _clip(text: str | None, n: int = 80) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


# --- JSON ----------------------------------------------------------------------------


class NotJson(ValueError):
    pass


def _reject_constant(name):
    raise NotJson(f"{name} is not valid JSON")


# One decoder for all calls: json.loads with keyword arguments builds a new one each time,
# which costs more than decoding a short answer.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str):
    """Parse JSON text strictly: NaN and Infinity are refused, depth is bounded by Python's."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise NotJson("nested too deeply") from None


def json_difference(expected, actual, *, ignore_extra_keys: bool, ignore_order: bool) -> str | None:
    """Where ``actual`` differs from ``expected`` (``'$.user.name: expected "x", got "y"'``),
    or None when they match under the two relaxations."""
    found = _Comparison(ignore_extra_keys, ignore_order).diff(expected, actual)
    if found is None:
        return None
    steps, problem = found
    return f"{_json_path(reversed(steps))}: {problem}"


def _json_path(steps) -> str:
    path = "$"
    for step in steps:
        if isinstance(step, int):
            path = f"{path}[{step}]"
        else:
            step = str(step)
            path = f"{path}.{step}" if step.isidentifier() else f"{path}[{json.dumps(step)}]"
    return path


def _canonical(value) -> str:
    """A string equal for two JSON values exactly when they are equal with arrays as multisets."""
    if isinstance(value, dict):
        items = sorted(f"{json.dumps(k)}:{_canonical(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(sorted(_canonical(v) for v in value)) + "]"
    if isinstance(value, bool) or value is None:
        return "true" if value else "false" if value is not None else "null"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)  # 1.0 is the number 1
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


_NUMBER_TYPES = (int, float)  # a tuple: isinstance checks it faster than int | float


class _Comparison:
    """Structural comparison. ``diff`` returns None on a match, else the path to the first
    difference (innermost step first, so nothing is built while values match) and the problem."""

    def __init__(self, ignore_extra_keys: bool, ignore_order: bool):
        self.extra = ignore_extra_keys
        self.order = ignore_order

    def diff(self, expected, actual) -> tuple[list, str] | None:
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                return [], f"expected an object, got {json_type_name(actual)}"
            for key, value in expected.items():
                if key not in actual:
                    return [key], "missing"
                found = self.diff(value, actual[key])
                if found is not None:
                    found[0].append(key)
                    return found
            if not self.extra and len(actual) > len(expected):
                return [next(k for k in actual if k not in expected)], "unexpected key"
            return None
        if isinstance(expected, list):
            if not isinstance(actual, list):
                return [], f"expected an array, got {json_type_name(actual)}"
            if len(expected) != len(actual):
                return [], f"expected {len(expected)} items, got {len(actual)}"
            if self.order:
                return self._diff_unordered(expected, actual)
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                found = self.diff(e, a)
                if found is not None:
                    found[0].append(i)
                    return found
            return None
        # bool is an int in Python, but true is not 1 in JSON; 1 and 1.0 are the same number.
        if isinstance(expected, bool) or isinstance(actual, bool):
            same = expected is actual
        elif isinstance(expected, _NUMBER_TYPES):
            same = isinstance(actual, _NUMBER_TYPES) and expected == actual
        else:
            same = expected == actual
        if same:
            return None
        return (
            [],
            f"expected {_clip(json.dumps(expected), 60)}, got {_clip(json.dumps(actual), 60)}",
        )

    def _diff_unordered(self, expected: list, actual: list) -> tuple[list, str] | None:
        if all(self.diff(e, a) is None for e, a in zip(expected, actual, strict=True)):
            return None  # already in the same order: the common case, and linear
        wanted = [_canonical(e) for e in expected]
        available = Counter(_canonical(a) for a in actual)
        if not self.extra:
            # Without extra keys "matches" is equality, so counting equal elements is exact.
            for i, key in enumerate(wanted):
                if available[key] <= 0:
                    return [i], "no matching element in the output"
                available[key] -= 1
            return None
        if Counter(wanted) == available:
            return None
        # With extra keys ignored an expected element may fit several output elements, and
        # greedy pairing can fail where a pairing exists: look for a perfect matching.
        fits = [[j for j, a in enumerate(actual) if self.diff(e, a) is None] for e in expected]
        unmatched = _first_unmatched(fits, len(actual))
        if unmatched is None:
            return None
        return [unmatched], "no matching element in the output"


def _first_unmatched(fits: list[list[int]], n_right: int) -> int | None:
    """Bipartite matching (augmenting paths, iterative so long arrays cannot overflow the
    stack): the first left index that cannot be given its own partner, or None."""
    owner = [-1] * n_right  # right j -> left i
    partner = [-1] * len(fits)  # left i -> right j
    for start in range(len(fits)):
        reached_from = {}  # right j -> the left i whose edge reached it
        queue, head, free = [start], 0, -1
        while head < len(queue) and free < 0:
            left = queue[head]
            head += 1
            for right in fits[left]:
                if right in reached_from:
                    continue
                reached_from[right] = left
                if owner[right] < 0:
                    free = right
                    break
                queue.append(owner[right])
        if free < 0:
            return start
        right = free
        while right >= 0:  # flip the alternating path back to ``start``
            left = reached_from[right]
            previous = partner[left]
            owner[right], partner[left] = left, right
            right = previous
    return None


@register
class JsonEqual(Metric):
    """The output, parsed as JSON, equals the expected JSON. ``ignore_extra_keys`` tolerates keys
    in the output that the expected object lacks (at any depth); ``ignore_order`` compares arrays
    as multisets (at any depth). Numbers compare by value (1 equals 1.0, true never equals 1)."""

    id, slug, name = 1, "json_equal", "JSON equal"
    requires = ("expected_output",)
    args = (
        Arg(
            "ignore_extra_keys",
            "boolean",
            default=False,
            help="Keys in the output that the expected JSON lacks are ignored, at any depth.",
        ),
        Arg(
            "ignore_order",
            "boolean",
            default=False,
            help="Arrays match in any order (as multisets), at any depth.",
        ),
    )

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        try:
            expected = parse_json(sample.expected_output)
        except ValueError as err:
            return MetricResult(0.0, False, f"Expected output is not valid JSON: {err}.")
        try:
            actual = parse_json(sample.output or "")
        except ValueError as err:
            return MetricResult(0.0, False, f"Output is not valid JSON: {err}.")
        try:
            where = json_difference(
                expected,
                actual,
                ignore_extra_keys=args["ignore_extra_keys"],
                ignore_order=args["ignore_order"],
            )
        except RecursionError:
            return MetricResult(0.0, False, "JSON is nested too deeply to compare.")
        return _verdict(where is None, "JSON matches.", f"JSON differs at {where}.")


@register
class ExactMatch(Metric):
    """The output equals the expected output, after the chosen normalisation (whitespace
    trimmed and collapsed by default; case and punctuation optionally ignored)."""

    id, slug, name = 2, "exact_match", "Exact match"
    requires = ("expected_output",)
    args = (
        Arg("case_sensitive", "boolean", default=True),
        Arg(
            "strip_whitespace",
            "boolean",
            default=True,
            help="Trim the ends and collapse inner runs of whitespace to one space.",
        ),
        Arg(
            "ignore_punctuation",
            "boolean",
            default=False,
            help="Remove punctuation (any script) before comparing.",
        ),
    )

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        out = normalise(sample.output, **args)
        exp = normalise(sample.expected_output, **args)
        return _verdict(
            out == exp, "Output matches exactly.", f"Expected {_clip(exp)!r}, got {_clip(out)!r}."
        )


# --- substrings, patterns, labels ------------------------------------------------------


class _SubstringMetric(Metric):
    args = (
        Arg("substrings", "string_list", required=True, help="Texts to look for, one per line."),
        Arg("mode", "string", default="all", choices=("all", "any")),
        Arg("case_sensitive", "boolean", default=True),
    )

    def check_args(self, args):
        if not args["substrings"]:
            raise self.arg_error("substrings", "needs at least one text")
        if "" in args["substrings"]:
            raise self.arg_error("substrings", "must not contain an empty text")

    def found(self, sample, args) -> list[bool]:
        text = sample.output or ""
        subs = args["substrings"]
        if not args["case_sensitive"]:
            text, subs = text.casefold(), [s.casefold() for s in subs]
        return [s in text for s in subs]


@register
class Contains(_SubstringMetric):
    """The output contains all (mode ``all``) or at least one (mode ``any``) of the given
    substrings. The value is the share of substrings found."""

    id, slug, name = 3, "contains", "Contains"

    def score(self, sample, args):
        found = self.found(sample, args)
        missing = [s for s, f in zip(args["substrings"], found, strict=True) if not f]
        passed = all(found) if args["mode"] == "all" else any(found)
        reason = "All found." if not missing else f"Missing: {', '.join(map(repr, missing))}."
        return MetricResult(sum(found) / len(found), passed, _clip(reason, 500))


@register
class NotContains(_SubstringMetric):
    """The output contains none of the given substrings (mode ``all``), or at least one of them
    is absent (mode ``any``). The value is the share of substrings absent."""

    id, slug, name = 4, "not_contains", "Does not contain"

    def score(self, sample, args):
        found = self.found(sample, args)
        present = [s for s, f in zip(args["substrings"], found, strict=True) if f]
        passed = not any(found) if args["mode"] == "all" else not all(found)
        reason = "None found." if not present else f"Found: {', '.join(map(repr, present))}."
        return MetricResult(1 - sum(found) / len(found), passed, _clip(reason, 500))


@lru_cache(maxsize=256)
def compile_re2(pattern: str, case_sensitive: bool):
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.never_capture = True  # only match/no match is needed; capture-free RE2 is faster
    options.log_errors = False  # the error goes back to the user, not to the worker's stderr
    options.max_mem = 64 << 20  # a huge pattern fails to compile instead of eating memory
    return re2.compile(pattern, options)


@register
class RegexMatch(Metric):
    """The output matches a regular expression (RE2 syntax; inline flags such as ``(?s)`` and
    ``(?m)`` work). Patterns run on RE2 in linear time, so a user's pattern can never wedge a
    worker with catastrophic backtracking; backreferences and lookarounds are therefore not
    available."""

    id, slug, name = 5, "regex_match", "Regex match"
    args = (
        Arg("pattern", "string", required=True, help="An RE2 regular expression."),
        Arg("case_sensitive", "boolean", default=True),
        Arg(
            "full_match",
            "boolean",
            default=False,
            help="The whole output must match, not just a part of it.",
        ),
    )

    def check_args(self, args):
        try:
            compile_re2(args["pattern"], args["case_sensitive"])
        except re2.error as err:
            detail = err.args[0] if err.args else ""
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise self.arg_error("pattern", f"is not a valid RE2 expression: {detail}") from None

    def score(self, sample, args):
        regex = compile_re2(args["pattern"], args["case_sensitive"])
        text = sample.output or ""
        match = regex.fullmatch(text) if args["full_match"] else regex.search(text)
        return _verdict(
            match is not None,
            "Pattern matches.",
            f"Pattern {_clip(args['pattern'], 60)!r} does not match"
            + (" the whole output." if args["full_match"] else " the output."),
        )


@register
class StartsWith(Metric):
    """The output, ignoring leading whitespace, starts with ``prefix``; without a prefix, it
    starts with the record's expected output."""

    id, slug, name = 6, "starts_with", "Starts with"
    args = (
        Arg("prefix", "string", default=None, help="Leave empty to use the expected output."),
        Arg("case_sensitive", "boolean", default=True),
    )

    def check_args(self, args):
        if args["prefix"] == "":
            raise self.arg_error(
                "prefix", "must not be empty (leave it out to use the expected output)"
            )

    def score(self, sample, args):
        prefix = args["prefix"]
        if prefix is None:
            if not sample.expected_output:
                return MetricResult(0.0, False, "No prefix given and no expected output to use.")
            prefix = sample.expected_output
        text = (sample.output or "").lstrip()
        if not args["case_sensitive"]:
            text, prefix = text.casefold(), prefix.casefold()
        return _verdict(
            text.startswith(prefix),
            "Prefix found.",
            f"Output does not start with {_clip(prefix, 60)!r}.",
        )


@lru_cache(maxsize=128)
def _allowed_labels(choices: tuple[str, ...], case_sensitive: bool) -> frozenset[str]:
    return frozenset(normalise(c, case_sensitive=case_sensitive) for c in choices)


@register
class OneOf(Metric):
    """The output, trimmed and with whitespace collapsed, is one of the allowed answers
    (e.g. a classification label)."""

    id, slug, name = 7, "one_of", "One of"
    args = (
        Arg("choices", "string_list", required=True, help="The allowed answers, one per line."),
        Arg("case_sensitive", "boolean", default=False),
    )

    def check_args(self, args):
        if not args["choices"]:
            raise self.arg_error("choices", "needs at least one allowed answer")

    def score(self, sample, args):
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        allowed = _allowed_labels(tuple(args["choices"]), args["case_sensitive"])
        return _verdict(
            out in allowed,
            "Allowed answer.",
            f"{_clip(out, 60)!r} is not one of the allowed answers.",
        )


# --- JSON validity and schema ------------------------------------------------------------


@register
class JsonValid(Metric):
    """The output parses as JSON (strictly: no NaN or Infinity); optionally it must be an object."""

    id, slug, name = 8, "json_valid", "Valid JSON"
    args = (Arg("require_object", "boolean", default=False, help="Only a JSON object passes."),)

    def score(self, sample, args):
        try:
            value = parse_json(sample.output or "")
        except ValueError as err:
            return MetricResult(0.0, False, f"Not valid JSON: {err}.")
        if args["require_object"] and not isinstance(value, dict):
            return MetricResult(
                0.0, False, f"Valid JSON but {json_type_name(value)}, not an object."
            )
        return MetricResult(1.0, True, "Valid JSON.")


def _schema_class(schema: dict):
    return jsonschema.validators.validator_for(schema)


@lru_cache(maxsize=128)
def _schema_validator(schema_json: str):
    schema = json.loads(schema_json)
    cls = _schema_class(schema)
    # Formats ("date", "email", ...) are checked: users who write them expect them enforced.
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@register
class JsonSchema(Metric):
    """The output parses as JSON and validates against a JSON Schema (draft declared by
    ``$schema``, 2020-12 otherwise; formats are checked). The reason names the failing path."""

    id, slug, name = 9, "json_schema", "JSON Schema"
    args = (Arg("schema", "object", required=True, help="A JSON Schema, as a JSON object."),)

    def check_args(self, args):
        try:
            _schema_class(args["schema"]).check_schema(args["schema"])
        except jsonschema.SchemaError as err:
            raise self.arg_error(
                "schema", f"is not a valid JSON Schema: {_clip(err.message, 300)}"
            ) from None

    def score(self, sample, args):
        try:
            value = parse_json(sample.output or "")
        except ValueError as err:
            return MetricResult(0.0, False, f"Not valid JSON: {err}.")
        validator = _schema_validator(json.dumps(args["schema"], sort_keys=True))
        try:
            # best_match, not the first error: it picks the most specific failure
            # (the deepest one, not a generic anyOf), which is what a reader needs.
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        except Unresolvable as err:
            # Remote $refs are never fetched (no network from a metric).
            return MetricResult(0.0, False, f"Schema reference cannot be resolved: {err}.")
        if error is None:
            return MetricResult(1.0, True, "Valid against the schema.")
        return MetricResult(
            0.0, False, f"{_json_path(error.absolute_path)}: {_clip(error.message, 300)}"
        )


# --- numbers and similarity -------------------------------------------------------------

# "−" (U+2212) is the minus sign typographers and some models write.
_NUMBER = re.compile(r"[-+−]?(?:\d+(?:,\d+)*(?:\.\d+)?|\.\d+)(?:[eE][-+−]?\d+)?")


def first_number(text: str | None) -> float | None:
    """The first number in ``text``.

    Commas are read the way people write them: "1,000.5" and "12,345,678" (or the Indian
    "1,23,456") group thousands, a single comma before one, two or four+ digits is a decimal
    comma ("3,14"), and anything else ("1,2,3") is a list whose first number counts.
    """
    match = _NUMBER.search(text or "")
    if not match:
        return None
    raw = match.group(0).replace("−", "-")
    if "," in raw:
        mantissa, exponent = re.match(r"([^eE]*)(.*)", raw).groups()
        whole, dot, fraction = mantissa.partition(".")
        groups = whole.split(",")
        if len(groups[-1]) == 3 and all(len(g) in (2, 3) for g in groups[1:]):
            whole = "".join(groups)
        elif len(groups) == 2 and not dot:
            whole, dot, fraction = groups[0], ".", groups[1]
        else:
            whole, dot, fraction, exponent = groups[0], "", "", ""
        raw = whole + dot + fraction + exponent
    value = float(raw)
    return value if math.isfinite(value) else None


@register
class NumericClose(Metric):
    """The first number in the output is within tolerance of the first number in the expected
    output (``math.isclose``: passes if within ``abs_tol`` or within ``rel_tol`` of the larger)."""

    id, slug, name = 10, "numeric_close", "Numeric closeness"
    requires = ("expected_output",)
    args = (
        Arg("abs_tol", "number", default=0, minimum=0, help="Absolute tolerance."),
        Arg("rel_tol", "number", default=1e-9, minimum=0, help="Relative tolerance (0.01 = 1%)."),
    )

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        expected = first_number(sample.expected_output)
        if expected is None:
            return MetricResult(0.0, False, "Expected output has no number.")
        actual = first_number(sample.output)
        if actual is None:
            return MetricResult(0.0, False, "Output has no number.")
        close = math.isclose(actual, expected, rel_tol=args["rel_tol"], abs_tol=args["abs_tol"])
        return _verdict(
            close,
            f"{actual:g} is within tolerance of {expected:g}.",
            f"{actual:g} is not within tolerance of {expected:g}.",
        )


def _threshold_arg(default: float) -> Arg:
    return Arg(
        "threshold",
        "number",
        default=default,
        minimum=0,
        maximum=1,
        help="Pass when the similarity reaches it.",
    )


@register
class LevenshteinSimilarity(Metric):
    """Normalised Levenshtein similarity (1 − edits / length of the longer text, 0–1) between
    the output and the expected output, after trimming and collapsing whitespace."""

    id, slug, name = 11, "levenshtein", "Levenshtein similarity"
    requires = ("expected_output",)
    args = (_threshold_arg(0.8), Arg("case_sensitive", "boolean", default=True))

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        exp = normalise(sample.expected_output, case_sensitive=args["case_sensitive"])
        value = Levenshtein.normalized_similarity(out, exp)
        passed = value >= args["threshold"]
        return MetricResult(
            value, passed, f"Similarity {value:.3f} {'≥' if passed else '<'} {args['threshold']:g}."
        )


_FUZZ = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
}


@register
class FuzzyRatio(Metric):
    """Fuzzy string similarity (rapidfuzz), 0–1. ``partial_ratio`` finds the best matching
    part; the token methods ignore word order (``token_sort_ratio``) or repeated and extra
    words (``token_set_ratio``)."""

    id, slug, name = 12, "fuzzy_ratio", "Fuzzy match"
    requires = ("expected_output",)
    args = (
        _threshold_arg(0.8),
        Arg("method", "string", default="ratio", choices=tuple(_FUZZ)),
        Arg("case_sensitive", "boolean", default=False),
    )

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        out = normalise(sample.output, case_sensitive=args["case_sensitive"])
        exp = normalise(sample.expected_output, case_sensitive=args["case_sensitive"])
        value = _FUZZ[args["method"]](out, exp) / 100
        passed = value >= args["threshold"]
        return MetricResult(
            value,
            passed,
            f"{args['method']} {value:.3f} {'≥' if passed else '<'} {args['threshold']:g}.",
        )


@register
class LengthBetween(Metric):
    """The output's length in characters or words lies within [min_length, max_length]
    (no upper bound when max_length is not set). The value is 1 inside, 0 outside; the
    reason gives the length."""

    id, slug, name = 13, "length_between", "Length between"
    args = (
        Arg("min_length", "integer", default=0, minimum=0),
        Arg("max_length", "integer", default=None, minimum=0, help="Leave empty for no maximum."),
        Arg("unit", "string", default="chars", choices=("chars", "words")),
    )

    def check_args(self, args):
        if args["max_length"] is not None and args["max_length"] < args["min_length"]:
            raise self.arg_error(
                "max_length", f"must not be below min_length ({args['min_length']})"
            )

    def score(self, sample, args):
        text = sample.output or ""
        length = len(text.split()) if args["unit"] == "words" else len(text)
        low, high = args["min_length"], args["max_length"]
        passed = low <= length and (high is None or length <= high)
        bounds = f"[{low}, {'∞' if high is None else high}]"
        return _verdict(
            passed,
            f"{length} {args['unit']}, within {bounds}.",
            f"{length} {args['unit']}, outside {bounds}.",
        )
