"""The life of a service: create, provision (with retries and build polling), suspend,
unsuspend, terminate, change package, assign hardware, retry.

Invariants kept here:
- a status changes only through the transition table (states.py), on a locked row;
- a status that depends on the platform (suspended, active again, terminated, new package)
  is written only after the platform confirmed it; until then `pending_action` names it;
- a create, however often it is retried or duplicated, never makes a second resource: our
  Service.uuid is the platform's external id and drivers look it up before creating, and the
  platform ids a partial create obtained are stored at once and handed back as `existing`;
- the welcome email carries a password the platform accepted: an adopted resource whose
  password we do not know gets a fresh one (reset_credentials) before the email goes out.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F

from core import clock
from core.audit.services import record
from core.catalog.models import Product, ServiceType
from core.notifications.services import discord_alert, send_email
from core.provisioning import drivers
from core.provisioning.conf import setting
from core.provisioning.errors import ActionInProgress, InvalidTransition, NoPlatformConnection, ProvisioningError
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .capacity import connection_for, product_features, waits_for_hardware
from .credentials import generate_password, seal
from .states import S, ensure_can_move, move_to

log = logging.getLogger(__name__)

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome

# Platform actions whose confirmation changes the service, and the status they lead to.
_ACTION_TARGET = {
    Action.SUSPEND: S.SUSPENDED,
    Action.UNSUSPEND: S.ACTIVE,
    Action.TERMINATE: S.TERMINATED,
    Action.CHANGE_PACKAGE: None,
}


def _locked(service_id: int) -> Service:
    # Lock the service row only: select_for_update with select_related would also lock the
    # joined Product and PlatformConnection rows (MariaDB has no FOR UPDATE OF), serialising
    # every worker on a shared product row and deadlocking with checkout.
    return Service.objects.select_for_update().get(pk=service_id)


def _take_stock(product: Product) -> bool:
    """Take one unit of a product's stock; False when none is left. Unlimited stock always succeeds."""
    if product.stock_quantity is None:
        return False
    taken = Product.objects.filter(pk=product.pk, stock_quantity__gt=0).update(stock_quantity=F("stock_quantity") - 1)
    return bool(taken)


def _give_back_stock(service: Service) -> list[str]:
    if not service.holds_stock:
        return []
    Product.objects.filter(pk=service.product_id, stock_quantity__isnull=False).update(
        stock_quantity=F("stock_quantity") + 1
    )
    service.holds_stock = False
    return ["holds_stock"]


def _alert(title: str, service: Service, description: str, *, level: str = "warning", key: str | None = None):
    discord_alert(
        title,
        description[:1500],
        level=level,
        fields=[("Service", f"#{service.pk} {service}"), ("Customer", str(service.customer_id))],
        dedupe_key=key,
    )


# --- Create ---------------------------------------------------------------------------------

_ID_FIELDS = ("platform_service_id", "platform_customer_id")


def save_platform_ids(service_id: int, ids: dict) -> None:
    """Store the platform ids a create obtained before it finished (reported progress, or the
    details of a failed attempt): `platform_service_id`, `platform_customer_id`, and
    `platform_data` merged into what is there.

    Runs in its own short transaction on the locked row, so the ids survive whatever the rest of
    the attempt does, and the next attempt passes them back to the driver as `existing`.
    """
    ids = ids or {}
    data = ids.get("platform_data")
    updates = {k: str(ids[k])[:64] for k in _ID_FIELDS if ids.get(k) not in (None, "")}
    if not updates and not (isinstance(data, dict) and data):
        return
    with transaction.atomic():
        service = _locked(service_id)
        for name, value in updates.items():
            setattr(service, name, value)
        fields = [*updates]
        if isinstance(data, dict) and data:
            service.platform_data = {**(service.platform_data or {}), **data}
            fields.append("platform_data")
        service.save(update_fields=[*fields, "updated_at"])


def _progress_recorder(service_id: int):
    # A plain function (not a bound method) so job logging can skip it without copying anything.
    def on_progress(ids: dict) -> None:
        save_platform_ids(service_id, ids)

    return on_progress


def create_service(subscription, order_item, *, actor=None) -> Service:
    """Create the service a paid order item bought, and queue its provisioning after commit.

    Idempotent per (subscription, order_item): a second call returns the first service.
    The service starts `pending`, or `awaiting_stock` when staff must assign hardware
    (manual-approval products, dedicated servers with no stock). Products with a stock count
    take one unit now; if the last unit went to a concurrent order, the service waits in
    `awaiting_stock` too (the customer has paid: staff decide, we never refuse here).
    """
    existing = Service.objects.filter(subscription=subscription, order_item=order_item).first()
    if existing is not None:
        return existing
    # Read afresh: stock and approval flags must not come from a caller's stale instance.
    product = Product.objects.select_related("platform_connection").get(pk=subscription.price.product_id)
    try:
        with transaction.atomic():
            service = Service(
                customer_id=subscription.customer_id,
                subscription=subscription,
                order_item=order_item,
                product=product,
                label=product.name,
                hostname=(getattr(order_item, "hostname", "") or "").strip(),
                config=dict(getattr(order_item, "config", None) or {}),
                status=S.PENDING,
            )
            problem = ""
            try:
                service.connection = connection_for(product)
            except NoPlatformConnection as exc:
                problem = str(exc)
            if not service.hostname:
                service.hostname = f"{product.slug}-{str(service.uuid)[:8]}"[:253]
            if waits_for_hardware(product):
                service.status = S.AWAITING_STOCK
            elif product.stock_quantity is not None:
                service.holds_stock = _take_stock(product)
                if not service.holds_stock:
                    service.status = S.AWAITING_STOCK
                    problem = problem or f"{product.name} ran out of stock before this order was fulfilled."
            if problem and service.status == S.PENDING:
                service.status = S.FAILED
                service.last_error = problem
            service.save()
            record(
                "service.create",
                service,
                actor=actor,
                message=f"{product.name} → {service.get_status_display()}",
                data={"subscription": subscription.pk, "order_item": getattr(order_item, "pk", None)},
            )
            if service.status == S.PENDING:
                jobs.queue_job(service, Action.CREATE, actor=actor)
            elif problem:
                _alert("Service needs staff attention", service, problem, key=f"service-attention:{service.uuid}")
            elif service.status == S.AWAITING_STOCK:
                _alert(
                    "Hardware to assign",
                    service,
                    f"{product.name} waits for staff to assign hardware.",
                    level="info",
                    key=f"service-awaiting:{service.uuid}",
                )
    except IntegrityError:
        # A concurrent call for the same order item won the unique constraint.
        existing = Service.objects.filter(subscription=subscription, order_item=order_item).first()
        if existing is None:
            raise
        return existing
    return service


def provision_service(service: Service) -> Service:
    """Run the create step of a pending (or provisioning) service now, in this process.

    This is the body of the queued job; staff tools and tests call it to skip the queue.
    A job already claimed by a worker is left to that worker.
    """
    job = (
        ProvisioningJob.objects.filter(service=service, action=Action.CREATE, outcome=Outcome.QUEUED)
        .order_by("-pk")
        .first()
    )
    if job is None:
        with transaction.atomic():
            locked = _locked(service.pk)
            if locked.status not in (S.PENDING, S.PROVISIONING):
                raise InvalidTransition(locked, S.PROVISIONING)
            job = jobs.queue_job(locked, Action.CREATE)
    run_job(job.pk)
    service.refresh_from_db()
    return service


def _provision_request(service: Service) -> drivers.ProvisionRequest:
    customer = service.customer
    return drivers.ProvisionRequest(
        external_id=str(service.uuid),
        customer_external_id=str(customer.pk),
        customer_email=customer.user.email,
        customer_name=customer.user.full_name,
        hostname=service.hostname,
        product_settings=dict(service.product.platform_settings or {}),
        features=product_features(service.product),
        config=dict(service.config or {}),
        password=(service.credentials or {}).get("password", ""),
        existing={
            k: v
            for k, v in {
                "platform_service_id": service.platform_service_id,
                "platform_customer_id": service.platform_customer_id,
                **(service.platform_data or {}),
            }.items()
            if v
        },
    )


def _run_create(job: ProvisioningJob) -> None:
    with transaction.atomic():
        service = _locked(job.service_id)
        if service.status == S.PENDING:
            service.save(update_fields=move_to(service, S.PROVISIONING))
        elif service.status != S.PROVISIONING:
            jobs.finish_job(job, Outcome.FAILED, error=f"Skipped: the service is {service.status}.")
            return
        if not (service.credentials or {}).get("password"):
            # Chosen once and kept, so a retried create sends the same password.
            service.credentials = {**(service.credentials or {}), "password": generate_password()}
            service.save(update_fields=["credentials", "updated_at"])
    service = Service.objects.select_related("product", "connection", "customer__user").get(pk=service.pk)
    if service.connection is None:
        _retry_or_fail(job, NoPlatformConnection("The service has no platform connection; set one and retry."))
        return
    request = _provision_request(service)
    request.on_progress = _progress_recorder(service.pk)
    try:
        driver = drivers.get_driver(service.connection)
        result = jobs.call_platform(job, request, lambda: driver.create(request))
    except drivers.AlreadyExists as exc:
        result = _adopted(service, exc)
    except drivers.CapacityError as exc:
        save_platform_ids(service.pk, exc.details)
        if service.product.service_type == ServiceType.DEDICATED:
            _wait_for_hardware(job, exc)
        else:
            _retry_or_fail(job, exc)
        return
    except Exception as exc:
        if isinstance(exc, drivers.DriverError):
            # What an attempt created before failing (e.g. a VirtFusion server whose build call
            # failed) is kept, so the retry resumes it instead of creating a second one.
            save_platform_ids(service.pk, exc.details)
        _retry_or_fail(job, exc)
        return
    _record_created(job, result)


def _wait_for_hardware(job: ProvisioningJob, exc: drivers.CapacityError) -> None:
    """No hardware on the platform matches a dedicated server: it waits in `awaiting_stock` for
    staff to add or assign hardware (assign_hardware queues the create again), instead of
    retrying into `failed`. Staff are alerted."""
    message = f"No matching hardware: {exc}"
    with transaction.atomic():
        service = _locked(job.service_id)
        jobs.finish_job(job, Outcome.FAILED, error=message)
        if service.status != S.PROVISIONING:
            return
        fields = move_to(service, S.AWAITING_STOCK)
        service.last_error = message[:5000]
        service.save(update_fields=[*fields, "last_error"])
        record("service.awaiting_stock", service, message=message[:500], source="task")
        _alert(
            "Hardware to assign",
            service,
            f"{service.product.name} for customer {service.customer_id}: {exc} "
            "Add matching hardware on the platform, then use “Assign hardware” on the service page.",
            key=f"service-awaiting:{service.uuid}:{job.pk}",
        )


def _adopted(service: Service, exc: drivers.AlreadyExists) -> drivers.ProvisionResult:
    """The platform says our resource exists: take it over (ids from the error, else the ones we had)."""
    details = exc.details or {}
    return drivers.ProvisionResult(
        platform_service_id=str(details.get("platform_service_id") or service.platform_service_id or ""),
        platform_customer_id=str(details.get("platform_customer_id") or service.platform_customer_id or ""),
        platform_data=dict(details.get("platform_data") or {}),
        state=drivers.BuildState.BUILDING,
        adopted=True,
    )


def _record_created(job: ProvisioningJob, result: drivers.ProvisionResult) -> None:
    with transaction.atomic():
        service = _locked(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response=result)
        if result.platform_service_id:
            service.platform_service_id = str(result.platform_service_id)[:64]
        if result.platform_customer_id:
            service.platform_customer_id = str(result.platform_customer_id)[:64]
        service.platform_data = {**(service.platform_data or {}), **(result.platform_data or {})}
        if result.primary_ip:
            service.primary_ip = result.primary_ip
        if result.ip_addresses:
            service.ip_addresses = list(result.ip_addresses)
        if result.username:
            service.username = result.username[:100]
        credentials = dict(service.credentials or {})
        if result.adopted and not (result.credentials or {}).get("password"):
            # The resource kept a password of its own (or the platform chose it): the one we
            # generated for this attempt may not work there, so it is not kept or emailed;
            # _activate sets a fresh one on the platform first.
            credentials.pop("password", None)
        service.credentials = {**credentials, **(result.credentials or {})}
        service.save()
        if result.adopted:
            record("service.adopt", service, message="Existing platform resource adopted", source="task")
        if service.status != S.PROVISIONING:
            return
        if result.state == drivers.BuildState.READY:
            _activate(service)
        elif result.state == drivers.BuildState.FAILED:
            _give_up(service, job, "The platform reported that the build failed.")
        else:
            deadline = clock.now() + dt.timedelta(seconds=setting("BUILD_TIMEOUT_SECONDS"))
            _queue_poll(service, deadline.isoformat())


def _queue_poll(service: Service, deadline: str) -> None:
    run_after = clock.now() + dt.timedelta(seconds=setting("POLL_INTERVAL_SECONDS"))
    jobs.queue_job(service, Action.POLL, argument=deadline, run_after=run_after)


def _run_poll(job: ProvisioningJob) -> None:
    service = Service.objects.select_related("product", "connection").get(pk=job.service_id)
    if service.status != S.PROVISIONING:
        jobs.finish_job(job, Outcome.FAILED, error=f"Skipped: the service is {service.status}.")
        return
    try:
        driver = drivers.get_driver(service.connection)
        request = {"external_id": str(service.uuid), "platform_service_id": service.platform_service_id}
        status = jobs.call_platform(job, request, lambda: driver.build_status(service))
    except Exception as exc:
        _retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = _locked(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response=status)
        if service.status != S.PROVISIONING:
            return
        if status.state == drivers.BuildState.READY:
            if status.primary_ip:
                service.primary_ip = status.primary_ip
            if status.ip_addresses:
                service.ip_addresses = list(status.ip_addresses)
            _activate(service)
        elif status.state == drivers.BuildState.FAILED:
            _give_up(service, job, status.message or "The platform reported that the build failed.")
        elif clock.now() > dt.datetime.fromisoformat(job.argument):
            _give_up(service, job, "The build did not finish in time (PROVISIONING['BUILD_TIMEOUT_SECONDS']).")
        else:
            _queue_poll(service, job.argument)


def _activate(service: Service) -> None:
    """provisioning -> active on a locked row; sends the welcome email once, after giving the
    service a fresh password when we hold none the platform accepted (an adopted resource)."""
    move_to(service, S.ACTIVE)
    service.last_error = ""
    service.save()
    record("service.activate", service, message="Provisioned", source="task")
    if _needs_new_password(service):
        service.pending_action = Action.RESET_CREDENTIALS
        service.save(update_fields=["pending_action", "updated_at"])
        jobs.queue_job(service, Action.RESET_CREDENTIALS)
        return
    _send_welcome(service)


def _needs_new_password(service: Service) -> bool:
    return (
        service.connection_id is not None
        and service.credentials_sent_at is None
        and not (service.credentials or {}).get("password")
    )


def _run_reset_credentials(job: ProvisioningJob) -> None:
    """Set a fresh password on an adopted resource, store it, then send the welcome email.
    Each attempt sends a new password; only the one the platform accepted is stored."""
    service = Service.objects.select_related("product", "connection", "customer__user").get(pk=job.service_id)
    if service.pending_action != Action.RESET_CREDENTIALS:
        jobs.finish_job(job, Outcome.FAILED, error="Skipped: the service no longer waits for new credentials.")
        return
    password = generate_password()
    try:
        driver = drivers.get_driver(service.connection)
        new = jobs.call_platform(job, {"password": password}, lambda: driver.reset_credentials(service, password))
    except Exception as exc:
        _retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = _locked(job.service_id)
        jobs.finish_job(job, Outcome.SUCCEEDED, response={"confirmed": True})
        if service.pending_action != Action.RESET_CREDENTIALS:
            return
        service.credentials = {**(service.credentials or {}), "password": password, **(new or {})}
        service.pending_action = ""
        service.save()
        record(
            "service.reset_credentials", service, source="task",
            message="Fresh password set on an adopted resource before the welcome email",
        )  # fmt: skip
        _send_welcome(service)


def _send_welcome(service: Service) -> None:
    """The "service ready" email with credentials, at most once per service (credentials_sent_at)."""
    if service.credentials_sent_at is not None:
        return
    customer = service.customer
    send_email(
        "service_ready",
        to=customer.user.email,
        subject=f"Your {service.product.name} is ready",
        template="service_ready",
        context={
            "customer_name": customer.user.full_name,
            "product": service.product.name,
            "label": str(service),
            "hostname": service.hostname,
            "primary_ip": service.primary_ip or "",
            "ip_addresses": list(service.ip_addresses or []),
            "username": service.username,
            "credentials_token": seal(service.credentials or {}),
            "service_path": f"/services/{service.uuid}/",
        },
        dedupe_key=f"service_ready:{service.uuid}",
        customer=customer,
    )
    service.credentials_sent_at = clock.now()
    service.save(update_fields=["credentials_sent_at"])


# --- Retry and failure ------------------------------------------------------------------------


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, drivers.DriverError):
        return exc.retryable
    # Configuration problems do not fix themselves; anything unexpected (a driver bug, a
    # dropped connection) may, and a retried create is safe by the external-id lookup.
    return not isinstance(exc, ImproperlyConfigured | ProvisioningError)


def _retry_or_fail(job: ProvisioningJob, exc: Exception) -> None:
    """After a failed platform call: queue the next attempt with backoff, or give up for good."""
    message = f"{exc.__class__.__name__}: {exc}"
    with transaction.atomic():
        service = _locked(job.service_id)
        if _is_retryable(exc) and job.attempt < setting("MAX_ATTEMPTS"):
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
        _give_up(service, job, message)


def _give_up(service: Service, job: ProvisioningJob, message: str) -> None:
    """A platform action failed for good (locked row): creation marks the service failed,
    other actions leave the status as the platform last confirmed it. Staff are alerted."""
    service.last_error = message[:5000]
    if job.action in (Action.CREATE, Action.POLL):
        if service.status in (S.PENDING, S.PROVISIONING):
            move_to(service, S.FAILED)
        service.save()
        record("service.provision_failed", service, message=message[:500], source="task")
        _alert(
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
    _alert(
        f"{job.get_action_display()} failed",
        service,
        f"The platform did not confirm {action or job.action} after {job.attempt} attempt(s): {message}",
        level="error",
        key=f"action-failed:{service.uuid}:{job.pk}",
    )


# --- Platform actions that change the service ---------------------------------------------------


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
        _confirm_action(service, action, argument)
        record(f"service.{action}", service, actor=actor, message=message or "Applied without a platform")
        return service
    service.pending_action = action
    service.save(update_fields=["pending_action", "suspension_reason", "updated_at"])
    jobs.queue_job(service, action, argument=argument, actor=actor)
    record(f"service.{action}_requested", service, actor=actor, message=message, data={"argument": argument})
    return service


def _confirm_action(service: Service, action: str, argument: str) -> None:
    """Apply what the platform confirmed to a locked service."""
    target = _ACTION_TARGET[action]
    suspended_at = service.suspended_at  # cleared by the move to active; names the suspension lifted
    if target is not None:
        move_to(service, target)
    if action == Action.TERMINATE:
        _give_back_stock(service)
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


def _call_action(driver: drivers.ProvisioningDriver, service: Service, action: str, argument: str):
    if action == Action.SUSPEND:
        return driver.suspend(service)
    if action == Action.UNSUSPEND:
        return driver.unsuspend(service)
    if action == Action.TERMINATE:
        return driver.terminate(service)
    product = Product.objects.get(pk=int(argument))
    return driver.change_package(service, dict(product.platform_settings or {}), product_features(product))


def _run_action(job: ProvisioningJob) -> None:
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
            _retry_or_fail(job, exc)
            return
        # Already gone on the platform: that is what terminating wanted.
    except Exception as exc:
        _retry_or_fail(job, exc)
        return
    with transaction.atomic():
        service = _locked(job.service_id)
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
        service = _locked(service.pk)
        if service.status == S.SUSPENDED or service.pending_action == Action.SUSPEND:
            return service
        service.suspension_reason = reason[:255]
        return _request_action(service, Action.SUSPEND, target=S.SUSPENDED, actor=actor, message=reason)


def unsuspend_service(service: Service, *, actor=None) -> Service:
    """Ask the platform to lift a suspension; the service is `active` again once confirmed.
    Unsuspending an active service (or one whose unsuspension is in flight) does nothing."""
    with transaction.atomic():
        service = _locked(service.pk)
        if (service.status == S.ACTIVE and not service.pending_action) or service.pending_action == Action.UNSUSPEND:
            return service
        return _request_action(service, Action.UNSUSPEND, target=S.ACTIVE, actor=actor)


def terminate_service(service: Service, *, reason: str, actor=None) -> Service:
    """Remove the service from its platform; it becomes `terminated` once the platform confirms
    (or at once when nothing was ever created there). Stock taken by it is given back.
    Terminating a terminated service does nothing; a service being built cannot be terminated
    until its build finishes or fails."""
    with transaction.atomic():
        service = _locked(service.pk)
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
            _confirm_action(service, Action.TERMINATE, "")
            record("service.terminate", service, actor=actor, message=reason or "Nothing to remove on a platform")
            return service
        return _request_action(service, Action.TERMINATE, target=S.TERMINATED, actor=actor, message=reason)


def change_service_package(service: Service, new_product: Product, *, actor=None) -> Service:
    """Ask the platform to move the service to another product's package; Service.product
    changes once the platform confirms. Billing (proration) is the caller's business."""
    with transaction.atomic():
        service = _locked(service.pk)
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


def retry_provisioning(service: Service, *, actor) -> Service:
    """Start provisioning a failed service again (failed -> pending, a fresh round of attempts).
    The driver's external-id lookup makes sure an earlier partial create is reused, not doubled."""
    with transaction.atomic():
        service = _locked(service.pk)
        fields = move_to(service, S.PENDING)
        if service.connection_id is None:
            service.connection = connection_for(service.product)
            fields.append("connection")
        service.last_error = ""
        service.save(update_fields=[*fields, "last_error"])
        jobs.queue_job(service, Action.CREATE, actor=actor)
        record("service.retry", service, actor=actor, message="Provisioning retried")
    return service


def queue_provisioning(service: Service, *, actor) -> Service:
    """Staff "provision": queue the create step of a pending service (once: a queued create is
    not doubled), or retry a failed one."""
    with transaction.atomic():
        service = _locked(service.pk)
        if service.status == S.FAILED:
            return retry_provisioning(service, actor=actor)
        if service.status != S.PENDING:
            raise InvalidTransition(
                service,
                S.PROVISIONING,
                f"Only a pending or failed service can be provisioned (it is {service.status}).",
            )
        queued = ProvisioningJob.objects.filter(
            service=service, action=Action.CREATE, outcome__in=[Outcome.QUEUED, Outcome.RUNNING]
        ).exists()
        if not queued:
            jobs.queue_job(service, Action.CREATE, actor=actor)
        record("service.provision", service, actor=actor, message="Provisioning queued by staff")
    return service


def assign_hardware(service: Service, *, note: str, actor) -> Service:
    """Staff assigned hardware to a service awaiting stock: take one unit of stock (when any is
    counted) and queue provisioning. Staff-fulfilled products (platform "manual") become active."""
    with transaction.atomic():
        service = _locked(service.pk)
        move_to(service, S.PENDING)
        service.hardware_note = note[:255]
        if service.product.stock_quantity is not None and not service.holds_stock:
            service.holds_stock = _take_stock(service.product)
        if service.connection_id is None and service.product.platform != "manual":
            service.connection = connection_for(service.product)
        service.save()
        record("service.assign_hardware", service, actor=actor, message=note, data={"holds_stock": service.holds_stock})
        if service.connection_id is None:
            move_to(service, S.PROVISIONING)
            _activate(service)
        else:
            jobs.queue_job(service, Action.CREATE, actor=actor)
    return service


# --- The queued entry point --------------------------------------------------------------------

_HANDLERS = {
    Action.CREATE: _run_create,
    Action.POLL: _run_poll,
    Action.SUSPEND: _run_action,
    Action.UNSUSPEND: _run_action,
    Action.TERMINATE: _run_action,
    Action.CHANGE_PACKAGE: _run_action,
    Action.RESET_CREDENTIALS: _run_reset_credentials,
}


def run_job(job_id: int) -> str:
    """Run one queued provisioning job if nobody else has; returns its outcome (for django-q's log)."""
    job = jobs.claim_job(job_id)
    if job is None:
        return "not claimed"
    handler = _HANDLERS.get(job.action)
    if handler is None:
        jobs.finish_job(job, Outcome.FAILED, error=f"No queued handler for {job.action}.")
        return Outcome.FAILED
    try:
        handler(job)
    except Exception as exc:
        log.exception("provisioning job %s crashed", job_id)
        _retry_or_fail(job, exc)
    job.refresh_from_db(fields=["outcome"])
    return job.outcome
