import pytest

from datasets.models import DatasetMetric, DatasetVersion, Record
from runs.models import EvalConfig, EvalConfigMetric, EvalConfigVersion, Metric
from tests.factories import DatasetFactory


def make_dataset(*, owner, organization=None, records, metrics=(("exact_match", {}),), name="QA"):
    """A dataset with one version holding ``records`` (dicts) and selected ``metrics``."""
    dataset = DatasetFactory(owner=owner, organization=organization, name=name)
    version = DatasetVersion.objects.create(dataset=dataset, number=1, record_count=len(records))
    Record.objects.bulk_create(
        Record(
            version=version,
            index=i,
            input=r.get("input", {"question": f"q{i}"}),
            expected_output=r.get("expected_output"),
            actual_output=r.get("actual_output"),
            context=r.get("context"),
            metadata=r.get("metadata", {}),
        )
        for i, r in enumerate(records)
    )
    for position, (slug, args) in enumerate(metrics):
        DatasetMetric.objects.create(
            dataset=dataset, metric=Metric.objects.get(slug=slug), args=args, position=position
        )
    return dataset


def make_config(*, owner, dataset, metrics, organization=None, judge_model=None, **version_kw):
    config = EvalConfig.objects.create(
        owner=owner, organization=organization, name="cfg", dataset=dataset
    )
    version = EvalConfigVersion.objects.create(
        config=config, number=1, judge_model=judge_model, **version_kw
    )
    for position, (slug, args) in enumerate(metrics):
        EvalConfigMetric.objects.create(
            version=version, metric=Metric.objects.get(slug=slug), args=args, position=position
        )
    return version


@pytest.fixture
def qa_records():
    """Ten records: seven answered right, three wrong."""
    rows = []
    for i in range(10):
        right = i < 7
        rows.append(
            {
                "input": {"question": f"What is {i} + {i}?"},
                "expected_output": str(2 * i),
                "actual_output": str(2 * i) if right else "no idea",
            }
        )
    return rows
