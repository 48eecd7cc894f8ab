"""Charging due invoices through the gateway, with a schedule of retries (dunning).

Attempt 1 is made on the due date, then one retry per day listed in
settings.BILLING["DUNNING_RETRY_DAYS"] (days after the due date). Each attempt has its own
gateway idempotency key (invoice, attempt); an UNKNOWN outcome (timeout, 5xx) is not counted,
so the next run repeats the same attempt with the same key and the gateway returns the
first result instead of charging twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core import clock
from core.audit.services import record
from core.billing.errors import PaymentError
from core.billing.gateways import ChargeResult, ChargeStatus, get_gateway
from core.billing.models import Invoice, PaymentMethod

log = logging.getLogger(__name__)
ZERO = Decimal("0")
# A claimed attempt is not retried by a concurrent run before this lease ends.
CLAIM_LEASE = dt.timedelta(hours=1)


def retry_days() -> list[int]:
    return sorted(int(d) for d in settings.BILLING.get("DUNNING_RETRY_DAYS", []))


def max_attempts() -> int:
    return 1 + len(retry_days())


def next_attempt_at(invoice: Invoice, attempts_made: int) -> dt.datetime | None:
    """When attempt number attempts_made + 1 is due, or None when the schedule is exhausted."""
    days = retry_days()
    if attempts_made >= 1 + len(days) or invoice.due_date is None:
        return None
    offset = 0 if attempts_made == 0 else days[attempts_made - 1]
    return dt.datetime.combine(invoice.due_date + dt.timedelta(days=offset), dt.time(), tzinfo=dt.UTC)


def payment_method_for(invoice: Invoice) -> PaymentMethod | None:
    method = None
    if invoice.subscription_id and invoice.subscription.payment_method_id:
        method = invoice.subscription.payment_method
    if method is None:
        method = invoice.customer.payment_methods.filter(removed_at__isnull=True, is_default=True).first()
    if method is not None and method.removed_at is not None:
        return None
    return method


def charge_invoice(
    invoice: Invoice, *, attempt: int | None = None, method: PaymentMethod | None = None
) -> ChargeResult:
    """Charge what is due on an issued invoice with the customer's saved method, and record the outcome.

    SUCCEEDED -> payment recorded (invoice paid); FAILED -> failed payment recorded, retry
    scheduled, customer emailed; REQUIRES_ACTION -> invoice left open, customer emailed the
    portal pay link; PROCESSING -> left for the webhook; UNKNOWN -> not counted, same attempt next run.
    """
    from core.billing.services import payments

    with transaction.atomic():
        # Lock the invoice row only (the lease below needs nothing else): joined customer and
        # subscription locks would be taken in the opposite order to apply_credit and to the
        # billing run's subscription batches, and deadlock.
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.ISSUED or invoice.kind != Invoice.Kind.INVOICE:
            raise PaymentError(f"Invoice {invoice} is {invoice.get_status_display().lower()}; nothing to charge.")
        amount = invoice.amount_due
        if amount <= 0:
            raise PaymentError(f"Invoice {invoice} has nothing left to pay.")
        method = method or payment_method_for(invoice)
        if method is None:
            raise PaymentError(f"{invoice.customer} has no saved payment method to charge invoice {invoice}.")
        attempt = attempt or invoice.charge_attempts + 1
        # Lease the attempt so a concurrent run does not start the same one while the gateway answers.
        invoice.next_charge_attempt_at = clock.now() + CLAIM_LEASE
        invoice.save(update_fields=["next_charge_attempt_at", "updated_at"])
    gateway = get_gateway(method.gateway)
    try:
        result = gateway.charge_invoice(invoice, amount=amount, method_id=method.gateway_method_id, attempt=attempt)
    except Exception as exc:  # a crash in the gateway is an unknown outcome, never a decline
        log.exception("Charging invoice %s (attempt %s) raised", invoice, attempt)
        result = ChargeResult(status=ChargeStatus.UNKNOWN, failure_message=str(exc)[:255])
    status = ChargeStatus(result.status)
    if status == ChargeStatus.SUCCEEDED:
        payments.record_payment(
            invoice, amount=result.amount if result.amount is not None else amount, gateway=method.gateway,
            gateway_transaction_id=result.transaction_id or None, payment_method=method, raw=result.raw,
        )  # fmt: skip
        _count_attempt(invoice, attempt, error="", schedule_next=False)
    elif status == ChargeStatus.FAILED:
        payments.record_failed_payment(
            invoice, gateway=method.gateway, gateway_transaction_id=result.transaction_id or None,
            failure_code=result.failure_code, failure_message=result.failure_message, raw=result.raw,
        )  # fmt: skip
        invoice = _count_attempt(invoice, attempt, error=result.failure_message or result.failure_code or "declined")
        _email_payment_failed(invoice, attempt, result)
    elif status == ChargeStatus.REQUIRES_ACTION:
        invoice = _count_attempt(invoice, attempt, error="The customer must confirm the payment (authentication).")
        _email_action_required(invoice)
    elif status == ChargeStatus.PROCESSING:
        # The outcome arrives by webhook; retrying now could charge twice.
        _count_attempt(invoice, attempt, error="Payment processing at the gateway", schedule_next=False)
    else:
        Invoice.objects.filter(pk=invoice.pk).update(
            next_charge_attempt_at=clock.now() + dt.timedelta(hours=12),
            last_charge_error=(f"Outcome unknown, will retry attempt {attempt}: {result.failure_message}")[:255],
        )
    record("invoice.charge", invoice, data={"attempt": attempt, "status": str(status), "gateway": method.gateway,
                                             "transaction": result.transaction_id})  # fmt: skip
    return result


def _count_attempt(invoice: Invoice, attempt: int, *, error: str, schedule_next: bool = True) -> Invoice:
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        invoice.charge_attempts = max(invoice.charge_attempts, attempt)
        if invoice.status == Invoice.Status.ISSUED:
            invoice.next_charge_attempt_at = (
                next_attempt_at(invoice, invoice.charge_attempts) if schedule_next else None
            )
            invoice.last_charge_error = error[:255]
        invoice.save(update_fields=["charge_attempts", "next_charge_attempt_at", "last_charge_error", "updated_at"])
        if invoice.status == Invoice.Status.ISSUED and error and invoice.subscription_id:
            from core.billing.services.subscriptions import mark_subscription_past_due

            mark_subscription_past_due(invoice.subscription, invoice=invoice)
    return invoice


def _email_payment_failed(invoice: Invoice, attempt: int, result: ChargeResult) -> None:
    from core.billing.services.invoices import portal_pay_url
    from core.billing.services.pdf import format_money
    from core.notifications.services import send_email

    send_email(
        "payment_failed", to=invoice.customer.email, subject=f"Payment failed for invoice {invoice.number}",
        template="invoice_payment_failed",
        context={"number": invoice.number, "amount_due": format_money(invoice.amount_due, invoice.currency_id),
                 "reason": result.failure_message or "the payment was declined",
                 "next_attempt": f"{invoice.next_charge_attempt_at:%Y-%m-%d}" if invoice.next_charge_attempt_at else "",
                 "pay_url": portal_pay_url(invoice)},
        dedupe_key=f"payment_failed:{invoice.uuid}:{attempt}", customer=invoice.customer,
    )  # fmt: skip


def _email_action_required(invoice: Invoice) -> None:
    from core.billing.services.invoices import portal_pay_url
    from core.billing.services.pdf import format_money
    from core.notifications.services import send_email

    send_email(
        "payment_action_required", to=invoice.customer.email,
        subject=f"Please confirm the payment of invoice {invoice.number}", template="invoice_action_required",
        context={"number": invoice.number, "amount_due": format_money(invoice.amount_due, invoice.currency_id),
                 "pay_url": portal_pay_url(invoice)},
        dedupe_key=f"payment_action_required:{invoice.uuid}", customer=invoice.customer,
    )  # fmt: skip


def invoices_to_charge(today: dt.date):
    """Issued invoices due by `today` whose next attempt is due, with a saved method to charge."""
    end_of_day = dt.datetime.combine(today, dt.time.max, tzinfo=dt.UTC)
    return (
        Invoice.objects.filter(
            status=Invoice.Status.ISSUED,
            kind=Invoice.Kind.INVOICE,
            due_date__lte=today,
            charge_attempts__lt=max_attempts(),
            subscription__payment_method__isnull=False,
            subscription__payment_method__removed_at__isnull=True,
        )  # fmt: skip
        .filter(_next_attempt_due(end_of_day))
        .select_related("customer", "subscription__payment_method")
        .order_by("due_date", "id")
    )


def _next_attempt_due(end_of_day: dt.datetime):
    from django.db.models import Q

    return Q(next_charge_attempt_at__isnull=True, charge_attempts=0) | Q(next_charge_attempt_at__lte=end_of_day)
