"""Admin console: organizations, members and roles, workspaces, API keys, the audit log.

Also the building blocks the other apps' admins share: :class:`EvalhubAdmin`
(service refusals become messages; a pasted UUID is one index probe),
:class:`SharingAdmin` (a "Sharing" fieldset and a visibility column on every
Shareable model) and the read-only bases for immutable rows.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from evalhub.errors import InvalidInput
from evalhub.models import ApiKey, AuditEvent, Membership, Organization, Workspace
from evalhub.services import apikey_create, apikey_revoke, membership_remove, membership_set

SHARING_FIELDS = ("owner", "organization", "workspace")
SHARING_FIELDSET = ("Sharing", {"fields": (*SHARING_FIELDS, "visibility")})
HISTORY_FIELDS = ("uuid", "created_at", "updated_at")


class EvalhubAdmin(admin.ModelAdmin):
    """Base of every evalhub ModelAdmin.

    A service that refuses (``InvalidInput``, e.g. demoting the last owner)
    rolls the whole save back, because Django runs the change form and the
    delete view in one transaction; the admin then says why, on the page the
    admin came from, instead of a 500. A search term that is a UUID looks the
    object up by its unique ``uuid`` rather than scanning the table.
    """

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except InvalidInput as err:
            return self._refused(request, err)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except InvalidInput as err:
            return self._refused(request, err)

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except InvalidInput as err:
            return self._refused(request, err)

    def get_search_results(self, request, queryset, search_term):
        if "uuid" in self.get_search_fields(request):
            try:
                return queryset.filter(uuid=uuid.UUID(search_term.strip())), False
            except ValueError:
                pass
        return super().get_search_results(request, queryset, search_term)

    def _refused(self, request, err: InvalidInput):
        self.message_user(request, f"Nothing was saved: {err.message}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class VisibilityFilter(admin.SimpleListFilter):
    title = "visibility"
    parameter_name = "visibility"

    def lookups(self, request, model_admin):
        return [("private", "private"), ("org", "org"), ("org-only", "org-only")]

    def queryset(self, request, queryset):
        match self.value():
            case "private":
                return queryset.filter(organization__isnull=True)
            case "org":
                return queryset.filter(organization__isnull=False, owner__isnull=False)
            case "org-only":
                return queryset.filter(organization__isnull=False, owner__isnull=True)
        return queryset


SHARING_FILTERS = (VisibilityFilter, "organization")


class SharingAdmin(EvalhubAdmin):
    """Shareable models: their own fields, then "Sharing" (owner, org, workspace), then history.

    Subclasses that need their own layout declare ``fieldsets`` ending with
    ``SHARING_FIELDSET``; the others get it computed from their fields.
    """

    autocomplete_fields = SHARING_FIELDS

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        extra = ("visibility", *HISTORY_FIELDS) if obj else ()
        return readonly + [f for f in extra if f not in readonly]

    def get_fieldsets(self, request, obj=None):
        if self.fieldsets:
            return super().get_fieldsets(request, obj)
        set_apart = (*SHARING_FIELDS, "visibility", *HISTORY_FIELDS)
        own = [f for f in self.get_fields(request, obj) if f not in set_apart]
        fieldsets = [(None, {"fields": own}), ("Sharing", {"fields": SHARING_FIELDS})]
        if obj:
            fieldsets[1] = SHARING_FIELDSET
            fieldsets.append(("History", {"fields": HISTORY_FIELDS}))
        return fieldsets

    @admin.display(description="visibility")
    def visibility(self, obj):
        if obj.organization_id is None:
            return "private"
        if obj.owner_id is None:
            return f"org-only: {obj.organization}"
        return f"org: {obj.organization}"


class ReadOnlyAdmin(EvalhubAdmin):
    """Immutable rows (versions, records, results): shown, never added or edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    show_change_link = True
    select_related: tuple[str, ...] | list[str] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def changelist_link(model, text, **filters):
    """A link to ``model``'s changelist narrowed by ``filters`` (e.g. a version's records)."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


# --- Organizations and members ------------------------------------------------


def _month_start():
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.4f}"


class MembershipInlineForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Changing an existing row's user would silently add a second membership:
        # delete the row and add one instead.
        if self.instance.pk:
            self.fields["user"].disabled = True


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class WorkspaceInline(admin.TabularInline):
    model = Workspace
    fk_name = "organization"
    extra = 0
    fields = ["name", "description"]
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(EvalhubAdmin):
    """Members and roles go through ``membership_set`` / ``membership_remove``: audited, and
    an organization always keeps an owner (a refusal rolls the whole form back)."""

    list_display = [
        "name",
        "slug",
        "member_count",
        "monthly_budget_usd",
        "spend_this_month",
        "budget_left",
        "created_at",
    ]
    search_fields = ["name", "slug", "uuid"]
    fields = [
        "name",
        "slug",
        "uuid",
        "monthly_budget_usd",
        "spend_this_month",
        "budget_left",
        "created_at",
    ]
    readonly_fields = ["uuid", "spend_this_month", "budget_left", "created_at"]
    inlines = [MembershipInline, WorkspaceInline]

    def get_queryset(self, request):
        # Both columns come with the rows, so the list costs the same for 3 or 300 orgs.
        from runs.models import Run

        spend = (
            Run.objects.filter(organization=models.OuterRef("pk"), created_at__gte=_month_start())
            .order_by()
            .values("organization")
            .annotate(total=models.Sum("total_cost"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_members=models.Count("memberships", distinct=True),
                month_spend_usd=Coalesce(
                    models.Subquery(spend),
                    models.Value(Decimal("0")),
                    output_field=models.DecimalField(max_digits=14, decimal_places=6),
                ),
            )
        )

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj):
        return obj.n_members

    @admin.display(description="spent this month (USD)", ordering="month_spend_usd")
    def spend_this_month(self, obj):
        return _money(obj.month_spend_usd) if obj.pk else "—"

    @admin.display(description="budget left (USD)")
    def budget_left(self, obj):
        if obj.pk is None or obj.monthly_budget_usd is None:
            return "no limit"
        return _money(obj.monthly_budget_usd - obj.month_spend_usd)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # fills deleted_objects; the services do the writing
        for membership in formset.deleted_objects:
            membership_remove(actor=request.user, membership=membership, source="admin")
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed() or not row.cleaned_data:
                continue
            membership_set(
                actor=request.user,
                organization=form.instance,
                user=row.cleaned_data["user"],
                role=row.cleaned_data["role"],
                source="admin",
            )


@admin.register(Membership)
class MembershipAdmin(EvalhubAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "organization", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        saved = membership_set(
            actor=request.user,
            organization=obj.organization,
            user=obj.user,
            role=obj.role,
            source="admin",
        )
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def delete_model(self, request, obj):
        membership_remove(actor=request.user, membership=obj, source="admin")

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for membership in queryset.select_related("user", "organization"):
                membership_remove(actor=request.user, membership=membership, source="admin")


@admin.register(Workspace)
class WorkspaceAdmin(EvalhubAdmin):
    list_display = ["name", "organization", "owner", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "uuid", "organization__name", "owner__username"]
    autocomplete_fields = ["organization", "owner"]
    list_select_related = ["organization", "owner"]
    readonly_fields = ["uuid", "created_at"]


# --- API keys -------------------------------------------------------------------


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request, queryset):
        match self.value():
            case "active":
                return queryset.active()
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
            case "expired":
                return queryset.filter(revoked_at__isnull=True, expires_at__lte=timezone.now())
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(EvalhubAdmin):
    """Keys are made by ``apikey_create`` and revoked by ``apikey_revoke``.

    The raw key exists only in memory and, between the add form's POST and
    the key's page it redirects to, in the admin's session under a name
    carrying the key's pk; that page pops it and shows it once. Nothing else
    (database row, admin log, message cookie) ever holds it.
    """

    list_display = [
        "name",
        "display_prefix",
        "user",
        "organization",
        "created_at",
        "last_used_at",
        "status",
    ]
    list_filter = [ApiKeyStatusFilter, "organization", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    actions = ["revoke_keys"]
    add_fields = ["name", "user", "organization", "expires_at"]
    change_fields = [
        "name",
        "display_prefix",
        "user",
        "organization",
        "expires_at",
        "created_at",
        "last_used_at",
        "revoked_at",
        "status",
    ]

    def get_fields(self, request, obj=None):
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        return [f for f in self.change_fields if f not in ("name", "expires_at")] if obj else []

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_search_results(self, request, queryset, search_term):
        # A pasted key, or the "eh_1a2b3c4d…" the list shows, is searched by its prefix.
        match = re.fullmatch(r"eh_([0-9a-f]{8})(?:_\S*|…)?", search_term.strip())
        return super().get_search_results(
            request, queryset, match.group(1) if match else search_term
        )

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, raw = apikey_create(
            actor=request.user,
            user=obj.user,
            name=obj.name,
            organization=obj.organization,
            expires_at=obj.expires_at,
            source="admin",
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        request.session[_new_key_session_name(key.pk)] = raw

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:evalhub_apikey_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        raw = request.session.pop(_new_key_session_name(object_id), None)
        if raw:
            messages.warning(
                request,
                format_html(
                    "New API key: <code>{}</code> — copy it now, it will not be shown again.",
                    raw,
                ),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="prefix", ordering="prefix")
    def display_prefix(self, obj):
        return f"eh_{obj.prefix}…"

    @admin.display(description="status")
    def status(self, obj):
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.is_active else "expired"

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        with transaction.atomic():
            revoked = sum(
                apikey_revoke(actor=request.user, key=key, source="admin")
                for key in queryset.select_related("organization")
            )
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


def _new_key_session_name(pk) -> str:
    return f"evalhub:new-api-key:{pk}"


# --- Audit log --------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(EvalhubAdmin):
    """Read-only: the audit log is written by services, never edited or deleted."""

    list_display = ["created_at", "actor", "action", "target", "organization", "source"]
    list_filter = ["action", "source", "organization", "created_at"]
    search_fields = ["target_repr", "actor__username", "action", "=target_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "organization"]
    show_full_result_count = False
    fields = [
        "created_at",
        "actor",
        "organization",
        "action",
        "target",
        "target_type",
        "target_id",
        "source",
        "data",
    ]
    readonly_fields = ["target"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="target")
    def target(self, obj):
        """The target's admin page when it still exists under that name, else its text."""
        app_label, _, model_name = obj.target_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.target_id])
        except NoReverseMatch:
            return obj.target_repr
        return format_html('<a href="{}">{}</a>', url, obj.target_repr or obj.target_id)
