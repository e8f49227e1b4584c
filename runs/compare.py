"""Comparing two runs item by item, and the CI gate built on it.

The statistics are plain functions of plain lists, so they are tested against
hand-computed values and shared by the compare page and the native API:

* :func:`bootstrap_mean_ci` — percentile bootstrap confidence interval of a
  mean of paired differences (seeded, so the same runs give the same interval);
* :func:`mcnemar_exact` — McNemar's exact test on the discordant pairs of a
  pass/fail table (a two-sided binomial test with p = ½).

:func:`compare_runs` and :func:`gate_verdict` load the two runs' results and
put those together. numpy is not a dependency: everything is pure Python and
kept fast by drawing each resample in one ``random.choices`` call.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

from runs.models import ItemStatus, Run, RunItem, RunStatus, Score

DEFAULT_SEED = 20_240_601
DEFAULT_RESAMPLES = 2000
CONFIDENCE = 0.95
ALPHA = 0.05
# Above this many draws (items × resamples) a bootstrap would keep a request
# busy for seconds; the normal approximation of a mean is excellent there.
BOOTSTRAP_BUDGET = 4_000_000
LIST_LIMIT = 100
_Z = {0.90: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


# ---------------------------------------------------------------------------
# Statistics on plain lists
# ---------------------------------------------------------------------------


def mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def bootstrap_mean_ci(
    diffs: list[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for the mean of ``diffs`` (paired differences).

    Each resample draws ``len(diffs)`` values with replacement (the same as
    resampling item indices, without materialising the index list) from a
    ``random.Random(seed)``, so the interval is reproducible. Returns None for
    no data; a single difference is its own interval.
    """
    n = len(diffs)
    if n == 0:
        return None
    if n == 1 or min(diffs) == max(diffs):
        return (float(diffs[0]), float(diffs[0]))
    rng = random.Random(seed)
    draw = rng.choices
    means = sorted(sum(draw(diffs, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[math.floor(tail * resamples)]
    high = means[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    return (low, high)


def normal_mean_ci(
    diffs: list[float], *, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Mean ± z·s/√n: the large-sample interval used past the bootstrap budget."""
    n = len(diffs)
    if n == 0:
        return None
    centre = math.fsum(diffs) / n
    if n == 1:
        return (centre, centre)
    variance = math.fsum((d - centre) ** 2 for d in diffs) / (n - 1)
    half = _Z.get(confidence, _Z[0.95]) * math.sqrt(variance / n)
    return (centre - half, centre + half)


def mean_difference_ci(
    diffs: list[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> tuple[tuple[float, float] | None, str]:
    """``(interval, method)``: bootstrap when affordable, else the normal approximation."""
    if len(diffs) * resamples <= BOOTSTRAP_BUDGET:
        return bootstrap_mean_ci(diffs, resamples=resamples, seed=seed), "bootstrap"
    return normal_mean_ci(diffs), "normal"


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def mcnemar_exact(improved: int, regressed: int) -> float:
    """Two-sided exact McNemar p-value for the discordant counts of a paired pass/fail table.

    Under "no difference" each discordant pair is equally likely to go either
    way, so the smaller count follows Binomial(b + c, ½):
    ``p = min(1, 2 · P(X ≤ min(b, c)))``. Concordant pairs carry no
    information and are not arguments. Exact integer arithmetic
    (``math.comb``) up to 1,000 discordant pairs, log-space sums beyond.
    """
    n = improved + regressed
    if n == 0:
        return 1.0
    k = min(improved, regressed)
    if n <= 1000:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    else:
        logs = [_log_comb(n, i) - n * math.log(2) for i in range(k + 1)]
        top = max(logs)
        tail = math.exp(top) * math.fsum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


@dataclass
class PassTable:
    """A paired pass/fail table: ``improved`` = failed in the base, passed in the run."""

    both_passed: int = 0
    both_failed: int = 0
    improved: int = 0
    regressed: int = 0

    @property
    def pairs(self) -> int:
        return self.both_passed + self.both_failed + self.improved + self.regressed

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.improved, self.regressed)

    def as_dict(self, alpha: float = ALPHA) -> dict:
        p = self.p_value
        return {
            "pairs": self.pairs,
            "both_passed": self.both_passed,
            "both_failed": self.both_failed,
            "improved": self.improved,
            "regressed": self.regressed,
            "p_value": p,
            "significant": p < alpha,
        }


def pass_table(pairs: list[tuple[bool, bool]]) -> PassTable:
    """Count ``(base_passed, run_passed)`` pairs into a :class:`PassTable`."""
    table = PassTable()
    for base, run in pairs:
        if base and run:
            table.both_passed += 1
        elif base:
            table.regressed += 1
        elif run:
            table.improved += 1
        else:
            table.both_failed += 1
    return table


# ---------------------------------------------------------------------------
# Loading two runs' results
# ---------------------------------------------------------------------------


@dataclass
class ItemResult:
    item_id: int
    record_uuid: str
    index: int
    status: str
    passed: bool | None
    score: float | None
    values: dict[str, float | None] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return self.status == ItemStatus.DONE and self.passed is not None


def _content_key(input_value, expected) -> str:
    return json.dumps([input_value, expected], sort_keys=True, ensure_ascii=False)


def load_results(run: Run, *, by_content: bool) -> dict:
    """The run's items keyed for pairing, with their per-metric values.

    Runs of the same dataset version pair on the record; runs of different
    versions (a re-upload gives records new ids) pair on the record's
    content, its input and expected output.
    """
    fields = ["pk", "record__uuid", "index", "status", "passed", "score"]
    if by_content:
        fields += ["record__input", "record__expected_output"]
    else:
        fields += ["record_id"]
    results: dict = {}
    by_item: dict[int, ItemResult] = {}
    for row in RunItem.objects.filter(run=run).values_list(*fields).iterator(chunk_size=5000):
        pk, record_uuid, index, status, passed, score, *rest = row
        key = _content_key(*rest) if by_content else rest[0]
        result = ItemResult(pk, str(record_uuid), index, status, passed, score)
        results.setdefault(key, result)  # the first of duplicate contents stands for them
        by_item[pk] = result
    scores = Score.objects.filter(item__run=run).values_list(
        "item_id", "run_metric__label", "value"
    )
    for item_id, label, value in scores.iterator(chunk_size=5000):
        result = by_item.get(item_id)
        if result is not None:
            result.values[label] = value
    return results


def _pairs(base: Run, run: Run) -> tuple[list[tuple[ItemResult, ItemResult]], dict]:
    by_content = not (base.dataset_version_id and base.dataset_version_id == run.dataset_version_id)
    base_results = load_results(base, by_content=by_content)
    run_results = load_results(run, by_content=by_content)
    shared = [(base_results[k], run_results[k]) for k in run_results if k in base_results]
    shared.sort(key=lambda pair: pair[1].index)
    info = {
        "matched_by": "content" if by_content else "record",
        "shared_items": len(shared),
        "only_in_base": len(base_results) - len(shared),
        "only_in_run": len(run_results) - len(shared),
    }
    return shared, info


def _item_change(base: ItemResult, run: ItemResult) -> dict:
    return {
        "record_id": run.record_uuid,
        "index": run.index,
        "base_item_id": base.item_id,
        "run_item_id": run.item_id,
        "base_passed": base.passed,
        "run_passed": run.passed,
        "base_score": base.score,
        "run_score": run.score,
    }


# ---------------------------------------------------------------------------
# Comparison and gate
# ---------------------------------------------------------------------------


def compare_runs(
    base: Run,
    run: Run,
    *,
    seed: int = DEFAULT_SEED,
    resamples: int = DEFAULT_RESAMPLES,
    list_limit: int = LIST_LIMIT,
) -> dict:
    """Everything the compare page and ``GET /api/v1/runs/{id}/compare/`` show.

    Deltas are ``run − base`` on the items both runs scored: per metric, the
    mean difference of values with a 95 % interval; the pass-rate difference
    in percentage points with its interval; McNemar's exact test on the
    pass/fail pairs; and the items that regressed (passed in the base,
    failed in the run) or improved, at most ``list_limit`` of each, in
    item order. Metrics pair on their label (``exact_match``).
    """
    shared, info = _pairs(base, run)
    decided = [(b, r) for b, r in shared if b.decided and r.decided]
    table = pass_table([(b.passed, r.passed) for b, r in decided])
    pass_diffs = [100.0 * (int(r.passed) - int(b.passed)) for b, r in decided]
    pass_ci, pass_method = mean_difference_ci(pass_diffs, resamples=resamples, seed=seed)
    base_rate = mean([100.0 * b.passed for b, _ in decided])
    run_rate = mean([100.0 * r.passed for _, r in decided])
    regressed = [_item_change(b, r) for b, r in decided if b.passed and not r.passed]
    improved = [_item_change(b, r) for b, r in decided if r.passed and not b.passed]
    return {
        "base_run_id": base.pk,
        "run_id": run.pk,
        **info,
        "confidence": CONFIDENCE,
        "seed": seed,
        "resamples": resamples,
        "pass_rate": {
            "pairs": len(decided),
            "base": base_rate,
            "run": run_rate,
            "delta": (run_rate - base_rate) if decided else None,
            "ci_low": pass_ci[0] if pass_ci else None,
            "ci_high": pass_ci[1] if pass_ci else None,
            "method": pass_method,
        },
        "mcnemar": table.as_dict(),
        "metrics": _metric_deltas(base, run, shared, seed=seed, resamples=resamples),
        "regressed_count": len(regressed),
        "improved_count": len(improved),
        "regressed": regressed[:list_limit],
        "improved": improved[:list_limit],
    }


def _metric_deltas(base: Run, run: Run, shared, *, seed: int, resamples: int) -> list[dict]:
    base_metrics = {m.label: m for m in base.run_metrics.select_related("metric")}
    out = []
    for rm in run.run_metrics.select_related("metric").order_by("position"):
        if rm.label not in base_metrics:
            continue
        values = [
            (b.values.get(rm.label), r.values.get(rm.label))
            for b, r in shared
            if b.values.get(rm.label) is not None and r.values.get(rm.label) is not None
        ]
        diffs = [r - b for b, r in values]
        ci, method = mean_difference_ci(diffs, resamples=resamples, seed=seed)
        base_mean, run_mean = mean([b for b, _ in values]), mean([r for _, r in values])
        out.append(
            {
                "label": rm.label,
                "metric_id": rm.metric_id,
                "slug": rm.metric.slug,
                "higher_is_better": rm.metric.higher_is_better,
                "pairs": len(values),
                "base_mean": base_mean,
                "run_mean": run_mean,
                "delta": mean(diffs),
                "ci_low": ci[0] if ci else None,
                "ci_high": ci[1] if ci else None,
                "method": method,
                # An interval that excludes zero is a difference the noise does not explain.
                "significant": bool(ci) and (ci[0] > 0 or ci[1] < 0),
            }
        )
    return out


def paired_pass_table(base: Run, run: Run) -> tuple[PassTable, dict]:
    """The McNemar table of two runs without the bootstrap work (for the gate)."""
    shared, info = _pairs(base, run)
    return pass_table([(b.passed, r.passed) for b, r in shared if b.decided and r.decided]), info


def gate_verdict(run: Run, baseline: Run | None = None, *, alpha: float = ALPHA) -> dict:
    """A CI verdict for ``run``: pass, fail or pending, with the reasons.

    Checks, each reported: the run finished (an active run is ``pending``, a
    failed or cancelled one fails); its pass rate reaches its threshold (no
    threshold: skipped); and, against ``baseline`` (by default the dataset's
    pinned baseline run), no significant regression: McNemar's exact test at
    ``p < alpha`` with more regressed than improved items. A skipped check
    never fails the gate.
    """
    if baseline is None and run.dataset_id and run.dataset and run.dataset.baseline_run_id:
        baseline = run.dataset.baseline_run
    if baseline is not None and baseline.pk == run.pk:
        baseline = None
    checks = [_finished_check(run)]
    comparison = None
    if run.is_finished:
        checks.append(_threshold_check(run))
        check, comparison = _regression_check(run, baseline, alpha)
        checks.append(check)
    if run.is_active:
        verdict = "pending"
    else:
        verdict = "fail" if any(c["passed"] is False for c in checks) else "pass"
    reasons = [c["detail"] for c in checks if c["passed"] is False]
    if verdict == "pending":
        reasons = [checks[0]["detail"]]
    return {
        "run_id": run.pk,
        "baseline_run_id": baseline.pk if baseline else None,
        "verdict": verdict,
        "passed": verdict == "pass",
        "pass_rate": run.pass_rate,
        "threshold": run.threshold,
        "reasons": reasons or ["Every check passed."],
        "checks": checks,
        "mcnemar": comparison,
    }


def _finished_check(run: Run) -> dict:
    if run.status == RunStatus.COMPLETED:
        return {"name": "finished", "passed": True, "detail": "The run completed."}
    if run.is_active:
        return {
            "name": "finished",
            "passed": None,
            "detail": f"The run is still {run.status} ({run.completed_count}/{run.item_count} items).",
        }
    return {
        "name": "finished",
        "passed": False,
        "detail": f"The run {run.status}"
        + (f": {run.error_message}" if run.error_message else "."),
    }


def _threshold_check(run: Run) -> dict:
    if run.threshold is None:
        return {"name": "threshold", "passed": None, "detail": "No threshold set: not checked."}
    if run.pass_rate is None:
        return {"name": "threshold", "passed": False, "detail": "No item was scored."}
    ok = run.pass_rate >= run.threshold
    return {
        "name": "threshold",
        "passed": ok,
        "detail": f"Pass rate {run.pass_rate:g} % {'≥' if ok else '<'} threshold {run.threshold:g} %.",
    }


def _regression_check(run: Run, baseline: Run | None, alpha: float) -> tuple[dict, dict | None]:
    if baseline is None:
        return {
            "name": "regression",
            "passed": None,
            "detail": "No baseline run: not compared.",
        }, None
    table, _ = paired_pass_table(baseline, run)
    summary = table.as_dict(alpha)
    regressed = summary["significant"] and table.regressed > table.improved
    detail = (
        f"{table.regressed} items regressed and {table.improved} improved against run "
        f"{baseline.pk} (McNemar p = {summary['p_value']:.4g})"
    )
    if regressed:
        detail += f": a significant regression at p < {alpha:g}."
    else:
        detail += ": no significant regression."
    return {"name": "regression", "passed": not regressed, "detail": detail}, summary
