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
    customer=None,
) -> AuditLog:
    """Append one audit entry. The request context (user, impersonator, IP, agent) fills what is not given;
    the customer it concerns is the object itself or the object's `customer` when not given."""
    ctx = current()
    actor_id = getattr(actor, "pk", actor) if actor is not None else (ctx.user_id if ctx else None)
    if before is not None and after is not None:
        before, after = only_changes(before, after)
    return AuditLog.objects.create(
        customer_id=_customer_id(obj) if customer is None else getattr(customer, "pk", customer),
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


def _customer_id(obj) -> int | None:
    if obj is None:
        return None
    if obj._meta.label_lower == "accounts.customer":
        return obj.pk
    if obj._meta.label_lower == "accounts.user":
        return getattr(getattr(obj, "customer", None), "pk", None) if _has_customer(obj) else None
    return getattr(obj, "customer_id", None)


def _has_customer(user) -> bool:
    try:
        return user.customer is not None
    except Exception:  # RelatedObjectDoesNotExist: a staff user
        return False


def only_changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the fields whose value changed, so an entry's before/after is the diff itself."""
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def jsonable(value):
    """A field value as the audit log stores it (JSON: money and dates as strings)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, models.Model):
        return str(value.pk)
    return str(value)
