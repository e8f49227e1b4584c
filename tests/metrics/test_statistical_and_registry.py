import json

import pytest

from evalhub.errors import InvalidInput
from runs.metrics import Sample, all_metrics, get_metric


def score(slug, output, expected, **args):
    metric = get_metric(slug)
    return metric.score(Sample(output=output, expected_output=expected), metric.validate_args(args))


@pytest.mark.parametrize("slug", ["bleu", "chrf", "rouge_l", "rouge1"])
def test_overlap_metrics_rank_identical_above_related_above_unrelated(slug):
    reference = "the cat sat on the mat near the door"
    same = score(slug, reference, reference).value
    related = score(slug, "the cat was sitting on the mat", reference).value
    unrelated = score(slug, "quarterly revenue grew strongly", reference).value
    assert same == pytest.approx(1.0, abs=0.01)
    assert same > related > unrelated
    assert 0 <= unrelated < 0.2


@pytest.mark.parametrize("slug", ["bleu", "chrf", "rouge_l", "rouge1"])
def test_overlap_metrics_pass_by_threshold_and_survive_empty_output(slug):
    assert score(slug, "", "some reference", threshold=0.1).passed is False
    assert score(slug, "some reference", "some reference", threshold=0.9).passed is True
    with pytest.raises(InvalidInput):
        get_metric(slug).validate_args({"threshold": 2})


def test_rouge_stemming_is_an_argument():
    stemmed = score("rouge1", "running cats", "run cat", use_stemmer=True).value
    plain = score("rouge1", "running cats", "run cat", use_stemmer=False).value
    assert stemmed > plain


def test_metric_ids_are_stable_and_unique():
    metrics = all_metrics()
    assert [m.id for m in metrics] == sorted({m.id for m in metrics})
    assert get_metric(1).slug == "json_equal" and get_metric("2").slug == "exact_match"
    assert {m.slug for m in metrics} >= {
        "json_equal",
        "exact_match",
        "contains",
        "not_contains",
        "regex_match",
        "starts_with",
        "one_of",
        "json_valid",
        "json_schema",
        "numeric_close",
        "levenshtein",
        "fuzzy_ratio",
        "length_between",
        "bleu",
        "chrf",
        "rouge_l",
        "rouge1",
        "answer_correctness",
        "faithfulness",
        "answer_relevance",
        "policy_compliance",
        "rubric",
    }


def test_every_catalogue_entry_is_json_and_described():
    for metric in all_metrics():
        entry = metric.as_catalogue_entry()
        json.dumps(entry)
        assert entry["description"], metric.slug
        assert entry["kind"] in {"deterministic", "statistical", "embedding", "judge"}


def test_an_unknown_metric_is_named():
    with pytest.raises(InvalidInput) as err:
        get_metric("bleurt")
    assert err.value.code == "unknown_metric" and "bleurt" in err.value.message
