"""Starting provisioning: the service a paid order item bought, staff's "provision" and "retry",
and hardware assigned by staff to a service awaiting stock.

Invariant: one service per paid order item, whatever the number of calls; its create job is
queued after the transaction commits, and a queued create is not doubled.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from core.audit.services import record
from core.catalog.models import Product
from core.provisioning.errors import InvalidTransition, NoPlatformConnection
from core.provisioning.models import ProvisioningJob, Service

from . import jobs
from .alerts import alert_staff
from .build import activate
from .capacity import connection_for, waits_for_hardware
from .states import S, lock_service, move_to
from .stock import take_stock

Action = ProvisioningJob.Action
Outcome = ProvisioningJob.Outcome


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
                service.holds_stock = take_stock(product)
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
                alert_staff("Service needs staff attention", service, problem, key=f"service-attention:{service.uuid}")
            elif service.status == S.AWAITING_STOCK:
                alert_staff(
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


def retry_provisioning(service: Service, *, actor) -> Service:
    """Start provisioning a failed service again (failed -> pending, a fresh round of attempts).
    The driver's external-id lookup makes sure an earlier partial create is reused, not doubled."""
    with transaction.atomic():
        service = lock_service(service.pk)
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
        service = lock_service(service.pk)
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
        service = lock_service(service.pk)
        move_to(service, S.PENDING)
        service.hardware_note = note[:255]
        if service.product.stock_quantity is not None and not service.holds_stock:
            service.holds_stock = take_stock(service.product)
        if service.connection_id is None and service.product.platform != "manual":
            service.connection = connection_for(service.product)
        service.save()
        record("service.assign_hardware", service, actor=actor, message=note, data={"holds_stock": service.holds_stock})
        if service.connection_id is None:
            move_to(service, S.PROVISIONING)
            activate(service)
        else:
            jobs.queue_job(service, Action.CREATE, actor=actor)
    return service
