"""Form bases shared by the pages: service errors beside their field, ownership, scope.

Forms only parse and check the shape of input; the rules live in the services,
whose :class:`~evalhub.errors.InvalidInput` lands beside the field it names.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from evalhub import errors
from evalhub.http import ALL, PERSONAL, Scope
from evalhub.models import Organization, Workspace


class ServiceForm(forms.Form):
    """A form a service may still refuse.

    ``field_aliases`` maps a service's field name (``"dataset_version"``,
    ``"model_slug"``) onto this form's field when they differ.
    """

    field_aliases: dict[str, str] = {}

    def __init__(self, *args, scope: Scope | None = None, **kwargs):
        # Forms that mix in several bases pass `scope` up the chain; it stops here.
        self.scope = scope
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def form_field_for(self, name: str | None) -> str | None:
        if not name:
            return None
        if name in self.field_aliases:
            return self.field_aliases[name]
        root = name.split(".")[0].split("[")[0]
        root = self.field_aliases.get(root, root)
        return root if root in self.fields else None

    def add_service_error(self, err: errors.InvalidInput) -> None:
        """Show ``err`` beside its field (or above the form); a refusal of rights is a 403."""
        if isinstance(err, errors.PermissionDenied):
            raise DjangoPermissionDenied(err.message)
        self.add_error(self.form_field_for(err.field), err.message)


class OwnershipForm(ServiceForm):
    """Where a new object lives: an organization the user belongs to (or personal) and a workspace."""

    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        empty_label="Personal (only you)",
        help_text="Members of the organization see it; personal objects only you.",
    )
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(), required=False, empty_label="No workspace"
    )

    def __init__(self, *args, scope: Scope, **kwargs):
        kwargs.setdefault("initial", {})
        for key, value in scope.create_initial().items():
            kwargs["initial"].setdefault(key, value)
        super().__init__(*args, scope=scope, **kwargs)
        # Every organization the user belongs to is offered; whether their role
        # may create there is the service's answer (a viewer gets a 403).
        self.fields["organization"].queryset = Organization.objects.filter(
            pk__in=[m.organization_id for m in scope.memberships]
        )
        self.fields["workspace"].queryset = Workspace.objects.visible_to(scope.user)

    def ownership(self) -> dict:
        return {
            "organization": self.cleaned_data.get("organization"),
            "workspace": self.cleaned_data.get("workspace"),
        }


class ScopeForm(forms.Form):
    """The org/workspace switcher in the top bar."""

    org = forms.ChoiceField(label="Organization")
    workspace = forms.ChoiceField(label="Workspace", required=False)

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.fields["org"].choices = [
            *((str(m.organization_id), m.organization.name) for m in scope.memberships),
            (PERSONAL, "Personal"),
            (ALL, "All organizations"),
        ]
        self.fields["workspace"].choices = [
            ("", "All workspaces"),
            *(
                (str(w.pk), w.name)
                for w in Workspace.objects.visible_to(scope.user).order_by("name")
            ),
        ]

    def clean(self):
        data = super().clean()
        org, workspace_id = data.get("org"), data.get("workspace")
        if org and workspace_id:
            workspace = Workspace.objects.visible_to(self.scope.user).get(pk=workspace_id)
            belongs = (
                (org == PERSONAL and workspace.organization_id is None)
                or org == ALL
                or str(workspace.organization_id) == org
            )
            # Switching org resets a workspace of another org rather than refusing.
            if not belongs:
                data["workspace"] = ""
        return data
