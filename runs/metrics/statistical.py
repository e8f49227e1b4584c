"""Reference-overlap metrics (BLEU, chrF, ROUGE): 0–1 scores with a pass threshold.

Scorers are built once per process and reused: building them (and, for
ROUGE, stemming the same words again and again) dominates the cost of a
sentence-level score.
"""

from __future__ import annotations

import re
from functools import lru_cache

from runs.metrics.base import NO_EXPECTED_OUTPUT, Arg, Metric, MetricResult, register


def _threshold(default: float) -> Arg:
    return Arg(
        "threshold",
        "number",
        default=default,
        minimum=0,
        maximum=1,
        help="Pass when the score reaches it.",
    )


def _result(value: float, threshold: float, label: str) -> MetricResult:
    passed = value >= threshold
    return MetricResult(
        value, passed, f"{label} {value:.3f} {'≥' if passed else '<'} {threshold:g}."
    )


class _ReferenceMetric(Metric):
    kind = "statistical"
    requires = ("expected_output",)
    label = ""

    def score(self, sample, args):
        if sample.expected_output is None:
            return NO_EXPECTED_OUTPUT
        value = self.overlap(sample.output or "", sample.expected_output, args)
        # Floating-point sums can land a hair outside 0..1 (BLEU of identical texts).
        value = min(1.0, max(0.0, float(value)))
        return _result(value, args["threshold"], self.label)

    def overlap(self, output: str, reference: str, args: dict) -> float:
        raise NotImplementedError


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    # The settings of sacrebleu.sentence_bleu: exponential smoothing, effective order.
    return BLEU(effective_order=True)


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


@register
class Bleu(_ReferenceMetric):
    """Sentence BLEU (sacrebleu's sentence_bleu: exponential smoothing, 13a tokenisation)
    against the expected output, scaled to 0–1."""

    id, slug, name, label = 14, "bleu", "BLEU", "BLEU"
    args = (_threshold(0.3),)

    def overlap(self, output, reference, args):
        return _bleu().sentence_score(output, [reference]).score / 100


@register
class Chrf(_ReferenceMetric):
    """Sentence chrF (character n-gram F-score, sacrebleu) against the expected output, 0–1.
    Works for any script, and is kinder than BLEU to inflected words."""

    id, slug, name, label = 15, "chrf", "chrF", "chrF"
    args = (_threshold(0.5),)

    def overlap(self, output, reference, args):
        return _chrf().sentence_score(output, [reference]).score / 100


# CJK ideographs and kana are words of their own (those scripts have no spaces);
# any other run of letters or digits is one word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")


class UnicodeTokenizer:
    """rouge-score's default tokenizer keeps only [a-z0-9], so any non-Latin answer has no
    words and scores 0 even against itself. This one lowercases and keeps the letters and
    digits of every script; on plain English it gives the same tokens as the default, and
    the same Porter stemming (words longer than three characters)."""

    def __init__(self, use_stemmer: bool):
        self.stem = _stemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = _WORD.findall(text.lower())
        if self.stem is None:
            return tokens
        return [self.stem(t) if len(t) > 3 else t for t in tokens]


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import porter

    # Answers repeat their vocabulary across a run; a memo makes stemming nearly free.
    return lru_cache(maxsize=65_536)(porter.PorterStemmer().stem)


@lru_cache(maxsize=8)
def _rouge(rouge_type: str, use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([rouge_type], tokenizer=UnicodeTokenizer(use_stemmer))


class _Rouge(_ReferenceMetric):
    rouge_type = ""
    args = (
        _threshold(0.5),
        Arg("use_stemmer", "boolean", default=True, help="Porter-stem English words first."),
    )

    def overlap(self, output, reference, args):
        scorer = _rouge(self.rouge_type, args["use_stemmer"])
        return scorer.score(reference, output)[self.rouge_type].fmeasure


@register
class RougeL(_Rouge):
    """ROUGE-L F-measure (longest common subsequence of words) against the expected output,
    0–1. Words of any script count."""

    id, slug, name, label, rouge_type = 16, "rouge_l", "ROUGE-L", "ROUGE-L", "rougeL"


@register
class Rouge1(_Rouge):
    """ROUGE-1 F-measure (word overlap) against the expected output, 0–1. Words of any
    script count."""

    id, slug, name, label, rouge_type = 17, "rouge1", "ROUGE-1", "ROUGE-1", "rouge1"
