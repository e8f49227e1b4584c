"""Deterministic metrics: typical, edge and invalid-argument cases."""

import pytest

from evalhub.errors import InvalidInput
from runs.metrics import Sample, get_metric


def score(slug, output, expected=None, **args):
    metric = get_metric(slug)
    return metric.score(Sample(output=output, expected_output=expected), metric.validate_args(args))


def refused(slug, **args) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        get_metric(slug).validate_args(args)
    return err.value


# --- json_equal: seed 004's arguments, all four combinations --------------------------

EXPECTED = '{"id": 1, "tags": ["a", "b"], "user": {"name": "x"}}'
SAME = '{"user": {"name": "x"}, "tags": ["a", "b"], "id": 1.0}'
EXTRA = '{"id": 1, "tags": ["a", "b"], "user": {"name": "x", "age": 3}}'
REORDERED = '{"id": 1, "tags": ["b", "a"], "user": {"name": "x"}}'
BOTH = '{"id": 1, "tags": ["b", "a"], "user": {"name": "x", "age": 3}, "more": true}'


@pytest.mark.parametrize(
    "output, extra, order, passed",
    [
        (SAME, False, False, True),
        (EXTRA, False, False, False),
        (REORDERED, False, False, False),
        (EXTRA, True, False, True),
        (REORDERED, True, False, False),
        (REORDERED, False, True, True),
        (EXTRA, False, True, False),
        (BOTH, True, True, True),
        (BOTH, True, False, False),
        (BOTH, False, True, False),
    ],
)
def test_json_equal_under_each_combination_of_ignore_flags(output, extra, order, passed):
    result = score("json_equal", output, EXPECTED, ignore_extra_keys=extra, ignore_order=order)
    assert result.passed is passed
    assert result.value == (1.0 if passed else 0.0)


def test_json_equal_says_where_the_json_differs():
    result = score("json_equal", '{"id": 2}', '{"id": 1}')
    assert "$.id" in result.reason


def test_json_equal_fails_invalid_output_with_a_reason():
    result = score("json_equal", "not json", "{}")
    assert result.passed is False and "not valid JSON" in result.reason


def test_json_equal_ignore_order_respects_duplicates():
    assert score("json_equal", "[1, 1, 2]", "[1, 2, 2]", ignore_order=True).passed is False
    assert score("json_equal", "[2, 1, 1]", "[1, 1, 2]", ignore_order=True).passed is True


def test_json_equal_does_not_confuse_true_with_one():
    assert score("json_equal", "[true]", "[1]").passed is False


# --- exact_match and the text family ------------------------------------------------


def test_exact_match_normalises_as_asked():
    assert score("exact_match", "  Paris ", "Paris").passed is True
    assert score("exact_match", "paris", "Paris").passed is False
    assert score("exact_match", "paris", "Paris", case_sensitive=False).passed is True
    assert score("exact_match", "Paris!", "Paris", ignore_punctuation=True).passed is True
    assert score("exact_match", "a  b", "a b", strip_whitespace=False).passed is False


def test_exact_match_handles_unicode_and_empty_answers():
    assert score("exact_match", "café", "cafe\u0301").passed is True  # NFC
    assert score("exact_match", "", "x").passed is False
    assert score("exact_match", "", None).passed is True


def test_contains_all_and_any():
    assert score("contains", "refund in 14 days", substrings=["refund", "14"]).passed is True
    result = score("contains", "refund soon", substrings=["refund", "14"])
    assert result.passed is False and result.value == 0.5 and "'14'" in result.reason
    assert score("contains", "refund soon", substrings=["refund", "14"], mode="any").passed is True
    assert score("contains", "REFUND", substrings=["refund"], case_sensitive=False).passed is True


def test_not_contains():
    assert score("not_contains", "all good", substrings=["error", "sorry"]).passed is True
    assert score("not_contains", "sorry, error", substrings=["error", "sorry"]).passed is False
    assert score("not_contains", "sorry", substrings=["error", "sorry"], mode="any").passed is True


def test_regex_match_searches_or_matches_fully():
    assert score("regex_match", "Order #1234 shipped", pattern=r"#\d{4}").passed is True
    assert (
        score("regex_match", "Order #1234 shipped", pattern=r"#\d{4}", full_match=True).passed
        is False
    )
    assert score("regex_match", "ABC", pattern="abc", case_sensitive=False).passed is True


def test_a_catastrophic_pattern_cannot_wedge_the_worker():
    # With Python's backtracking `re` this search never ends; RE2 answers at once.
    assert score("regex_match", "a" * 50_000 + "!", pattern="(a+)+$").passed is False


def test_starts_with_uses_the_prefix_or_the_expected_output():
    assert score("starts_with", "Yes, you can.", prefix="Yes").passed is True
    assert score("starts_with", "No.", "Yes").passed is False
    assert score("starts_with", "yes!", prefix="YES", case_sensitive=False).passed is True


def test_one_of_accepts_only_allowed_labels():
    assert score("one_of", " Positive ", choices=["positive", "negative"]).passed is True
    assert score("one_of", "neutral", choices=["positive", "negative"]).passed is False


def test_json_valid():
    assert score("json_valid", '{"a": 1}').passed is True
    assert score("json_valid", "[1]", require_object=True).passed is False
    assert score("json_valid", '{"a": NaN}').passed is False
    assert score("json_valid", "").passed is False


def test_json_schema_names_the_failing_path():
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    assert score("json_schema", '{"age": 3}', schema=schema).passed is True
    result = score("json_schema", '{"age": "three"}', schema=schema)
    assert result.passed is False and "$.age" in result.reason


def test_numeric_close_within_tolerance():
    assert score("numeric_close", "The total is 1,000.5 USD", "1000.5").passed is True
    assert score("numeric_close", "about 99", "100", abs_tol=1).passed is True
    assert score("numeric_close", "about 98", "100", rel_tol=0.01).passed is False
    assert score("numeric_close", "no idea", "100").reason == "Output has no number."


def test_levenshtein_and_fuzzy_ratio():
    close = score("levenshtein", "kitten", "sitting", threshold=0.5)
    assert close.passed is True and 0.5 < close.value < 0.6
    assert score("levenshtein", "kitten", "sitting").passed is False
    assert (
        score("fuzzy_ratio", "new york city", "city new york", method="token_sort_ratio").value
        == 1.0
    )
    assert score("fuzzy_ratio", "new york city", "city new york").value < 1.0


def test_length_between_in_chars_and_words():
    assert (
        score("length_between", "one two three", min_length=2, max_length=3, unit="words").passed
        is True
    )
    assert score("length_between", "x" * 11, max_length=10).passed is False
    assert score("length_between", "").passed is True


# --- invalid arguments: each names the argument and the problem -----------------------


@pytest.mark.parametrize(
    "slug, args, field, code",
    [
        ("json_equal", {"ignore_ordr": True}, "ignore_ordr", "unknown_argument"),
        ("json_equal", {"ignore_order": "yes"}, "ignore_order", "invalid_argument_type"),
        ("exact_match", {"case_sensitive": 1}, "case_sensitive", "invalid_argument_type"),
        ("contains", {}, "substrings", "missing_argument"),
        ("contains", {"substrings": "refund"}, "substrings", "invalid_argument_type"),
        ("contains", {"substrings": []}, "substrings", "invalid_argument_value"),
        ("contains", {"substrings": ["a"], "mode": "some"}, "mode", "invalid_argument_value"),
        ("regex_match", {"pattern": "(unclosed"}, "pattern", "invalid_argument_value"),
        ("regex_match", {}, "pattern", "missing_argument"),
        ("one_of", {"choices": [1, 2]}, "choices", "invalid_argument_type"),
        ("json_schema", {"schema": {"type": "banana"}}, "schema", "invalid_argument_value"),
        ("json_schema", {"schema": "object"}, "schema", "invalid_argument_type"),
        ("numeric_close", {"abs_tol": -1}, "abs_tol", "invalid_argument_value"),
        ("numeric_close", {"abs_tol": float("nan")}, "abs_tol", "invalid_argument_value"),
        ("levenshtein", {"threshold": 1.5}, "threshold", "invalid_argument_value"),
        ("levenshtein", {"threshold": True}, "threshold", "invalid_argument_type"),
        ("fuzzy_ratio", {"method": "soundex"}, "method", "invalid_argument_value"),
        ("length_between", {"min_length": 2.5}, "min_length", "invalid_argument_type"),
        (
            "length_between",
            {"min_length": 5, "max_length": 2},
            "max_length",
            "invalid_argument_value",
        ),
        ("json_valid", {"strict": True}, "strict", "unknown_argument"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_argument(slug, args, field, code):
    err = refused(slug, **args)
    assert err.field == field
    assert err.code == code
    assert field in err.message


def test_defaults_fill_in_missing_optional_arguments():
    assert get_metric("json_equal").validate_args(None) == {
        "ignore_extra_keys": False,
        "ignore_order": False,
    }
