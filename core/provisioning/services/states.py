"""The service lifecycle as one table. Every status change goes through `move_to`."""

from core import clock
from core.provisioning.errors import InvalidTransition
from core.provisioning.models import Service

S = Service.Status

# current status -> statuses it may become. Anything else is a bug or a race, never a silent change.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.AWAITING_STOCK, S.FAILED, S.TERMINATED}),
    S.AWAITING_STOCK: frozenset({S.PENDING, S.TERMINATED}),
    # awaiting_stock: the platform has no hardware for a dedicated server; staff assign it later.
    S.PROVISIONING: frozenset({S.ACTIVE, S.FAILED, S.AWAITING_STOCK}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.TERMINATED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.TERMINATED}),
    S.FAILED: frozenset({S.PENDING, S.TERMINATED}),
    S.TERMINATED: frozenset(),
}

# Timestamps stamped when a status is entered.
_STAMPS = {S.ACTIVE: "provisioned_at", S.SUSPENDED: "suspended_at", S.TERMINATED: "terminated_at"}


def lock_service(service_id: int) -> Service:
    """The service row, locked until the transaction ends: every status change happens on it."""
    # Lock the service row only: select_for_update with select_related would also lock the
    # joined Product and PlatformConnection rows (MariaDB has no FOR UPDATE OF), serialising
    # every worker on a shared product row and deadlocking with checkout.
    return Service.objects.select_for_update().get(pk=service_id)


def can_move(service: Service, target: str) -> bool:
    return target in TRANSITIONS[service.status]


def ensure_can_move(service: Service, target: str) -> None:
    if not can_move(service, target):
        raise InvalidTransition(service, target)


def move_to(service: Service, target: str) -> list[str]:
    """Change the status of a (locked) service in memory; returns the fields to save.

    Raises InvalidTransition for a change the table does not allow.
    """
    ensure_can_move(service, target)
    service.status = target
    fields = ["status", "updated_at"]
    stamp = _STAMPS.get(target)
    # Re-activation after a suspension keeps the original provisioning date.
    if stamp and not (stamp == "provisioned_at" and service.provisioned_at):
        setattr(service, stamp, clock.now())
        fields.append(stamp)
    if target == S.ACTIVE and service.suspended_at:
        service.suspended_at = None
        service.suspension_reason = ""
        fields += ["suspended_at", "suspension_reason"]
    return fields
