"""Creating datasets, choosing their metrics, and writing records from a JSON body."""

from functools import reduce

import pytest

from datasets.models import Dataset, DatasetMetric, DatasetVersion, Record
from datasets.services import (
    dataset_add_records,
    dataset_create,
    dataset_set_metrics,
)
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.models import AuditEvent
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

DEEP = reduce(lambda inner, _: [inner], range(32), 1)  # 32 nested lists: 33 levels in a record


def test_a_member_creates_an_org_dataset_in_a_workspace(member, org):
    workspace = WorkspaceFactory(organization=org)
    dataset = dataset_create(
        actor=member, name="  Support QA ", workspace=workspace, description="d", source="ui"
    )
    assert (dataset.name, dataset.organization, dataset.workspace) == ("Support QA", org, workspace)
    assert dataset.owner == member and dataset.kind == "static"
    event = AuditEvent.objects.get(action="dataset.create")
    assert (event.actor, event.organization, event.source) == (member, org, "ui")


def test_anyone_signed_in_may_create_a_private_dataset(loner):
    dataset = dataset_create(actor=loner, name="mine")
    assert dataset.organization is None and dataset.owner == loner


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 256])
def test_a_dataset_needs_a_name_of_at_most_255_characters(member, org, name):
    with pytest.raises(InvalidInput) as err:
        dataset_create(actor=member, name=name, organization=org)
    assert err.value.field == "name"


def test_a_viewer_cannot_create_in_the_org_nor_an_outsider(viewer, outsider, org):
    for actor in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            dataset_create(actor=actor, name="x", organization=org)
    assert not Dataset.objects.exists()


def test_the_workspace_must_be_visible_and_in_the_same_org(member, org, other_org):
    with pytest.raises(NotFound):
        dataset_create(actor=member, name="x", workspace=WorkspaceFactory(organization=other_org))
    someone_elses = WorkspaceFactory(organization=None, owner=UserFactory())
    with pytest.raises(NotFound):
        dataset_create(actor=member, name="x", workspace=someone_elses)
    mine = WorkspaceFactory(organization=None, owner=member)
    with pytest.raises(InvalidInput) as err:
        dataset_create(actor=member, name="x", organization=org, workspace=mine)
    assert err.value.code == "workspace_mismatch"
    assert dataset_create(actor=member, name="x", workspace=mine).organization is None


def test_selected_metrics_are_stored_with_their_checked_default_args(member, org):
    dataset = dataset_create(
        actor=member,
        name="m",
        organization=org,
        selected_metrics=[
            {"metric": "exact_match", "args": {"case_sensitive": False}},
            {"metric": "11"},  # by id: levenshtein
        ],
    )
    rows = list(DatasetMetric.objects.filter(dataset=dataset).select_related("metric"))
    assert [r.metric.slug for r in rows] == ["exact_match", "levenshtein"]
    assert rows[0].args["case_sensitive"] is False
    assert "threshold" in rows[1].args  # defaults are filled in


def test_a_required_metric_arg_may_be_left_to_each_run(member, org):
    dataset = dataset_create(
        actor=member, name="m", organization=org, selected_metrics=[{"metric": "contains"}]
    )
    assert dataset.selected_metrics.get().metric.slug == "contains"


@pytest.mark.parametrize(
    "selected, field, code",
    [
        (
            [{"metric": "exact_match", "args": {"case_sensitiv": False}}],
            ".args.case_sensitiv",
            None,
        ),
        (
            [{"metric": "exact_match", "args": {"case_sensitive": "no"}}],
            ".args.case_sensitive",
            None,
        ),
        ([{"metric": "no_such_metric"}], ".metric", "unknown_metric"),
        ([{"metric": "exact_match", "args": []}], ".args", None),
        ([{"metric": "exact_match", "argz": {}}], ".argz", None),
        ([{"metric": "exact_match"}, {"metric": "2"}], "", "duplicate"),
        (["exact_match"], "", None),
    ],
)
def test_bad_selected_metrics_name_the_entry_and_the_arg(member, org, selected, field, code):
    with pytest.raises(InvalidInput) as err:
        dataset_create(actor=member, name="m", organization=org, selected_metrics=selected)
    index = len(selected) - 1
    assert err.value.field == f"selected_metrics[{index}]{field}"
    if code:
        assert err.value.code == code
    assert not Dataset.objects.exists()


def test_setting_metrics_replaces_the_whole_list(member, org, viewer):
    dataset = dataset_create(
        actor=member, name="m", organization=org, selected_metrics=[{"metric": "exact_match"}]
    )
    dataset_set_metrics(
        actor=member, dataset=dataset, selected_metrics=[{"metric": "rouge_l"}, {"metric": "bleu"}]
    )
    assert [m.metric.slug for m in dataset.selected_metrics.select_related("metric")] == [
        "rouge_l",
        "bleu",
    ]
    with pytest.raises(PermissionDenied):
        dataset_set_metrics(actor=viewer, dataset=dataset, selected_metrics=[])
    assert dataset.selected_metrics.count() == 2


# --- records from a JSON body ----------------------------------------------------------


@pytest.fixture
def dataset(member, org):
    return dataset_create(actor=member, name="API", organization=org)


def test_records_from_a_body_make_a_version_of_exactly_those_records(member, dataset):
    dataset_add_records(actor=member, dataset=dataset, records=[{"input": "old"}])
    version = dataset_add_records(
        actor=member,
        dataset=dataset,
        records=[
            {"input": {"q": "a"}, "expected_output": "x", "team": "support"},
            {"question": "b", "expected_output": {"k": 1}, "context": ["doc"]},
        ],
        note="from CI",
    )
    assert (version.number, version.record_count, version.source) == (2, 2, "api")
    first, second = version.records.order_by("index")
    assert first.input == {"q": "a"} and first.metadata == {"team": "support"}
    assert second.input == "b" and second.expected_output == '{"k":1}'
    assert second.context == ["doc"]


@pytest.mark.parametrize(
    "records, field",
    [
        ([], "records"),
        ([{"input": "ok"}, "text"], "records[1]"),
        ([{"input": "ok"}, {"expected_output": "no input"}], "records[1].input"),
        ([{"input": "ok"}, {"input": "nul \x00"}], "records[1].input"),
        ([{"input": "ok"}, {"input": "a", "score": float("inf")}], "records[1].score"),
        ([{"input": "ok"}, {"input": "a", "deep": DEEP}], "records[1].deep"),
    ],
)
def test_bad_records_are_named_and_nothing_is_written(member, dataset, records, field):
    with pytest.raises(InvalidInput) as err:
        dataset_add_records(actor=member, dataset=dataset, records=records)
    assert err.value.field == field
    assert not DatasetVersion.objects.exists() and not Record.objects.exists()


def test_a_viewer_cannot_write_records(viewer, dataset):
    with pytest.raises(PermissionDenied):
        dataset_add_records(actor=viewer, dataset=dataset, records=[{"input": "a"}])
