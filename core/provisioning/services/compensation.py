"""Making good a service that could not be provisioned: refund the payment or credit the account."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Literal

from django.db import transaction
from django.db.models import Sum

from core import clock, money
from core.audit.services import record
from core.notifications.services import send_email
from core.provisioning.errors import RefundNotPossible
from core.provisioning.models import Service

from .actions import terminate_service
from .states import S


def _billing(name: str):
    # Billing's services are called through their modules (they land in parallel and tests patch them).
    return importlib.import_module(f"core.billing.services.{name}")


def paid_amount_for(service: Service):
    """The paid new-order invoice of the service and what it charged for this service (lines + tax)."""
    from core.billing.models import Invoice, InvoiceLine

    if service.subscription_id is None:
        return None, Decimal("0")
    lines = InvoiceLine.objects.filter(
        subscription_id=service.subscription_id,
        invoice__status=Invoice.Status.PAID,
        invoice__purpose=Invoice.Purpose.NEW_ORDER,
    )
    first = lines.select_related("invoice").order_by("invoice__issued_at", "invoice_id").first()
    if first is None:
        return _paid_through_order(service)
    invoice = first.invoice
    return invoice, _gross(lines.filter(invoice=invoice), invoice)


def _gross(lines, invoice) -> Decimal:
    totals = lines.aggregate(amount=Sum("amount"), tax=Sum("tax_amount"))
    amount = (totals["amount"] or Decimal("0")) + (totals["tax"] or Decimal("0"))
    return money.quantize(amount, invoice.currency_id)


def _paid_through_order(service: Service):
    """The order's first invoice is written before its subscriptions exist, so its lines carry the
    product, not the subscription: the service's share is its product's lines (period, setup fee,
    discount), split by quantity when the order has several items of that product."""
    from core.billing.models import Invoice, OrderItem

    item = OrderItem.objects.select_related("order__invoice").filter(pk=service.order_item_id).first()
    invoice = item.order.invoice if item is not None else None
    if invoice is None or invoice.status != Invoice.Status.PAID or invoice.purpose != Invoice.Purpose.NEW_ORDER:
        return None, Decimal("0")
    gross = _gross(invoice.lines.filter(product_id=service.product_id, subscription__isnull=True), invoice)
    same_product = OrderItem.objects.filter(order_id=item.order_id, price__product_id=service.product_id)
    quantities = sum(same_product.values_list("quantity", flat=True)) or 1
    if quantities == item.quantity:
        return invoice, gross
    return invoice, money.quantize(gross * item.quantity / quantities, invoice.currency_id)


def refund_or_credit_failed_service(service: Service, *, mode: Literal["refund", "credit"], actor) -> Service:
    """Give a customer their money back for a service that failed for good, once.

    `credit` adds the amount to the account's credit; `refund` refunds it to the payment
    that paid the invoice. The service is then terminated (removing anything a partial
    create left on the platform) and the customer is told by email.
    """
    from core.billing.models import Payment

    if mode not in ("refund", "credit"):
        raise RefundNotPossible("Choose “refund” or “credit”.")
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=service.pk)
        if service.compensated_at is not None:
            raise RefundNotPossible(
                f"Service {service.pk} was already compensated ({service.compensation}) on {service.compensated_at:%Y-%m-%d}."
            )
        if service.status != S.FAILED:
            raise RefundNotPossible(
                f"Only a failed service can be refunded or credited here; this one is {service.get_status_display()}."
            )
        invoice, amount = paid_amount_for(service)
        if invoice is None or amount <= 0:
            raise RefundNotPossible(
                f"Service {service.pk} has no paid order invoice to refund; adjust the customer's credit by hand."
            )
        if mode == "credit":
            _billing("credit").add_credit(
                service.customer, amount, reason="provisioning_failed", actor=actor, invoice=invoice,
                description=f"{service.product.name} could not be provisioned (service #{service.pk})",
            )  # fmt: skip
        else:
            payment = (
                Payment.objects.filter(invoice=invoice, kind=Payment.Kind.PAYMENT, status=Payment.Status.SUCCEEDED)
                .order_by("-amount")
                .first()
            )
            if payment is None:
                raise RefundNotPossible(
                    f"Invoice {invoice} was not paid by a gateway payment (credit?); give credit instead."
                )
            _billing("payments").refund_payment(
                payment, amount=min(amount, payment.amount), reason="Service could not be provisioned", actor=actor
            )
        service.compensated_at = clock.now()
        service.compensation = mode
        service.save(update_fields=["compensated_at", "compensation", "updated_at"])
        record(
            f"service.{mode}_failed",
            service,
            actor=actor,
            message=f"{money.format_amount(amount, invoice.currency_id)} {mode}ed for a failed provisioning",
            data={"invoice": invoice.pk, "amount": str(amount), "mode": mode},
        )
        send_email(
            "service_refunded",
            to=service.customer.user.email,
            subject=f"We could not set up your {service.product.name}",
            template="service_refunded",
            context={
                "customer_name": service.customer.user.full_name,
                "product": service.product.name,
                "amount": money.format_amount(amount, invoice.currency_id),
                "mode": mode,
                "invoice": str(invoice),
            },
            dedupe_key=f"service_refunded:{service.uuid}",
            customer=service.customer,
        )
        terminate_service(service, reason=f"Provisioning failed; customer {mode}ed", actor=actor)
    service.refresh_from_db()
    return service
