"""What happens after a queued platform call failed: the next attempt with backoff, or giving up
(creation marks the service failed; other actions leave the status the platform last confirmed).
Staff are alerted when a service needs them."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core import clock
from core.audit.services import record
from core.provisioning import drivers
from core.provisioning.conf import setting
from core.provisioning.errors import ProvisioningError
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .alerts import alert_staff
from .states import S, lock_service, move_to

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome


def is_retryable(exc: Exception) -> bool:
    if isinstance(exc, drivers.DriverError):
        return exc.retryable
    # Configuration problems do not fix themselves; anything unexpected (a driver bug, a
    # dropped connection) may, and a retried create is safe by the external-id lookup.
    return not isinstance(exc, ImproperlyConfigured | ProvisioningError)


def retry_or_fail(job: ProvisioningJob, exc: Exception) -> None:
    """After a failed platform call: queue the next attempt with backoff, or give up for good."""
    message = f"{exc.__class__.__name__}: {exc}"
    with transaction.atomic():
        service = lock_service(job.service_id)
        if is_retryable(exc) and job.attempt < setting("MAX_ATTEMPTS"):
            jobs.finish_job(job, Outcome.RETRYING, error=message)
            jobs.queue_job(
                service,
                job.action,
                argument=job.argument,
                attempt=job.attempt + 1,
                actor=job.requested_by,
                run_after=clock.now() + jobs.backoff_delay(job.attempt),
                round_key=jobs.round_key_of(job),
            )
            service.last_error = f"Attempt {job.attempt} failed, retrying: {message}"[:5000]
            service.save(update_fields=["last_error", "updated_at"])
            return
        jobs.finish_job(job, Outcome.FAILED, error=message)
        give_up(service, job, message)


def give_up(service: Service, job: ProvisioningJob, message: str) -> None:
    """A platform action failed for good (locked row): creation marks the service failed,
    other actions leave the status as the platform last confirmed it. Staff are alerted."""
    service.last_error = message[:5000]
    if job.action in (Action.CREATE, Action.POLL):
        if service.status in (S.PENDING, S.PROVISIONING):
            move_to(service, S.FAILED)
        service.save()
        record("service.provision_failed", service, message=message[:500], source="task")
        alert_staff(
            "Provisioning failed",
            service,
            f"{service.product.name} for customer {service.customer_id} failed after {job.attempt} attempt(s): "
            f"{message}. Retry it, or refund/credit the customer, from the service page.",
            level="error",
            key=f"provision-failed:{service.uuid}:{job.pk}",
        )
        return
    action = service.pending_action
    service.pending_action = ""
    service.save()
    record(f"service.{job.action}_failed", service, message=message[:500], source="task")
    if job.action == Action.RESET_CREDENTIALS:
        message += (
            ". The welcome email was not sent: the service has no password the platform accepted. "
            "Use “Reset credentials” on the service page; the welcome email follows"
        )
    alert_staff(
        f"{job.get_action_display()} failed",
        service,
        f"The platform did not confirm {action or job.action} after {job.attempt} attempt(s): {message}",
        level="error",
        key=f"action-failed:{service.uuid}:{job.pk}",
    )
