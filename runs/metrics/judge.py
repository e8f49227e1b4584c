"""LLM-as-judge metrics: build the judge's messages, and parse its untrusted answer.

The engine sends the messages to the run's judge model and hands the reply to
``parse``; there is no network code here. A judge's answer is never trusted:
junk around the JSON (markdown fences, prose) is tolerated, but a missing or
out-of-range score, a wrong type, an unknown verdict or a refusal is a
:class:`JudgeResponseError` whose message says exactly what was wrong, and the
engine records it as the item's error.

The prompts are text files under ``runs/prompts/judge/`` so they can be read
and reviewed as prose. Material under evaluation is wrapped in tags and the
system prompt tells the judge that tagged text is data, which blunts answers
that try to talk the judge into a score.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from string import Template

from runs.metrics.base import Arg, Metric, MetricResult, Sample, register

PROMPTS = Path(__file__).resolve().parent.parent / "prompts" / "judge"
MAX_REASON = 2000
# A judge answer is a short JSON object; scanning further only costs time.
MAX_SCAN = 50_000
# Each "{" that fails to parse costs a scan to where it fails; bound the attempts.
MAX_ATTEMPTS = 200
MAX_EXAMPLES = 20

_TAGS = (
    "question",
    "reference",
    "answer",
    "context",
    "policy",
    "prompt",
    "response",
    "criteria",
    "ai_description",
    "examples",
    "example",
    "explanation",
)
# A closing tag inside the material would end its block early and let the rest
# pose as instructions; a zero-width break keeps it readable but inert.
_CLOSING_TAG = re.compile(r"</(" + "|".join(_TAGS) + r")\s*>", re.IGNORECASE)


class JudgeResponseError(Exception):
    """The judge's answer cannot be used; the message says exactly why."""


@lru_cache(maxsize=32)
def template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.txt").read_text(encoding="utf-8"))


def as_text(value) -> str:
    """Record material as prompt text: strings as they are, a list of passages numbered,
    a one-field object as its value, anything else as indented JSON."""
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


def material(value, *, empty: str = "(none given)") -> str:
    text = as_text(value).strip()
    if not text:
        return empty
    return _CLOSING_TAG.sub(lambda m: "<\u200b/" + m.group(0)[2:], text)


def example_label(example: dict) -> str | None:
    """ "pass", "fail" or None for a labelled example. Accepts the shapes clients send:
    ``is_passing`` / ``passed`` / ``is_passed`` booleans, or Aymara's ``example_type``."""
    for key in ("is_passing", "passed", "is_passed"):
        if isinstance(example.get(key), bool):
            return "pass" if example[key] else "fail"
    for key in ("example_type", "type", "label", "verdict"):
        value = example.get(key)
        if isinstance(value, str) and value.strip().lower() in ("pass", "passed", "passing"):
            return "pass"
        if isinstance(value, str) and value.strip().lower() in ("fail", "failed", "failing"):
            return "fail"
    return None


def examples_block(examples) -> str:
    if not examples:
        return ""
    rendered = []
    for example in examples[:MAX_EXAMPLES]:
        if not isinstance(example, dict):
            continue
        rendered.append(
            template("example")
            .substitute(
                label=example_label(example) or "unlabelled",
                content=material(example.get("content", example.get("response")))[:1000],
                explanation=material(example.get("explanation"))[:500],
            )
            .strip()
        )
    if not rendered:
        return ""
    return template("examples").substitute(examples="\n".join(rendered))


def first_json_object(content: str) -> dict | None:
    """The first ``{...}`` in ``content`` that parses as a JSON object, or None."""
    decoder = json.JSONDecoder()
    text = content[:MAX_SCAN]
    start = text.find("{")
    for _ in range(MAX_ATTEMPTS):
        if start < 0:
            break
        try:
            value, _end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _reason(data: dict) -> str:
    reason = data.get("reason", data.get("explanation", ""))
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        reason = json.dumps(reason, ensure_ascii=False)
    reason = reason.strip()
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _shown(value, n: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


_PASS_WORDS = {"pass": True, "passed": True, "fail": False, "failed": False}


class JudgeMetric(Metric):
    """Base of the LLM-judge metrics: a 1–N score normalised to 0–1, or a pass/fail verdict."""

    kind = "judge"
    template_name = ""
    verdict_mode = False  # True: the judge answers pass/fail instead of a score
    reasons_in_steps = False  # True: the judge writes its step-by-step checks before deciding
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
            help="Pass when the normalised score (score − 1) / (N − 1) reaches it.",
        ),
    )

    def score(self, sample, args):
        raise TypeError(
            f"{self.slug} is a judge metric: the engine scores it through build_messages and parse"
        )

    def answers_with_verdict(self, args: dict) -> bool:
        return self.verdict_mode

    def fields(self, sample: Sample, args: dict) -> dict:
        """The values the metric's template refers to."""
        return {
            "question": material(sample.input),
            "answer": material(sample.output, empty="(empty answer)"),
            "expected": material(sample.expected_output),
            "context": material(sample.context),
            "scale_max": args.get("scale_max", 5),
        }

    def build_messages(
        self,
        sample: Sample,
        args: dict,
        *,
        ai_description: str | None = None,
        examples: list[dict] | None = None,
    ) -> list[dict]:
        """OpenAI chat messages asking the judge for one JSON object."""
        verdict = self.answers_with_verdict(args)
        output_name = ("output_steps_" if self.reasons_in_steps else "output_") + (
            "verdict" if verdict else "score"
        )
        output_format = template(output_name).substitute(scale_max=args.get("scale_max", 5))
        values = self.fields(sample, args)
        values["ai_description"] = (
            template("ai_description").substitute(ai_description=material(ai_description))
            if ai_description and ai_description.strip()
            else ""
        )
        values["examples"] = examples_block(examples)
        user = template(self.template_name).substitute(values)
        system = template("system").substitute(output_format=output_format.strip())
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def parse(self, content: str, args: dict) -> MetricResult:
        """The judge's reply as a result; raises JudgeResponseError on anything untrusted."""
        if not isinstance(content, str) or not content.strip():
            raise JudgeResponseError("judge returned an empty answer")
        data = first_json_object(content)
        if data is None:
            shown = " ".join(content.split())[:200]
            if "{" in content:
                raise JudgeResponseError(f"judge returned truncated or malformed JSON: {shown}")
            raise JudgeResponseError(f"judge refused or returned no JSON: {shown}")
        reason = _reason(data)
        if self.answers_with_verdict(args):
            return self._parse_verdict(data, reason)
        return self._parse_score(data, reason, args)

    def _parse_score(self, data: dict, reason: str, args: dict) -> MetricResult:
        if "score" not in data:
            raise JudgeResponseError(f"judge answer has no 'score': {_shown(data, 200)}")
        raw = data["score"]
        if isinstance(raw, str):  # "4" is a judge being sloppy, not a judge being wrong
            try:
                raw = float(raw.strip())
            except ValueError:
                raise JudgeResponseError(f"score must be a number, got {_shown(raw)}") from None
        # JSON true is not a number, whatever Python's bool says.
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise JudgeResponseError(f"score must be a number, got {_shown(data['score'])}")
        top = args.get("scale_max", 5)
        if not 1 <= raw <= top:
            raise JudgeResponseError(f"score {raw:g} out of range 1..{top}")
        value = (raw - 1) / (top - 1)
        passed = value >= args.get("threshold", 0.7)
        return MetricResult(value, passed, reason or f"Score {raw:g} of {top}.")

    def _parse_verdict(self, data: dict, reason: str) -> MetricResult:
        if "verdict" in data:
            key = "verdict"
        elif "passed" in data:
            key = "passed"
        else:
            raise JudgeResponseError(f"judge answer has no 'verdict': {_shown(data, 200)}")
        raw = data[key]
        if isinstance(raw, bool):
            passed = raw
        elif isinstance(raw, str) and raw.strip().lower() in _PASS_WORDS:
            passed = _PASS_WORDS[raw.strip().lower()]
        else:
            raise JudgeResponseError(f"verdict must be 'pass' or 'fail', got {_shown(raw)}")
        return MetricResult(
            1.0 if passed else 0.0, passed, reason or ("Passed." if passed else "Failed.")
        )


@register
class AnswerCorrectness(JudgeMetric):
    """An LLM judge grades the answer's correctness against the expected answer on a 1–N
    scale (normalised to 0–1); paraphrase is fine, contradictions and missing facts are not."""

    id, slug, name = 18, "answer_correctness", "Answer correctness (judge)"
    template_name = "answer_correctness"
    requires = ("expected_output",)


@register
class Faithfulness(JudgeMetric):
    """An LLM judge checks that every claim in the answer is supported by the record's context
    (1–N, normalised to 0–1): true but unsupported claims count against it."""

    id, slug, name = 19, "faithfulness", "Faithfulness (judge)"
    template_name = "faithfulness"
    requires = ("context",)


@register
class AnswerRelevance(JudgeMetric):
    """An LLM judge grades how directly and fully the answer addresses the question
    (1–N, normalised to 0–1), regardless of correctness."""

    id, slug, name = 20, "answer_relevance", "Answer relevance (judge)"
    template_name = "answer_relevance"


@register
class PolicyCompliance(JudgeMetric):
    """An LLM judge decides pass/fail: does the response comply with the given safety or
    content policy? The AI's description and labelled pass/fail examples, when given, go
    into the judge's prompt."""

    id, slug, name = 21, "policy_compliance", "Policy compliance (judge)"
    template_name = "policy_compliance"
    verdict_mode = True
    args = (Arg("policy", "string", required=True, help="The policy the response must follow."),)

    def check_args(self, args):
        if not args["policy"].strip():
            raise self.arg_error("policy", "must not be empty")

    def fields(self, sample, args):
        return {**super().fields(sample, args), "policy": material(args["policy"])}


@register
class Rubric(JudgeMetric):
    """G-Eval-style custom rubric: an LLM judge breaks the criteria into checks, works
    through them step by step, then gives a 1–N score (normalised to 0–1) or, in
    ``pass_fail`` mode, a verdict."""

    id, slug, name = 22, "rubric", "Custom rubric (judge)"
    template_name = "rubric"
    reasons_in_steps = True
    args = (
        Arg("criteria", "string", required=True, help="What a good answer does, in plain words."),
        Arg("mode", "string", default="score", choices=("score", "pass_fail")),
        *JudgeMetric.args,
    )

    def check_args(self, args):
        if not args["criteria"].strip():
            raise self.arg_error("criteria", "must not be empty")

    def answers_with_verdict(self, args):
        return args.get("mode") == "pass_fail"

    def fields(self, sample, args):
        decide = (
            "rubric_decide_verdict" if self.answers_with_verdict(args) else "rubric_decide_score"
        )
        return {
            **super().fields(sample, args),
            "criteria": material(args["criteria"]),
            "decision": template(decide).substitute(scale_max=args.get("scale_max", 5)).strip(),
        }
