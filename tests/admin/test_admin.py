"""The admin console: every page renders for staff, nobody else gets in, keys are shown once."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from evalhub.models import ApiKey, AuditEvent, Membership
from runs.models import Run
from tests.factories import (
    AgentFactory,
    DatasetMetricFactory,
    EvalConfigMetricFactory,
    LoggedRequestFactory,
    PromptVersionFactory,
    ReportFactory,
    ScoreFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(org, owner, member):
    """At least one object of every registered model."""
    from evalhub import audit
    from runs.models import LanguageModel, ResponseCache

    WorkspaceFactory(organization=org)
    ApiKey.generate(user=member, name="ci", organization=org)
    audit.record("test.event", actor=owner, organization=org)
    DatasetMetricFactory(dataset__owner=member, dataset__organization=org)
    ScoreFactory()  # run, run metric, item, record, version, dataset
    LoggedRequestFactory(owner=member)
    PromptVersionFactory()
    AgentFactory()
    EvalConfigMetricFactory()
    ReportFactory()
    LanguageModel.objects.create(slug="m1", api_key="sk-secret")
    ResponseCache.objects.create(key="k" * 64, model="m1", content="{}")


def registered():
    return sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label)


@pytest.mark.parametrize(
    "model, model_admin", registered(), ids=lambda v: getattr(v, "__name__", "")
)
def test_every_changelist_add_and_change_page_renders_for_staff(
    client, staff, everything, model, model_admin
):
    client.force_login(staff)
    info = (model._meta.app_label, model._meta.model_name)
    assert client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    if model_admin.has_add_permission(type("R", (), {"user": staff})()):
        assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200
    obj = model.objects.first()
    if model._meta.app_label not in {"evalhub", "datasets", "runs"} and obj is None:
        return  # third-party admin (auth groups, django-q2 queues): nothing to open
    assert obj is not None, f"no {model.__name__} in the fixture"
    assert client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code == 200


@pytest.mark.parametrize(
    "url", ["admin:index", "admin:runs_run_changelist", "admin:evalhub_apikey_changelist"]
)
def test_non_staff_and_anonymous_users_are_sent_to_the_admin_login(client, member, url):
    for login in (False, True):
        if login:
            client.force_login(member)
        response = client.get(reverse(url))
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_adding_a_key_shows_it_once_and_stores_only_prefix_and_hash(client, staff, member):
    client.force_login(staff)
    response = client.post(
        reverse("admin:evalhub_apikey_add"),
        {"name": "ci", "user": member.pk, "organization": "", "expires_at": ""},
        follow=True,
    )
    assert response.status_code == 200
    raw = re.search(r"(eh_[0-9a-f]{8}_[\w-]+)", response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert all(raw not in str(v) for v in ApiKey.objects.filter(pk=key.pk).values().get().values())
    assert ApiKey.find(raw) == key
    again = client.get(reverse("admin:evalhub_apikey_change", args=[key.pk]))
    assert raw not in again.content.decode()


def test_the_revoke_action_revokes_and_audits(client, staff, member):
    key, raw = ApiKey.generate(user=member, name="ci")
    client.force_login(staff)
    client.post(
        reverse("admin:evalhub_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    assert ApiKey.find(raw) is None
    assert AuditEvent.objects.filter(action="apikey.revoke", target_id=str(key.pk)).exists()


def test_demoting_the_only_owner_in_the_org_inline_is_refused(client, staff, org, owner):
    membership = Membership.objects.get(user=owner)
    client.force_login(staff)
    data = {
        "name": org.name,
        "slug": org.slug,
        "monthly_budget_usd": "",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk,
        "memberships-0-organization": org.pk,
        "memberships-0-user": owner.pk,
        "memberships-0-role": "viewer",
        "workspaces-TOTAL_FORMS": "0",
        "workspaces-INITIAL_FORMS": "0",
        "workspaces-MIN_NUM_FORMS": "0",
        "workspaces-MAX_NUM_FORMS": "1000",
    }
    response = client.post(
        reverse("admin:evalhub_organization_change", args=[org.pk]), data, follow=True
    )
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == "owner"


def test_the_audit_log_cannot_be_added_to_changed_or_deleted(client, staff, owner, org):
    from evalhub import audit

    event = audit.record("x", actor=owner, organization=org)
    client.force_login(staff)
    assert client.get(reverse("admin:evalhub_auditevent_add")).status_code == 403
    page = client.get(reverse("admin:evalhub_auditevent_change", args=[event.pk])).content.decode()
    assert 'name="_save"' not in page
    client.post(reverse("admin:evalhub_auditevent_change", args=[event.pk]), {"action": "edited"})
    assert AuditEvent.objects.get(pk=event.pk).action == "x"
    assert (
        client.post(
            reverse("admin:evalhub_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )


def test_the_cancel_action_cancels_active_runs_only(client, staff):
    from tests.factories import RunFactory

    active, done = RunFactory(status="running"), RunFactory(status="completed")
    client.force_login(staff)
    client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "cancel_runs", "_selected_action": [active.pk, done.pk]},
    )
    assert Run.objects.get(pk=active.pk).status == "cancelled"
    assert Run.objects.get(pk=done.pk).status == "completed"


def test_the_model_catalogue_never_shows_a_stored_key(client, staff):
    from runs.models import LanguageModel

    model = LanguageModel.objects.create(slug="secret-model", api_key="sk-very-secret")
    client.force_login(staff)
    page = client.get(reverse("admin:runs_languagemodel_change", args=[model.pk])).content.decode()
    assert "sk-very-secret" not in page


@pytest.mark.parametrize(
    "changelist", ["admin:runs_run_changelist", "admin:evalhub_apikey_changelist"]
)
def test_changelist_queries_do_not_grow_with_rows(
    client, staff, member, changelist, django_assert_max_num_queries
):
    from tests.factories import RunFactory

    for i in range(30):
        RunFactory(owner=member)
        ApiKey.generate(user=member, name=f"k{i}")
    client.force_login(staff)
    with django_assert_max_num_queries(15):
        assert client.get(reverse(changelist)).status_code == 200
