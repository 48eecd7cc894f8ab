"""Paying an invoice from the portal: thin glue between a gateway and the billing services.

The portal numbers its attempts from 100 up (100 + attempts recorded on the invoice) so its
idempotency keys (``inv-<uuid>-<attempt>``) never collide with the billing run's 1, 2, 3...
A double click repeats the same attempt, so the gateway replays instead of charging twice.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import asdict

from core.billing.errors import PaymentError
from core.billing.gateways import ChargeResult, ChargeStatus, GatewayError, SavedMethod, get_gateway
from core.billing.models import Invoice, Payment, PaymentMethod
from core.billing.services import methods
from core.billing.services.webhooks import record_charge_result

PORTAL_ATTEMPT_BASE = 100
log = logging.getLogger(__name__)


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


def start_new_method_payment(
    invoice: Invoice, gateway_name: str, *, save: bool = False, return_url: str = "", cancel_url: str = ""
) -> ChargeResult:
    """Begin paying with a method the customer enters now (Stripe Payment Element, PayPal approval).

    `save`: the customer asked to keep the method (Stripe attaches it only once the payment succeeded).
    `return_url`/`cancel_url`: where PayPal sends the customer back (default: the invoice's pages)."""
    _check_payable(invoice)
    gateway = get_gateway(gateway_name)
    return gateway.charge_invoice(
        invoice, amount=invoice.amount_due, method_id=None, attempt=portal_attempt(invoice), off_session=False,
        save_method=save, return_url=return_url, cancel_url=cancel_url,
    )  # fmt: skip


def pay_with_entered_method(
    invoice: Invoice,
    gateway_name: str,
    *,
    card_number: str = "",
    save: bool,
    pending_cards: MutableMapping | None = None,
    card_key: str = "new_card:{}",
    return_url: str = "",
    cancel_url: str = "",
    actor=None,
) -> ChargeResult:
    """Pay with a method entered now, as the invoice and order pay pages both do: a sandbox card typed
    in the form (pay_with_new_card), or the gateway's own page (Stripe Payment Element, PayPal approval).

    A typed card waiting for 3-D Secure that the customer wants kept goes into `pending_cards` (the
    session) under `card_key` until the challenge is passed; an abandoned attempt saves nothing.
    PayPal is never asked to keep anything."""
    if gateway_name == "sandbox" and card_number:
        result, card = pay_with_new_card(invoice, gateway_name, card_number, save=save, actor=actor)
        if result.status == ChargeStatus.REQUIRES_ACTION and save and pending_cards is not None:
            pending_cards[card_key.format(result.transaction_id)] = asdict(card)
        return result
    return start_new_method_payment(
        invoice, gateway_name, save=gateway_name != "paypal" and save, return_url=return_url, cancel_url=cancel_url
    )


def pay_with_new_card(
    invoice: Invoice, gateway_name: str, reference: str, *, save: bool, actor=None
) -> tuple[ChargeResult, SavedMethod]:
    """Charge a card typed now (the sandbox form) without saving it first.

    Invariant: the card is stored only once the payment succeeded and only when `save` (the customer
    ticked "save for future payments", or the invoice pays a subscription). A declined card is never
    stored; a card waiting for 3-D Secure is stored by confirm_on_session_payment once it succeeded.
    """
    _check_payable(invoice)
    gateway = get_gateway(gateway_name)
    describe = getattr(gateway, "describe_card", None)
    if describe is None:
        raise GatewayError(f"{gateway_name} takes new cards on its own page.")
    card = describe(reference)
    result = gateway.charge_invoice(
        invoice, amount=invoice.amount_due, method_id=card.method_id, attempt=portal_attempt(invoice),
        off_session=False, save_method=save,
    )  # fmt: skip
    method = None
    if result.status == ChargeStatus.SUCCEEDED and save:
        method = methods.store_saved_method(invoice.customer, card, actor=actor)
    record_charge_result(invoice, gateway_name, result, payment_method=method)
    return result, card


def confirm_on_session_payment(
    invoice: Invoice, gateway_name: str, reference: str, *, keep: SavedMethod | None = None, actor=None
) -> ChargeResult:
    """After 3-D Secure or approval: ask the gateway how it ended and book it (same as its webhook would).

    A new method is saved here only when the payment succeeded and the customer asked for it: `keep`
    (the sandbox card kept in the session), or a Stripe PaymentIntent created with setup_future_usage.
    """
    gateway = get_gateway(gateway_name)
    result = gateway.confirm_payment(invoice, reference)
    method = None
    method_ref = (result.raw or {}).get("payment_method") if isinstance(result.raw, dict) else None
    if isinstance(method_ref, dict):
        method_ref = method_ref.get("id")
    if isinstance(method_ref, str) and method_ref:
        method = PaymentMethod.objects.filter(
            gateway=gateway_name, gateway_method_id=method_ref, customer=invoice.customer, removed_at__isnull=True
        ).first()
    if result.status == ChargeStatus.SUCCEEDED and method is None:
        method = _keep_new_method(invoice, gateway, result, method_ref, keep, actor)
    if result.status == ChargeStatus.SUCCEEDED or invoice.status == Invoice.Status.ISSUED:
        record_charge_result(invoice, gateway_name, result, payment_method=method)
    return result


def _keep_new_method(invoice, gateway, result, method_ref, keep: SavedMethod | None, actor) -> PaymentMethod | None:
    if keep is not None:
        return methods.store_saved_method(invoice.customer, keep, actor=actor)
    wanted = isinstance(result.raw, dict) and result.raw.get("setup_future_usage") in ("off_session", "on_session")
    if not (wanted and method_ref):
        return None
    try:  # the payment is booked whatever happens here; the card can be added again later
        found = [m for m in gateway.list_methods(invoice.customer) if m.method_id == method_ref]
        return methods.store_saved_method(invoice.customer, found[0], actor=actor) if found else None
    except (GatewayError, PaymentError):
        log.warning("Could not keep payment method %s of invoice %s", method_ref, invoice.number, exc_info=True)
        return None


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
