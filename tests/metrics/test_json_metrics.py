"""json_equal, json_valid and json_schema."""

import json

import pytest

from runs.metrics import Sample, get_metric


def score(slug, output, expected=None, **args):
    metric = get_metric(slug)
    return metric.score(Sample(output=output, expected_output=expected), metric.validate_args(args))


def json_equal(output, expected, *, extra=False, order=False):
    return score("json_equal", output, expected, ignore_extra_keys=extra, ignore_order=order)


# --- json_equal: seed 004's two flags, each of the four combinations ----------------------

EXPECTED = '{"id": 1, "tags": ["a", "b"], "user": {"name": "x", "roles": ["admin", "dev"]}}'
# Equal up to key order, spacing and 1 vs 1.0: passes under every combination.
SAME = '{"user": {"roles": ["admin", "dev"], "name": "x"}, "tags": ["a","b"], "id": 1.0}'
# Passes only with ignore_extra_keys: an extra key, nested two levels down.
EXTRA_NESTED = (
    '{"id": 1, "tags": ["a", "b"], "user": {"name": "x", "roles": ["admin", "dev"], "age": 3}}'
)
# Passes only with ignore_order: a nested array reordered.
REORDERED_NESTED = '{"id": 1, "tags": ["a", "b"], "user": {"name": "x", "roles": ["dev", "admin"]}}'
# Passes only with both: an extra key and a reordered array.
EXTRA_AND_REORDERED = (
    '{"id": 1, "tags": ["b", "a"], "user": {"name": "x", "roles": ["admin", "dev"]}, "more": 1}'
)


@pytest.mark.parametrize("extra", [False, True])
@pytest.mark.parametrize("order", [False, True])
def test_json_equal_passes_equal_json_under_every_combination(extra, order):
    result = json_equal(SAME, EXPECTED, extra=extra, order=order)
    assert result.passed is True and result.value == 1.0 and result.reason == "JSON matches."


@pytest.mark.parametrize(
    "output, needs_extra, needs_order",
    [
        (EXTRA_NESTED, True, False),
        (REORDERED_NESTED, False, True),
        (EXTRA_AND_REORDERED, True, True),
    ],
    ids=["extra-keys-only", "order-only", "both"],
)
def test_json_equal_each_relaxation_is_needed_and_enough(output, needs_extra, needs_order):
    # The case passes under its own combination (and any looser one), fails under the others.
    for extra in (False, True):
        for order in (False, True):
            should_pass = extra >= needs_extra and order >= needs_order
            result = json_equal(output, EXPECTED, extra=extra, order=order)
            assert result.passed is should_pass, (extra, order)
            assert result.value == (1.0 if should_pass else 0.0)


def test_json_equal_with_both_flags_false_is_strict_equality():
    assert json_equal(SAME, EXPECTED).passed is True
    for output in (EXTRA_NESTED, REORDERED_NESTED, EXTRA_AND_REORDERED):
        assert json_equal(output, EXPECTED).passed is False


def test_json_equal_ignores_extra_keys_in_nested_objects():
    expected = '{"a": {"b": {"c": 1}}}'
    output = '{"a": {"b": {"c": 1, "d": 2}, "e": 3}, "f": 4}'
    assert json_equal(output, expected, extra=True).passed is True
    assert json_equal(output, expected).reason == "JSON differs at $.a.b.d: unexpected key."


def test_json_equal_ignores_extra_keys_inside_arrays_of_objects():
    expected = '[{"id": 1}, {"id": 2}]'
    assert json_equal('[{"id": 1, "x": 0}, {"id": 2, "y": 0}]', expected, extra=True).passed


def test_json_equal_never_ignores_missing_keys():
    result = json_equal('{"a": 1, "z": 2}', '{"a": 1, "b": 2}', extra=True, order=True)
    assert result.passed is False and result.reason == "JSON differs at $.b: missing."


def test_json_equal_ignore_order_compares_arrays_as_multisets():
    assert json_equal("[2, 1, 1]", "[1, 1, 2]", order=True).passed is True
    assert json_equal("[1, 2, 2]", "[1, 1, 2]", order=True).passed is False
    assert json_equal("[1, 2]", "[1, 2, 2]", order=True).reason == (
        "JSON differs at $: expected 3 items, got 2."
    )


def test_json_equal_ignore_order_applies_at_every_depth():
    expected = '[{"k": [1, 2]}, {"k": [3, 4]}]'
    assert json_equal('[{"k": [4, 3]}, {"k": [2, 1]}]', expected, order=True).passed is True


def test_json_equal_extra_keys_never_make_an_array_longer_acceptable():
    assert json_equal("[1, 2, 3]", "[1, 2]", extra=True, order=True).passed is False


def test_json_equal_both_flags_find_a_pairing_that_greedy_matching_would_miss():
    # {"a": 1} also fits the first output element; a greedy pairing takes it and then
    # {"a": 1, "b": 2} has nothing left. A proper matching pairs them crosswise.
    expected = '[{"a": 1}, {"a": 1, "b": 2}]'
    output = '[{"a": 1, "b": 2}, {"a": 1, "c": 3}]'
    assert json_equal(output, expected, extra=True, order=True).passed is True
    assert json_equal(output, expected, extra=True, order=False).passed is False


def test_json_equal_names_the_first_unmatched_element_when_order_is_ignored():
    result = json_equal('{"t": ["a", "z"]}', '{"t": ["a", "b"]}', order=True)
    assert result.reason == "JSON differs at $.t[1]: no matching element in the output."


def test_json_equal_says_where_and_how_the_json_differs():
    result = json_equal('{"user": {"tags": ["a", "c"]}}', '{"user": {"tags": ["a", "b"]}}')
    assert result.reason == 'JSON differs at $.user.tags[1]: expected "b", got "c".'
    odd_key = json_equal('{"a b": 2}', '{"a b": 1}')
    assert odd_key.reason == 'JSON differs at $["a b"]: expected 1, got 2.'
    wrong_type = json_equal('{"a": [1]}', '{"a": {"b": 1}}')
    assert wrong_type.reason == "JSON differs at $.a: expected an object, got array."


def test_json_equal_compares_numbers_by_value_but_never_true_with_1():
    assert json_equal("[1.0, 2]", "[1, 2.0]").passed is True
    assert json_equal("[true]", "[1]").passed is False
    assert json_equal("[1]", "[true]", order=True).passed is False
    assert json_equal("[false, 0]", "[0, false]", order=True).passed is True
    assert json_equal("null", "null").passed is True
    assert json_equal('"1"', "1").passed is False


def test_json_equal_keeps_large_integers_exact():
    assert json_equal("9007199254740993", "9007199254740992").passed is False


def test_json_equal_fails_invalid_output_with_a_reason():
    result = json_equal("Sure! Here is the JSON: {", '{"a": 1}')
    assert result.passed is False and result.value == 0.0
    assert result.reason.startswith("Output is not valid JSON:")


def test_json_equal_fails_an_invalid_expected_output_with_its_own_reason():
    result = json_equal('{"a": 1}', "{a: 1}")
    assert result.passed is False and result.value == 0.0
    assert result.reason.startswith("Expected output is not valid JSON:")


def test_json_equal_edge_cases_empty_output_none_expected_and_unicode():
    assert json_equal("", "{}").reason.startswith("Output is not valid JSON")
    none_expected = json_equal("{}", None)
    assert none_expected.passed is False and "no expected output" in none_expected.reason
    assert json_equal('{"città": "Zürich 🇨🇭"}', '{"citt\\u00e0": "Z\\u00fcrich 🇨🇭"}').passed


def test_json_equal_refuses_nan_and_survives_absurd_nesting():
    assert json_equal('{"a": NaN}', '{"a": NaN}').reason.startswith("Expected output is not")
    deep = "[" * 100_000 + "]" * 100_000
    assert json_equal(deep, "[]").reason == "Output is not valid JSON: nested too deeply."


def test_json_equal_handles_long_arrays_with_both_flags():
    expected = [{"id": i} for i in range(300)]
    output = [{"id": i, "extra": True} for i in reversed(range(300))]
    assert json_equal(json.dumps(output), json.dumps(expected), extra=True, order=True).passed


# --- json_valid ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, args, passed",
    [
        ('{"a": 1}', {}, True),
        ("[1, 2]", {}, True),
        ('"just a string"', {}, True),
        ('  {"ü": "✓"}\n', {"require_object": True}, True),
        ("[1]", {"require_object": True}, False),
        ("{'a': 1}", {}, False),
        ('{"a": NaN}', {}, False),
        ('{"a": 1} trailing', {}, False),
        ("", {}, False),
    ],
)
def test_json_valid(output, args, passed):
    assert score("json_valid", output, **args).passed is passed


def test_json_valid_explains_a_non_object():
    assert score("json_valid", "[1]", require_object=True).reason == (
        "Valid JSON but array, not an object."
    )


# --- json_schema ---------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "emails": {"type": "array", "items": {"type": "string", "format": "email"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_schema_passes_a_valid_document():
    result = score("json_schema", '{"name": "Zoë", "age": 3, "emails": ["z@e.io"]}', schema=PERSON)
    assert result.passed is True and result.value == 1.0


@pytest.mark.parametrize(
    "output, reason",
    [
        ('{"name": "x", "age": "three"}', "$.age: 'three' is not of type 'integer'"),
        ('{"name": "x"}', "$: 'age' is a required property"),
        ('{"name": "x", "age": 1, "emails": ["ok@x.io", 5]}', "$.emails[1]: 5 is not of type"),
        ('{"name": "x", "age": 1, "emails": ["not an email"]}', "is not a 'email'"),
        ('{"name": "x", "age": 1, "nick": "y"}', "Additional properties are not allowed"),
    ],
)
def test_json_schema_fails_naming_the_path_and_the_problem(output, reason):
    result = score("json_schema", output, schema=PERSON)
    assert result.passed is False and result.value == 0.0
    assert reason in result.reason


def test_json_schema_fails_output_that_is_not_json():
    assert score("json_schema", "", schema=PERSON).reason.startswith("Not valid JSON")


def test_json_schema_never_fetches_a_remote_reference():
    result = score("json_schema", "{}", schema={"$ref": "https://example.invalid/s.json"})
    assert result.passed is False and "cannot be resolved" in result.reason


def test_json_schema_honours_the_declared_draft():
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "maximum": 5,
        "exclusiveMaximum": True,
    }
    assert score("json_schema", "5", schema=draft4).passed is False
    assert score("json_schema", "4", schema=draft4).passed is True
