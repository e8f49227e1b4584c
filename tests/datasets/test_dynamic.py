"""Dynamic datasets: logged requests in, snapshots out (seed 000's refresh rules)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import DatasetVersion
from datasets.services import dataset_create, dataset_refresh, logged_requests_ingest
from evalhub.errors import InvalidInput, PermissionDenied

pytestmark = pytest.mark.django_db


def ingest(actor, org, **item):
    return logged_requests_ingest(
        actor=actor, organization=org, items=[{"prompt": "p", "response": "r", **item}]
    )


def test_refreshing_a_static_dataset_is_refused(member, org):
    static = dataset_create(actor=member, name="s", organization=org)
    with pytest.raises(PermissionDenied) as err:
        dataset_refresh(actor=member, dataset=static)
    assert err.value.code == "refresh_not_allowed"


def test_a_refresh_that_matches_nothing_says_so_and_writes_nothing(member, org):
    ingest(member, org, model="gpt-4o")
    dynamic = dataset_create(
        actor=member, name="d", organization=org, kind="dynamic", filter={"model": "claude"}
    )
    with pytest.raises(InvalidInput) as err:
        dataset_refresh(actor=member, dataset=dynamic)
    assert err.value.code == "no_requests"
    assert err.value.message == "No requests found for the given criteria"
    assert not DatasetVersion.objects.exists()


def test_a_refresh_snapshots_exactly_the_matching_requests(member, org, outsider, other_org):
    old = (timezone.now() - timedelta(days=10)).isoformat()
    ingest(
        member,
        org,
        model="gpt-4o",
        tags=["prod", "eu"],
        metadata={"app": "chat"},
        prompt="refund please",
        response="ok",
    )
    ingest(
        member, org, model="gpt-4o", tags=["prod"], metadata={"app": "chat"}, prompt="refund policy"
    )  # lacks tag eu
    ingest(
        member,
        org,
        model="gpt-4o",
        tags=["prod", "eu"],
        metadata={"app": "search"},
        prompt="refund",
    )  # other app
    ingest(
        member,
        org,
        model="gpt-4o",
        tags=["prod", "eu"],
        metadata={"app": "chat"},
        prompt="refund",
        requested_at=old,
    )
    ingest(
        member, org, model="mini", tags=["prod", "eu"], metadata={"app": "chat"}, prompt="refund"
    )  # other model
    ingest(
        member, org, model="gpt-4o", tags=["prod", "eu"], metadata={"app": "chat"}, prompt="hello"
    )  # no search hit
    ingest(
        outsider,
        other_org,
        model="gpt-4o",
        tags=["prod", "eu"],
        metadata={"app": "chat"},
        prompt="refund",
    )
    since = (timezone.now() - timedelta(days=1)).isoformat()
    dynamic = dataset_create(
        actor=member,
        name="d",
        organization=org,
        kind="dynamic",
        filter={
            "model": "gpt-4o",
            "tags": ["prod", "eu"],
            "metadata": {"app": "chat"},
            "search": "refund",
            "since": since,
        },
    )
    version = dataset_refresh(actor=member, dataset=dynamic)
    assert version.record_count == 1
    record = version.records.get()
    assert record.input == "refund please" and record.actual_output == "ok"
    assert record.metadata["model"] == "gpt-4o"


def test_unknown_filter_keys_are_named(member, org):
    with pytest.raises(InvalidInput) as err:
        dataset_create(
            actor=member, name="d", organization=org, kind="dynamic", filter={"modle": "x"}
        )
    assert err.value.field == "filter.modle"


def test_ingest_names_the_bad_item(member, org):
    with pytest.raises(InvalidInput) as err:
        logged_requests_ingest(
            actor=member,
            organization=org,
            items=[{"prompt": "ok"}, {"prompt": "x", "tags": "prod"}],
        )
    assert err.value.field == "items[1].tags"


def test_a_viewer_cannot_log_requests_into_the_org(viewer, org):
    with pytest.raises(PermissionDenied):
        ingest(viewer, org)


def test_selected_metrics_are_validated_through_the_registry(member, org):
    with pytest.raises(InvalidInput) as err:
        dataset_create(
            actor=member,
            name="m",
            organization=org,
            selected_metrics=[{"metric": "exact_match", "args": {"case_sensitiv": False}}],
        )
    assert err.value.field == "selected_metrics[0].args.case_sensitiv"
