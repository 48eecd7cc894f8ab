"""The create job and build polling: ask the platform for the resource, keep every id it hands
back (even from an attempt that fails later), poll the build, and activate the service.

Invariants kept here:
- a create, however often it is retried or duplicated, never makes a second resource: our
  Service.uuid is the platform's external id and drivers look it up before creating, and the
  platform ids a partial create obtained are stored at once and handed back as `existing`;
- the welcome email carries a password the platform accepted: a resource whose password we
  do not know (adopted, or an existing panel login that kept its own) gets a fresh one
  (reset_credentials) before the email goes out.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from core.audit.services import record
from core.catalog.models import ServiceType
from core.provisioning import drivers
from core.provisioning.errors import NoPlatformConnection
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .alerts import alert_staff
from .capacity import product_features
from .credentials import generate_password, needs_new_password, queue_password_reset, send_welcome_email
from .polling import follow_build, poll_build, queue_poll
from .retries import retry_or_fail
from .states import S, lock_service, move_to

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome

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
        service = lock_service(service_id)
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


def customer_services_of(service: Service) -> list[drivers.CustomerService]:
    """The platform ids of the customer's other services on the same connection, newest first
    (drivers reuse the customer's account there and never adopt a resource another service owns)."""
    rows = (
        Service.objects.filter(customer_id=service.customer_id, connection_id=service.connection_id)
        .exclude(pk=service.pk)
        .exclude(platform_service_id="", platform_customer_id="")
        .order_by("-created_at", "-pk")
        .values_list("platform_service_id", "platform_customer_id", "status")
    )
    return [
        drivers.CustomerService(
            platform_service_id=service_id, platform_customer_id=customer_id, is_terminated=status == S.TERMINATED
        )
        for service_id, customer_id, status in rows
    ]


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
        billing_id=drivers.billing_id_for(service),
        customer_services=customer_services_of(service),
    )


def run_create(job: ProvisioningJob) -> None:
    with transaction.atomic():
        service = lock_service(job.service_id)
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
        retry_or_fail(job, NoPlatformConnection("The service has no platform connection; set one and retry."))
        return
    request = _provision_request(service)
    request.on_progress = _progress_recorder(service.pk)
    try:
        driver = drivers.get_driver(service.connection)
        result = jobs.call_platform(job, request, lambda: driver.create(request))
    except drivers.AlreadyExists as exc:
        service.refresh_from_db(fields=["platform_service_id", "platform_customer_id"])
        if not ((exc.details or {}).get("platform_service_id") or service.platform_service_id):
            # Nothing names the existing resource as ours (e.g. the email belongs to another
            # panel user): a conflict for staff to resolve, not something to adopt.
            retry_or_fail(job, exc)
            return
        result = _adopted(service, exc)
    except drivers.CapacityError as exc:
        save_platform_ids(service.pk, exc.details)
        if service.product.service_type == ServiceType.DEDICATED:
            _wait_for_hardware(job, exc)
        else:
            retry_or_fail(job, exc)
        return
    except Exception as exc:
        if isinstance(exc, drivers.DriverError):
            # What an attempt created before failing (e.g. a VirtFusion server whose build call
            # failed) is kept, so the retry resumes it instead of creating a second one.
            save_platform_ids(service.pk, exc.details)
        retry_or_fail(job, exc)
        return
    _record_created(job, result)


def _wait_for_hardware(job: ProvisioningJob, exc: drivers.CapacityError) -> None:
    """No hardware on the platform matches a dedicated server: it waits in `awaiting_stock` for
    staff to add or assign hardware (assign_hardware queues the create again), instead of
    retrying into `failed`. Staff are alerted."""
    message = f"No matching hardware: {exc}"
    with transaction.atomic():
        service = lock_service(job.service_id)
        jobs.finish_job(job, Outcome.FAILED, error=message)
        if service.status != S.PROVISIONING:
            return
        fields = move_to(service, S.AWAITING_STOCK)
        service.last_error = message[:5000]
        service.save(update_fields=[*fields, "last_error"])
        record("service.awaiting_stock", service, message=message[:500], source="task")
        alert_staff(
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
        service = lock_service(job.service_id)
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
        if (result.adopted or not result.password_applied) and not (result.credentials or {}).get("password"):
            # The resource or the panel login kept a password of its own (or the platform chose
            # it): the one we generated is not the customer's password there, so it is neither
            # kept nor emailed; activate() sets a fresh one on the platform first.
            credentials.pop("password", None)
        service.credentials = {**credentials, **(result.credentials or {})}
        service.save()
        if result.adopted:
            record("service.adopt", service, message="Existing platform resource adopted", source="task")
        if service.status != S.PROVISIONING:
            return
        follow_build(service, job, result.state, what="build", on_ready=activate, requeue=_queue_poll)


_queue_poll = partial(queue_poll, action=Action.POLL)


def run_poll(job: ProvisioningJob) -> None:
    poll_build(
        job,
        what="build",
        waiting=lambda service: service.status == S.PROVISIONING,
        skipped=lambda service: f"Skipped: the service is {service.status}.",
        on_ready=activate,
        requeue=_queue_poll,
    )


def activate(service: Service) -> None:
    """provisioning -> active on a locked row; sends the welcome email once, after giving the
    service a fresh password when we hold none the platform accepted (an adopted resource, or an
    existing panel login that kept its own)."""
    move_to(service, S.ACTIVE)
    service.last_error = ""
    service.save()
    record("service.activate", service, message="Provisioned", source="task")
    if needs_new_password(service):
        queue_password_reset(service)
        return
    send_welcome_email(service)
