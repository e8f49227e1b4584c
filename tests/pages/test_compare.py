"""Comparing two runs: runs.compare's statistics on a page, the pinned baseline as default."""

from __future__ import annotations

import pytest

from runs.definitions import dataset_set_baseline
from runs.services import run_create_from_dataset
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db

OUTPUTS = ["apple", "apple banana", "banana", "cherry", "apple", "banana"]


@pytest.fixture
def fruit(owner, org):
    rows = [{"input": f"q{i}", "actual_output": out} for i, out in enumerate(OUTPUTS)]
    return make_dataset(
        owner=owner,
        organization=org,
        records=rows,
        metrics=[("contains", {"substrings": ["apple"]})],
        name="Fruit",
    )


@pytest.fixture
def two_runs(owner, fruit, finish):
    """A: outputs must contain "apple"; B: "banana". Rows 0, 4 regress; rows 2, 5 improve."""
    a = finish(run_create_from_dataset, actor=owner, dataset=fruit, alias="apple")
    b = finish(
        run_create_from_dataset,
        actor=owner,
        dataset=fruit,
        alias="banana",
        metric_args={"3": {"substrings": ["banana"]}},
    )
    return a, b


def test_compare_defaults_to_the_previous_run_and_shows_the_statistics(
    client_for, member, two_runs
):
    a, b = two_runs
    response = client_for(member).get(f"/runs/compare/?run={b.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{a.pk}" selected>' in html
    assert "McNemar exact p" in html
    assert "Regressed: passed in A, failed in B (2)" in html
    assert "Improved: failed in A, passed in B (2)" in html
    assert "not significant" in html
    assert "contains" in html  # the per-metric row


def test_compare_defaults_to_the_pinned_baseline(
    client_for, member, owner, fruit, two_runs, finish
):
    a, _ = two_runs
    dataset_set_baseline(actor=owner, dataset=fruit, run=a)
    c = finish(run_create_from_dataset, actor=owner, dataset=fruit, alias="third")
    html = client_for(member).get(f"/runs/compare/?run={c.pk}").content.decode()
    assert f'<option value="{a.pk}" selected>' in html
    assert "baseline" in html


def test_compare_with_a_chosen_run(client_for, member, two_runs):
    a, b = two_runs
    html = client_for(member).get(f"/runs/compare/?run={a.pk}&base={b.pk}").content.decode()
    assert f'<option value="{b.pk}" selected>' in html
    assert "Regressed: passed in A, failed in B (2)" in html


def test_changed_items_are_side_by_side_and_escaped(client_for, member, owner, org, finish):
    rows = [{"input": "<i>q</i>", "actual_output": "<script>x</script> apple"}]
    dataset = make_dataset(
        owner=owner,
        organization=org,
        records=rows,
        metrics=[("contains", {"substrings": ["apple"]})],
    )
    a = finish(run_create_from_dataset, actor=owner, dataset=dataset, alias="a")
    b = finish(
        run_create_from_dataset,
        actor=owner,
        dataset=dataset,
        alias="b",
        metric_args={"3": {"substrings": ["pear"]}},
    )
    html = client_for(member).get(f"/runs/compare/?run={b.pk}&base={a.pk}").content.decode()
    assert 'class="side-by-side"' in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt; apple" in html


def test_a_run_with_nothing_to_compare_says_so(client_for, member, owner, fruit, finish):
    only = finish(run_create_from_dataset, actor=owner, dataset=fruit, alias="alone")
    html = client_for(member).get(f"/runs/compare/?run={only.pk}").content.decode()
    assert "No other finished run of this dataset" in html


def test_outsider_cannot_compare_the_orgs_runs(client_for, outsider, two_runs):
    a, b = two_runs
    client = client_for(outsider)
    assert client.get(f"/runs/compare/?run={b.pk}").status_code == 404
    assert client.get(f"/runs/compare/?run={b.pk}&base={a.pk}").status_code == 404


def test_viewer_may_compare_but_not_pin(client_for, viewer, two_runs):
    _, b = two_runs
    html = client_for(viewer).get(f"/runs/compare/?run={b.pk}").content.decode()
    assert "McNemar exact p" in html
    assert "Pin as baseline" not in html


def test_compare_needs_a_run(client_for, member):
    assert client_for(member).get("/runs/compare/").status_code == 404
