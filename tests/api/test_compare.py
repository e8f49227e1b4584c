"""runs.compare: the statistics against hand-computed values, then two real runs."""

import math
import random

import pytest

from runs import compare
from runs.models import ItemStatus, RunStatus
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    RecordFactory,
    RunFactory,
    RunItemFactory,
    RunMetricFactory,
    ScoreFactory,
)

# --- McNemar's exact test -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("improved", "regressed", "p"),
    [
        (1, 9, 22 / 1024),  # 2 · (C(10,0) + C(10,1)) / 2^10
        (0, 5, 2 / 32),  # 2 · 1 / 2^5
        (1, 3, 10 / 16),  # 2 · (1 + 4) / 2^4
        (3, 3, 1.0),  # balanced: capped at 1
        (0, 0, 1.0),  # no discordant pairs: no evidence
    ],
)
def test_mcnemar_exact_p_matches_the_binomial_by_hand(improved, regressed, p):
    assert compare.mcnemar_exact(improved, regressed) == pytest.approx(p, rel=1e-12)


def test_mcnemar_is_symmetric_in_its_two_counts():
    assert compare.mcnemar_exact(4, 17) == compare.mcnemar_exact(17, 4)


def test_mcnemar_log_space_agrees_with_exact_integers_for_large_tables():
    n, k = 1500, 700
    exact = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    assert compare.mcnemar_exact(k, n - k) == pytest.approx(exact, rel=1e-9)


# --- bootstrap interval -----------------------------------------------------------------------


def test_the_bootstrap_interval_contains_the_true_delta_and_is_seeded():
    rng = random.Random(7)
    true_delta = 0.1
    diffs = [true_delta + rng.gauss(0, 0.3) for _ in range(400)]
    low, high = compare.bootstrap_mean_ci(diffs, seed=1)
    assert low < true_delta < high
    assert low < sum(diffs) / len(diffs) < high
    assert compare.bootstrap_mean_ci(diffs, seed=1) == (low, high)  # deterministic
    assert compare.bootstrap_mean_ci(diffs, seed=2) != (low, high)  # the seed matters


def test_the_bootstrap_interval_is_close_to_the_normal_one_for_large_samples():
    rng = random.Random(3)
    diffs = [rng.choice([-1.0, 0.0, 0.0, 1.0, 1.0]) for _ in range(1500)]
    boot = compare.bootstrap_mean_ci(diffs)
    normal = compare.normal_mean_ci(diffs)
    assert boot[0] == pytest.approx(normal[0], abs=0.01)
    assert boot[1] == pytest.approx(normal[1], abs=0.01)


def test_degenerate_samples_give_degenerate_intervals():
    assert compare.bootstrap_mean_ci([]) is None
    assert compare.bootstrap_mean_ci([0.5]) == (0.5, 0.5)
    assert compare.bootstrap_mean_ci([1.0] * 30) == (1.0, 1.0)


def test_past_the_budget_the_normal_approximation_is_used():
    diffs = [0.0, 1.0] * (compare.BOOTSTRAP_BUDGET // compare.DEFAULT_RESAMPLES)
    _, method = compare.mean_difference_ci(diffs)
    assert method == "normal"
    _, method = compare.mean_difference_ci(diffs[:100])
    assert method == "bootstrap"


def test_a_pass_table_counts_each_kind_of_pair():
    table = compare.pass_table([(True, True), (True, False), (False, True), (False, False)] * 2)
    assert (table.both_passed, table.regressed, table.improved, table.both_failed) == (2, 2, 2, 2)


# --- two runs from the database ----------------------------------------------------------------

BASE = [True, True, True, True, False, False, False, False, True, True]
CANDIDATE = [True, True, True, False, False, True, False, False, False, False]


def make_runs(base_passed, run_passed, *, threshold=None, run_status=RunStatus.COMPLETED):
    """Two runs of one dataset version, with the given verdicts and exact_match values."""
    dataset = DatasetFactory()
    version = DatasetVersionFactory(dataset=dataset, number=1)
    records = [RecordFactory(version=version, index=i) for i in range(len(base_passed))]
    runs = []
    for verdicts, status in ((base_passed, RunStatus.COMPLETED), (run_passed, run_status)):
        passed = sum(verdicts)
        run = RunFactory(
            dataset=dataset,
            dataset_version=version,
            status=status,
            threshold=threshold,
            item_count=len(verdicts),
            completed_count=len(verdicts),
            pass_rate=100 * passed / len(verdicts),
        )
        metric = RunMetricFactory(run=run, label="exact_match")
        for i, ok in enumerate(verdicts):
            item = RunItemFactory(
                run=run, record=records[i], index=i, status=ItemStatus.DONE, passed=ok
            )
            ScoreFactory(item=item, run_metric=metric, value=1.0 if ok else 0.0, passed=ok)
        runs.append(run)
    return runs


@pytest.mark.django_db
def test_compare_runs_pairs_items_and_counts_by_hand():
    base, run = make_runs(BASE, CANDIDATE)
    result = compare.compare_runs(base, run)
    assert result["matched_by"] == "record" and result["shared_items"] == 10
    assert result["mcnemar"] == {
        "pairs": 10,
        "both_passed": 3,
        "both_failed": 3,
        "improved": 1,
        "regressed": 3,
        "p_value": pytest.approx(10 / 16),
        "significant": False,
    }
    assert result["pass_rate"]["base"] == 60 and result["pass_rate"]["run"] == 40
    assert result["pass_rate"]["delta"] == pytest.approx(-20)
    assert result["pass_rate"]["ci_low"] <= -20 <= result["pass_rate"]["ci_high"]
    (metric,) = result["metrics"]
    assert metric["label"] == "exact_match" and metric["delta"] == pytest.approx(-0.2)
    assert metric["ci_low"] <= -0.2 <= metric["ci_high"]
    assert [i["index"] for i in result["regressed"]] == [3, 8, 9]
    assert [i["index"] for i in result["improved"]] == [5]
    assert compare.compare_runs(base, run) == result  # seeded: the same answer every time


@pytest.mark.django_db
def test_runs_of_different_versions_pair_on_record_content():
    base, run = make_runs(BASE, CANDIDATE)
    new_version = DatasetVersionFactory(dataset=run.dataset, number=2)
    for item in run.items.select_related("record"):
        old = item.record
        item.record = RecordFactory(
            version=new_version,
            index=old.index,
            input=old.input,
            expected_output=old.expected_output,
        )
        item.save()
    run.dataset_version = new_version
    run.save()
    result = compare.compare_runs(base, run)
    assert result["matched_by"] == "content" and result["shared_items"] == 10
    assert result["mcnemar"]["regressed"] == 3


@pytest.mark.django_db
def test_the_gate_fails_a_significant_regression_against_the_baseline():
    base, run = make_runs([True] * 20, [True] * 12 + [False] * 8, threshold=30)
    run.dataset.baseline_run = base
    run.dataset.save()
    verdict = compare.gate_verdict(run)
    assert verdict["verdict"] == "fail" and verdict["baseline_run_id"] == base.pk
    assert verdict["mcnemar"]["p_value"] == pytest.approx(2 / 2**8)
    checks = {c["name"]: c["passed"] for c in verdict["checks"]}
    assert checks == {"finished": True, "threshold": True, "regression": False}
    assert "significant regression" in verdict["reasons"][0]


@pytest.mark.django_db
def test_the_gate_passes_a_small_change_above_the_threshold():
    base, run = make_runs([True] * 20, [True] * 19 + [False], threshold=90)
    verdict = compare.gate_verdict(run, base)
    assert verdict["verdict"] == "pass" and verdict["passed"] is True


@pytest.mark.django_db
def test_the_gate_fails_below_the_threshold_and_waits_for_active_runs():
    _base, run = make_runs(BASE, CANDIDATE, threshold=50)
    assert compare.gate_verdict(run)["verdict"] == "fail"  # 40 % < 50 %, no baseline
    _, active = make_runs(BASE, CANDIDATE, run_status=RunStatus.RUNNING)
    verdict = compare.gate_verdict(active)
    assert verdict["verdict"] == "pending" and verdict["passed"] is False
