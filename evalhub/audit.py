"""Writing audit rows: every service calls :func:`record` inside its transaction."""

from __future__ import annotations

from evalhub.models import AuditEvent


def record(
    action: str,
    *,
    actor=None,
    target=None,
    organization=None,
    source: str = "",
    **data,
) -> AuditEvent:
    if organization is None and target is not None:
        organization = getattr(target, "organization", None)
    return AuditEvent.objects.create(
        actor=actor if (actor is not None and actor.is_authenticated) else None,
        organization=organization,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        source=source,
        data=data,
    )
