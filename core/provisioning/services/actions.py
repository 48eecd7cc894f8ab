"""Platform actions that change a live service: suspend, unsuspend, terminate, change package.

Invariant: a status that depends on the platform (suspended, active again, terminated, new
package) is written only after the platform confirmed it; until then `pending_action` names it,
and a second action waits for the first. Staff-fulfilled services (no connection) change at once.
"""

from __future__ import annotations

from django.db import transaction

from core import clock
from core.audit.services import record
from core.catalog.models import Product
from core.notifications.services import notify, send_email
from core.provisioning import drivers
from core.provisioning.errors import ActionInProgress, InvalidTransition, ProvisioningError
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .capacity import product_features
from .retries import retry_or_fail
from .states import S, ensure_can_move, lock_service, move_to
from .stock import give_back_stock

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome

# Platform actions whose confirmation changes the service, and the status they lead to.
_ACTION_TARGET = {
    Action.SUSPEND: S.SUSPENDED,
    Action.UNSUSPEND: S.ACTIVE,
    Action.TERMINATE: S.TERMINATED,
    Action.CHANGE_PACKAGE: None,
}


def _request_action(
    service: Service, action: str, *, target: str | None, actor, argument: str = "", message: str = ""
) -> Service:
    """On a locked service: mark `action` pending and queue it, or apply it at once when there is
    no platform to ask (staff-fulfilled products)."""
    if service.pending_action:
        raise ActionInProgress(
            f"Service {service.pk} is waiting for the platform to confirm “{service.pending_action}”; "
            "try again when it has finished (see its provisioning jobs)."
        )
    if target is not None:
        ensure_can_move(service, target)
    if service.connection_id is None:
        _confirm_action(service, action, argument, reason=message)
        record(f"service.{action}", service, actor=actor, message=message or "Applied without a platform")
        return service
    service.pending_action = action
    service.save(update_fields=["pending_action", "suspension_reason", "updated_at"])
    jobs.queue_job(service, action, argument=argument, actor=actor)
    record(f"service.{action}_requested", service, actor=actor, message=message, data={"argument": argument})
    return service


def _confirm_action(service: Service, action: str, argument: str, *, reason: str = "") -> None:
    """Apply what the platform confirmed to a locked service."""
    target = _ACTION_TARGET[action]
    suspended_at = service.suspended_at  # cleared by the move to active; names the suspension lifted
    if target is not None:
        move_to(service, target)
    if action == Action.TERMINATE:
        give_back_stock(service)
    if action == Action.CHANGE_PACKAGE:
        service.product = Product.objects.get(pk=int(argument))
    service.pending_action = ""
    service.last_error = ""
    service.save()
    if action == Action.SUSPEND:
        send_email(
            "service_suspended",
            to=service.customer.user.email,
            subject=f"Your {service.product.name} has been suspended",
            template="service_suspended",
            context={"label": str(service), "reason": service.suspension_reason, "product": service.product.name},
            dedupe_key=f"service_suspended:{service.uuid}:{service.suspended_at.isoformat()}",
            customer=service.customer,
        )
    elif action == Action.UNSUSPEND:
        send_email(
            "service_unsuspended",
            to=service.customer.user.email,
            subject=f"Your {service.product.name} is running again",
            template="service_unsuspended",
            context={
                "label": str(service),
                "product": service.product.name,
                "service_path": f"/services/{service.uuid}/",
            },
            dedupe_key=f"service_unsuspended:{service.uuid}:{(suspended_at or clock.now()).isoformat()}",
            customer=service.customer,
        )
    elif action == Action.TERMINATE:
        notify(
            "service_terminated",
            to=service.customer.user.email,
            context={
                "label": str(service),
                "product": service.product.name,
                "service_path": f"/services/{service.uuid}/",
                "reason": reason,
                "data_deleted": bool(service.platform_service_id),
            },
            key=f"service_terminated:{service.uuid}",
            customer=service.customer,
        )


def _call_action(driver: drivers.ProvisioningDriver, service: Service, action: str, argument: str):
    if action == Action.SUSPEND:
        return driver.suspend(service)
    if action == Action.UNSUSPEND:
        return driver.unsuspend(service)
    if action == Action.TERMINATE:
        return driver.terminate(service)
    product = Product.objects.get(pk=int(argument))
    return driver.change_package(service, dict(product.platform_settings or {}), product_features(product))


def run_action(job: ProvisioningJob) -> None:
    service = Service.objects.select_related("product", "connection", "customer__user").get(pk=job.service_id)
    if service.pending_action != job.action:
        jobs.finish_job(job, Outcome.FAILED, error=f"Skipped: the service no longer waits for {job.action}.")
        return
    request = {
        "external_id": str(service.uuid),
        "platform_service_id": service.platform_service_id,
        "argument": job.argument,
    }
    try:
        driver = drivers.get_driver(service.connection)
        jobs.call_platform(job, request, lambda: _call_action(driver, service, job.action, job.argument))
    except drivers.NotFound as exc:
        if job.action != Action.TERMINATE:
            retry_or_fail(job, exc)
            return
        # Already gone on the platform: that is what terminating wanted.
    except Exception as exc:
        retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = lock_service(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response={"confirmed": True})
        if service.pending_action != job.action:
            return
        _confirm_action(service, job.action, job.argument)
        record(f"service.{job.action}", service, actor=job.requested_by, message="Confirmed by the platform")


def suspend_service(service: Service, *, reason: str, actor=None) -> Service:
    """Ask the platform to suspend an active service; it becomes `suspended` once confirmed.

    Suspending a service that is suspended (or whose suspension is in flight) does nothing,
    so the billing run may call this twice.
    """
    with transaction.atomic():
        service = lock_service(service.pk)
        if service.status == S.SUSPENDED or service.pending_action == Action.SUSPEND:
            return service
        service.suspension_reason = reason[:255]
        return _request_action(service, Action.SUSPEND, target=S.SUSPENDED, actor=actor, message=reason)


def unsuspend_service(service: Service, *, actor=None) -> Service:
    """Ask the platform to lift a suspension; the service is `active` again once confirmed.
    Unsuspending an active service (or one whose unsuspension is in flight) does nothing."""
    with transaction.atomic():
        service = lock_service(service.pk)
        if (service.status == S.ACTIVE and not service.pending_action) or service.pending_action == Action.UNSUSPEND:
            return service
        return _request_action(service, Action.UNSUSPEND, target=S.ACTIVE, actor=actor)


def terminate_service(service: Service, *, reason: str, actor=None) -> Service:
    """Remove the service from its platform; it becomes `terminated` once the platform confirms
    (or at once when nothing was ever created there). Stock taken by it is given back.
    Terminating a terminated service does nothing; a service being built cannot be terminated
    until its build finishes or fails."""
    with transaction.atomic():
        service = lock_service(service.pk)
        if service.status == S.TERMINATED or service.pending_action == Action.TERMINATE:
            return service
        if service.status == S.PROVISIONING:
            raise ActionInProgress(
                f"Service {service.pk} is being built; terminate it when provisioning has finished or failed."
            )
        never_created = service.status in (S.PENDING, S.AWAITING_STOCK) and not service.platform_service_id
        if never_created or service.connection_id is None:
            ensure_can_move(service, S.TERMINATED)
            if service.pending_action:
                raise ActionInProgress(f"Service {service.pk} is waiting for “{service.pending_action}”.")
            _confirm_action(service, Action.TERMINATE, "", reason=reason)
            record("service.terminate", service, actor=actor, message=reason or "Nothing to remove on a platform")
            return service
        return _request_action(service, Action.TERMINATE, target=S.TERMINATED, actor=actor, message=reason)


def change_service_package(service: Service, new_product: Product, *, actor=None) -> Service:
    """Ask the platform to move the service to another product's package; Service.product
    changes once the platform confirms. Billing (proration) is the caller's business."""
    with transaction.atomic():
        service = lock_service(service.pk)
        if service.product_id == new_product.pk:
            return service
        if service.status not in (S.ACTIVE, S.SUSPENDED):
            raise InvalidTransition(
                service, "changed", f"Only an active or suspended service can change package (it is {service.status})."
            )
        if new_product.platform != service.product.platform:
            raise ProvisioningError(
                f"{new_product.name} runs on {new_product.get_platform_display()}, not "
                f"{service.product.get_platform_display()}; a platform move needs a new service."
            )
        if service.pending_action == Action.CHANGE_PACKAGE:
            raise ActionInProgress(f"Service {service.pk} is already changing package; wait for it to finish.")
        return _request_action(
            service,
            Action.CHANGE_PACKAGE,
            target=None,
            actor=actor,
            argument=str(new_product.pk),
            message=f"{service.product.name} → {new_product.name}",
        )
