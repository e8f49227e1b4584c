"""Reference-overlap metrics (BLEU, chrF, ROUGE): 0–1 scores with a pass threshold."""

from __future__ import annotations

from functools import lru_cache

from runs.metrics.base import Arg, Metric, MetricResult, register


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
    return MetricResult(value, passed, f"{label} {value:.3f} {'≥' if passed else '<'} {threshold}.")


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


@lru_cache(maxsize=8)
def _rouge(kind: str, use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind], use_stemmer=use_stemmer)


@register
class Bleu(Metric):
    """Sentence BLEU (sacrebleu, exponential smoothing) against the expected output, scaled to 0–1."""

    id, slug, name, kind = 14, "bleu", "BLEU", "statistical"
    requires = ("expected_output",)
    args = (_threshold(0.3),)

    def score(self, sample, args):
        value = (
            _bleu().sentence_score(sample.output or "", [sample.expected_output or ""]).score / 100
        )
        return _result(value, args["threshold"], "BLEU")


@register
class Chrf(Metric):
    """Sentence chrF (character n-gram F-score, sacrebleu) against the expected output, 0–1."""

    id, slug, name, kind = 15, "chrf", "chrF", "statistical"
    requires = ("expected_output",)
    args = (_threshold(0.5),)

    def score(self, sample, args):
        value = (
            _chrf().sentence_score(sample.output or "", [sample.expected_output or ""]).score / 100
        )
        return _result(value, args["threshold"], "chrF")


class _Rouge(Metric):
    kind = "statistical"
    requires = ("expected_output",)
    rouge_type = ""
    args = (_threshold(0.5), Arg("use_stemmer", "boolean", default=True))

    def score(self, sample, args):
        scorer = _rouge(self.rouge_type, args["use_stemmer"])
        value = scorer.score(sample.expected_output or "", sample.output or "")[
            self.rouge_type
        ].fmeasure
        return _result(value, args["threshold"], self.name)


@register
class RougeL(_Rouge):
    """ROUGE-L F-measure (longest common subsequence) against the expected output."""

    id, slug, name, rouge_type = 16, "rouge_l", "ROUGE-L", "rougeL"


@register
class Rouge1(_Rouge):
    """ROUGE-1 F-measure (unigram overlap) against the expected output."""

    id, slug, name, rouge_type = 17, "rouge1", "ROUGE-1", "rouge1"
