"""Tenancy actions shared by the admin, the pages and the API.

Each is keyword-only, runs in one transaction and writes its audit row.
"""

from __future__ import annotations

from django.db import transaction

from evalhub import audit
from evalhub.errors import InvalidInput, PermissionDenied
from evalhub.models import ApiKey, Membership, Organization, Role
from evalhub.permissions import can


def apikey_create(
    *,
    actor,
    user,
    name: str,
    organization: Organization | None = None,
    expires_at=None,
    source: str = "",
) -> tuple[ApiKey, str]:
    """Create an API key for ``user``; returns ``(key, raw_key)``. The raw key is shown once."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A key needs a name.", field="name", code="required")
    if len(name) > 100:
        raise InvalidInput("Key names are at most 100 characters.", field="name")
    if (
        actor.pk != user.pk
        and not actor.is_superuser
        and not (organization is not None and can(actor, "manage_keys", organization=organization))
    ):
        raise PermissionDenied("Only the user or an owner of the organization may create this key.")
    if (
        organization is not None
        and not Membership.objects.filter(user=user, organization=organization).exists()
    ):
        raise InvalidInput(
            f"{user} is not a member of {organization}.", field="organization", code="not_member"
        )
    with transaction.atomic():
        key, raw = ApiKey.generate(
            user=user, name=name, organization=organization, expires_at=expires_at
        )
        audit.record(
            "apikey.create",
            actor=actor,
            target=key,
            organization=organization,
            source=source,
            prefix=key.prefix,
            for_user=user.get_username(),
        )
    return key, raw


def apikey_revoke(*, actor, key: ApiKey, source: str = "") -> bool:
    """Revoke ``key``; returns False when it was already revoked."""
    if (
        actor.pk != key.user_id
        and not actor.is_superuser
        and not (key.organization_id and can(actor, "manage_keys", organization=key.organization))
    ):
        raise PermissionDenied("Only the key's user or an owner of its organization may revoke it.")
    with transaction.atomic():
        if key.revoked_at is not None:
            return False
        key.revoke()
        audit.record("apikey.revoke", actor=actor, target=key, source=source, prefix=key.prefix)
    return True


def membership_set(
    *, actor, organization: Organization, user, role: str, source: str = ""
) -> Membership:
    """Add ``user`` to ``organization`` with ``role``, or change their role.

    An organization always keeps at least one owner.
    """
    if role not in Role.values:
        raise InvalidInput(
            f"Role must be one of {', '.join(Role.values)}, not {role!r}.", field="role"
        )
    if not actor.is_superuser and not can(actor, "manage_members", organization=organization):
        raise PermissionDenied("Only owners manage members.")
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        if not created and membership.role != role:
            if membership.role == Role.OWNER and _is_last_owner(membership):
                raise InvalidInput(
                    "An organization needs at least one owner.", field="role", code="last_owner"
                )
            membership.role = role
            membership.save(update_fields=["role"])
        audit.record(
            "membership.set",
            actor=actor,
            target=membership,
            organization=organization,
            source=source,
            user=user.get_username(),
            role=role,
            created=created,
        )
    return membership


def membership_remove(*, actor, membership: Membership, source: str = "") -> None:
    if not actor.is_superuser and not can(
        actor, "manage_members", organization=membership.organization
    ):
        raise PermissionDenied("Only owners manage members.")
    with transaction.atomic():
        if membership.role == Role.OWNER and _is_last_owner(membership):
            raise InvalidInput(
                "An organization needs at least one owner.", field="role", code="last_owner"
            )
        audit.record(
            "membership.remove",
            actor=actor,
            target=membership,
            organization=membership.organization,
            source=source,
            user=membership.user.get_username(),
        )
        membership.delete()


def _is_last_owner(membership: Membership) -> bool:
    return (
        not Membership.objects.filter(organization_id=membership.organization_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
