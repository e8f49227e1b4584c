"""Admin console: organizations, members and roles, workspaces, API keys, the audit log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html

from evalhub.errors import InvalidInput
from evalhub.models import ApiKey, AuditEvent, Membership, Organization, Workspace
from evalhub.services import apikey_create, apikey_revoke, membership_remove, membership_set


class SharingAdminMixin:
    """Shareable models: a Sharing fieldset, a visibility column, org filters."""

    sharing_fieldset = ("Sharing", {"fields": ("owner", "organization", "workspace")})

    @admin.display(description="visibility")
    def visibility(self, obj):
        if obj.organization_id is None:
            return "private"
        if obj.owner_id is None:
            return f"org-only: {obj.organization}"
        return f"org: {obj.organization}"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class WorkspaceInline(admin.TabularInline):
    model = Workspace
    extra = 0
    fields = ["name", "description"]
    fk_name = "organization"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "uuid",
        "member_count",
        "monthly_budget_usd",
        "spend_this_month",
        "budget_left",
    ]
    search_fields = ["name", "slug", "uuid"]
    readonly_fields = ["uuid", "created_at", "spend_this_month", "budget_left"]
    fields = [
        "name",
        "slug",
        "uuid",
        "monthly_budget_usd",
        "spend_this_month",
        "budget_left",
        "created_at",
    ]
    inlines = [MembershipInline, WorkspaceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_members=Count("memberships", distinct=True))

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj):
        return obj.n_members

    @admin.display(description="spend this month (USD)")
    def spend_this_month(self, obj):
        return f"{obj.month_spend():.4f}" if obj.pk else "—"

    @admin.display(description="budget left (USD)")
    def budget_left(self, obj):
        left = obj.budget_left() if obj.pk else None
        return "no limit" if left is None else f"{left:.4f}"

    def save_formset(self, request, form, formset, change):
        """Role changes go through membership_set: audited, and the last owner stays an owner."""
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        organization = form.instance
        formset.save(commit=False)  # fills deleted_objects; the services do the writing
        for membership in formset.deleted_objects:
            self._apply(request, membership_remove, membership=membership)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            data = inline_form.cleaned_data
            if not data.get("user"):
                continue
            self._apply(
                request,
                membership_set,
                organization=organization,
                user=data["user"],
                role=data["role"],
            )

    @staticmethod
    def _apply(request, service, **kwargs):
        try:
            service(actor=request.user, source="admin", **kwargs)
        except InvalidInput as err:
            messages.error(request, f"Not saved: {err.message}")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]

    def save_model(self, request, obj, form, change):
        try:
            membership_set(
                actor=request.user,
                organization=obj.organization,
                user=obj.user,
                role=obj.role,
                source="admin",
            )
        except InvalidInput as err:
            messages.error(request, f"Not saved: {err.message}")

    def delete_model(self, request, obj):
        try:
            membership_remove(actor=request.user, membership=obj, source="admin")
        except InvalidInput as err:
            messages.error(request, f"Not removed: {err.message}")


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "owner", "uuid", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "uuid", "organization__name", "owner__username"]
    autocomplete_fields = ["organization", "owner"]
    list_select_related = ["organization", "owner"]
    readonly_fields = ["uuid"]


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "organization", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Creating a key shows the raw key once, on the page the add form redirects to."""

    list_display = [
        "name",
        "display_prefix",
        "user",
        "organization",
        "created_at",
        "last_used_at",
        "state",
    ]
    list_filter = ["organization", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = [
        "display_prefix",
        "user",
        "organization",
        "created_at",
        "last_used_at",
        "revoked_at",
        "state",
    ]
    actions = ["revoke_keys"]
    show_full_result_count = False
    SESSION_KEY = "evalhub_new_api_key"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "organization", "expires_at"]
        return [
            "name",
            "display_prefix",
            "user",
            "organization",
            "expires_at",
            "created_at",
            "last_used_at",
            "revoked_at",
            "state",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, raw = apikey_create(
            actor=request.user,
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            organization=form.cleaned_data.get("organization"),
            expires_at=form.cleaned_data.get("expires_at"),
            source="admin",
        )
        obj.pk = key.pk
        # Shown once, on the next page, then gone from the session.
        request.session[self.SESSION_KEY] = raw

    def response_add(self, request, obj, post_url_continue=None):
        # Always land on the key's own page, where the raw key is shown once.
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        return HttpResponseRedirect(reverse("admin:evalhub_apikey_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        raw = request.session.pop(self.SESSION_KEY, None)
        if raw:
            messages.warning(
                request,
                format_html(
                    "New API key: <code>{}</code> — copy it now, it will not be shown again.", raw
                ),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="prefix", ordering="prefix")
    def display_prefix(self, obj):
        return f"eh_{obj.prefix}…"

    @admin.display(description="status")
    def state(self, obj):
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.is_active else "expired"

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        revoked = 0
        for key in queryset:
            try:
                revoked += apikey_revoke(actor=request.user, key=key, source="admin")
            except InvalidInput as err:
                messages.error(request, f"{key}: {err.message}")
        messages.success(request, f"Revoked {revoked} key(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by services, never edited."""

    list_display = ["created_at", "actor", "action", "target_repr", "organization", "source"]
    list_filter = ["action", "source", "organization"]
    search_fields = ["target_repr", "actor__username", "action", "target_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "organization"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
