"""The shell: log in, dashboard, the org/workspace switcher, messages, error pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import WorkspaceFactory
from tests.pages.conftest import HTMX
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db

PAGES = [
    "dashboard",
    "datasets:list",
    "datasets:create",
    "runs:list",
    "runs:new",
    "runs:new_config",
    "runs:config_list",
    "runs:config_create",
    "runs:prompt_list",
    "runs:agent_list",
    "runs:report_list",
]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_login_page_has_labelled_fields(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in html and '<label for="id_password">' in html


def test_logging_in_lands_on_the_dashboard(client, member):
    response = client.post(
        "/accounts/login/", {"username": "max", "password": "pw-for-tests"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "Dashboard" in response.content.decode()


def test_dashboard_counts_and_lists_recent_runs_live(client_for, member, finished_run, active_run):
    html = client_for(member).get("/").content.decode()
    assert "Recent runs" in html and "first" in html and "busy" in html
    assert 'hx-get="/runs/?limit=10"' in html and "every 2s" in html
    assert "Start a run" in html


def test_shell_has_navigation_switcher_and_csrf_header_for_htmx(client_for, member):
    html = client_for(member).get("/").content.decode()
    assert 'aria-label="Main"' in html
    assert 'id="scope-switcher"' in html and 'action="/scope/"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "vendor/htmx-2.0.11.min.js" in html
    assert "cdn" not in html.lower()


def test_switching_to_personal_scope_narrows_the_lists(client_for, member, org, dataset, qa_rows):
    make_dataset(owner=member, records=qa_rows, name="My own")
    client = client_for(member)
    listing = client.get("/datasets/").content.decode()
    assert "Acme QA" in listing and "My own" not in listing  # the first org is the default

    response = client.post("/scope/", {"org": "personal", "next": "/datasets/"})
    assert response.status_code == 302 and response["Location"] == "/datasets/"
    listing = client.get("/datasets/").content.decode()
    assert "My own" in listing and "Acme QA" not in listing

    client.post("/scope/", {"org": "all"})
    listing = client.get("/datasets/").content.decode()
    assert "My own" in listing and "Acme QA" in listing


def test_switching_over_htmx_reloads_the_page(client_for, member, org):
    response = client_for(member).post("/scope/", {"org": str(org.pk)}, **HTMX)
    assert response["HX-Refresh"] == "true"


def test_switching_to_an_org_you_are_not_in_is_refused(client_for, member, other_org):
    client = client_for(member)
    assert client.post("/scope/", {"org": str(other_org.pk)}).status_code == 400
    assert client.session.get("scope_org") is None


def test_a_workspace_narrows_lists_and_new_objects_default_to_it(
    client_for, member, org, owner, qa_rows
):
    workspace = WorkspaceFactory(organization=org, name="Support team")
    in_ws = make_dataset(owner=owner, organization=org, records=qa_rows, name="In workspace")
    in_ws.workspace = workspace
    in_ws.save()
    make_dataset(owner=owner, organization=org, records=qa_rows, name="Elsewhere")
    client = client_for(member)
    client.post("/scope/", {"org": str(org.pk), "workspace": str(workspace.pk)})
    listing = client.get("/datasets/").content.decode()
    assert "In workspace" in listing and "Elsewhere" not in listing
    form = client.get("/datasets/new/").content.decode()
    assert f'<option value="{workspace.pk}" selected>' in form


def test_a_workspace_of_another_org_is_dropped_when_switching(client_for, member, org, loner):
    personal = WorkspaceFactory(organization=None, owner=member, name="Scratch")
    client = client_for(member)
    client.post("/scope/", {"org": str(org.pk), "workspace": str(personal.pk)})
    assert client.session["scope_workspace"] is None


def test_viewer_scope_offers_no_create_buttons(client_for, viewer):
    client = client_for(viewer)
    for url in ("/datasets/", "/runs/", "/configs/", "/prompts/", "/agents/", "/reports/", "/"):
        html = client.get(url).content.decode()
        assert "btn-primary" not in html.split("</header>")[1].split('id="run-table"')[0], url


def test_messages_are_shown_after_a_redirect(client_for, member, org):
    response = client_for(member).post(
        "/datasets/new/", {"name": "Support", "kind": "static", "organization": org.pk}, follow=True
    )
    assert "Dataset “Support” created." in response.content.decode()


def test_not_found_page_keeps_the_shell(client_for, member):
    response = client_for(member).get("/datasets/999999/")
    assert response.status_code == 404
    assert "not shared with you" in response.content.decode()
