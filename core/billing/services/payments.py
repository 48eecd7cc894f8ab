"""Money that moved: payments in, refunds out, chargebacks. Idempotent by the gateway's transaction id.

Every function locks the invoice row, then relies on the unique (gateway, gateway_transaction_id)
constraint as the backstop, so a webhook and the billing run reporting the same charge record
one Payment. Side effects (emails, Discord, provisioning) are queued on commit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import BillingError, PaymentError
from core.billing.models import CreditEntry, Invoice, Payment

ZERO = Decimal("0")


def _existing(gateway: str, transaction_id: str | None) -> Payment | None:
    if not transaction_id:
        return None
    return Payment.objects.filter(gateway=gateway, gateway_transaction_id=transaction_id).first()


def _insert(payment: Payment) -> Payment | None:
    """Save a new payment; None when the same gateway transaction was recorded meanwhile."""
    try:
        with transaction.atomic():
            payment.save()
    except IntegrityError:
        if _existing(payment.gateway, payment.gateway_transaction_id) is not None:
            return None
        raise
    return payment


def record_payment(
    invoice: Invoice,
    *,
    amount: Decimal,
    gateway: str,
    gateway_transaction_id: str | None,
    payment_method=None,
    received_at: dt.datetime | None = None,
    reference: str = "",
    fee: Decimal = ZERO,
    raw: dict | None = None,
    actor=None,
) -> Payment:
    """Record money received for an invoice, once per gateway transaction.

    Invariants: a second call with the same (gateway, transaction id) returns the first Payment
    and changes nothing; the invoice is marked paid when payments and credit cover it; any
    amount beyond what was due becomes customer credit (never lost, never double-counted).
    """
    currency = invoice.currency_id
    amount = money.quantize(amount, currency)
    if amount <= 0:
        raise PaymentError("A payment must be more than zero.", field="amount")
    with transaction.atomic():
        # Lock the invoice row only: a joined customer lock would be taken invoice-then-customer,
        # the opposite of apply_credit (customer, then invoice), and deadlock; add_credit locks the
        # customer itself when a surplus needs it.
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        found = _existing(gateway, gateway_transaction_id)
        if found is not None:
            return found
        if invoice.status == Invoice.Status.DRAFT:
            raise PaymentError(f"Invoice {invoice} is a draft; issue it before recording a payment.")
        if invoice.kind != Invoice.Kind.INVOICE:
            raise PaymentError(f"{invoice} is a credit note; payments go against invoices.")
        payment = Payment(
            customer=invoice.customer, invoice=invoice, kind=Payment.Kind.PAYMENT, status=Payment.Status.SUCCEEDED,
            gateway=gateway, gateway_transaction_id=gateway_transaction_id or None, amount=amount,
            currency_id=currency, fee=money.quantize(fee or ZERO, currency), payment_method=payment_method,
            reference=reference[:128], received_at=received_at or clock.now(), recorded_by=actor, raw=raw or {},
        )  # fmt: skip
        if _insert(payment) is None:
            return _existing(gateway, gateway_transaction_id)
        # What this payment covers: the rest of what is due (nothing when the invoice is void or already paid).
        due = max(invoice.amount_due, ZERO) if invoice.status == Invoice.Status.ISSUED else ZERO
        applied = min(amount, due)
        surplus = amount - applied
        if applied > 0:
            invoice.amount_paid += applied
            invoice.last_charge_error = ""
            invoice.save(update_fields=["amount_paid", "last_charge_error", "updated_at"])
        record(
            "payment.record", invoice, actor=actor,
            data={"payment": payment.pk, "amount": str(amount), "gateway": gateway,
                  "transaction": gateway_transaction_id, "surplus": str(surplus)},
        )  # fmt: skip
        if surplus > 0:
            _credit_surplus(invoice, payment, surplus, actor)
        from core.billing.services.invoices import settle_invoice_if_covered

        settle_invoice_if_covered(invoice, actor=actor)
        _queue_receipt(payment, invoice)
    return payment


def _credit_surplus(invoice: Invoice, payment: Payment, surplus: Decimal, actor) -> None:
    from core.billing.services.credit import add_credit

    customer = invoice.customer
    if customer.currency_id != invoice.currency_id:
        # Credit lives in the billing currency only; staff decide what to do with a foreign surplus.
        record("payment.surplus_foreign_currency", payment, data={"surplus": str(surplus)})
        return
    add_credit(
        customer, surplus, reason=CreditEntry.Reason.OVERPAYMENT, actor=actor, invoice=invoice, payment=payment,
        description=f"Overpayment on invoice {invoice.number}",
    )  # fmt: skip


def _queue_receipt(payment: Payment, invoice: Invoice) -> None:
    from core.billing.services.pdf import format_money
    from core.notifications.services import discord_alert, send_email

    send_email(
        "payment_receipt", to=invoice.customer.email,
        subject=f"Payment received for invoice {invoice.number}",
        template="invoice_receipt",
        context={"number": invoice.number, "amount": format_money(payment.amount, payment.currency_id),
                 "gateway": payment.get_gateway_display(), "reference": payment.reference,
                 "paid_in_full": invoice.status == Invoice.Status.PAID},
        dedupe_key=f"payment_receipt:{payment.uuid}", customer=invoice.customer,
    )  # fmt: skip
    threshold = money.to_decimal(settings.BILLING.get("HIGH_VALUE_ORDER_THRESHOLD", "0") or "0")
    if threshold and payment.amount >= threshold:
        discord_alert(
            f"High-value payment: {money.format_amount(payment.amount, payment.currency_id)}",
            f"Invoice {invoice.number} · {invoice.customer.display_name} · {payment.get_gateway_display()}",
            level="success", dedupe_key=f"high_value_payment:{payment.uuid}",
        )  # fmt: skip


def record_failed_payment(
    invoice: Invoice,
    *,
    gateway: str,
    gateway_transaction_id: str | None,
    failure_code: str,
    failure_message: str,
    raw: dict | None = None,
) -> Payment:
    """Record a declined charge (status failed), once per gateway transaction; the invoice stays open."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        found = _existing(gateway, gateway_transaction_id)
        if found is not None:
            return found
        payment = Payment(
            customer_id=invoice.customer_id, invoice=invoice, kind=Payment.Kind.PAYMENT,
            status=Payment.Status.FAILED, gateway=gateway, gateway_transaction_id=gateway_transaction_id or None,
            amount=max(invoice.amount_due, ZERO), currency_id=invoice.currency_id,
            failure_code=(failure_code or "")[:64], failure_reason=(failure_message or "")[:255], raw=raw or {},
        )  # fmt: skip
        if _insert(payment) is None:
            return _existing(gateway, gateway_transaction_id)
        invoice.last_charge_error = (failure_message or failure_code or "declined")[:255]
        invoice.save(update_fields=["last_charge_error", "updated_at"])
        record("payment.failed", invoice, data={"payment": payment.pk, "code": failure_code, "gateway": gateway})
    return payment


def refundable_amount(payment: Payment) -> Decimal:
    refunded = sum((r.amount for r in payment.refunds.filter(status=Payment.Status.SUCCEEDED)), ZERO)
    return payment.amount - refunded


def record_refund(
    payment: Payment,
    *,
    amount: Decimal,
    gateway_refund_id: str,
    reason: str = "",
    raw: dict | None = None,
    actor=None,
) -> Payment:
    """Record money returned for a payment (partial allowed), once per refund id, never more than refundable."""
    return _record_reversal(
        payment, kind=Payment.Kind.REFUND, amount=amount, reference_id=gateway_refund_id, reason=reason, raw=raw,
        actor=actor, action="payment.refund",
    )  # fmt: skip


def record_chargeback(
    payment: Payment, *, amount: Decimal, gateway_dispute_id: str, raw: dict | None = None
) -> Payment:
    """Record money taken back by the card network for a lost dispute, once per dispute id."""
    return _record_reversal(
        payment, kind=Payment.Kind.CHARGEBACK, amount=amount, reference_id=gateway_dispute_id, reason="chargeback",
        raw=raw, actor=None, action="payment.chargeback",
    )  # fmt: skip


def _record_reversal(payment, *, kind, amount, reference_id, reason, raw, actor, action) -> Payment:
    if not reference_id:
        raise PaymentError("A refund or chargeback needs the gateway's id so it is recorded once.")
    amount = money.quantize(amount, payment.currency_id)
    if amount <= 0:
        raise PaymentError("A refund must be more than zero.", field="amount")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id) if payment.invoice_id else None
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        found = _existing(payment.gateway, reference_id)
        if found is not None:
            return found
        if payment.kind != Payment.Kind.PAYMENT or payment.status != Payment.Status.SUCCEEDED:
            raise PaymentError("Only a succeeded payment can be refunded.")
        left = refundable_amount(payment)
        if amount > left:
            raise PaymentError(
                f"At most {payment.currency_id} {left} of this payment can still be refunded.", field="amount"
            )
        reversal = Payment(
            customer_id=payment.customer_id, invoice=invoice, kind=kind, status=Payment.Status.SUCCEEDED,
            gateway=payment.gateway, gateway_transaction_id=reference_id, amount=amount,
            currency_id=payment.currency_id, original_payment=payment, reference=reason[:128],
            recorded_by=actor, raw=raw or {},
        )  # fmt: skip
        if _insert(reversal) is None:
            return _existing(payment.gateway, reference_id)
        if invoice is not None:
            invoice.amount_refunded += amount
            invoice.save(update_fields=["amount_refunded", "updated_at"])
        record(action, invoice or payment, actor=actor, message=reason,
               data={"payment": payment.pk, "amount": str(amount), "id": reference_id})  # fmt: skip
    return reversal


def reverse_failed_refund(refund_payment: Payment, *, reason: str) -> Payment:
    """A refund we booked failed at the gateway afterwards: the money never left, so undo its effect.

    Invariants: the refund row stays (status failed, with the reason) for the audit trail, the
    invoice's refunded total goes back down by its amount, and the payment it refunded can be
    refunded again. Idempotent: a refund already marked failed is returned unchanged.
    """
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update().get(pk=refund_payment.invoice_id) if refund_payment.invoice_id else None
        )
        refund = Payment.objects.select_for_update().get(pk=refund_payment.pk)
        if refund.kind != Payment.Kind.REFUND:
            raise PaymentError("Only a refund can be reversed as failed.")
        if refund.status == Payment.Status.FAILED:
            return refund
        refund.status = Payment.Status.FAILED
        refund.failure_code = "refund_failed"
        refund.failure_reason = (reason or "The gateway could not send the money back.")[:255]
        refund.save(update_fields=["status", "failure_code", "failure_reason"])
        if invoice is not None:
            invoice.amount_refunded = max(invoice.amount_refunded - refund.amount, ZERO)
            invoice.save(update_fields=["amount_refunded", "updated_at"])
        record(
            "payment.refund_failed", invoice or refund, message=refund.failure_reason,
            data={"refund": refund.pk, "amount": str(refund.amount), "id": refund.gateway_transaction_id},
        )  # fmt: skip
    return refund


def mark_payment_disputed(payment: Payment, *, disputed: bool = True) -> Payment:
    """Flag (or clear) an open dispute on a payment."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.is_disputed != disputed:
            payment.is_disputed = disputed
            payment.save(update_fields=["is_disputed"])
            record("payment.dispute_opened" if disputed else "payment.dispute_closed", payment)
            if disputed:
                from core.notifications.services import discord_alert

                discord_alert(
                    "Payment disputed", f"{payment} on invoice {payment.invoice_id}", level="error",
                    dedupe_key=f"dispute:{payment.uuid}",
                )  # fmt: skip
    return payment


def refund_payment(payment: Payment, *, amount: Decimal, reason: str = "", actor=None) -> Payment:
    """Staff refund: ask the payment's gateway to send the money back, then record it.

    Manual payments (bank transfers) are recorded as refunded by staff with a generated reference.
    """
    from core.billing.gateways import ChargeStatus, get_gateway

    from .refund_policy import check_refund_allowed

    amount = money.quantize(amount, payment.currency_id)
    if amount > refundable_amount(payment):
        raise PaymentError(
            f"At most {payment.currency_id} {refundable_amount(payment)} of this payment can be refunded.",
            field="amount",
        )
    check_refund_allowed(actor, amount=amount, currency=payment.currency_id)
    if payment.gateway in ("manual", "credit", "whmcs"):
        refund_id = f"{payment.gateway}-refund-{payment.pk}-{payment.refunds.count() + 1}"
        return record_refund(payment, amount=amount, gateway_refund_id=refund_id, reason=reason, actor=actor)
    result = get_gateway(payment.gateway).refund(payment, amount=amount, reason=reason)
    if result.status not in (ChargeStatus.SUCCEEDED, ChargeStatus.PROCESSING):
        raise PaymentError(f"The gateway did not refund the payment ({result.status}).")
    return record_refund(payment, amount=amount, gateway_refund_id=result.refund_id, reason=reason, raw=result.raw,
                         actor=actor)  # fmt: skip


def record_manual_payment(
    invoice: Invoice, *, amount: Decimal, received_on: dt.date, reference: str, actor=None
) -> Payment:
    """A bank transfer recorded by staff (partial allowed). The bank reference makes it idempotent."""
    if not reference:
        raise BillingError("Enter the bank reference of the transfer.", field="reference")
    received_at = dt.datetime.combine(received_on, dt.time(12), tzinfo=dt.UTC)
    return record_payment(
        invoice, amount=amount, gateway="manual", gateway_transaction_id=f"manual:{reference.strip()}",
        received_at=received_at, reference=reference, actor=actor,
    )  # fmt: skip
