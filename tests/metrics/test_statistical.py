"""BLEU, chrF, ROUGE-L and ROUGE-1: 0–1 overlap scores against the expected output."""

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from runs.metrics import Sample, get_metric

OVERLAP = ["bleu", "chrf", "rouge_l", "rouge1"]
REFERENCE = "the cat sat on the mat near the door"


def score(slug, output, expected, **args):
    metric = get_metric(slug)
    return metric.score(Sample(output=output, expected_output=expected), metric.validate_args(args))


@pytest.mark.parametrize("slug", OVERLAP)
def test_overlap_metrics_rank_identical_above_related_above_unrelated(slug):
    same = score(slug, REFERENCE, REFERENCE).value
    related = score(slug, "the cat was sitting on the mat", REFERENCE).value
    unrelated = score(slug, "quarterly revenue grew strongly", REFERENCE).value
    assert same == 1.0
    assert same > related > unrelated
    assert 0 <= unrelated < 0.2


@pytest.mark.parametrize("slug", OVERLAP)
def test_overlap_metrics_pass_when_the_score_reaches_the_threshold(slug):
    result = score(slug, REFERENCE, REFERENCE, threshold=1.0)
    assert result.passed is True and "≥ 1" in result.reason
    result = score(slug, "quarterly revenue grew strongly", REFERENCE, threshold=0.5)
    assert result.passed is False and "< 0.5" in result.reason


@pytest.mark.parametrize("slug", OVERLAP)
def test_overlap_metrics_score_an_empty_output_zero(slug):
    result = score(slug, "", REFERENCE, threshold=0.1)
    assert result.value == 0.0 and result.passed is False


@pytest.mark.parametrize("slug", OVERLAP)
def test_overlap_metrics_fail_without_an_expected_output(slug):
    metric = get_metric(slug)
    result = metric.score(Sample(output=REFERENCE), metric.validate_args({}))
    assert result.passed is False and "no expected output" in result.reason


@pytest.mark.parametrize("slug", OVERLAP)
@pytest.mark.parametrize(
    "text", ["Привет, как дела сегодня?", "我喜欢在公园里散步", "Grüße aus Köln"]
)
def test_overlap_metrics_score_identical_text_in_any_script_as_one(slug, text):
    assert score(slug, text, text).value == pytest.approx(1.0)


@pytest.mark.parametrize("slug", ["rouge_l", "rouge1"])
def test_rouge_credits_partial_overlap_in_non_latin_scripts(slug):
    value = score(slug, "Привет мир", "Привет всем").value
    assert value == pytest.approx(0.5)


def test_bleu_is_sacrebleus_sentence_bleu_scaled_to_one():
    output = "the cat was sitting on the mat"
    expected = sacrebleu.sentence_bleu(output, [REFERENCE]).score / 100
    assert score("bleu", output, REFERENCE).value == pytest.approx(expected)


def test_chrf_is_sacrebleus_sentence_chrf_scaled_to_one():
    output = "the cat was sitting on the mat"
    expected = sacrebleu.sentence_chrf(output, [REFERENCE]).score / 100
    assert score("chrf", output, REFERENCE).value == pytest.approx(expected)


@pytest.mark.parametrize("use_stemmer", [True, False])
@pytest.mark.parametrize("slug, kind", [("rouge_l", "rougeL"), ("rouge1", "rouge1")])
def test_rouge_on_english_equals_the_rouge_score_package(slug, kind, use_stemmer):
    output = "The cats were running quickly over the mats, didn't they?"
    reference = "A cat runs quickly over a mat."
    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=use_stemmer)
    expected = scorer.score(reference, output)[kind].fmeasure
    assert score(slug, output, reference, use_stemmer=use_stemmer).value == pytest.approx(expected)


def test_rouge_stemming_is_an_argument():
    stemmed = score("rouge1", "running cats", "run cat", use_stemmer=True).value
    plain = score("rouge1", "running cats", "run cat", use_stemmer=False).value
    assert stemmed == 1.0 and plain == 0.0


def test_rouge_l_rewards_word_order_and_rouge_1_does_not():
    shuffled = "door the near mat the on sat cat the"
    assert score("rouge1", shuffled, REFERENCE).value == 1.0
    assert score("rouge_l", shuffled, REFERENCE).value < 0.5


@pytest.mark.parametrize("slug", OVERLAP)
def test_overlap_scores_stay_within_zero_and_one(slug):
    for output in (REFERENCE, REFERENCE * 3, "the the the the", "!!!"):
        assert 0.0 <= score(slug, output, REFERENCE).value <= 1.0
