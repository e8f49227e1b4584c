"""Tenancy and access: organizations, members, workspaces, API keys, audit.

Every shareable object (dataset, config, run, …) inherits :class:`Shareable`:
an individual owner, an optional organization and an optional workspace.
Who may see it is one QuerySet method, :meth:`ShareableQuerySet.visible_to`;
who may change it is :func:`evalhub.permissions.can`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Organization(models.Model):
    """A tenant. Its UUID is TruLayer's ``tenant_id``."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    monthly_budget_usd = models.DecimalField(
        "monthly spending limit (USD)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Runs that would take this month's spend past the limit are refused (402). "
        "Empty means no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:70] or uuid.uuid4().hex[:12]
        super().save(*args, **kwargs)

    def month_spend(self) -> Decimal:
        """Cost of this organization's runs created since the first of this month (UTC)."""
        from runs.models import Run

        start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        total = Run.objects.filter(organization=self, created_at__gte=start).aggregate(
            total=models.Sum("total_cost")
        )["total"]
        return total or Decimal("0")

    def budget_left(self) -> Decimal | None:
        if self.monthly_budget_usd is None:
            return None
        return self.monthly_budget_usd - self.month_spend()

    def role_of(self, user) -> str | None:
        return (
            self.memberships.filter(user=user).values_list("role", flat=True).first()
            if user and user.is_authenticated
            else None
        )


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]
        ordering = ["organization__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class WorkspaceQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(owner=user, organization__isnull=True)
            | Q(organization__in=Membership.objects.filter(user=user).values("organization_id"))
        )


class Workspace(models.Model):
    """A folder of datasets, configs and runs: Aymara's workspace, Aegis's data collection.

    An org workspace is seen by the org's members; a personal one (no org) only
    by its owner.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="workspaces"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="workspaces",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=False) | Q(owner__isnull=False),
                name="workspace_has_org_or_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def _orgs_of(user):
    return Membership.objects.filter(user=user).values("organization_id")


class ShareableQuerySet(models.QuerySet):
    def visible_to(self, user, *, organization: Organization | None = None):
        """What ``user`` may see: their own objects and their organizations' objects.

        ``organization`` narrows the view to one org, as an org-scoped API key does.
        Callers get a 404 for anything outside this set, never a 403.
        """
        if user is None or not user.is_authenticated:
            return self.none()
        if organization is not None:
            if not Membership.objects.filter(user=user, organization=organization).exists():
                return self.none()
            return self.filter(organization=organization)
        return self.filter(Q(owner=user) | Q(organization__in=_orgs_of(user)))

    def in_workspace(self, workspace: Workspace | None):
        return self.filter(workspace=workspace) if workspace else self


class Shareable(models.Model):
    """An object with an individual owner, an optional org and an optional workspace.

    Visibility is the owner plus the members of its org (seed 004). An
    org-only object has no individual owner.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShareableQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_org_only(self) -> bool:
        return self.owner_id is None and self.organization_id is not None

    @property
    def is_private(self) -> bool:
        return self.organization_id is None


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A secret that acts for its user, optionally only within one organization.

    The raw key (``eh_<prefix>_<secret>``) is shown once, at creation; only
    its prefix (to recognise it in lists) and a SHA-256 digest are stored. A
    fast digest is right here, unlike for passwords: the secret is 256 random
    bits, so there is nothing to brute-force, and lookups stay one index probe.
    """

    PREFIX_LEN = 8

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="When set, the key sees and creates objects of this organization only.",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (eh_{self.prefix}…)"

    @staticmethod
    def digest(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @classmethod
    def generate(cls, *, user, name: str, organization=None, expires_at=None):
        """Create a key; returns ``(api_key, raw_key)``. The raw key is never stored."""
        prefix = secrets.token_hex(cls.PREFIX_LEN // 2)
        raw = f"eh_{prefix}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(
            user=user,
            name=name,
            organization=organization,
            prefix=prefix,
            key_hash=cls.digest(raw),
            expires_at=expires_at,
        )
        return key, raw

    @classmethod
    def find(cls, raw_key: str) -> ApiKey | None:
        """The active key matching ``raw_key``, or None (unknown, revoked or expired)."""
        if not raw_key or len(raw_key) > 200:
            return None
        return (
            cls.objects.active()
            .select_related("user", "organization")
            .filter(key_hash=cls.digest(raw_key), user__is_active=True)
            .first()
        )

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self) -> None:
        """Record use, at most once a minute, so hot keys don't write on every request."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class AuditEvent(models.Model):
    """Who did what to which object, for admin review. Rows are never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_repr}"
