"""LLM-as-judge metrics: build the judge's messages, and parse its untrusted answer.

The engine sends the messages to the run's judge model and hands the reply to
``parse``. A judge's answer is never trusted: junk around the JSON is
tolerated, but a missing or out-of-range score, a wrong type, an unknown
verdict or a refusal is a :class:`JudgeResponseError` with a clear reason,
which the engine records as an item error (never retried endlessly).
Prompts are template files under ``runs/prompts/judge/``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from string import Template

from runs.metrics.base import Arg, Metric, MetricResult, Sample, register

PROMPTS = Path(__file__).resolve().parent.parent / "prompts" / "judge"
MAX_REASON = 2000
MAX_SCAN = 50_000

SCORE_FORMAT = '{"reason": "<why>", "score": <integer from 1 to $scale_max>}'
VERDICT_FORMAT = '{"reason": "<why>", "verdict": "pass" or "fail"}'


class JudgeResponseError(Exception):
    """The judge's answer cannot be used; the message says exactly why."""


@lru_cache(maxsize=16)
def template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.txt").read_text(encoding="utf-8"))


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            return only
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(f"[{i + 1}] {v}" for i, v in enumerate(value))
    return json.dumps(value, ensure_ascii=False, indent=1)


def _examples_block(examples) -> str:
    if not examples:
        return ""
    lines = ["", "LABELLED EXAMPLES (how responses like these were judged):"]
    for example in examples[:20]:
        if not isinstance(example, dict):
            continue
        passed = example.get("is_passing", example.get("passed", example.get("is_passed")))
        label = "PASS" if passed is True else "FAIL" if passed is False else "UNLABELLED"
        content = as_text(example.get("content") or example.get("response") or "")[:1000]
        lines.append(f"- [{label}] {content}")
        if example.get("explanation"):
            lines.append(f"  because: {as_text(example['explanation'])[:500]}")
    return "\n".join(lines) + "\n"


def first_json_object(content: str) -> dict | None:
    """The first ``{...}`` in ``content`` that parses as a JSON object, or None."""
    decoder = json.JSONDecoder()
    text = content[:MAX_SCAN]
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _reason(data: dict) -> str:
    reason = data.get("reason", data.get("explanation", ""))
    if not isinstance(reason, str):
        reason = json.dumps(reason, ensure_ascii=False)
    return reason.strip()[:MAX_REASON]


class JudgeMetric(Metric):
    kind = "judge"
    template_name = ""
    mode = "score"  # or "verdict"
    args = (
        Arg(
            "scale_max",
            "integer",
            default=5,
            minimum=2,
            maximum=100,
            help="Top of the judge's 1–N scale.",
        ),
        Arg(
            "threshold",
            "number",
            default=0.7,
            minimum=0,
            maximum=1,
            help="Pass when the normalised score reaches it.",
        ),
    )

    def score(self, sample, args):
        raise TypeError(
            f"{self.slug} is a judge metric: the engine scores it through build_messages and parse"
        )

    def _mode(self, args) -> str:
        return self.mode

    def fields(self, sample: Sample, args: dict) -> dict:
        return {
            "question": as_text(sample.input),
            "answer": sample.output or "",
            "expected": sample.expected_output or "",
            "context": as_text(sample.context),
            "scale_max": args.get("scale_max", 5),
        }

    def build_messages(
        self, sample: Sample, args: dict, *, ai_description=None, examples=None
    ) -> list[dict]:
        mode = self._mode(args)
        output_format = Template(SCORE_FORMAT if mode == "score" else VERDICT_FORMAT).substitute(
            scale_max=args.get("scale_max", 5)
        )
        values = self.fields(sample, args)
        values["ai_description"] = (
            f"\nABOUT THE AI BEING EVALUATED:\n{ai_description}\n" if ai_description else ""
        )
        values["examples"] = _examples_block(examples)
        user = template(self.template_name).safe_substitute(values)
        system = template("system").substitute(output_format=output_format)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def parse(self, content: str, args: dict) -> MetricResult:
        if content is None or not content.strip():
            raise JudgeResponseError("judge returned an empty answer")
        data = first_json_object(content)
        if data is None:
            raise JudgeResponseError(f"judge refused or returned no JSON: {content.strip()[:200]}")
        reason = _reason(data)
        if self._mode(args) == "verdict":
            return self._parse_verdict(data, reason)
        return self._parse_score(data, reason, args)

    def _parse_score(self, data, reason, args) -> MetricResult:
        if "score" not in data:
            raise JudgeResponseError(f"judge answer has no 'score': {json.dumps(data)[:200]}")
        raw = data["score"]
        if isinstance(raw, bool):
            raise JudgeResponseError(f"score must be a number, got {json.dumps(raw)}")
        if isinstance(raw, str):
            try:
                raw = float(raw.strip())
            except ValueError:
                raise JudgeResponseError(f"score must be a number, got {raw[:40]!r}") from None
        if not isinstance(raw, int | float) or raw != raw:
            raise JudgeResponseError(f"score must be a number, got {json.dumps(raw)[:40]}")
        top = args.get("scale_max", 5)
        if not 1 <= raw <= top:
            raise JudgeResponseError(f"score {raw:g} out of range 1..{top}")
        value = (raw - 1) / (top - 1)
        passed = value >= args.get("threshold", 0.7)
        return MetricResult(value, passed, reason or f"score {raw:g}/{top}")

    def _parse_verdict(self, data, reason) -> MetricResult:
        verdict = data.get("verdict", data.get("passed"))
        if isinstance(verdict, bool):
            passed = verdict
        elif isinstance(verdict, str) and verdict.strip().lower() in {
            "pass",
            "passed",
            "fail",
            "failed",
        }:
            passed = verdict.strip().lower().startswith("pass")
        elif verdict is None:
            raise JudgeResponseError(f"judge answer has no 'verdict': {json.dumps(data)[:200]}")
        else:
            raise JudgeResponseError(
                f"verdict must be 'pass' or 'fail', got {json.dumps(verdict)[:40]}"
            )
        return MetricResult(
            1.0 if passed else 0.0, passed, reason or ("pass" if passed else "fail")
        )


@register
class AnswerCorrectness(JudgeMetric):
    """An LLM judge grades the answer's correctness against the expected answer (1–N, normalised 0–1)."""

    id, slug, name = 18, "answer_correctness", "Answer correctness (judge)"
    template_name = "answer_correctness"
    requires = ("expected_output",)


@register
class Faithfulness(JudgeMetric):
    """An LLM judge checks that every claim in the answer is supported by the record's context."""

    id, slug, name = 19, "faithfulness", "Faithfulness (judge)"
    template_name = "faithfulness"
    requires = ("context",)


@register
class AnswerRelevance(JudgeMetric):
    """An LLM judge grades how directly and fully the answer addresses the question."""

    id, slug, name = 20, "answer_relevance", "Answer relevance (judge)"
    template_name = "answer_relevance"


@register
class PolicyCompliance(JudgeMetric):
    """An LLM judge decides pass/fail: does the response comply with the given safety or
    content policy? Uses the AI description and labelled examples when given."""

    id, slug, name = 21, "policy_compliance", "Policy compliance (judge)"
    template_name = "policy_compliance"
    mode = "verdict"
    args = (Arg("policy", "string", required=True, help="The policy the response must follow."),)

    def fields(self, sample, args):
        return {**super().fields(sample, args), "policy": args["policy"]}


@register
class Rubric(JudgeMetric):
    """G-Eval-style rubric: an LLM judge reasons step by step through custom criteria and gives
    a 1–N score or a pass/fail verdict."""

    id, slug, name = 22, "rubric", "Custom rubric (judge)"
    template_name = "rubric"
    args = (
        Arg("criteria", "string", required=True, help="What a good answer does, in plain words."),
        Arg("mode", "string", default="score", choices=("score", "pass_fail")),
        *JudgeMetric.args,
    )

    def _mode(self, args):
        return "verdict" if args.get("mode") == "pass_fail" else "score"

    def fields(self, sample, args):
        decision = (
            'Give the verdict "pass" if the answer meets the criteria, "fail" otherwise.'
            if args.get("mode") == "pass_fail"
            else f"Score from 1 (fails the criteria) to {args.get('scale_max', 5)} (fully meets them)."
        )
        return {**super().fields(sample, args), "criteria": args["criteria"], "decision": decision}
