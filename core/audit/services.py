"""Writing the audit log. Every business action calls `record` (services, not views)."""

from django.db import models

from .middleware import current
from .models import AuditLog


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    actor=None,
    message: str = "",
    before: dict | None = None,
    after: dict | None = None,
    data: dict | None = None,
    source: str | None = None,
) -> AuditLog:
    """Append one audit entry. The request context (user, impersonator, IP, agent) fills what is not given."""
    ctx = current()
    actor_id = getattr(actor, "pk", actor) if actor is not None else (ctx.user_id if ctx else None)
    return AuditLog.objects.create(
        actor_id=actor_id,
        impersonator_id=ctx.impersonator_id if ctx else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        message=message,
        before=before,
        after=after,
        data=data or {},
        ip_address=ctx.ip_address if ctx else None,
        user_agent=ctx.user_agent if ctx else "",
        source=source or (ctx.source if ctx else "system"),
    )
