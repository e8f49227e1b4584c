"""Runs over the native API: start (both ways, idempotently), list, detail, items,
cancel, re-run, export, compare, gate, and a script's whole round trip."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import ItemStatus, Run, RunItem, RunStatus
from tests.api.conftest import finished_run, qa_rows
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db


def test_a_run_from_a_dataset_starts_and_finishes(
    world, member_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_api.post(
            "/runs/", {"dataset_id": world.dataset.pk, "threshold": 70, "alias": "nightly"}
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["alias"] == "nightly" and body["source"] == "api" and body["item_count"] == 10
    polled = member_api.get(f"/runs/{body['id']}/").json()
    assert polled["status"] == "completed" and polled["pass_rate"] == 70
    assert polled["is_gte_threshold"] is True
    (metric,) = polled["metrics"]
    assert metric["label"] == "exact_match" and metric["passed_count"] == 7


def test_a_run_of_a_config_version_on_a_subset_of_records(world, member_api):
    records = list(world.version.records.order_by("index")[:3])
    response = member_api.post(
        "/runs/",
        {
            "config_version_id": world.config_version.pk,
            "dataset_version_id": world.version.pk,
            "record_ids": [str(r.uuid) for r in records],
            "name": "subset",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["item_count"] == 3 and response.json()["config_version"]


def test_both_or_neither_shape_is_400(world, member_api):
    for body in ({}, {"dataset_id": 1, "config_version_id": 1}):
        response = member_api.post("/runs/", body)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "dataset_id"


def test_seed_rules_surface_as_native_errors(world, member_api):
    unknown_model = member_api.post("/runs/", {"dataset_id": world.dataset.pk, "model_slug": "x"})
    assert unknown_model.status_code == 404
    assert unknown_model.json()["error"] == {
        "code": "unknown_model",
        "message": "model_slug 'x' is not a documented model slug.",
        "field": "model_slug",
    }
    bad_arg = member_api.post(
        "/runs/", {"dataset_id": world.dataset.pk, "metric_args": {"2": {"nope": True}}}
    )
    assert bad_arg.status_code == 400
    assert bad_arg.json()["error"]["field"].startswith("metric_args.2")


def test_the_same_idempotency_key_twice_starts_one_run(world, member_api):
    body = {"dataset_id": world.dataset.pk, "threshold": 50}
    first = member_api.post("/runs/", body, HTTP_IDEMPOTENCY_KEY="retry-123")
    second = member_api.post("/runs/", body, HTTP_IDEMPOTENCY_KEY="retry-123")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Run.objects.filter(idempotency_key="retry-123").count() == 1


def test_an_idempotency_key_reused_for_another_request_is_409(world, member_api, member):
    other = make_dataset(owner=member, records=qa_rows(2))
    member_api.post("/runs/", {"dataset_id": world.dataset.pk}, HTTP_IDEMPOTENCY_KEY="k")
    response = member_api.post("/runs/", {"dataset_id": other.pk}, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "Idempotency-Key"


def test_a_blocking_run_answers_when_finished(member, org, member_api, transactional_db):
    dataset = make_dataset(owner=member, organization=org, records=qa_rows(4))
    response = member_api.post("/runs/", {"dataset_id": dataset.pk, "block": True})
    assert response.status_code == 201
    assert response.json()["status"] == "completed" and response.json()["finished_at"]


def test_the_run_list_filters(world, member_api, member, django_capture_on_commit_callbacks):
    other = make_dataset(owner=member, records=qa_rows(2), name="Other")
    later = finished_run(
        django_capture_on_commit_callbacks, actor=member, dataset=other, alias="special"
    )
    Run.objects.filter(pk=world.run.pk).update(created_at="2020-01-01T00:00:00Z")

    def ids(**params):
        return [r["id"] for r in member_api.get("/runs/", params).json()["results"]]

    assert ids() == [later.pk, world.run.pk]
    assert ids(dataset=world.dataset.pk) == [world.run.pk]
    assert ids(alias="special") == [later.pk]
    assert ids(search="speci") == [later.pk]
    assert ids(status="completed") == [later.pk, world.run.pk]
    assert ids(status="running") == []
    assert ids(source="api") == [later.pk, world.run.pk]
    assert ids(created_before="2021-01-01T00:00:00Z") == [world.run.pk]
    assert ids(created_after="2021-01-01T00:00:00Z") == [later.pk]
    assert ids(ordering="created_at") == [world.run.pk, later.pk]


def test_a_bad_filter_value_is_400(world, member_api):
    response = member_api.get("/runs/", {"status": "sleeping"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "status"


def test_items_carry_scores_and_filter_by_outcome_and_metric(world, member_api):
    url = f"/runs/{world.run.pk}/items/"
    items = member_api.get(url).json()["results"]
    assert len(items) == 10 and items[0]["scores"][0]["label"] == "exact_match"
    failed = member_api.get(url, {"outcome": "failed"}).json()["results"]
    assert [i["index"] for i in failed] == [7, 8, 9]
    assert len(member_api.get(url, {"outcome": "passed"}).json()["results"]) == 7
    by_metric = member_api.get(url, {"metric": "exact_match", "passed": "false"}).json()
    assert [i["index"] for i in by_metric["results"]] == [7, 8, 9]
    assert member_api.get(url, {"metric": "levenshtein"}).json()["results"] == []
    assert member_api.get(url, {"outcome": "error"}).json()["results"] == []


def test_cursor_pagination_walks_every_item(world, member_api):
    seen, url = [], f"/runs/{world.run.pk}/items/?page_size=4"
    while url:
        body = member_api.get(url).json()
        seen += [i["index"] for i in body["results"]]
        url = body["next"]
    assert seen == list(range(10))


def test_a_pending_run_is_cancelled(world, member_api):
    created = member_api.post("/runs/", {"dataset_id": world.dataset.pk}).json()  # not executed
    response = member_api.post(f"/runs/{created['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert not RunItem.objects.filter(run_id=created["id"], status=ItemStatus.PENDING).exists()


def test_rerun_failed_requeues_only_errored_items(
    world, member_api, django_capture_on_commit_callbacks
):
    RunItem.objects.filter(run=world.run, index__in=[8, 9]).update(
        status=ItemStatus.ERROR, error="boom"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = member_api.post(f"/runs/{world.run.pk}/rerun-failed/")
    assert response.status_code == 200, response.content
    assert response.json()["queued"] == 2
    world.run.refresh_from_db()
    assert world.run.status == RunStatus.COMPLETED
    assert not world.run.items.filter(status=ItemStatus.ERROR).exists()


def test_rerun_of_an_active_run_is_409(world, member_api):
    created = member_api.post("/runs/", {"dataset_id": world.dataset.pk}).json()
    response = member_api.post(f"/runs/{created['id']}/rerun-failed/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "run_active"


def test_export_streams_items_with_scores(world, member_api):
    response = member_api.get(f"/runs/{world.run.pk}/export/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 10 and rows[9]["exact_match.passed"] == "false"
    lines = b"".join(
        member_api.get(f"/runs/{world.run.pk}/export/", {"format": "jsonl"}).streaming_content
    ).splitlines()
    assert json.loads(lines[0])["exact_match.value"] == 1.0


def test_export_neutralises_formulas(member, member_api, django_capture_on_commit_callbacks):
    dataset = make_dataset(
        owner=member, records=[{"input": "q", "expected_output": "=1+1", "actual_output": "=1+1"}]
    )
    run = finished_run(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    body = b"".join(
        member_api.get(f"/runs/{run.pk}/export/", {"format": "csv"}).streaming_content
    ).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["output"] == "'=1+1" and row["expected_output"] == "'=1+1"


def test_compare_and_gate_over_the_api(
    world, member_api, member, django_capture_on_commit_callbacks
):
    worse = finished_run(
        django_capture_on_commit_callbacks, actor=member, dataset=world.dataset, threshold=90
    )
    body = member_api.get(f"/runs/{worse.pk}/compare/", {"with": world.run.pk}).json()
    assert body["base_run_id"] == world.run.pk and body["shared_items"] == 10
    assert body["mcnemar"]["regressed"] == 0 and body["pass_rate"]["delta"] == 0
    member_api.post(f"/datasets/{world.dataset.pk}/baseline/", {"run_id": world.run.pk})
    gate = member_api.get(f"/runs/{worse.pk}/gate/").json()
    assert gate["verdict"] == "fail" and gate["baseline_run_id"] == world.run.pk
    assert gate["reasons"] == ["Pass rate 70 % < threshold 90 %."]


def test_compare_needs_a_visible_other_run(
    world, member_api, outsider, django_capture_on_commit_callbacks
):
    hidden = make_dataset(owner=outsider, records=qa_rows(2))
    theirs = finished_run(django_capture_on_commit_callbacks, actor=outsider, dataset=hidden)
    missing = member_api.get(f"/runs/{world.run.pk}/compare/")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "with"
    hidden_run = member_api.get(f"/runs/{world.run.pk}/compare/", {"with": theirs.pk})
    assert hidden_run.status_code == 404 and hidden_run.json()["error"]["field"] == "with"


def test_a_script_uploads_runs_polls_and_downloads(
    member_api, org, django_capture_on_commit_callbacks
):
    """The walk-through of docs/api-walkthrough.md, as a test."""
    dataset = member_api.post(
        "/datasets/",
        {"name": "CI set", "organization": org.pk, "selected_metrics": [{"metric": "exact_match"}]},
    ).json()
    rows = "".join(json.dumps(r) + "\n" for r in qa_rows(6, right=5)).encode()
    upload = member_api.upload(f"/datasets/{dataset['id']}/upload/", "ci.jsonl", rows)
    assert upload.status_code == 201, upload.content
    with django_capture_on_commit_callbacks(execute=True):
        run = member_api.post(
            "/runs/", {"dataset_id": dataset["id"], "threshold": 80}, HTTP_IDEMPOTENCY_KEY="ci-1"
        ).json()
    assert member_api.get(f"/runs/{run['id']}/").json()["status"] == "completed"
    failed = member_api.get(f"/runs/{run['id']}/items/", {"outcome": "failed"}).json()["results"]
    assert [i["index"] for i in failed] == [5]
    export = member_api.get(f"/runs/{run['id']}/export/", {"format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))) == 6
    assert member_api.get(f"/runs/{run['id']}/gate/").json()["verdict"] == "pass"


def test_the_run_list_and_items_cost_the_same_queries_for_few_or_many(
    world, member_api, member, django_capture_on_commit_callbacks
):
    from tests.api.test_datasets import queries_for

    queries_for(member_api, "/runs/")  # warm the key's last-use and throttle rows
    runs, items = (
        queries_for(member_api, "/runs/"),
        queries_for(member_api, f"/runs/{world.run.pk}/items/?page_size=2"),
    )
    for _ in range(4):
        finished_run(django_capture_on_commit_callbacks, actor=member, dataset=world.dataset)
    assert queries_for(member_api, "/runs/") == runs
    assert queries_for(member_api, f"/runs/{world.run.pk}/items/?page_size=8") == items


# --- polling the run detail ----------------------------------------------------------


def poll(client, run, **headers):
    """GET the run detail: the response, and whether it was built afresh (read the metrics)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/runs/{run.pk}/", **headers)
    return response, any("runs_runmetric" in q["sql"] for q in captured)


def test_a_repeated_poll_reuses_the_representation_until_a_counter_changes(world, member_api):
    first, built = poll(member_api, world.run)
    again, rebuilt = poll(member_api, world.run)
    assert built and not rebuilt
    assert again.json() == first.json()
    # A batch of results written, as runs.engine.execute.write_results writes it.
    Run.objects.filter(pk=world.run.pk).update(completed_count=9, updated_at=timezone.now())
    changed, rebuilt = poll(member_api, world.run)
    assert rebuilt and changed.json()["completed_count"] == 9
    assert changed.json()["metrics"] == first.json()["metrics"]


def test_a_poll_sees_a_change_made_without_touching_updated_at(world, member_api):
    poll(member_api, world.run)
    assert not poll(member_api, world.run)[1]
    # update() skips auto_now: the representation is keyed by the row's state, not updated_at.
    Run.objects.filter(pk=world.run.pk).update(status=RunStatus.RUNNING, finished_at=None)
    changed, rebuilt = poll(member_api, world.run)
    assert rebuilt and changed.json()["status"] == "running"


def test_an_unchanged_run_answers_304_to_its_etag(world, member_api):
    url = f"/runs/{world.run.pk}/"
    first = member_api.get(url)
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]
    unchanged = member_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == first["ETag"]
    Run.objects.filter(pk=world.run.pk).update(passed_count=6, updated_at=timezone.now())
    changed = member_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed.json()["passed_count"] == 6
    assert changed["ETag"] != first["ETag"]


def test_a_running_runs_duration_follows_the_clock_between_cached_polls(world, member_api):
    started = timezone.now() - timedelta(seconds=30)
    Run.objects.filter(pk=world.run.pk).update(
        status=RunStatus.RUNNING, started_at=started, finished_at=None
    )
    first, _ = poll(member_api, world.run)
    second, rebuilt = poll(member_api, world.run, HTTP_IF_NONE_MATCH=first["ETag"])
    assert not rebuilt
    # Its duration moved on, so the body changed: a 200 with a new ETag, never a 304.
    assert second.status_code == 200 and second["ETag"] != first["ETag"]
    assert second.json()["duration_seconds"] > first.json()["duration_seconds"] >= 30


def test_an_outsider_gets_404_for_a_cached_run_even_with_its_etag(world, member_api, outsider_api):
    poll(member_api, world.run)
    cached, rebuilt = poll(member_api, world.run)
    assert not rebuilt
    for headers in ({}, {"HTTP_IF_NONE_MATCH": cached["ETag"]}):
        response = outsider_api.get(f"/runs/{world.run.pk}/", **headers)
        assert response.status_code == 404
        assert "completed_count" not in response.content.decode()


def test_every_field_of_the_run_detail_is_in_the_poll_caches_key():
    """A field not read off the run's row needs a place in run_detail_digest, or a
    cached poll would not see it change."""
    from runs.api.serializers import RunDetailSerializer
    from runs.api.views import DETAIL_COLUMNS

    columns = {f.name for f in Run._meta.concrete_fields if f.attname in DETAIL_COLUMNS}
    # owner and judge_model are columns whose username and slug the digest adds;
    # progress_percent is computed from the row, duration_seconds is set per response and
    # the metrics change only with the run's status (runs.engine.finalize).
    assert {"owner", "judge_model"} <= columns
    assert set(RunDetailSerializer.Meta.fields) - columns == {
        "progress_percent",
        "duration_seconds",
        "metrics",
    }
