"""Datasets over the native API: create, read, update, delete, versions, records, files."""

import csv
import io
import json

import pytest

from datasets.models import Dataset, LoggedRequest
from tests.api.conftest import qa_rows
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture
def qa(member, org):
    return make_dataset(owner=member, organization=org, records=qa_rows(), name="Support QA")


def test_a_member_creates_an_org_dataset_with_selected_metrics(member_api, org):
    response = member_api.post(
        "/datasets/",
        {
            "name": "Support QA",
            "organization": org.pk,
            "selected_metrics": [{"metric": "exact_match"}, {"metric": 1, "args": {}}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization"] == org.pk and body["owner"] == "max"
    assert [m["slug"] for m in body["selected_metrics"]] == ["exact_match", "json_equal"]
    assert body["latest_version_number"] is None and body["record_count"] is None


def test_an_unknown_metric_argument_is_400_naming_it(member_api):
    response = member_api.post(
        "/datasets/",
        {"name": "QA", "selected_metrics": [{"metric": "exact_match", "args": {"nope": 1}}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("selected_metrics[0].args")


def test_a_missing_name_is_400_in_the_native_format(member_api):
    response = member_api.post("/datasets/", {"description": "no name"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "required", "message": "This field is required.", "field": "name"}
    }


def test_the_list_is_filtered_by_kind_and_search(member_api, member, org, qa):
    make_dataset(owner=member, organization=org, records=qa_rows(2), name="Billing")
    Dataset.objects.create(owner=member, name="Traffic", kind="dynamic")

    def names(params):
        return {d["name"] for d in member_api.get("/datasets/", params).json()["results"]}

    assert names({}) == {"Support QA", "Billing", "Traffic"}
    assert names({"kind": "dynamic"}) == {"Traffic"}
    assert names({"search": "bill"}) == {"Billing"}


def queries_for(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_the_list_costs_the_same_queries_for_one_dataset_or_many(member_api, member, org):
    make_dataset(owner=member, organization=org, records=qa_rows(2), name="D0")
    queries_for(member_api, "/datasets/")  # warm the key's last-use and throttle rows
    one = queries_for(member_api, "/datasets/")
    for i in range(1, 6):
        make_dataset(owner=member, organization=org, records=qa_rows(2), name=f"D{i}")
    assert queries_for(member_api, "/datasets/") == one


def test_detail_shows_the_latest_version(member_api, qa):
    body = member_api.get(f"/datasets/{qa.pk}/").json()
    assert body["latest_version_number"] == 1 and body["record_count"] == 10


def test_patch_renames_and_replaces_the_metrics(member_api, qa):
    response = member_api.patch(
        f"/datasets/{qa.pk}/",
        {"name": "Renamed", "selected_metrics": [{"metric": "levenshtein"}]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Renamed"
    assert [m["slug"] for m in body["selected_metrics"]] == ["levenshtein"]


def test_only_an_owner_role_deletes_someone_elses_org_dataset(member, org, owner_api, as_, key_for):
    dataset = make_dataset(owner=owner_api and member, organization=org, records=qa_rows(1))
    colleague = make_dataset(owner=None, organization=org, records=qa_rows(1))
    member_api = as_(key_for(member))
    assert member_api.delete(f"/datasets/{colleague.pk}/").status_code == 403
    assert member_api.delete(f"/datasets/{dataset.pk}/").status_code == 204  # their own
    assert owner_api.delete(f"/datasets/{colleague.pk}/").status_code == 204
    assert not Dataset.objects.exists()


def test_a_dataset_with_runs_cannot_be_deleted(world, owner_api):
    response = owner_api.delete(f"/datasets/{world.dataset.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_use"


def test_versions_are_listed_newest_first_and_readable_one_by_one(member_api, qa):
    member_api.post(f"/datasets/{qa.pk}/records/", {"records": [{"input": "q"}]})
    numbers = [
        v["number"] for v in member_api.get(f"/datasets/{qa.pk}/versions/").json()["results"]
    ]
    assert numbers == [2, 1]
    assert member_api.get(f"/datasets/{qa.pk}/versions/1/").json()["record_count"] == 10
    assert member_api.get(f"/datasets/{qa.pk}/versions/9/").status_code == 404


def test_cursor_pagination_walks_every_record_once_in_order(member_api, qa):
    seen, url, pages = [], f"/datasets/{qa.pk}/records/?page_size=3", 0
    while url:
        body = member_api.get(url).json()
        seen += [r["index"] for r in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == list(range(10)) and pages == 4


def test_page_sizes_are_capped(member_api, member):
    dataset = make_dataset(owner=member, records=qa_rows(3))
    body = member_api.get(f"/datasets/{dataset.pk}/records/?page_size=100000").json()
    assert len(body["results"]) == 3  # accepted, but never more than 500 per page
    from evalhub.api.pagination import IndexCursorPagination

    assert IndexCursorPagination.max_page_size == 500


def test_records_are_searchable(member_api, qa):
    body = member_api.get(f"/datasets/{qa.pk}/records/", {"search": "no idea"}).json()
    assert [r["index"] for r in body["results"]] == [7, 8, 9]


def test_records_of_an_older_version_by_number(member_api, qa):
    member_api.post(f"/datasets/{qa.pk}/records/", {"records": [{"input": "only"}]})
    assert len(member_api.get(f"/datasets/{qa.pk}/records/").json()["results"]) == 1
    old = member_api.get(f"/datasets/{qa.pk}/records/", {"version": 1}).json()["results"]
    assert len(old) == 10


def test_a_jsonl_upload_makes_a_new_version(member_api, qa):
    response = member_api.upload(
        f"/datasets/{qa.pk}/upload/", "more.jsonl", jsonl(qa_rows(4)), note="four"
    )
    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2 and response.json()["record_count"] == 4


def test_a_csv_upload_with_a_column_mapping(member_api, qa):
    content = b"q,a\nWhat is 1+1?,2\nCapital of France?,Paris\n"
    response = member_api.upload(
        f"/datasets/{qa.pk}/upload/",
        "qa.csv",
        content,
        mapping=json.dumps({"input": "q", "expected_output": "a"}),
    )
    assert response.status_code == 201, response.content
    records = member_api.get(f"/datasets/{qa.pk}/records/").json()["results"]
    assert records[1]["expected_output"] == "Paris"


@pytest.mark.parametrize(
    ("filename", "content", "line"),
    [
        ("bad.jsonl", b'{"input": "ok"}\n{"input": "ok"}\n{"input": oops}\n', "line 3"),
        ("nan.jsonl", b'{"input": "ok"}\n{"input": "x", "metadata": {"v": NaN}}\n', "line 2"),
        ("nul.jsonl", b'{"input": "ok"}\n{"input": "a\\u0000b"}\n', "line 2"),
        ("utf8.jsonl", b'{"input": "ok"}\n{"input": "\xff\xfe"}\n', "line 2"),
        ("ragged.csv", b"input,expected_output\nq1,a1\nq2,a2,extra\n", "line 3"),
    ],
)
def test_a_bad_line_is_a_400_naming_it_and_nothing_is_written(
    member_api, qa, filename, content, line
):
    response = member_api.upload(f"/datasets/{qa.pk}/upload/", filename, content)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == line
    assert qa.versions.count() == 1


def test_records_in_a_json_body_make_a_new_version(member_api, qa):
    response = member_api.post(
        f"/datasets/{qa.pk}/records/",
        {"records": [{"input": {"question": "2+2?"}, "expected_output": "4"}], "note": "ci"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["note"] == "ci" and response.json()["record_count"] == 1


def test_a_bad_record_in_a_json_body_names_it(member_api, qa):
    response = member_api.post(f"/datasets/{qa.pk}/records/", {"records": [{"input": "ok"}, {}]})
    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("records[1]")


def test_export_streams_csv_with_formulas_neutralised(member_api, member):
    dataset = make_dataset(
        owner=member, records=[{"input": '=HYPERLINK("x")', "expected_output": "+1"}], name="Q"
    )
    response = member_api.get(f"/datasets/{dataset.pk}/export/", {"format": "csv"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="Q-v1.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["input"] == '\'=HYPERLINK("x")' and rows[0]["expected_output"] == "'+1"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_export_in_json_formats(member_api, qa, fmt):
    response = member_api.get(f"/datasets/{qa.pk}/export/", {"format": fmt})
    body = b"".join(response.streaming_content).decode()
    records = json.loads(body) if fmt == "json" else [json.loads(x) for x in body.splitlines()]
    assert len(records) == 10


def test_an_unknown_export_format_is_400(member_api, qa):
    response = member_api.get(f"/datasets/{qa.pk}/export/", {"format": "xlsx"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "format"


def test_a_finished_run_is_pinned_as_baseline_and_unpinned(world, member_api):
    url = f"/datasets/{world.dataset.pk}/baseline/"
    assert member_api.post(url, {"run_id": world.run.pk}).json()["baseline_run"] == world.run.pk
    assert member_api.post(url, {"run_id": None}).json()["baseline_run"] is None


def test_another_datasets_run_cannot_be_the_baseline(world, member_api, member):
    other = make_dataset(owner=member, records=qa_rows(1))
    response = member_api.post(f"/datasets/{other.pk}/baseline/", {"run_id": world.run.pk})
    assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_dataset"


def test_logged_requests_are_ingested_one_or_many(member_api, org):
    one = member_api.post(
        f"/logged-requests/?organization={org.pk}", {"prompt": "Hi", "tags": ["a"]}
    )
    assert one.status_code == 201, one.content
    assert one.json()["count"] == 1 and one.json()["results"][0]["organization"] == org.pk
    many = member_api.post("/logged-requests/", [{"prompt": "A"}, {"prompt": "B", "model": "m"}])
    assert many.json()["count"] == 2
    listed = member_api.get("/logged-requests/", {"model": "m"}).json()["results"]
    assert [r["prompt"] for r in listed] == ["B"]


def test_a_bad_logged_request_names_the_item(member_api):
    response = member_api.post("/logged-requests/", [{"prompt": "A"}, {"tags": "x"}])
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "items[1].prompt"
    assert not LoggedRequest.objects.exists()


def test_a_dynamic_dataset_refreshes_from_logged_requests(member_api, member):
    member_api.post("/logged-requests/", [{"prompt": "Q1", "response": "A1", "tags": ["prod"]}])
    created = member_api.post(
        "/datasets/", {"name": "Prod", "kind": "dynamic", "filter": {"tags": ["prod"]}}
    ).json()
    response = member_api.post(f"/datasets/{created['id']}/refresh/")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "refresh" and response.json()["record_count"] == 1


def test_refreshing_a_static_dataset_is_403_and_no_match_is_401(member_api, qa):
    response = member_api.post(f"/datasets/{qa.pk}/refresh/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "refresh_not_allowed"
    empty = member_api.post(
        "/datasets/", {"name": "Empty", "kind": "dynamic", "filter": {"tags": ["none"]}}
    ).json()
    response = member_api.post(f"/datasets/{empty['id']}/refresh/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "no_requests"


def test_deleting_a_big_dataset_never_loads_its_records(owner_api, member):
    """The records go with one SQL DELETE: Django's cascade would build every
    Record in memory to check the run items protecting it (950 MB for 1M)."""
    from django.db.models.signals import post_init

    from datasets.models import Record

    dataset = make_dataset(
        owner=member, organization=member.memberships.get().organization, records=qa_rows(300)
    )
    built = []

    def count(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(count, sender=Record)
    try:
        assert owner_api.delete(f"/datasets/{dataset.pk}/").status_code == 204
    finally:
        post_init.disconnect(count, sender=Record)
    assert built == []
    assert not Record.objects.filter(version__dataset_id=dataset.pk).exists()
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_dataset_whose_records_runs_use_keeps_every_record(world, owner_api):
    from datasets.models import Record

    before = Record.objects.filter(version__dataset=world.dataset).count()
    response = owner_api.delete(f"/datasets/{world.dataset.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_use"
    assert Record.objects.filter(version__dataset=world.dataset).count() == before > 0
