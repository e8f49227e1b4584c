"""Serializers of the tenancy endpoints, and the building blocks every native serializer uses.

Serializers here parse and render; they never write. Input serializers are
separate from output ones, so the OpenAPI schema says exactly what a request
takes and what a response holds.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasets.importers import find_problem
from evalhub.models import ApiKey, Membership, Organization, Role, Workspace

MAX_ID = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """An object id in a request body: positive and within the database's bigint."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


@extend_schema_field(OpenApiTypes.ANY)
class SafeJSONField(serializers.JSONField):
    """Any JSON value the database can store: no NUL characters, lone surrogates or deep nesting.

    The same check the importers apply to uploaded records, so a bad value
    is a 400 naming the field instead of a database error.
    """

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = find_problem(value)
        if problem:
            code, reason = problem
            raise serializers.ValidationError(f"This value {reason}.", code=code)
        return value


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(SafeJSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.", code="invalid_type")
        return value


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class MetricRefField(serializers.Field):
    """A metric named by its catalogue id (``2``) or its slug (``"exact_match"``)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError("Name a metric by id or slug.", code="invalid_type")
        if isinstance(data, str) and not 0 < len(data) <= 64:
            raise serializers.ValidationError("A metric slug has 1 to 64 characters.")
        return data

    def to_representation(self, value):
        return value


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="username", read_only=True, **kwargs)


class ShareableSerializer(serializers.ModelSerializer):
    """Who owns a shareable object and where it lives, common to every shared resource."""

    owner = UsernameField(allow_null=True)

    class Meta:
        fields = ["id", "uuid", "owner", "organization", "workspace", "created_at", "updated_at"]
        read_only_fields = fields


class SharingInputSerializer(serializers.Serializer):
    """Where a new object goes: an organization and/or a workspace (both optional).

    Omitted, an object is private to its creator; an org-scoped API key
    always creates in its organization.
    """

    organization = id_field(required=False, allow_null=True)
    workspace = id_field(required=False, allow_null=True)


# --- organizations and members ------------------------------------------------------


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text="The caller's role in it.")

    class Meta:
        model = Organization
        fields = ["id", "uuid", "name", "slug", "role", "monthly_budget_usd", "created_at"]
        read_only_fields = fields
        extra_kwargs = {"monthly_budget_usd": {"coerce_to_string": False}}


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "email", "role", "created_at"]
        read_only_fields = fields


class MembershipCreateSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="Username or email of the user to add.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


# --- API keys ------------------------------------------------------------------------


class ApiKeySerializer(serializers.ModelSerializer):
    user = UsernameField()
    display = serializers.CharField(source="__str__", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "uuid",
            "name",
            "display",
            "prefix",
            "user",
            "organization",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The secret itself. Shown this once; only its digest is stored."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    organization = id_field(
        required=False,
        allow_null=True,
        help_text="Scope the key to this organization: it then sees and creates only there.",
    )
    user = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Username of the member the key acts for (owners only); default: yourself.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


# --- workspaces ----------------------------------------------------------------------


class WorkspaceSerializer(serializers.ModelSerializer):
    owner = UsernameField(allow_null=True)

    class Meta:
        model = Workspace
        fields = ["id", "uuid", "name", "description", "organization", "owner", "created_at"]
        read_only_fields = fields


class WorkspaceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    organization = id_field(
        required=False, allow_null=True, help_text="Omit for a personal workspace."
    )
