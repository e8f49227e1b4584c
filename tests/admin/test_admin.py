"""The admin console: every page renders for staff, nobody else gets in, keys are shown once,
services guard members and keys, runs can be cancelled, and lists cost the same for any size."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from datasets.models import Dataset, LoggedRequest, Record
from evalhub import audit
from evalhub.models import ApiKey, AuditEvent, Membership, Organization, Shareable
from runs.models import LanguageModel, Metric, RateLimitState, ResponseCache, Run, RunItem, Score
from tests.factories import (
    AgentFactory,
    DatasetFactory,
    DatasetMetricFactory,
    EvalConfigMetricFactory,
    LoggedRequestFactory,
    MembershipFactory,
    OrganizationFactory,
    PromptVersionFactory,
    ReportFactory,
    RunFactory,
    ScoreFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

OUR_APPS = {"evalhub", "datasets", "runs"}


def url(name, *args, query=""):
    return reverse(f"admin:{name}", args=args) + (f"?{query}" if query else "")


def admin_url(model, view, *args):
    return url(f"{model._meta.app_label}_{model._meta.model_name}_{view}", *args)


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def request_for(user, rf):
    request = rf.get("/admin/")
    request.user = user
    return request


@pytest.fixture
def everything(org, owner, member):
    """At least one object of every model the admin shows."""
    WorkspaceFactory(organization=org)
    ApiKey.generate(user=member, name="ci", organization=org)
    audit.record("test.event", actor=owner, organization=org)
    DatasetMetricFactory(dataset__owner=member, dataset__organization=org)
    ScoreFactory()  # a run, its run metric, an item, a record, a version, a dataset
    LoggedRequestFactory(owner=member)
    PromptVersionFactory()
    AgentFactory()
    EvalConfigMetricFactory()
    ReportFactory()
    LanguageModel.objects.create(slug="m1", api_key="sk-secret")
    ResponseCache.objects.create(key="k" * 64, model="m1", content="{}")
    RateLimitState.objects.create(key="ratelimit:m1")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


# --- Every page renders, for staff only -------------------------------------------------


@pytest.mark.parametrize(
    "model, model_admin", registered(), ids=lambda v: getattr(v, "__name__", "")
)
def test_every_changelist_add_and_change_page_renders_for_a_superuser(
    admin_client, staff, rf, everything, model, model_admin
):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    if model_admin.has_add_permission(request_for(staff, rf)):
        assert admin_client.get(admin_url(model, "add")).status_code == 200
    obj = model.objects.first()
    if obj is None and model._meta.app_label not in OUR_APPS:
        return  # auth groups, django-q2 queues: nothing to open
    assert obj is not None, f"the fixture has no {model.__name__}"
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_every_model_of_the_three_apps_is_in_the_admin_or_inline_in_its_parent():
    from django.apps import apps

    inline_models = {
        inline.model
        for model_admin in admin.site._registry.values()
        for inline in model_admin.inlines
    }
    for label in OUR_APPS:
        for model in apps.get_app_config(label).get_models():
            assert model in admin.site._registry or model in inline_models, model


@pytest.mark.parametrize(
    "model, model_admin",
    [(m, a) for m, a in registered() if issubclass(m, Shareable)],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_shareable_model_groups_owner_org_and_workspace_under_sharing(
    staff, rf, everything, model, model_admin
):
    request = request_for(staff, rf)
    for obj in (None, model.objects.first()):
        fieldsets = dict(model_admin.get_fieldsets(request, obj))
        assert {"owner", "organization", "workspace"} <= set(fieldsets["Sharing"]["fields"])
    assert "visibility" in model_admin.get_list_display(request)


def test_visibility_reads_private_org_and_org_only(org, member):
    model_admin = admin.site._registry[Dataset]
    private = DatasetFactory(owner=member)
    shared = DatasetFactory(owner=member, organization=org)
    org_only = DatasetFactory(owner=None, organization=org)
    assert model_admin.visibility(private) == "private"
    assert model_admin.visibility(shared) == "org: Acme"
    assert model_admin.visibility(org_only) == "org-only: Acme"


def test_the_visibility_filter_narrows_the_list(admin_client, org, member):
    DatasetFactory(name="mine alone", owner=member)
    DatasetFactory(name="for the team", owner=None, organization=org)
    page = admin_client.get(
        admin_url(Dataset, "changelist") + "?visibility=org-only"
    ).content.decode()
    assert "for the team" in page
    assert "mine alone" not in page


@pytest.mark.parametrize("name", ["index", "runs_run_changelist", "evalhub_apikey_changelist"])
def test_a_logged_in_non_staff_user_is_sent_to_the_admin_login(client, member, name):
    client.force_login(member)
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", ["index", "runs_run_changelist", "evalhub_apikey_changelist"])
def test_an_anonymous_user_is_sent_to_the_admin_login(client, name):
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_permissions_see_no_runs(client):
    client.force_login(UserFactory(username="temp", is_staff=True))
    assert client.get(admin_url(Run, "changelist")).status_code == 403


def test_staff_who_may_only_view_runs_cannot_cancel_them(client):
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_run"))
    run = RunFactory(status="running")
    client.force_login(clerk)
    page = client.get(admin_url(Run, "changelist")).content.decode()
    assert "cancel_runs" not in page
    client.post(
        admin_url(Run, "changelist"), {"action": "cancel_runs", "_selected_action": [run.pk]}
    )
    assert Run.objects.get(pk=run.pk).status == "running"


def test_a_uuid_in_the_search_box_finds_that_object(admin_client):
    wanted = RunFactory(name="wanted")
    RunFactory(name="other")
    page = admin_client.get(admin_url(Run, "changelist") + f"?q={wanted.uuid}").content.decode()
    assert "wanted" in page
    assert "other" not in page
    record = ScoreFactory().item.record
    page = admin_client.get(admin_url(Record, "changelist") + f"?q={record.uuid}").content.decode()
    assert "1 result" in page


# --- API keys -------------------------------------------------------------------------


def add_key(client, **fields):
    data = {"name": "ci", "user": "", "organization": "", "expires_at_0": "", "expires_at_1": ""}
    return client.post(admin_url(ApiKey, "add"), {**data, **fields}, follow=True)


def test_adding_a_key_shows_it_once_and_stores_only_prefix_and_hash(admin_client, member):
    response = add_key(admin_client, user=member.pk)
    assert response.status_code == 200
    raw = re.search(r"eh_[0-9a-f]{8}_[\w-]+", response.content.decode()).group(0)
    assert "copy it now, it will not be shown again" in response.content.decode()
    key = ApiKey.objects.get()
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(raw not in str(value) for value in row.values())
    assert row["key_hash"] == ApiKey.digest(raw)
    assert ApiKey.find(raw) == key
    assert raw not in str(dict(admin_client.session))
    again = admin_client.get(admin_url(ApiKey, "change", key.pk))
    assert raw not in again.content.decode()
    assert AuditEvent.objects.filter(action="apikey.create", source="admin").count() == 1


def test_a_key_for_an_organization_its_user_is_not_in_is_refused(admin_client, outsider, org):
    response = add_key(admin_client, user=outsider.pk, organization=org.pk)
    assert "is not a member of Acme" in response.content.decode()
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.filter(action="apikey.create").exists()


def test_the_key_list_shows_prefix_owner_and_status_and_finds_a_pasted_key(admin_client, member):
    key, raw = ApiKey.generate(user=member, name="deploy bot")
    revoked, _ = ApiKey.generate(user=member, name="old laptop")
    revoked.revoke()
    page = admin_client.get(admin_url(ApiKey, "changelist")).content.decode()
    assert f"eh_{key.prefix}…" in page
    assert "max" in page
    assert "revoked" in page
    found = admin_client.get(admin_url(ApiKey, "changelist") + f"?q={raw}").content.decode()
    assert "deploy bot" in found
    assert "old laptop" not in found
    active = admin_client.get(admin_url(ApiKey, "changelist") + "?status=active").content.decode()
    assert "deploy bot" in active
    assert "old laptop" not in active


def test_a_keys_change_page_edits_only_name_and_expiry(admin_client, member, owner):
    key, raw = ApiKey.generate(user=member, name="ci")
    admin_client.post(
        admin_url(ApiKey, "change", key.pk),
        {"name": "renamed", "user": owner.pk, "expires_at_0": "", "expires_at_1": ""},
    )
    key.refresh_from_db()
    assert (key.name, key.user) == ("renamed", member)
    assert ApiKey.find(raw) == key


def test_the_revoke_action_revokes_and_audits(admin_client, member):
    key, raw = ApiKey.generate(user=member, name="ci")
    admin_client.post(
        admin_url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [key.pk]}
    )
    assert ApiKey.find(raw) is None
    assert AuditEvent.objects.filter(
        action="apikey.revoke", target_id=str(key.pk), source="admin"
    ).exists()


def test_only_superusers_may_delete_keys(client, member):
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__endswith="_apikey"))
    key, _ = ApiKey.generate(user=member, name="ci")
    client.force_login(clerk)
    assert client.get(admin_url(ApiKey, "delete", key.pk)).status_code == 403
    assert client.post(admin_url(ApiKey, "delete", key.pk), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


# --- Organizations and members ---------------------------------------------------------


def org_form(org, memberships, **changes):
    data = {
        "name": org.name,
        "slug": org.slug,
        "monthly_budget_usd": "",
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(sum(1 for m in memberships if m.get("id"))),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "workspaces-TOTAL_FORMS": "0",
        "workspaces-INITIAL_FORMS": "0",
        "workspaces-MIN_NUM_FORMS": "0",
        "workspaces-MAX_NUM_FORMS": "1000",
    }
    for i, membership in enumerate(memberships):
        for field, value in membership.items():
            data[f"memberships-{i}-{field}"] = value
    return {**data, **changes}


def membership_row(membership, **changes):
    return {
        "id": membership.pk,
        "organization": membership.organization_id,
        "user": membership.user_id,
        "role": membership.role,
        **changes,
    }


def test_demoting_the_only_owner_in_the_org_inline_is_refused_and_nothing_is_saved(
    admin_client, org, owner
):
    membership = Membership.objects.get(user=owner)
    data = org_form(org, [membership_row(membership, role="viewer")], name="Acme Renamed")
    response = admin_client.post(admin_url(Organization, "change", org.pk), data, follow=True)
    page = response.content.decode()
    assert "Nothing was saved: An organization needs at least one owner." in page
    assert "was changed successfully" not in page
    assert Membership.objects.get(pk=membership.pk).role == "owner"
    assert Organization.objects.get(pk=org.pk).name == "Acme"


def test_role_changes_and_removals_in_the_org_inline_go_through_the_services(
    admin_client, org, owner, member, viewer
):
    rows = [
        membership_row(Membership.objects.get(user=owner)),
        membership_row(Membership.objects.get(user=member), role="viewer"),
        membership_row(Membership.objects.get(user=viewer), DELETE="on"),
    ]
    response = admin_client.post(admin_url(Organization, "change", org.pk), org_form(org, rows))
    assert response.status_code == 302
    assert org.role_of(member) == "viewer"
    assert org.role_of(viewer) is None
    actions = set(AuditEvent.objects.filter(source="admin").values_list("action", "data__user"))
    assert actions == {("membership.set", "max"), ("membership.remove", "vera")}


def test_the_user_of_an_existing_membership_cannot_be_swapped(admin_client, org, owner, member):
    stranger = UserFactory(username="stranger")
    rows = [
        membership_row(Membership.objects.get(user=owner)),
        membership_row(Membership.objects.get(user=member), user=stranger.pk),
    ]
    admin_client.post(admin_url(Organization, "change", org.pk), org_form(org, rows))
    assert org.role_of(member) == "member"
    assert org.role_of(stranger) is None


def test_removing_the_last_owner_on_the_membership_page_is_refused(admin_client, org, owner):
    membership = Membership.objects.get(user=owner)
    response = admin_client.post(
        admin_url(Membership, "delete", membership.pk), {"post": "yes"}, follow=True
    )
    assert "An organization needs at least one owner." in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_bulk_deleting_every_membership_of_an_org_is_refused_as_a_whole(
    admin_client, org, owner, member
):
    response = admin_client.post(
        admin_url(Membership, "changelist"),
        {
            "action": "delete_selected",
            "post": "yes",
            "_selected_action": list(Membership.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert "An organization needs at least one owner." in response.content.decode()
    assert Membership.objects.filter(organization=org).count() == 2
    assert not AuditEvent.objects.filter(action="membership.remove").exists()


def test_the_org_list_shows_members_spend_and_budget_left(admin_client, org, owner, member):
    org.monthly_budget_usd = Decimal("10.00")
    org.save()
    RunFactory(organization=org, owner=member, total_cost=Decimal("2.5"))
    RunFactory(organization=org, owner=member, total_cost=Decimal("1.25"))
    page = admin_client.get(admin_url(Organization, "changelist")).content.decode()
    assert org.month_spend() == Decimal("3.75")
    assert '<td class="field-member_count">2</td>' in page
    assert "3.7500" in page
    assert "6.2500" in page


# --- Audit log, catalogues, runs ---------------------------------------------------------


def test_the_audit_log_cannot_be_added_to_changed_or_deleted(admin_client, owner, org):
    event = audit.record("x", actor=owner, organization=org)
    assert admin_client.get(admin_url(AuditEvent, "add")).status_code == 403
    page = admin_client.get(admin_url(AuditEvent, "change", event.pk)).content.decode()
    assert 'name="_save"' not in page
    response = admin_client.post(admin_url(AuditEvent, "change", event.pk), {"action": "edited"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "x"
    response = admin_client.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_audit_row_links_to_its_target(admin_client, member, org):
    key, _ = ApiKey.generate(user=member, name="ci", organization=org)
    event = audit.record("apikey.create", actor=member, target=key)
    page = admin_client.get(admin_url(AuditEvent, "changelist")).content.decode()
    assert admin_url(ApiKey, "change", key.pk) in page
    assert admin_client.get(admin_url(AuditEvent, "change", event.pk)).status_code == 200


def test_the_cancel_action_cancels_active_runs_only(admin_client):
    active, done = RunFactory(status="running"), RunFactory(status="completed")
    admin_client.post(
        admin_url(Run, "changelist"),
        {"action": "cancel_runs", "_selected_action": [active.pk, done.pk]},
    )
    assert Run.objects.get(pk=active.pk).status == "cancelled"
    assert Run.objects.get(pk=done.pk).status == "completed"
    cancels = AuditEvent.objects.filter(action="run.cancel", source="admin")
    assert list(cancels.values_list("target_id", flat=True)) == [str(active.pk)]


def test_runs_are_not_added_in_the_admin_and_their_results_are_read_only(admin_client):
    run = RunFactory(status="completed", item_count=3, completed_count=3, name="nightly")
    assert admin_client.get(admin_url(Run, "add")).status_code == 403
    admin_client.post(
        admin_url(Run, "change", run.pk),
        {"name": "renamed", "alias": "", "status": "running", "completed_count": 0,
         "run_metrics-TOTAL_FORMS": "0", "run_metrics-INITIAL_FORMS": "0"},
    )  # fmt: skip
    run.refresh_from_db()
    assert (run.name, run.status, run.completed_count) == ("renamed", "completed", 3)


def test_the_model_catalogue_never_shows_a_stored_key_and_keeps_it_when_left_blank(admin_client):
    model = LanguageModel.objects.create(slug="secret-model", api_key="sk-very-secret")
    change = admin_url(LanguageModel, "change", model.pk)
    assert "sk-very-secret" not in admin_client.get(change).content.decode()
    form = {
        "slug": "secret-model",
        "display_name": "Secret",
        "provider_model": "",
        "base_url": "",
        "api_key": "",
        "input_price_per_mtok": "1.5",
        "output_price_per_mtok": "2",
        "is_active": "on",
    }
    assert admin_client.post(change, form).status_code == 302
    model.refresh_from_db()
    assert (model.api_key, model.input_price_per_mtok) == ("sk-very-secret", Decimal("1.5"))
    admin_client.post(change, {**form, "api_key": "sk-new"})
    model.refresh_from_db()
    assert model.api_key == "sk-new"
    admin_client.post(change, {**form, "clear_api_key": "on"})
    model.refresh_from_db()
    assert model.api_key == ""


def test_only_is_active_of_a_catalogue_metric_can_be_changed(admin_client):
    metric = Metric.objects.get(slug="exact_match")
    # The unticked is_active box switches it off; the posted slug is ignored.
    admin_client.post(admin_url(Metric, "change", metric.pk), {"slug": "renamed"})
    metric.refresh_from_db()
    assert (metric.slug, metric.is_active) == ("exact_match", False)
    assert admin_client.get(admin_url(Metric, "add")).status_code == 403


def test_a_dataset_filter_and_metric_args_are_checked_like_the_api_checks_them(staff, rf):
    from django.forms import inlineformset_factory

    from datasets.admin import DatasetMetricForm
    from datasets.models import DatasetMetric

    form_class = admin.site._registry[Dataset].get_form(request_for(staff, rf))
    form = form_class(data={"name": "d", "kind": "dynamic", "filter": '{"colour": "red"}'})
    assert form.errors["filter"][0].startswith("Unknown filter key 'colour'")
    dataset = DatasetFactory()
    formset_class = inlineformset_factory(
        Dataset, DatasetMetric, form=DatasetMetricForm, fields=["metric", "args", "position"]
    )
    data = {
        "selected_metrics-TOTAL_FORMS": "1",
        "selected_metrics-INITIAL_FORMS": "0",
        "selected_metrics-0-metric": Metric.objects.get(slug="exact_match").pk,
        "selected_metrics-0-args": '{"no_such_arg": 1}',
        "selected_metrics-0-position": "0",
    }
    formset = formset_class(data=data, instance=dataset)
    assert not formset.is_valid()
    assert "no_such_arg" in str(formset.errors)


# --- Query counts ------------------------------------------------------------------------


def many_runs(n, org, member):
    dataset = DatasetFactory(owner=member, organization=org)
    for _ in range(n):
        RunFactory(owner=member, organization=org, dataset=DatasetFactory(owner=member))
    RunFactory(owner=member, dataset=dataset)


def many_keys(n, org, member):
    for i in range(n):
        ApiKey.generate(user=UserFactory(), name=f"k{i}", organization=org if i % 2 else None)


def many_orgs(n, org, member):
    for _ in range(n):
        other = OrganizationFactory(monthly_budget_usd=Decimal("5"))
        MembershipFactory(organization=other, role="owner")
        RunFactory(organization=other, owner=member, total_cost=Decimal("1"))


def many_scores(n, org, member):
    for _ in range(n):
        ScoreFactory()


def many_events(n, org, member):
    for i in range(n):
        key, _ = ApiKey.generate(user=member, name=f"k{i}")
        audit.record("apikey.create", actor=member, target=key, organization=org)


def many_requests(n, org, member):
    for _ in range(n):
        LoggedRequestFactory(owner=member, organization=org)


@pytest.mark.parametrize(
    "model, make",
    [
        (Run, many_runs),
        (ApiKey, many_keys),
        (Organization, many_orgs),
        (RunItem, many_scores),
        (Score, many_scores),
        (Record, many_scores),
        (AuditEvent, many_events),
        (Dataset, many_runs),
        (Membership, many_orgs),
        (LoggedRequest, many_requests),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, org, member, model, make, django_assert_max_num_queries
):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        return len(captured)

    make(2, org, member)
    few = queries()
    make(28, org, member)
    with django_assert_max_num_queries(15):
        many = queries()
    assert many == few
