"""Paying an invoice from the portal: thin glue between a gateway and the billing services.

The portal numbers its attempts from 100 up (100 + attempts recorded on the invoice) so its
idempotency keys (``inv-<uuid>-<attempt>``) never collide with the billing run's 1, 2, 3...
A double click repeats the same attempt, so the gateway replays instead of charging twice.
"""

from __future__ import annotations

from core.billing.errors import PaymentError
from core.billing.gateways import ChargeResult, ChargeStatus, get_gateway
from core.billing.models import Invoice, Payment, PaymentMethod
from core.billing.services.webhooks import record_charge_result

PORTAL_ATTEMPT_BASE = 100


def portal_attempt(invoice: Invoice) -> int:
    return PORTAL_ATTEMPT_BASE + Payment.objects.filter(invoice=invoice, kind=Payment.Kind.PAYMENT).count()


def _check_payable(invoice: Invoice) -> None:
    if invoice.status != Invoice.Status.ISSUED or invoice.amount_due <= 0:
        raise PaymentError(f"Invoice {invoice.number} has nothing left to pay.")


def pay_with_saved_method(invoice: Invoice, method: PaymentMethod) -> ChargeResult:
    """Charge a saved method on-session (the customer is present, so 3-D Secure can happen)."""
    _check_payable(invoice)
    if method.customer_id != invoice.customer_id or method.removed_at is not None:
        raise PaymentError("Choose one of your saved payment methods.")
    gateway = get_gateway(method.gateway)
    result = gateway.charge_invoice(
        invoice, amount=invoice.amount_due, method_id=method.gateway_method_id, attempt=portal_attempt(invoice),
        off_session=False,
    )  # fmt: skip
    record_charge_result(invoice, method.gateway, result, payment_method=method)
    return result


def start_new_method_payment(invoice: Invoice, gateway_name: str) -> ChargeResult:
    """Begin paying with a method the customer enters now (Stripe Payment Element, PayPal approval)."""
    _check_payable(invoice)
    gateway = get_gateway(gateway_name)
    return gateway.charge_invoice(
        invoice, amount=invoice.amount_due, method_id=None, attempt=portal_attempt(invoice), off_session=False
    )


def confirm_on_session_payment(invoice: Invoice, gateway_name: str, reference: str) -> ChargeResult:
    """After 3-D Secure or approval: ask the gateway how it ended and book it (same as its webhook would)."""
    gateway = get_gateway(gateway_name)
    result = gateway.confirm_payment(invoice, reference)
    method = None
    if result.raw and isinstance(result.raw, dict):
        method_ref = result.raw.get("payment_method")
        if isinstance(method_ref, str) and method_ref:
            method = PaymentMethod.objects.filter(
                gateway=gateway_name, gateway_method_id=method_ref, customer=invoice.customer
            ).first()
    if result.status == ChargeStatus.SUCCEEDED or invoice.status == Invoice.Status.ISSUED:
        record_charge_result(invoice, gateway_name, result, payment_method=method)
    return result


def pending_action(invoice: Invoice) -> tuple[str, ChargeResult] | None:
    """The charge the billing run left waiting for the customer to authenticate (3-D Secure), if any."""
    if not invoice.charge_attempts:
        return None
    for gateway_name in invoice_gateways():
        gateway = get_gateway(gateway_name)
        finder = getattr(gateway, "find_pending_action", None)
        found = finder(invoice) if finder else None
        if found is not None and found.status == ChargeStatus.REQUIRES_ACTION:
            return gateway_name, found
    return None


def invoice_gateways() -> list[str]:
    from django.conf import settings

    return [name for name in settings.PAYMENT_GATEWAYS if name in ("stripe", "sandbox")]
