"""Acting on every service of one customer at once (the customer 360 page's quick actions)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.audit.services import record
from core.provisioning.errors import ProvisioningError
from core.provisioning.models import Service

from .actions import suspend_service, unsuspend_service

S = Service.Status


@dataclass
class BulkOutcome:
    """What happened to each service: queued on its platform, or skipped with the reason."""

    queued: list[Service] = field(default_factory=list)
    skipped: list[tuple[Service, str]] = field(default_factory=list)

    @property
    def message(self) -> str:
        parts = [f"{len(self.queued)} queued"]
        if self.skipped:
            parts.append(
                f"{len(self.skipped)} skipped (" + "; ".join(f"{s.pk}: {why}" for s, why in self.skipped) + ")"
            )
        return ", ".join(parts)


def suspend_customer_services(customer, *, reason: str, actor=None) -> BulkOutcome:
    """Suspend every active service of the customer with one reason (each through suspend_service,
    so each is a platform job and shows Suspended once confirmed). Services in other states are
    left alone; a failure on one never stops the others."""
    if not reason.strip():
        raise ProvisioningError("Say why the services are suspended: the reason is shown to the customer.")
    outcome = BulkOutcome()
    for service in Service.objects.filter(customer=customer, status=S.ACTIVE).order_by("pk"):
        try:
            suspend_service(service, reason=reason, actor=actor)
            outcome.queued.append(service)
        except ProvisioningError as exc:
            outcome.skipped.append((service, str(exc)))
    record("customer.suspend_services", customer, actor=actor, message=f"{reason} — {outcome.message}",
           data={"reason": reason, "queued": [s.pk for s in outcome.queued]})  # fmt: skip
    return outcome


def unsuspend_customer_services(customer, *, reason: str, actor=None) -> BulkOutcome:
    """Lift the suspension of every suspended service of the customer (each through unsuspend_service)."""
    if not reason.strip():
        raise ProvisioningError("Say why the suspensions are lifted.")
    outcome = BulkOutcome()
    for service in Service.objects.filter(customer=customer, status=S.SUSPENDED).order_by("pk"):
        try:
            unsuspend_service(service, actor=actor)
            outcome.queued.append(service)
        except ProvisioningError as exc:
            outcome.skipped.append((service, str(exc)))
    record("customer.unsuspend_services", customer, actor=actor, message=f"{reason} — {outcome.message}",
           data={"reason": reason, "queued": [s.pk for s in outcome.queued]})  # fmt: skip
    return outcome
