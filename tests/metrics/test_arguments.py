"""Argument validation, the same for every metric: seed 004's rules (unknown args, wrong
types and missing required args are refused) with messages that name the argument."""

import math

import pytest

from evalhub.errors import InvalidInput
from runs.metrics import NO_DEFAULT, Arg, Metric, all_metrics, get_metric

ALL_SLUGS = [m.slug for m in all_metrics()]

# A valid value for each required argument, so each metric can be validated at all.
REQUIRED = {
    "contains": {"substrings": ["a"]},
    "not_contains": {"substrings": ["a"]},
    "regex_match": {"pattern": "a"},
    "one_of": {"choices": ["a"]},
    "json_schema": {"schema": {"type": "object"}},
    "policy_compliance": {"policy": "Be kind."},
    "rubric": {"criteria": "Polite."},
}

# One value of the wrong type for each argument type, and what the message calls it.
WRONG_TYPE = {
    "boolean": ("yes", "string"),
    "integer": (2.5, "number"),
    "number": ("0.5", "string"),
    "string": (5, "integer"),
    "string_list": ("one string", "string"),
    "object": (["not", "an", "object"], "array"),
}


def refused(slug, args) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        get_metric(slug).validate_args(args)
    return err.value


def every_arg(predicate=lambda arg: True):
    return [
        pytest.param(metric.slug, arg, id=f"{metric.slug}.{arg.name}")
        for metric in all_metrics()
        for arg in metric.args
        if predicate(arg)
    ]


# --- defaults ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_every_metric_fills_in_its_defaults(slug):
    metric = get_metric(slug)
    args = metric.validate_args(REQUIRED.get(slug, {}))
    assert set(args) == {a.name for a in metric.args}
    for arg in metric.args:
        if arg.name not in REQUIRED.get(slug, {}):
            assert args[arg.name] == arg.default


def test_no_args_and_none_both_mean_all_defaults():
    metric = get_metric("json_equal")
    expected = {"ignore_extra_keys": False, "ignore_order": False}
    assert metric.validate_args(None) == expected
    assert metric.validate_args({}) == expected


def test_validated_args_are_a_new_dict_and_the_callers_is_untouched():
    given = {"ignore_order": True}
    args = get_metric("json_equal").validate_args(given)
    assert given == {"ignore_order": True}
    assert args == {"ignore_extra_keys": False, "ignore_order": True}


def test_args_that_are_not_an_object_are_refused():
    err = refused("json_equal", ["ignore_order"])
    assert err.code == "invalid_argument_type" and err.field == "args"
    assert "must be an object, got array" in err.message


# --- unknown and missing -------------------------------------------------------------


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_every_metric_refuses_an_unknown_argument_and_lists_the_known_ones(slug):
    err = refused(slug, {**REQUIRED.get(slug, {}), "no_such_arg": 1})
    assert err.code == "unknown_argument" and err.field == "no_such_arg"
    assert f"Unknown argument 'no_such_arg' for metric {slug}" in err.message
    for arg in get_metric(slug).args:
        assert arg.name in err.message


def test_the_unknown_argument_message_reads_as_the_seed_example():
    err = refused("json_equal", {"ignore_ordr": True})
    assert err.message == (
        "Unknown argument 'ignore_ordr' for metric json_equal "
        "(known: ignore_extra_keys, ignore_order)."
    )


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.required and not a.has_default))
def test_every_required_argument_is_refused_when_missing(slug, arg):
    args = {k: v for k, v in REQUIRED[slug].items() if k != arg.name}
    err = refused(slug, args)
    assert err.code == "missing_argument" and err.field == arg.name
    assert f"'{arg.name}'" in err.message and slug in err.message


# --- types ---------------------------------------------------------------------------


@pytest.mark.parametrize("slug, arg", every_arg())
def test_every_argument_refuses_a_value_of_the_wrong_type(slug, arg):
    value, got = WRONG_TYPE[arg.type]
    err = refused(slug, {**REQUIRED.get(slug, {}), arg.name: value})
    assert err.code == "invalid_argument_type" and err.field == arg.name
    assert err.message.startswith(f"Argument '{arg.name}' of metric {slug} must be ")
    assert err.message.endswith(f"got {got}.")


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.type in ("integer", "number")))
def test_no_numeric_argument_takes_a_boolean(slug, arg):
    err = refused(slug, {**REQUIRED.get(slug, {}), arg.name: True})
    assert err.code == "invalid_argument_type" and "got boolean" in err.message


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.type == "boolean"))
def test_boolean_arguments_take_only_true_or_false(slug, arg):
    for value in (1, 0, "true", None):
        assert refused(slug, {**REQUIRED.get(slug, {}), arg.name: value}).field == arg.name


def test_an_integer_argument_refuses_a_float_even_a_whole_one():
    for value in (3.0, 2.5):
        err = refused("length_between", {"min_length": value})
        assert err.code == "invalid_argument_type"
        assert err.message == (
            "Argument 'min_length' of metric length_between must be an integer, got number."
        )
    assert get_metric("length_between").validate_args({"min_length": 3})["min_length"] == 3


def test_a_number_argument_takes_integers_and_floats():
    metric = get_metric("levenshtein")
    assert metric.validate_args({"threshold": 1})["threshold"] == 1
    assert metric.validate_args({"threshold": 0.25})["threshold"] == 0.25


def test_the_wrong_type_message_reads_as_the_seed_example():
    err = refused("levenshtein", {"threshold": "high"})
    assert err.message == "Argument 'threshold' of metric levenshtein must be a number, got string."


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_number_argument_refuses_nan_and_infinity(value):
    err = refused("numeric_close", {"abs_tol": value})
    assert err.code == "invalid_argument_value" and err.field == "abs_tol"
    assert "finite" in err.message


def test_a_string_list_refuses_a_single_string_and_non_string_items():
    assert refused("contains", {"substrings": "refund"}).code == "invalid_argument_type"
    err = refused("one_of", {"choices": ["yes", 1]})
    assert err.code == "invalid_argument_type" and err.field == "choices"


def test_null_is_accepted_only_where_the_default_is_null():
    assert get_metric("length_between").validate_args({"max_length": None})["max_length"] is None
    assert get_metric("starts_with").validate_args({"prefix": None})["prefix"] is None
    err = refused("exact_match", {"case_sensitive": None})
    assert err.code == "invalid_argument_type" and "got null" in err.message


# --- values --------------------------------------------------------------------------


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.choices is not None))
def test_every_choice_argument_refuses_a_value_outside_its_choices(slug, arg):
    err = refused(slug, {**REQUIRED.get(slug, {}), arg.name: "surely-not-a-choice"})
    assert err.code == "invalid_argument_value" and err.field == arg.name
    for choice in arg.choices:
        assert str(choice) in err.message


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.minimum is not None))
def test_every_bounded_argument_refuses_a_value_below_its_minimum(slug, arg):
    err = refused(slug, {**REQUIRED.get(slug, {}), arg.name: int(arg.minimum) - 1})
    assert err.code == "invalid_argument_value" and err.field == arg.name
    assert "at least" in err.message


@pytest.mark.parametrize("slug, arg", every_arg(lambda a: a.maximum is not None))
def test_every_bounded_argument_refuses_a_value_above_its_maximum(slug, arg):
    err = refused(slug, {**REQUIRED.get(slug, {}), arg.name: int(arg.maximum) + 1})
    assert err.code == "invalid_argument_value" and err.field == arg.name
    assert "at most" in err.message


@pytest.mark.parametrize(
    "slug, args, field, words",
    [
        ("contains", {"substrings": []}, "substrings", "at least one"),
        ("not_contains", {"substrings": ["ok", ""]}, "substrings", "empty"),
        ("one_of", {"choices": []}, "choices", "at least one"),
        ("regex_match", {"pattern": "(unclosed"}, "pattern", "not a valid RE2 expression"),
        ("regex_match", {"pattern": r"(a)\1"}, "pattern", "not a valid RE2 expression"),
        ("regex_match", {"pattern": "(?<=a)b"}, "pattern", "not a valid RE2 expression"),
        ("json_schema", {"schema": {"type": "banana"}}, "schema", "not a valid JSON Schema"),
        ("json_schema", {"schema": {"minLength": -1}}, "schema", "not a valid JSON Schema"),
        ("starts_with", {"prefix": ""}, "prefix", "must not be empty"),
        ("length_between", {"min_length": 5, "max_length": 2}, "max_length", "min_length"),
        ("policy_compliance", {"policy": "   "}, "policy", "must not be empty"),
        ("rubric", {"criteria": ""}, "criteria", "must not be empty"),
    ],
)
def test_values_of_the_right_type_that_cannot_work_are_refused(slug, args, field, words):
    err = refused(slug, args)
    assert err.code == "invalid_argument_value" and err.field == field
    assert words in err.message and f"'{field}'" in err.message


def test_a_regex_error_message_is_text_not_bytes():
    err = refused("regex_match", {"pattern": "(unclosed"})
    assert "b'" not in err.message and "missing )" in err.message


# --- the Arg schema ------------------------------------------------------------------


def test_an_arg_schema_has_every_key_and_a_default_only_when_there_is_one():
    with_default = Arg("threshold", "number", default=0.5, minimum=0, maximum=1, help="h")
    assert with_default.as_schema() == {
        "name": "threshold",
        "type": "number",
        "default": 0.5,
        "required": False,
        "choices": None,
        "minimum": 0,
        "maximum": 1,
        "help": "h",
    }
    required = Arg("mode", "string", required=True, choices=("a", "b")).as_schema()
    assert "default" not in required
    assert required["required"] is True and required["choices"] == ["a", "b"]


def test_an_arg_with_a_default_is_never_reported_as_required():
    assert Arg("x", "boolean", default=False, required=True).as_schema()["required"] is False
    assert Arg("x", "boolean").default is NO_DEFAULT


def test_an_unknown_arg_type_is_a_programming_error():
    with pytest.raises(ValueError):
        Arg("x", "float")


def test_a_subclass_without_score_says_so():
    with pytest.raises(NotImplementedError):
        Metric().score(None, {})
