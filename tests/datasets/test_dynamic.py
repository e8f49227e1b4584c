"""Dynamic datasets: logged requests in, snapshots out (seed 000's refresh rules)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from datasets.models import DatasetVersion, LoggedRequest, Record
from datasets.services import dataset_create, dataset_refresh, logged_requests_ingest
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.models import AuditEvent
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def ingest(actor, org, **item):
    return logged_requests_ingest(
        actor=actor, organization=org, items=[{"prompt": "p", "response": "r", **item}]
    )


def dynamic(actor, org, **spec):
    return dataset_create(actor=actor, name="d", organization=org, kind="dynamic", filter=spec)


def test_refreshing_a_static_dataset_is_refused(member, org):
    static = dataset_create(actor=member, name="s", organization=org)
    with pytest.raises(PermissionDenied) as err:
        dataset_refresh(actor=member, dataset=static)
    assert err.value.code == "refresh_not_allowed" and err.value.status == 403
    assert err.value.message == "Dataset refresh is only allowed for dynamic datasets"


def test_a_refresh_that_matches_nothing_says_so_and_writes_nothing(member, org):
    ingest(member, org, model="gpt-4o")
    with pytest.raises(InvalidInput) as err:
        dataset_refresh(actor=member, dataset=dynamic(member, org, model="claude"))
    assert (err.value.code, err.value.status) == ("no_requests", 401)
    assert err.value.message == "No requests found for the given criteria"
    assert not DatasetVersion.objects.exists() and not Record.objects.exists()
    assert not AuditEvent.objects.filter(action="dataset.refresh").exists()


def test_a_refresh_snapshots_exactly_the_matching_requests(member, org, outsider, other_org):
    old = (timezone.now() - timedelta(days=10)).isoformat()
    chat = {"model": "gpt-4o", "tags": ["prod", "eu"], "metadata": {"app": "chat"}}
    ingest(member, org, **chat, prompt="refund please", response="ok")
    ingest(member, org, **{**chat, "tags": ["prod"]}, prompt="refund policy")  # lacks tag eu
    ingest(member, org, **{**chat, "metadata": {"app": "search"}}, prompt="refund")  # other app
    ingest(member, org, **chat, prompt="refund", requested_at=old)  # too old
    ingest(member, org, **{**chat, "model": "mini"}, prompt="refund")  # other model
    ingest(member, org, **chat, prompt="hello")  # no search hit
    ingest(outsider, other_org, **chat, prompt="refund")  # another org
    since = (timezone.now() - timedelta(days=1)).isoformat()
    dataset = dynamic(
        member,
        org,
        model="gpt-4o",
        tags=["prod", "eu"],
        metadata={"app": "chat"},
        search="REFUND",
        since=since,
    )
    version = dataset_refresh(actor=member, dataset=dataset)
    assert (version.number, version.record_count, version.source) == (1, 1, "refresh")
    record = version.records.get()
    assert record.input == "refund please" and record.actual_output == "ok"
    assert record.expected_output is None
    request = LoggedRequest.objects.get(prompt="refund please")
    assert record.metadata == {
        "app": "chat",
        "model": "gpt-4o",
        "tags": ["prod", "eu"],
        "requested_at": request.requested_at.isoformat(),
        "logged_request": str(request.uuid),
    }


def test_a_refresh_takes_the_oldest_requests_up_to_the_limit_before_until(member, org):
    base = datetime(2025, 3, 1, tzinfo=UTC)
    for day in range(6):
        ingest(
            member, org, prompt=f"day {day}", requested_at=(base + timedelta(days=day)).isoformat()
        )
    dataset = dynamic(member, org, until="2025-03-05T00:00:00", limit=3)  # naive means UTC
    version = dataset_refresh(actor=member, dataset=dataset)
    assert [r.input for r in version.records.order_by("index")] == ["day 0", "day 1", "day 2"]


def test_each_refresh_is_a_new_version_with_what_matches_now(member, org):
    dataset = dynamic(member, org, tags=["prod"])
    ingest(member, org, tags=["prod"], prompt="one")
    assert dataset_refresh(actor=member, dataset=dataset).record_count == 1
    ingest(member, org, tags=["prod"], prompt="two")
    second = dataset_refresh(actor=member, dataset=dataset)
    assert (second.number, second.record_count) == (2, 2)
    assert DatasetVersion.objects.get(number=1).records.count() == 1  # versions never change


def test_a_viewer_cannot_refresh_and_an_outsider_cannot_see(viewer, outsider, member, org):
    ingest(member, org)
    dataset = dynamic(member, org)
    with pytest.raises(PermissionDenied):
        dataset_refresh(actor=viewer, dataset=dataset)
    with pytest.raises(NotFound):
        dataset_refresh(actor=outsider, dataset=dataset)
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"modle": "x"}, "filter.modle"),
        ({"tags": "prod"}, "filter.tags"),
        ({"tags": ["a,b"]}, "filter.tags"),
        ({"metadata": ["x"]}, "filter.metadata"),
        ({"metadata": {"app__contains": "x"}}, "filter.metadata.app__contains"),
        ({"metadata": {"app": {"nested": 1}}}, "filter.metadata.app"),
        ({"search": 3}, "filter.search"),
        ({"since": "yesterday"}, "filter.since"),
        ({"until": "2025-13-01T00:00:00Z"}, "filter.until"),
        ({"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "filter.until"),
        ({"limit": 0}, "filter.limit"),
        ({"limit": 1_000_001}, "filter.limit"),
        ({"limit": True}, "filter.limit"),
    ],
)
def test_a_bad_filter_names_the_key(member, org, spec, field):
    with pytest.raises(InvalidInput) as err:
        dynamic(member, org, **spec)
    assert err.value.field == field


def test_filter_times_are_stored_in_utc(member, org):
    dataset = dynamic(member, org, since="2025-01-01T12:00:00+02:00", until="2025-01-02T00:00:00")
    assert dataset.filter == {
        "since": "2025-01-01T10:00:00+00:00",
        "until": "2025-01-02T00:00:00+00:00",  # no offset means UTC
    }


def test_a_static_dataset_has_no_filter(member, org):
    with pytest.raises(InvalidInput) as err:
        dataset_create(actor=member, name="s", organization=org, filter={"model": "x"})
    assert err.value.field == "filter"


# --- ingesting logged requests ---------------------------------------------------------


def test_ingest_stores_every_item_with_its_search_columns(member, org):
    created = logged_requests_ingest(
        actor=member,
        organization=org,
        items=[
            {"prompt": [{"role": "user", "content": "hi"}], "tags": ["a", "b"], "model": "m"},
            {"prompt": "plain", "requested_at": "2025-01-01T00:00:00Z", "prompt_tokens": 3},
        ],
    )
    assert len(created) == 2 == LoggedRequest.objects.filter(organization=org).count()
    first = LoggedRequest.objects.get(model="m")
    assert first.tags_text == ",a,b," and '"content": "hi"' in first.prompt_text
    assert LoggedRequest.objects.get(prompt_text="plain").requested_at == datetime(
        2025, 1, 1, tzinfo=UTC
    )
    assert AuditEvent.objects.get(action="logged_requests.ingest").data["count"] == 2


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"prompt": ""}, "items[1].prompt"),
        ({"tags": "prod"}, "items[1].tags"),
        ({"tags": [1]}, "items[1].tags"),
        ({"metadata": "x"}, "items[1].metadata"),
        ({"metadata": {"k": "nul \x00"}}, "items[1].metadata"),
        ({"response": 42}, "items[1].response"),
        ({"requested_at": "soon"}, "items[1].requested_at"),
        ({"prompt_tokens": -1}, "items[1].prompt_tokens"),
        ({"latency_ms": float("nan")}, "items[1].latency_ms"),
        ({"tags": ["t" * 100] * 30}, "items[1].tags"),
    ],
)
def test_ingest_names_the_bad_item_and_writes_nothing(member, org, bad, field):
    with pytest.raises(InvalidInput) as err:
        logged_requests_ingest(
            actor=member, organization=org, items=[{"prompt": "ok"}, {"prompt": "x", **bad}]
        )
    assert err.value.field == field
    assert not LoggedRequest.objects.exists()


def test_a_viewer_cannot_log_requests_into_the_org(viewer, org):
    with pytest.raises(PermissionDenied):
        ingest(viewer, org)


def test_requests_logged_into_a_workspace_belong_to_its_org(member, org, outsider, other_org):
    workspace = WorkspaceFactory(organization=org)
    (request,) = logged_requests_ingest(actor=member, workspace=workspace, items=[{"prompt": "p"}])
    assert request.organization == org
    with pytest.raises(NotFound):
        logged_requests_ingest(actor=outsider, workspace=workspace, items=[{"prompt": "p"}])


def test_a_refresh_larger_than_a_write_batch_keeps_every_request_in_order(member, org, monkeypatch):
    """Reading requests in chunks while writing records in batches (COPY on PostgreSQL)."""
    from datasets import services

    monkeypatch.setattr(services, "BATCH", 100)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        LoggedRequest(
            owner=member,
            organization=org,
            prompt=f"q{i}",
            requested_at=base + timedelta(seconds=i),
        )
        for i in range(2500)
    ]
    for row in rows:
        row.fill_derived()
    LoggedRequest.objects.bulk_create(rows)
    version = dataset_refresh(actor=member, dataset=dynamic(member, org))
    assert version.record_count == 2500 == version.records.count()
    assert version.records.get(index=2499).input == "q2499"
