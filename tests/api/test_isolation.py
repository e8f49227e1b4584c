"""The tenant-isolation matrix: every detail and action endpoint, for every kind of caller.

An outsider (another organization's key) gets 404 for what it may not see,
never a 403 that would confirm the object exists; a viewer may read but
every write is 403; without a key everything is 401. All in the one native
error envelope.
"""

import pytest

from datasets.models import LoggedRequest
from evalhub.models import Workspace

pytestmark = pytest.mark.django_db

# (path, given the world `w`) for reads a viewer may do.
READS = [
    lambda w: f"/datasets/{w.dataset.pk}/",
    lambda w: f"/datasets/{w.dataset.pk}/versions/",
    lambda w: f"/datasets/{w.dataset.pk}/versions/1/",
    lambda w: f"/datasets/{w.dataset.pk}/records/",
    lambda w: f"/datasets/{w.dataset.pk}/export/?format=csv",
    lambda w: f"/prompts/{w.prompt.pk}/",
    lambda w: f"/prompts/{w.prompt.pk}/versions/",
    lambda w: f"/prompts/{w.prompt.pk}/versions/1/",
    lambda w: f"/agents/{w.agent.pk}/",
    lambda w: f"/eval-configs/{w.config.pk}/",
    lambda w: f"/eval-configs/{w.config.pk}/versions/",
    lambda w: f"/eval-configs/{w.config.pk}/versions/1/",
    lambda w: f"/reports/{w.report.pk}/",
    lambda w: f"/runs/{w.run.pk}/",
    lambda w: f"/runs/{w.run.pk}/items/",
    lambda w: f"/runs/{w.run.pk}/export/?format=jsonl",
    lambda w: f"/runs/{w.run.pk}/compare/?with={w.run.pk}",
    lambda w: f"/runs/{w.run.pk}/gate/",
    lambda w: f"/logged-requests/{w.logged.pk}/",
    lambda w: f"/workspaces/{w.workspace.pk}/",
    lambda w: f"/organizations/{w.org.pk}/",
]

# (method, path, body) for writes on one object a viewer may see but not change.
WRITES = [
    ("patch", lambda w: f"/datasets/{w.dataset.pk}/", {"name": "Renamed"}),
    ("delete", lambda w: f"/datasets/{w.dataset.pk}/", None),
    ("post", lambda w: f"/datasets/{w.dataset.pk}/records/", {"records": [{"input": "q"}]}),
    ("upload", lambda w: f"/datasets/{w.dataset.pk}/upload/", None),
    ("post", lambda w: f"/datasets/{w.dataset.pk}/baseline/", {"run_id": None}),
    ("post", lambda w: f"/datasets/{w.dataset.pk}/refresh/", None),
    ("post", lambda w: f"/prompts/{w.prompt.pk}/versions/", {"template": "Hi {{ question }}"}),
    ("delete", lambda w: f"/prompts/{w.prompt.pk}/", None),
    ("patch", lambda w: f"/agents/{w.agent.pk}/", {"name": "Renamed"}),
    ("delete", lambda w: f"/agents/{w.agent.pk}/", None),
    (
        "post",
        lambda w: f"/eval-configs/{w.config.pk}/versions/",
        {"metrics": [{"metric": "exact_match"}]},
    ),
    ("delete", lambda w: f"/eval-configs/{w.config.pk}/", None),
    ("post", lambda w: f"/reports/{w.report.pk}/run/", {"name": "Tonight"}),
    ("delete", lambda w: f"/reports/{w.report.pk}/", None),
    ("post", lambda w: f"/runs/{w.run.pk}/cancel/", None),
    ("post", lambda w: f"/runs/{w.run.pk}/rerun-failed/", None),
    ("get", lambda w: f"/organizations/{w.org.pk}/members/", None),
    ("post", lambda w: f"/organizations/{w.org.pk}/members/", {"user": "max", "role": "viewer"}),
    ("patch", lambda w: f"/organizations/{w.org.pk}/members/{w.member.pk}/", {"role": "viewer"}),
    ("delete", lambda w: f"/organizations/{w.org.pk}/members/{w.member.pk}/", None),
]

# Creating in the organization: a viewer's role may not, an outsider cannot name it.
CREATES = [
    ("/datasets/", lambda w: {"name": "New", "organization": w.org.pk}),
    ("/prompts/", lambda w: {"name": "New", "template": "x", "organization": w.org.pk}),
    (
        "/agents/",
        lambda w: {
            "name": "New",
            "kind": "http",
            "endpoint_url": "http://x.test/",
            "organization": w.org.pk,
        },
    ),
    (
        "/eval-configs/",
        lambda w: {"name": "New", "metrics": [{"metric": 2}], "organization": w.org.pk},
    ),
    (
        "/reports/",
        lambda w: {
            "name": "New",
            "dataset_id": w.dataset.pk,
            "eval_config_id": w.config.pk,
            "organization": w.org.pk,
        },
    ),
    ("/workspaces/", lambda w: {"name": "New", "organization": w.org.pk}),
    ("/runs/", lambda w: {"dataset_id": w.dataset.pk}),
    ("/logged-requests/?organization={org}", lambda w: {"prompt": "hi"}),
]


@pytest.fixture
def w(world, member):
    world.member = member
    world.logged = LoggedRequest.objects.create(
        owner=member, organization=world.org, prompt="hello", response="hi"
    )
    world.workspace = Workspace.objects.create(name="Team", organization=world.org)
    return world


def send(client, method, path, body):
    if method == "upload":
        return client.upload(path, "d.jsonl", b'{"input": "q", "expected_output": "a"}\n')
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, body)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}
    if code:
        assert error["code"] == code


@pytest.mark.parametrize("path", READS)
def test_an_outsider_gets_404_for_every_object(w, outsider_api, path):
    assert_error(outsider_api.get(path(w)), 404)


@pytest.mark.parametrize("path", READS)
def test_a_viewer_may_read_every_object(w, viewer_api, path):
    response = viewer_api.get(path(w))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", READS)
def test_reads_without_a_key_are_401(w, anonymous, path):
    response = anonymous.get(path(w))
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_viewer_cannot_write(w, viewer_api, method, path, body):
    assert_error(send(viewer_api, method, path(w), body), 403)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_an_outsider_cannot_even_find_what_it_would_write(w, outsider_api, method, path, body):
    assert_error(send(outsider_api, method, path(w), body), 404)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_without_a_key_are_401(w, anonymous, method, path, body):
    assert_error(send(anonymous, method, path(w), body), 401)


@pytest.mark.parametrize(("path", "body"), CREATES)
def test_a_viewer_cannot_create_in_the_organization(w, viewer_api, path, body):
    assert_error(viewer_api.post(path.format(org=w.org.pk), body(w)), 403)


@pytest.mark.parametrize(("path", "body"), CREATES)
def test_an_outsider_cannot_create_in_the_organization(w, outsider_api, path, body):
    assert_error(outsider_api.post(path.format(org=w.org.pk), body(w)), 404)


def test_an_invalid_key_is_401_in_the_native_format(w, as_):
    assert_error(as_("eh_nope_nope").get("/datasets/"), 401, "authentication_failed")


def test_an_org_scoped_key_sees_only_its_organization(w, member, key_for, other_org, as_):
    from tests.runs.conftest import make_dataset

    private = make_dataset(owner=member, records=[{"input": "q", "actual_output": "a"}])
    scoped = as_(key_for(member, organization=w.org))
    ids = {d["id"] for d in scoped.get("/datasets/").json()["results"]}
    assert w.dataset.pk in ids and private.pk not in ids
    assert_error(scoped.get(f"/datasets/{private.pk}/"), 404)
    unscoped = as_(key_for(member))
    assert unscoped.get(f"/datasets/{private.pk}/").status_code == 200


def test_an_org_scoped_key_creates_in_its_organization(w, member, key_for, as_):
    scoped = as_(key_for(member, organization=w.org))
    response = scoped.post("/datasets/", {"name": "Scoped"})
    assert response.status_code == 201, response.content
    assert response.json()["organization"] == w.org.pk


def test_unknown_api_paths_are_404_in_the_native_format(w, member_api):
    assert_error(member_api.get("/no-such-thing/"), 404, "not_found")


def test_a_method_an_endpoint_lacks_is_405_in_the_native_format(w, member_api):
    assert_error(member_api.http.put(f"/api/v1/runs/{w.run.pk}/"), 405, "method_not_allowed")
