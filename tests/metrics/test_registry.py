"""The registry: stable ids (seed 004 addresses metrics by id), JSON-able catalogue entries."""

import json

import pytest

from evalhub.errors import InvalidInput
from runs.metrics import REGISTRY, JudgeMetric, all_metrics, get_metric

# Ids are public: seed 004 clients send "1" for json_equal. Never renumber, never reuse.
CATALOGUE = {
    1: "json_equal",
    2: "exact_match",
    3: "contains",
    4: "not_contains",
    5: "regex_match",
    6: "starts_with",
    7: "one_of",
    8: "json_valid",
    9: "json_schema",
    10: "numeric_close",
    11: "levenshtein",
    12: "fuzzy_ratio",
    13: "length_between",
    14: "bleu",
    15: "chrf",
    16: "rouge_l",
    17: "rouge1",
    18: "answer_correctness",
    19: "faithfulness",
    20: "answer_relevance",
    21: "policy_compliance",
    22: "rubric",
}


def test_metric_ids_are_the_published_ones():
    assert {m.id: m.slug for m in all_metrics()} == CATALOGUE


def test_seed_004s_example_ids_are_json_equal_and_exact_match():
    assert get_metric(1).slug == "json_equal"
    assert get_metric("2").slug == "exact_match"


def test_all_metrics_is_sorted_by_id_and_ids_and_slugs_are_unique():
    metrics = all_metrics()
    ids = [m.id for m in metrics]
    assert ids == sorted(set(ids))
    assert len({m.slug for m in metrics}) == len(metrics) == len(REGISTRY)


def test_a_metric_is_found_by_slug_integer_id_or_id_string():
    assert get_metric("exact_match") is get_metric(2) is get_metric("2") is get_metric(" 2 ")


@pytest.mark.parametrize("key", ["bleurt", "99", 99, 0, "", True, None, 1.0, "1.0", "١"])
def test_an_unknown_metric_is_refused_naming_it(key):
    with pytest.raises(InvalidInput) as err:
        get_metric(key)
    assert err.value.code == "unknown_metric"
    assert err.value.status == 404
    assert repr(key) in err.value.message


@pytest.mark.parametrize("metric", all_metrics(), ids=lambda m: m.slug)
def test_every_catalogue_entry_is_json_and_described(metric):
    entry = json.loads(json.dumps(metric.as_catalogue_entry()))
    assert set(entry) == {
        "id",
        "slug",
        "name",
        "kind",
        "description",
        "higher_is_better",
        "value_range",
        "requires",
        "args",
    }
    assert entry["description"] and "  " not in entry["description"]
    assert entry["kind"] in {"deterministic", "statistical", "embedding", "judge"}
    assert entry["value_range"] == [0.0, 1.0]
    assert set(entry["requires"]) <= {"expected_output", "context"}
    assert entry["args"] == metric.arg_schema()


@pytest.mark.parametrize("metric", all_metrics(), ids=lambda m: m.slug)
def test_every_arg_schema_is_json_and_complete(metric):
    for schema in json.loads(json.dumps(metric.arg_schema())):
        assert {"name", "type", "required", "choices", "minimum", "maximum", "help"} <= set(schema)
        assert schema["type"] in {"string", "integer", "number", "boolean", "string_list", "object"}


def test_judge_metrics_are_exactly_the_judge_kind():
    judges = {m.slug for m in all_metrics() if isinstance(m, JudgeMetric)}
    assert judges == {m.slug for m in all_metrics() if m.kind == "judge"}
    assert judges == {
        "answer_correctness",
        "faithfulness",
        "answer_relevance",
        "policy_compliance",
        "rubric",
    }


def test_metrics_that_compare_with_the_expected_output_require_it():
    requires_expected = {m.slug for m in all_metrics() if "expected_output" in m.requires}
    assert requires_expected == {
        "json_equal",
        "exact_match",
        "numeric_close",
        "levenshtein",
        "fuzzy_ratio",
        "bleu",
        "chrf",
        "rouge_l",
        "rouge1",
        "answer_correctness",
    }
    assert get_metric("faithfulness").requires == ("context",)
