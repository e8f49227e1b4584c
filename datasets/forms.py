"""Forms of the dataset pages. They parse input; datasets.services decides what is allowed."""

from __future__ import annotations

from django import forms

from datasets.importers import ROLES
from datasets.models import Dataset
from evalhub.forms import OwnershipForm, ServiceForm
from runs.forms import JSONObjectField

ROLE_LABELS = {
    "input": "Input",
    "expected_output": "Expected output",
    "actual_output": "Actual output",
    "context": "Context",
    "metadata": "Metadata",
}
NO_COLUMN = "-"


class DatasetCreateForm(OwnershipForm):
    """A new dataset; a dynamic one also gets the filter its refreshes apply."""

    field_aliases = {
        "filter.model": "filter_model",
        "filter.tags": "filter_tags",
        "filter.search": "filter_search",
        "filter.metadata": "filter_metadata",
        "filter.since": "filter_since",
        "filter.until": "filter_until",
        "filter.limit": "filter_limit",
        "filter": "filter_model",
    }

    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(
        choices=Dataset.Kind.choices, initial=Dataset.Kind.STATIC, widget=forms.RadioSelect
    )
    filter_model = forms.CharField(required=False, label="Model", max_length=200)
    filter_tags = forms.CharField(
        required=False, label="Tags", help_text="Comma-separated; a request must carry all of them."
    )
    filter_search = forms.CharField(
        required=False, label="Text search", help_text="Found in the prompt or the response."
    )
    filter_metadata = JSONObjectField(
        required=False, label="Metadata", help_text='Key → value matches, e.g. {"env": "prod"}.'
    )
    filter_since = forms.DateTimeField(
        required=False,
        label="Logged since",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    filter_until = forms.DateTimeField(
        required=False,
        label="Logged until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    filter_limit = forms.IntegerField(
        required=False,
        label="At most",
        min_value=1,
        max_value=1_000_000,
        help_text="Records per refresh.",
    )
    field_order = ["name", "description", "kind", "organization", "workspace"]

    def filter_spec(self) -> dict | None:
        data = self.cleaned_data
        if data["kind"] != Dataset.Kind.DYNAMIC:
            return None
        spec = {
            "model": data["filter_model"] or None,
            "tags": [t.strip() for t in data["filter_tags"].split(",") if t.strip()] or None,
            "search": data["filter_search"] or None,
            "metadata": data["filter_metadata"],
            "since": data["filter_since"],
            "until": data["filter_until"],
            "limit": data["filter_limit"],
        }
        return {k: v for k, v in spec.items() if v is not None}


class UploadForm(ServiceForm):
    """A file to import as a new version, and (after a preview) which column plays which role."""

    field_aliases = {"mapping": "file", "format": "format"}

    file = forms.FileField(help_text="CSV with a header row, a JSON array of objects, or JSONL.")
    format = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Detect from the name"),
            ("csv", "CSV"),
            ("json", "JSON"),
            ("jsonl", "JSONL"),
        ],
    )
    note = forms.CharField(required=False, max_length=255, help_text="What this version changes.")

    def mapping(self) -> dict | None:
        """Roles the preview mapped: a column, or ``None`` for "no column"; unset roles are guessed."""
        chosen = {}
        for role in ROLES:
            value = self.data.get(f"map-{role}")
            if value is None or value == "":
                continue
            chosen[role] = None if value == NO_COLUMN else value
        return chosen or None


class BaselineForm(forms.Form):
    run = forms.IntegerField()
    action = forms.ChoiceField(choices=[("pin", "Pin"), ("unpin", "Unpin")])


class RecordFilterForm(forms.Form):
    version = forms.IntegerField(required=False, min_value=1)
    q = forms.CharField(required=False, label="Search records")


class DatasetSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search datasets")
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Dataset.Kind.choices])
