"""Judge metrics: prompts from template files, and a strict parser for untrusted answers."""

import pytest

from evalhub.errors import InvalidInput
from runs.metrics import JudgeResponseError, Sample, get_metric


def judge(slug, **args):
    metric = get_metric(slug)
    return metric, metric.validate_args(args)


SAMPLE = Sample(
    output="You can get a refund within 14 days.",
    input={"question": "Can I get a refund?"},
    expected_output="Refunds within 14 days of purchase.",
    context=["Annual plans are refundable within 14 days.", "Monthly plans are not refunded."],
)


def test_answer_correctness_prompt_carries_question_reference_and_answer():
    metric, args = judge("answer_correctness")
    system, user = metric.build_messages(SAMPLE, args)
    assert (
        system["role"] == "system"
        and '"score"' in system["content"]
        and "1 to 5" in system["content"]
    )
    for text in ("Can I get a refund?", "Refunds within 14 days", "You can get a refund"):
        assert text in user["content"]


def test_faithfulness_prompt_carries_the_context():
    metric, args = judge("faithfulness")
    user = metric.build_messages(SAMPLE, args)[1]["content"]
    assert "Monthly plans are not refunded." in user


def test_policy_prompt_carries_policy_description_and_labelled_examples():
    metric, args = judge("policy_compliance", policy="Never promise refunds.")
    user = metric.build_messages(
        SAMPLE,
        args,
        ai_description="A billing assistant",
        examples=[
            {
                "content": "Sure, full refund!",
                "is_passing": False,
                "explanation": "promised a refund",
            }
        ],
    )[1]["content"]
    for text in (
        "Never promise refunds.",
        "A billing assistant",
        "[FAIL] Sure, full refund!",
        "promised a refund",
    ):
        assert text in user


def test_rubric_in_pass_fail_mode_asks_for_a_verdict():
    metric, args = judge("rubric", criteria="Polite and cites the policy", mode="pass_fail")
    system, user = metric.build_messages(SAMPLE, args)
    assert '"verdict"' in system["content"] and "Polite and cites the policy" in user["content"]


@pytest.mark.parametrize(
    "content, value, passed",
    [
        ('{"reason": "good", "score": 5}', 1.0, True),
        ('{"score": 1, "reason": "wrong"}', 0.0, False),
        ('```json\n{"reason": "ok", "score": 4}\n```', 0.75, True),
        ('Sure! Here is my evaluation: {"reason": "meh", "score": 3} Hope it helps.', 0.5, False),
        ('{"reason": "numeric string", "score": "4"}', 0.75, True),
    ],
)
def test_scores_are_found_in_junk_and_normalised(content, value, passed):
    metric, args = judge("answer_correctness")
    result = metric.parse(content, args)
    assert result.value == value and result.passed is passed


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("I can't help with that.", "refused or returned no JSON"),
        ('{"reason": "cut off", "sco', "no JSON"),
        ('{"reason": "x"}', "no 'score'"),
        ('{"score": 7, "reason": "x"}', "out of range 1..5"),
        ('{"score": 0, "reason": "x"}', "out of range"),
        ('{"score": true, "reason": "x"}', "must be a number"),
        ('{"score": "high", "reason": "x"}', "must be a number"),
        ('{"score": null, "reason": "x"}', "must be a number"),
    ],
)
def test_untrusted_answers_are_rejected_with_a_clear_reason(content, message):
    metric, args = judge("answer_correctness")
    with pytest.raises(JudgeResponseError) as err:
        metric.parse(content, args)
    assert message in str(err.value)


def test_verdicts_map_to_pass_and_fail():
    metric, args = judge("policy_compliance", policy="p")
    assert metric.parse('{"reason": "fine", "verdict": "pass"}', args).passed is True
    assert metric.parse('{"reason": "bad", "verdict": "FAIL"}', args).passed is False
    assert metric.parse('{"reason": "bad", "passed": false}', args).passed is False
    with pytest.raises(JudgeResponseError, match="must be 'pass' or 'fail'"):
        metric.parse('{"reason": "?", "verdict": "maybe"}', args)
    with pytest.raises(JudgeResponseError, match="no 'verdict'"):
        metric.parse('{"reason": "?", "score": 5}', args)


def test_a_custom_scale_and_threshold_apply():
    metric, args = judge("rubric", criteria="c", scale_max=10, threshold=0.9)
    assert metric.parse('{"reason": "r", "score": 9}', args).passed is False
    assert metric.parse('{"reason": "r", "score": 10}', args).passed is True


def test_long_reasons_are_capped():
    metric, args = judge("answer_relevance")
    result = metric.parse('{"reason": "' + "x" * 10_000 + '", "score": 5}', args)
    assert len(result.reason) == 2000


def test_judge_metrics_cannot_be_scored_without_the_engine():
    metric, args = judge("faithfulness")
    with pytest.raises(TypeError):
        metric.score(SAMPLE, args)


@pytest.mark.parametrize(
    "slug, args, field",
    [
        ("policy_compliance", {}, "policy"),
        ("rubric", {"criteria": "c", "mode": "stars"}, "mode"),
        ("answer_correctness", {"scale_max": 1}, "scale_max"),
        ("faithfulness", {"temperature": 0}, "temperature"),
    ],
)
def test_invalid_judge_arguments_are_named(slug, args, field):
    with pytest.raises(InvalidInput) as err:
        get_metric(slug).validate_args(args)
    assert err.value.field == field
