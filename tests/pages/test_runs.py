"""Run pages: the live status table, run detail panels, cancel, re-run, export."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run, RunItem, RunStatus
from runs.services import run_create_from_dataset
from tests.pages.conftest import HTMX
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db


# --- the status table ----------------------------------------------------------------


def test_run_list_shows_the_orgs_runs_with_progress_pass_rate_and_cost(
    client_for, member, finished_run
):
    response = client_for(member).get("/runs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="run-table"' in html
    assert "first" in html
    assert "10/10" in html
    assert "70.0%" in html
    assert "every 2s" not in html


def test_status_table_polls_only_while_a_shown_run_is_active(client_for, owner, active_run):
    response = client_for(owner).get("/runs/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert not html.lstrip().startswith("<!doctype")
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="run-table"')
    assert 'hx-trigger="every 2s, runs-changed from:body"' in html
    assert 'data-polling="true"' in html


def test_status_table_answers_286_without_polling_attributes_when_nothing_is_active(
    client_for, owner, finished_run
):
    response = client_for(owner).get("/runs/", **HTMX)
    assert response.status_code == 286
    html = response.content.decode()
    assert "every 2s" not in html
    # It still refreshes when a run is created or cancelled.
    assert 'hx-trigger="runs-changed from:body"' in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_status_table_polling_stops_once_the_last_active_run_is_cancelled(
    client_for, owner, active_run
):
    client = client_for(owner)
    assert client.get("/runs/", **HTMX).status_code == 200
    client.post(f"/runs/{active_run.pk}/cancel/", **HTMX)
    response = client.get("/runs/", **HTMX)
    assert response.status_code == 286
    assert "Cancelled" in response.content.decode()


def test_run_list_filters_persist_in_the_url_and_narrow_the_rows(
    client_for, owner, org, dataset, finished_run, active_run, qa_rows, finish
):
    other = make_dataset(owner=owner, organization=org, records=qa_rows, name="Other QA")
    finish(run_create_from_dataset, actor=owner, dataset=other, alias="elsewhere")
    client = client_for(owner)

    by_dataset = client.get(f"/runs/?dataset={dataset.pk}", **HTMX).content.decode()
    assert "first" in by_dataset and "busy" in by_dataset and "elsewhere" not in by_dataset
    # The table re-polls with the same filters it was rendered with.
    assert f'hx-get="/runs/?dataset={dataset.pk}"' in by_dataset

    completed = client.get("/runs/?status=completed", **HTMX).content.decode()
    assert "first" in completed and "busy" not in completed

    active = client.get("/runs/?status=active").content.decode()
    assert "busy" in active and "first" not in active
    # The filter form shows the filter it applied.
    assert '<option value="active" selected>' in active


def test_run_list_filters_by_eval_config(client_for, owner, config_version, finished_run, finish):
    from runs.services import run_create

    finish(run_create, actor=owner, config_version=config_version, alias="by-config")
    html = client_for(owner).get(f"/runs/?config={config_version.config_id}").content.decode()
    assert "by-config" in html and "first" not in html


def test_run_list_query_count_does_not_grow_with_rows(
    client_for, owner, dataset, finish, django_assert_max_num_queries
):
    for i in range(12):
        finish(run_create_from_dataset, actor=owner, dataset=dataset, alias=f"r{i}")
    client = client_for(owner)
    # session, user, memberships, workspaces, count, runs: the same for 1 row or 25.
    with django_assert_max_num_queries(6):
        response = client.get("/runs/", **HTMX)
    assert response.content.decode().count('id="run-row-') == 12


ROW = "runs/partials/_run_row.html"


def poll_table(client, url="/runs/"):
    """The table fragment's HTML, and how many of its rows were rendered for this request."""
    response = client.get(url, **HTMX)
    assert response.status_code in (200, 286)
    return response.content.decode(), [t.name for t in response.templates].count(ROW)


def test_a_polled_table_renders_a_finished_run_once_and_shows_a_change_at_once(
    client_for, owner, finished_run, active_run
):
    client = client_for(owner)
    html, rendered = poll_table(client)
    assert rendered == 2 and "10/10" in html and "0/10" in html
    # The finished run's row comes from the cache; the active one is rendered each time.
    html, rendered = poll_table(client)
    assert rendered == 1 and "10/10" in html and "0/10" in html
    assert html.count('<tr id="run-row-') == 2
    # Counters written as the engine writes them, and even without updated_at:
    # a row is cached under everything it shows.
    Run.objects.filter(pk=finished_run.pk).update(completed_count=9)
    Run.objects.filter(pk=active_run.pk).update(
        status=RunStatus.RUNNING, completed_count=4, updated_at=timezone.now()
    )
    html, rendered = poll_table(client)
    assert rendered == 2 and "9/10" in html and "4/10" in html and "Running" in html


def test_a_cached_row_is_never_shown_to_a_user_who_may_not_see_the_run(
    client_for, owner, viewer, outsider, finished_run, active_run
):
    owners = client_for(owner)
    poll_table(owners)
    html, rendered = poll_table(owners)
    assert rendered == 1 and "first" in html and "btn-danger" in html
    # A viewer of the org sees the same rows, but may not cancel the active run...
    html, rendered = poll_table(client_for(viewer))
    assert rendered == 1 and "first" in html and "busy" in html and "btn-danger" not in html
    # ...and a user of another organization, polling the same URL, sees neither.
    html, _ = poll_table(client_for(outsider))
    assert "first" not in html and "busy" not in html and "No runs match." in html


def test_a_filter_shows_its_own_rows_whatever_is_cached(
    client_for, owner, dataset, finished_run, active_run, finish
):
    finish(run_create_from_dataset, actor=owner, dataset=dataset, alias="second")
    client = client_for(owner)
    assert poll_table(client, "/runs/?status=completed")[1] == 2
    html, rendered = poll_table(client, "/runs/?status=completed")
    assert rendered == 0 and "first" in html and "second" in html and "busy" not in html
    html, _ = poll_table(client, "/runs/?status=active")
    assert "busy" in html and "first" not in html and "second" not in html
    html, _ = poll_table(client, "/runs/?q=sec")
    assert "second" in html and "first" not in html and "busy" not in html
    html, _ = poll_table(client, "/runs/?limit=1")
    assert html.count('id="run-row-') == 1


def test_a_cached_row_shows_a_renamed_dataset(client_for, owner, dataset, finished_run):
    client = client_for(owner)
    poll_table(client)
    assert poll_table(client)[1] == 0
    dataset.name = "Acme QA, renamed"
    dataset.save()
    html, rendered = poll_table(client)
    assert rendered == 1 and "Acme QA, renamed" in html


def test_a_running_runs_duration_follows_the_clock_between_polls(
    client_for, owner, finished_run, active_run, monkeypatch
):
    started = timezone.now() - timedelta(seconds=30)
    Run.objects.filter(pk=active_run.pk).update(status=RunStatus.RUNNING, started_at=started)
    client = client_for(owner)
    html, _ = poll_table(client)
    assert re.search(r">3\d\.\d s<", html)
    later = timezone.now() + timedelta(seconds=60)
    monkeypatch.setattr(timezone, "now", lambda: later)
    html, rendered = poll_table(client)
    # The finished run's row comes from the cache; the running one is rendered now.
    assert rendered == 1 and re.search(r">9\d\.\d s<", html)


@pytest.mark.parametrize(
    "poll",
    ["status table", "summary panel", "run detail API"],
)
def test_polls_read_run_counters_and_never_the_items_or_scores(
    client_for, owner, finished_run, active_run, poll
):
    """What clients poll every second or two reads the run rows' counters and
    stored aggregates; aggregating items or scores per poll would make every
    poll cost as much as the run is large."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(owner)
    url, headers = {
        "status table": ("/runs/", HTMX),
        "summary panel": (f"/runs/{active_run.pk}/summary/?poll=1", HTMX),
        "run detail API": (f"/api/v1/runs/{finished_run.pk}/", {}),
    }[poll]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200
    touched = [q["sql"] for q in captured if "runs_runitem" in q["sql"] or "runs_score" in q["sql"]]
    assert touched == []


def test_outsider_sees_none_of_the_orgs_runs(client_for, outsider, finished_run):
    client = client_for(outsider)
    assert "first" not in client.get("/runs/").content.decode()
    assert client.get(f"/runs/{finished_run.pk}/").status_code == 404
    assert client.get(f"/runs/{finished_run.pk}/items/", **HTMX).status_code == 404
    assert client.get(f"/runs/{finished_run.pk}/export.csv").status_code == 404
    assert client.post(f"/runs/{finished_run.pk}/cancel/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, finished_run):
    for url in ("/runs/", f"/runs/{finished_run.pk}/", "/runs/new/config/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --- run detail -------------------------------------------------------------------


def test_run_detail_shows_aggregates_threshold_cost_and_charts(client_for, member, finished_run):
    response = client_for(member).get(f"/runs/{finished_run.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Passed: 70.0% of items passed, threshold 60%" in html
    assert "exact_match" in html
    assert 'id="run-chart-data"' in html
    data = json.loads(html.split('id="run-chart-data" type="application/json">')[1].split("<")[0])
    assert data["distributions"][0]["label"] == "exact_match"
    assert sum(data["distributions"][0]["counts"]) == 10
    assert data["distributions"][0]["counts"][0] == 3 and data["distributions"][0]["counts"][9] == 7
    assert data["history"]["pass_rates"] == [70.0]
    assert "chart-4.6.1.umd.min.js" in html


def test_run_detail_query_count_is_pinned(
    client_for, owner, finished_run, django_assert_max_num_queries
):
    client = client_for(owner)
    # Run, metrics, histogram (2), history, items (count, page, scores), and the shell's 4.
    with django_assert_max_num_queries(12):
        response = client.get(f"/runs/{finished_run.pk}/")
    assert response.status_code == 200


def test_summary_of_an_active_run_polls_and_reads_only_the_run(
    client_for, owner, active_run, django_assert_max_num_queries
):
    client = client_for(owner)
    # session, user, the run: a poll never touches the items table.
    with django_assert_max_num_queries(3):
        response = client.get(f"/runs/{active_run.pk}/summary/?poll=1", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="run-summary"')
    assert 'hx-trigger="every 1s"' in html
    assert "<html" not in html


def test_summary_stops_polling_and_announces_the_finish(client_for, owner, finished_run):
    response = client_for(owner).get(f"/runs/{finished_run.pk}/summary/?poll=1", **HTMX)
    assert response.status_code == 286
    assert "every 1s" not in response.content.decode()
    assert "run-finished" in response["HX-Trigger"]


def test_summary_without_htmx_is_the_detail_page(client_for, owner, finished_run):
    response = client_for(owner).get(f"/runs/{finished_run.pk}/summary/")
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{finished_run.pk}/"


def test_items_filter_to_failing_items_and_show_the_reasons(client_for, owner, finished_run):
    response = client_for(owner).get(f"/runs/{finished_run.pk}/items/?show=failed", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="run-items"')
    assert html.count('<details class="item"') == 3
    assert 'data-passed="true"' not in html
    assert "no idea" in html


def test_items_without_htmx_render_the_whole_filtered_page(client_for, owner, finished_run):
    html = client_for(owner).get(f"/runs/{finished_run.pk}/items/?show=passed").content.decode()
    assert "<html" in html
    assert html.count('<details class="item"') == 7


def test_items_are_paginated_and_searchable(client_for, owner, org, finish):
    rows = [
        {"input": f"q{i}", "expected_output": "a", "actual_output": f"out {i}"} for i in range(30)
    ]
    dataset = make_dataset(owner=owner, organization=org, records=rows)
    run = finish(run_create_from_dataset, actor=owner, dataset=dataset)
    client = client_for(owner)
    first = client.get(f"/runs/{run.pk}/items/", **HTMX).content.decode()
    assert first.count('<details class="item"') == 25
    assert "Page 1 of 2" in first
    second = client.get(f"/runs/{run.pk}/items/?page=2", **HTMX).content.decode()
    assert second.count('<details class="item"') == 5
    found = client.get(f"/runs/{run.pk}/items/?q=out+17", **HTMX).content.decode()
    assert found.count('<details class="item"') == 1


def test_record_content_and_outputs_are_escaped(client_for, owner, org, finish):
    rows = [
        {
            "input": "<script>alert('in')</script>",
            "expected_output": "<b>x</b>",
            "actual_output": "<img src=x onerror=alert(1)>",
        }
    ]
    dataset = make_dataset(owner=owner, organization=org, records=rows)
    run = finish(run_create_from_dataset, actor=owner, dataset=dataset)
    html = client_for(owner).get(f"/runs/{run.pk}/").content.decode()
    assert "<script>alert('in')</script>" not in html
    assert "&lt;script&gt;alert(&#x27;in&#x27;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# --- actions ------------------------------------------------------------------------


def test_viewer_sees_no_write_buttons_on_a_run(client_for, viewer, finished_run, active_run):
    client = client_for(viewer)
    finished = client.get(f"/runs/{finished_run.pk}/").content.decode()
    active = client.get(f"/runs/{active_run.pk}/").content.decode()
    assert "Pin as baseline" not in finished
    assert "Cancel run" not in active
    assert "/cancel/" not in client.get("/runs/").content.decode()
    # Reading and exporting stay open to viewers.
    assert "Export CSV" in finished


def test_viewer_cannot_cancel_a_run(client_for, viewer, active_run):
    response = client_for(viewer).post(f"/runs/{active_run.pk}/cancel/", **HTMX)
    assert response.status_code == 403
    active_run.refresh_from_db()
    assert active_run.status == "pending"


def test_viewer_cannot_rerun_failed_items(client_for, viewer, finished_run):
    assert client_for(viewer).post(f"/runs/{finished_run.pk}/rerun-failed/").status_code == 403


def test_member_cancels_an_active_run_and_tables_are_told(client_for, member, active_run):
    response = client_for(member).post(f"/runs/{active_run.pk}/cancel/", **HTMX)
    assert response.status_code == 200
    assert "runs-changed" in response["HX-Trigger"]
    assert response.content.decode().lstrip().startswith('<section id="run-summary"')
    active_run.refresh_from_db()
    assert active_run.status == "cancelled"
    assert not RunItem.objects.filter(run=active_run, status="pending").exists()


def test_cancel_without_htmx_redirects_to_the_run(client_for, member, active_run):
    response = client_for(member).post(f"/runs/{active_run.pk}/cancel/")
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{active_run.pk}/"


def test_rerun_failed_requeues_errored_items_until_they_pass(
    client_for, owner, org, fake_llm, judge_model, django_capture_on_commit_callbacks
):
    rows = [{"input": f"q{i}", "expected_output": "a", "actual_output": "a"} for i in range(3)]
    dataset = make_dataset(
        owner=owner, organization=org, records=rows, metrics=[("answer_correctness", {})]
    )
    fake_llm.set(always="400")  # a client error: not retried, so every item errors at once
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create_from_dataset(actor=owner, dataset=dataset, model_slug=judge_model.slug)
    run.refresh_from_db()
    assert run.error_count == 3
    client = client_for(owner)
    assert "Re-run 3 errored items" in client.get(f"/runs/{run.pk}/").content.decode()

    fake_llm.reset()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/runs/{run.pk}/rerun-failed/", **HTMX)
    assert response.status_code == 200
    assert "runs-changed" in response["HX-Trigger"]
    run.refresh_from_db()
    assert run.status == "completed" and run.error_count == 0


def test_export_csv_has_every_item_and_score_and_neutralises_formulas(
    client_for, viewer, org, owner, finish
):
    rows = [
        {"input": "q", "expected_output": "=1+1", "actual_output": "=1+1"},
        {"input": "r", "expected_output": "b", "actual_output": "c"},
    ]
    dataset = make_dataset(owner=owner, organization=org, records=rows)
    run = finish(run_create_from_dataset, actor=owner, dataset=dataset)
    response = client_for(viewer).get(f"/runs/{run.pk}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(table) == 2
    assert table[0]["output"] == "'=1+1"
    assert table[0]["exact_match.passed"] == "true"
    assert table[1]["exact_match.value"] == "0.0"


def test_export_jsonl_has_one_line_per_item(client_for, owner, finished_run):
    response = client_for(owner).get(f"/runs/{finished_run.pk}/export.jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    assert first["input"] == {"question": "What is 0 + 0?"}
    assert first["exact_match.passed"] is True


def test_unknown_export_format_is_404(client_for, owner, finished_run):
    assert client_for(owner).get(f"/runs/{finished_run.pk}/export.xlsx").status_code == 404


def test_run_counts_in_tabs_come_from_the_run_not_the_items(client_for, owner, finished_run):
    html = client_for(owner).get(f"/runs/{finished_run.pk}/").content.decode()
    assert "Failing (3)" in html and "Passing (7)" in html and "All items (10)" in html


def test_run_is_not_written_twice_by_the_status_table(client_for, owner, active_run):
    # Polling is read-only: nothing about the run changes because a page looked at it.
    before = Run.objects.get(pk=active_run.pk).updated_at
    client_for(owner).get("/runs/", **HTMX)
    client_for(owner).get(f"/runs/{active_run.pk}/summary/?poll=1", **HTMX)
    assert Run.objects.get(pk=active_run.pk).updated_at == before
