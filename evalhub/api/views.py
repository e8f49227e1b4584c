"""Tenancy endpoints: organizations and their members, API keys, workspaces.

These objects are not Shareable, so each viewset says what "visible" means
for it in ``scope_queryset``; writes go through :mod:`evalhub.services`,
which asks :func:`evalhub.permissions.can` (owners manage members and the
keys of others).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from evalhub import services
from evalhub.api.mixins import OrgScopedViewSet
from evalhub.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    OrganizationSerializer,
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
)
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.models import ApiKey, Membership, Organization, Role, Workspace
from evalhub.permissions import can
from runs.definitions import workspace_create


def _member_orgs(user):
    return Membership.objects.filter(user=user).values("organization_id")


@extend_schema_view(
    list=extend_schema(summary="Your organizations, with your role in each"),
    retrieve=extend_schema(summary="One of your organizations"),
)
class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Organizations the caller belongs to (only the key's own, for an org-scoped key)."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    # Visibility is membership itself (scope_queryset); member management is
    # the services' permission check.
    permission_classes = [IsAuthenticated]

    def scope_queryset(self, queryset):
        user = self.request.user
        role = Membership.objects.filter(user=user, organization=OuterRef("pk")).values("role")
        queryset = queryset.filter(pk__in=_member_orgs(user)).annotate(role=Subquery(role[:1]))
        if self.acting_organization is not None:
            queryset = queryset.filter(pk=self.acting_organization.pk)
        return queryset

    def _owned_org(self) -> Organization:
        organization = self.get_object()
        if not can(self.request.user, "manage_members", organization=organization):
            raise PermissionDenied("Only owners manage members.")
        return organization

    def _membership(self, organization, user_id) -> Membership:
        membership = (
            Membership.objects.select_related("user", "organization")
            .filter(organization=organization, user_id=user_id)
            .first()
        )
        if membership is None:
            raise NotFound(f"User {user_id} is not a member of {organization}.", field="user_id")
        return membership

    @extend_schema(
        summary="List members (owners)",
        responses=MembershipSerializer(many=True),
    )
    @action(detail=True, methods=["get"], serializer_class=MembershipSerializer)
    def members(self, request, pk=None):
        organization = self._owned_org()
        memberships = organization.memberships.select_related("user").order_by("user__username")
        page = self.paginate_queryset(memberships)
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a member or change their role (owners)",
        request=MembershipCreateSerializer,
        responses={201: MembershipSerializer, 200: MembershipSerializer},
        examples=[
            OpenApiExample(
                "Add a viewer", value={"user": "vera", "role": "viewer"}, request_only=True
            )
        ],
    )
    @members.mapping.post
    def add_member(self, request, pk=None):
        organization = self._owned_org()
        data = self.parse(MembershipCreateSerializer)
        user = _user_named(data["user"])
        existed = Membership.objects.filter(user=user, organization=organization).exists()
        membership = services.membership_set(
            actor=request.user,
            organization=organization,
            user=user,
            role=data["role"],
            source="api",
        )
        return Response(
            MembershipSerializer(membership).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Change a member's role (owners)",
        request=MembershipUpdateSerializer,
        responses=MembershipSerializer,
    )
    @action(
        detail=True,
        methods=["patch"],
        url_path=r"members/(?P<user_id>\d+)",
        serializer_class=MembershipUpdateSerializer,
    )
    def member(self, request, pk=None, user_id=None):
        organization = self._owned_org()
        membership = self._membership(organization, user_id)
        data = self.parse(MembershipUpdateSerializer)
        membership = services.membership_set(
            actor=request.user,
            organization=organization,
            user=membership.user,
            role=data["role"],
            source="api",
        )
        return Response(MembershipSerializer(membership).data)

    @extend_schema(summary="Remove a member (owners)", request=None, responses={204: None})
    @member.mapping.delete
    def remove_member(self, request, pk=None, user_id=None):
        organization = self._owned_org()
        membership = self._membership(organization, user_id)
        services.membership_remove(actor=request.user, membership=membership, source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _user_named(name: str):
    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(username=name).first() or users.filter(email__iexact=name).first()
    if user is None:
        raise InvalidInput(f"No user {name!r}.", field="user", code="unknown_user")
    return user


@extend_schema_view(
    list=extend_schema(summary="Your API keys, and those of organizations you own"),
    retrieve=extend_schema(summary="One API key (never its secret)"),
)
class ApiKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrgScopedViewSet
):
    """API keys: the secret is shown once, in the answer to the create call."""

    queryset = ApiKey.objects.select_related("user", "organization")
    serializer_class = ApiKeySerializer
    permission_classes = [IsAuthenticated]

    def scope_queryset(self, queryset):
        user = self.request.user
        owned = Membership.objects.filter(user=user, role=Role.OWNER).values("organization_id")
        queryset = queryset.filter(Q(user=user) | Q(organization__in=owned))
        if self.acting_organization is not None:
            queryset = queryset.filter(organization=self.acting_organization)
        return queryset

    @extend_schema(
        summary="Create an API key (the secret is in this answer only)",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
        examples=[
            OpenApiExample("A CI key for one organization", value={"name": "ci", "organization": 1})
        ],
    )
    def create(self, request):
        data = self.parse(ApiKeyCreateSerializer)
        # A key made with an org-scoped key stays in that org: no escaping the scope.
        organization = self.sharing_from({"organization": data.get("organization")})["organization"]
        user = request.user
        if data.get("user") and data["user"] != user.get_username():
            user = _user_named(data["user"])
        key, raw = services.apikey_create(
            actor=request.user,
            user=user,
            name=data["name"],
            organization=organization,
            expires_at=data.get("expires_at"),
            source="api",
        )
        key.key = raw
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke an API key", request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = self.get_object()
        services.apikey_revoke(actor=request.user, key=key, source="api")
        key.refresh_from_db()
        return Response(ApiKeySerializer(key).data)


@extend_schema_view(
    list=extend_schema(summary="Workspaces you can see"),
    retrieve=extend_schema(summary="One workspace"),
)
class WorkspaceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrgScopedViewSet
):
    """Folders of datasets, configs and runs (Aymara's workspaces, Aegis's data collections)."""

    queryset = Workspace.objects.select_related("owner")
    serializer_class = WorkspaceSerializer
    permission_classes = [IsAuthenticated]

    def scope_queryset(self, queryset):
        queryset = queryset.visible_to(self.request.user)
        if self.acting_organization is not None:
            queryset = queryset.filter(organization=self.acting_organization)
        return queryset

    @extend_schema(
        summary="Create a workspace",
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceSerializer},
        examples=[
            OpenApiExample("A team folder", value={"name": "Support bot", "organization": 1})
        ],
    )
    def create(self, request):
        data = self.parse(WorkspaceCreateSerializer)
        organization = self.sharing_from({"organization": data.get("organization")})["organization"]
        workspace = workspace_create(
            actor=request.user,
            name=data["name"],
            organization=organization,
            description=data["description"],
            source="api",
        )
        return Response(WorkspaceSerializer(workspace).data, status=status.HTTP_201_CREATED)
