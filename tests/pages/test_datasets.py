"""Dataset pages: list and search, create, upload with preview and mapping, records, refresh."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset, DatasetVersion, Record
from datasets.services import dataset_create
from tests.factories import LoggedRequestFactory
from tests.pages.conftest import HTMX
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db


def jsonl(rows, name="data.jsonl"):
    body = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()
    return SimpleUploadedFile(name, body, content_type="application/x-ndjson")


@pytest.fixture
def empty_dataset(owner, org):
    return dataset_create(actor=owner, name="Fresh", organization=org)


# --- list -------------------------------------------------------------------------------


def test_list_shows_the_orgs_datasets_with_their_latest_size(client_for, member, dataset):
    html = client_for(member).get("/datasets/").content.decode()
    assert "Acme QA" in html
    assert ">10<" in html.replace(" ", "")


def test_search_answers_the_table_fragment_only(client_for, member, dataset, owner, org, qa_rows):
    make_dataset(owner=owner, organization=org, records=qa_rows, name="Billing FAQ")
    response = client_for(member).get("/datasets/?q=billing", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="dataset-table"')
    assert "<html" not in html
    assert "Billing FAQ" in html and "Acme QA" not in html
    assert "HX-Request" in response["Vary"]


def test_list_query_count_is_pinned(
    client_for, member, owner, org, qa_rows, django_assert_max_num_queries
):
    for i in range(8):
        make_dataset(owner=owner, organization=org, records=qa_rows[:2], name=f"D{i}")
    client = client_for(member)
    with django_assert_max_num_queries(6):
        response = client.get("/datasets/", **HTMX)
    assert response.content.decode().count("/datasets/") >= 8


def test_outsider_does_not_see_the_orgs_datasets(client_for, outsider, dataset):
    client = client_for(outsider)
    assert "Acme QA" not in client.get("/datasets/").content.decode()
    for url in (
        f"/datasets/{dataset.pk}/",
        f"/datasets/{dataset.pk}/records/",
        f"/datasets/{dataset.pk}/upload/",
        f"/datasets/{dataset.pk}/metrics/",
        f"/datasets/{dataset.pk}/v1/export.csv",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/datasets/{dataset.pk}/refresh/").status_code == 404


# --- create ------------------------------------------------------------------------------


def test_creating_a_static_dataset_leads_to_its_upload(client_for, member, org):
    response = client_for(member).post(
        "/datasets/new/", {"name": "Support", "kind": "static", "organization": org.pk}
    )
    dataset = Dataset.objects.get(name="Support")
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/{dataset.pk}/upload/"
    assert dataset.organization == org and dataset.owner == member


def test_creating_over_htmx_redirects_on_the_client(client_for, member, org):
    response = client_for(member).post(
        "/datasets/new/", {"name": "Support", "kind": "static", "organization": org.pk}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].endswith("/upload/")


def test_a_dynamic_dataset_keeps_its_filter(client_for, member, org):
    client_for(member).post(
        "/datasets/new/",
        {
            "name": "Prod traffic",
            "kind": "dynamic",
            "organization": org.pk,
            "filter_model": "gpt-4o-mini",
            "filter_tags": "prod, checkout",
            "filter_metadata": '{"env": "prod"}',
            "filter_limit": "500",
        },
    )
    dataset = Dataset.objects.get(name="Prod traffic")
    assert dataset.filter == {
        "model": "gpt-4o-mini",
        "tags": ["prod", "checkout"],
        "metadata": {"env": "prod"},
        "limit": 500,
    }


def test_bad_input_rerenders_with_errors_and_writes_nothing(client_for, member, org):
    response = client_for(member).post(
        "/datasets/new/",
        {"name": "", "kind": "dynamic", "organization": org.pk, "filter_metadata": "{nope"},
        **HTMX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="dataset-form"')
    assert "This field is required." in html and "Not valid JSON" in html
    assert not Dataset.objects.exists()


def test_viewer_cannot_create_a_dataset_in_the_org(client_for, viewer, org):
    response = client_for(viewer).post(
        "/datasets/new/", {"name": "Mine", "kind": "static", "organization": org.pk}
    )
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_viewer_may_create_a_personal_dataset(client_for, viewer):
    response = client_for(viewer).post("/datasets/new/", {"name": "Mine", "kind": "static"})
    assert response.status_code == 302
    assert Dataset.objects.get(name="Mine").organization is None


# --- detail and records ----------------------------------------------------------------


def test_detail_shows_versions_metrics_records_and_runs(client_for, member, dataset, finished_run):
    html = client_for(member).get(f"/datasets/{dataset.pk}/").content.decode()
    assert 'id="dataset-versions"' in html and 'id="dataset-records"' in html
    assert "exact_match" in html
    assert "What is 3 + 3?" in html
    assert 'id="run-table"' in html and "first" in html
    assert "Upload a new version" in html and "Choose metrics" in html


def test_viewer_sees_no_write_buttons_on_a_dataset(client_for, viewer, dataset):
    html = client_for(viewer).get(f"/datasets/{dataset.pk}/").content.decode()
    for label in ("Upload a new version", "Choose metrics", "Run with its metrics", "Refresh"):
        assert label not in html
    # Exports stay open to viewers.
    assert f"/datasets/{dataset.pk}/v1/export.csv" in html


def test_viewer_cannot_post_to_a_dataset(client_for, viewer, dataset):
    client = client_for(viewer)
    upload = jsonl([{"input": "q", "expected_output": "a"}])
    assert client.post(f"/datasets/{dataset.pk}/upload/", {"file": upload}).status_code == 403
    assert client.post(f"/datasets/{dataset.pk}/refresh/").status_code == 403
    assert (
        client.post(f"/datasets/{dataset.pk}/metrics/", {"m-0-metric": "exact_match"}).status_code
        == 403
    )
    assert (
        client.post(f"/datasets/{dataset.pk}/baseline/", {"run": 1, "action": "pin"}).status_code
        == 403
    )
    assert dataset.versions.count() == 1


def test_records_are_searchable_and_paginated_as_a_fragment(client_for, member, owner, org):
    rows = [{"input": f"question {i}", "expected_output": f"answer {i}"} for i in range(60)]
    dataset = make_dataset(owner=owner, organization=org, records=rows)
    client = client_for(member)
    page2 = client.get(f"/datasets/{dataset.pk}/records/?version=1&page=2", **HTMX).content.decode()
    assert page2.lstrip().startswith('<section id="dataset-records"')
    assert "question 25" in page2 and "question 24<" not in page2
    assert "Page 2 of 3" in page2
    found = client.get(f"/datasets/{dataset.pk}/records/?version=1&q=answer 42", **HTMX)
    html = found.content.decode()
    assert "question 42" in html and "question 41" not in html
    full = client.get(f"/datasets/{dataset.pk}/records/?version=1&page=2").content.decode()
    assert "<html" in full


def test_records_are_escaped(client_for, member, owner, org):
    rows = [{"input": "<script>alert(1)</script>", "expected_output": "<b>bold</b>"}]
    dataset = make_dataset(owner=owner, organization=org, records=rows)
    html = client_for(member).get(f"/datasets/{dataset.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_export_streams_a_version(client_for, viewer, dataset):
    response = client_for(viewer).get(f"/datasets/{dataset.pk}/v1/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 10 and rows[3]["expected_output"] == "6"


# --- upload ------------------------------------------------------------------------------


def test_upload_jsonl_makes_a_new_version(client_for, member, empty_dataset):
    upload = jsonl([{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)])
    response = client_for(member).post(
        f"/datasets/{empty_dataset.pk}/upload/", {"file": upload, "note": "first"}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/datasets/{empty_dataset.pk}/"
    version = empty_dataset.versions.get()
    assert version.record_count == 5 and version.note == "first"
    assert Record.objects.get(version=version, index=2).expected_output == "a2"


def test_upload_errors_name_every_bad_line_and_write_nothing(client_for, member, empty_dataset):
    upload = jsonl(
        [
            {"input": "ok", "expected_output": "a"},
            "{not json",
            {"input": "ok", "expected_output": "b"},
            "[1, 2]",
            {"expected_output": "no input"},
        ]
    )
    response = client_for(member).post(
        f"/datasets/{empty_dataset.pk}/upload/", {"file": upload}, **HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="upload-form"')
    assert "Line 2: not valid JSON" in html
    assert "Line 4: each line must be a JSON object" in html
    assert "Line 5:" in html
    assert not DatasetVersion.objects.filter(dataset=empty_dataset).exists()
    assert not Record.objects.exists()


def test_preview_shows_the_first_rows_and_guesses_the_mapping(client_for, member, empty_dataset):
    body = "prompt_text,gold,notes\n" + "".join(f"q{i},a{i},n{i}\n" for i in range(20))
    upload = SimpleUploadedFile("data.csv", body.encode(), content_type="text/csv")
    response = client_for(member).post(
        f"/datasets/{empty_dataset.pk}/upload/preview/", {"file": upload}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('<tr><td class="muted">') == 10
    for column in ("prompt_text", "gold", "notes"):
        assert f'<option value="{column}"' in html
    assert 'name="map-input"' in html and 'name="map-expected_output"' in html
    assert not DatasetVersion.objects.exists()


def test_import_applies_the_chosen_column_mapping(client_for, member, empty_dataset):
    body = "prompt_text,gold,notes\nWhat is 2+2?,4,easy\n"
    upload = SimpleUploadedFile("data.csv", body.encode(), content_type="text/csv")
    client_for(member).post(
        f"/datasets/{empty_dataset.pk}/upload/",
        {
            "file": upload,
            "map-input": "prompt_text",
            "map-expected_output": "gold",
            "map-actual_output": "-",
            "map-context": "-",
            "map-metadata": "-",
        },
    )
    record = Record.objects.get()
    assert record.input == "What is 2+2?" and record.expected_output == "4"
    assert record.metadata == {"notes": "easy"}


def test_preview_of_a_sample_cut_mid_line_ignores_the_cut(client_for, member, empty_dataset):
    body = (json.dumps({"input": "a"}) + "\n" + '{"input": "cut he').encode()
    upload = SimpleUploadedFile("big.jsonl", body)
    html = (
        client_for(member)
        .post(
            f"/datasets/{empty_dataset.pk}/upload/preview/", {"file": upload, "sample": "1"}, **HTMX
        )
        .content.decode()
    )
    assert "not valid JSON" not in html and 'name="map-input"' in html


def test_a_dynamic_dataset_cannot_take_uploads(client_for, member, owner, org):
    dynamic = dataset_create(actor=owner, name="Live", organization=org, kind="dynamic")
    response = client_for(member).post(
        f"/datasets/{dynamic.pk}/upload/", {"file": jsonl([{"input": "q"}])}, **HTMX
    )
    assert response.status_code == 422
    assert "come from refreshing it" in response.content.decode()


# --- dynamic refresh, metrics, baseline --------------------------------------------------------


def test_refresh_snapshots_matching_requests_into_a_new_version(client_for, member, owner, org):
    dynamic = dataset_create(
        actor=owner, name="Live", organization=org, kind="dynamic", filter={"model": "m1"}
    )
    LoggedRequestFactory.create_batch(3, owner=owner, organization=org, model="m1")
    LoggedRequestFactory(owner=owner, organization=org, model="other")
    response = client_for(member).post(f"/datasets/{dynamic.pk}/refresh/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="dataset-versions"')
    assert dynamic.versions.get().record_count == 3
    assert "version 1 holds 3 records" in html


def test_refresh_with_no_match_says_so_and_writes_nothing(client_for, member, owner, org):
    dynamic = dataset_create(
        actor=owner, name="Live", organization=org, kind="dynamic", filter={"model": "none"}
    )
    response = client_for(member).post(f"/datasets/{dynamic.pk}/refresh/", **HTMX)
    assert response.status_code == 422
    assert "No requests found for the given criteria" in response.content.decode()
    assert not dynamic.versions.exists()


def test_refreshing_a_static_dataset_is_refused_inline(client_for, member, dataset):
    response = client_for(member).post(f"/datasets/{dataset.pk}/refresh/", **HTMX)
    assert response.status_code == 422
    assert "only allowed for dynamic datasets" in response.content.decode()


def test_metrics_page_saves_the_picked_metrics_with_their_args(client_for, member, dataset):
    response = client_for(member).post(
        f"/datasets/{dataset.pk}/metrics/",
        {
            "m-0-metric": "contains",
            "m-0-args-shown": "contains",
            "m-0-arg-substrings": "refund\nbilling",
            "m-0-arg-mode": "any",
            "m-1-metric": "levenshtein",
            "m-1-args-shown": "levenshtein",
            "m-1-arg-threshold": "0.6",
            "m-1-arg-case_sensitive": "on",
        },
    )
    assert response.status_code == 302
    selected = list(dataset.selected_metrics.select_related("metric"))
    assert [s.metric.slug for s in selected] == ["contains", "levenshtein"]
    assert selected[0].args["substrings"] == ["refund", "billing"]
    assert selected[0].args["mode"] == "any"
    assert selected[1].args["threshold"] == 0.6


def test_metrics_page_names_the_bad_argument(client_for, member, dataset):
    response = client_for(member).post(
        f"/datasets/{dataset.pk}/metrics/",
        {"m-0-metric": "regex_match", "m-0-args-shown": "regex_match", "m-0-arg-pattern": ""},
        **HTMX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="m-0-arg-pattern-error"' in html
    assert "needs argument &#x27;pattern&#x27;" in html
    assert [s.metric.slug for s in dataset.selected_metrics.select_related("metric")] == [
        "exact_match"
    ]


def test_pin_and_unpin_the_baseline_run(client_for, member, dataset, finished_run):
    client = client_for(member)
    response = client.post(
        f"/datasets/{dataset.pk}/baseline/", {"run": finished_run.pk, "action": "pin"}, **HTMX
    )
    assert response.status_code == 200
    assert "Baseline of Acme QA" in response.content.decode()
    dataset.refresh_from_db()
    assert dataset.baseline_run == finished_run
    client.post(f"/datasets/{dataset.pk}/baseline/", {"run": finished_run.pk, "action": "unpin"})
    dataset.refresh_from_db()
    assert dataset.baseline_run is None


def test_an_active_run_cannot_be_the_baseline(client_for, member, dataset, active_run):
    response = client_for(member).post(
        f"/datasets/{dataset.pk}/baseline/", {"run": active_run.pk, "action": "pin"}, **HTMX
    )
    assert response.status_code == 422
    assert "Only a finished run can be a baseline." in response.content.decode()
