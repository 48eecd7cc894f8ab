"""Gateway webhooks and gateway outcomes, translated into billing service calls.

Invariants: a verified event is stored once per (gateway, event id) and its effects happen once,
whatever the number, concurrency or order of deliveries. The event row is locked while its
effects are applied and marked processed in the same transaction, so effects and the mark commit
together; side effects (emails, Discord, provisioning) are queued on commit by the services we
call and therefore run only after the payment is committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import BillingError
from core.billing.gateways import ChargeResult, ChargeStatus, DomainEvent, DomainEventKind, get_gateway
from core.billing.models import Invoice, Payment, PaymentMethod, Subscription, WebhookEvent
from core.billing.services import methods, payments
from core.notifications.services import discord_alert

log = logging.getLogger(__name__)


class WebhookProcessingError(BillingError):
    """An event we cannot apply yet (e.g. a refund before its payment); the gateway will redeliver."""


@dataclass(frozen=True)
class WebhookReceipt:
    event: WebhookEvent
    duplicate: bool  # the event had already been processed before this delivery

    @property
    def ok(self) -> bool:
        return self.event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


def receive_webhook(gateway_name: str, body: bytes, headers: dict[str, str]) -> list[WebhookReceipt]:
    """Verify a delivery (raises WebhookVerificationError: answer 400, nothing stored) and process it once."""
    gateway = get_gateway(gateway_name)
    events = gateway.parse_webhook(body, headers)
    by_id: dict[str, list[DomainEvent]] = {}
    for event in events:
        by_id.setdefault(event.event_id, []).append(event)
    return [process_webhook_event(gateway_name, group) for group in by_id.values()]


def store_webhook_event(gateway_name: str, first: DomainEvent) -> WebhookEvent:
    """The stored row for a gateway event, created on first sight (unique by gateway + event id)."""
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                gateway=gateway_name, event_id=first.event_id, event_type=first.event_type[:64], payload=first.payload
            )
    except IntegrityError:
        return WebhookEvent.objects.get(gateway=gateway_name, event_id=first.event_id)


def process_webhook_event(gateway_name: str, events: list[DomainEvent]) -> WebhookReceipt:
    """Apply the domain events of one gateway event exactly once.

    Concurrent deliveries of the same event wait on the row lock; the first applies the effects and
    marks the row processed in the same transaction, the others then see it processed and return.
    A failure rolls the effects back and leaves the row `failed` for the gateway's next delivery.
    """
    row = store_webhook_event(gateway_name, events[0])
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().get(pk=row.pk)
        if row.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
            return WebhookReceipt(row, duplicate=True)
        row.attempts += 1
        try:
            with transaction.atomic():
                applied = [apply_domain_event(gateway_name, event) for event in events]
        except Exception as exc:
            log.warning("webhook %s %s not applied: %s", gateway_name, row.event_id, exc)
            row.status = WebhookEvent.Status.FAILED
            row.error = f"{exc.__class__.__name__}: {exc}"[:2000]
            row.save(update_fields=["status", "error", "attempts"])
            return WebhookReceipt(row, duplicate=False)
        row.status = WebhookEvent.Status.PROCESSED if any(applied) else WebhookEvent.Status.IGNORED
        row.error = ""
        row.processed_at = clock.now()
        row.save(update_fields=["status", "error", "attempts", "processed_at"])
    return WebhookReceipt(row, duplicate=False)


def apply_domain_event(gateway_name: str, event: DomainEvent) -> bool:
    """Translate one domain event into billing calls. Returns False when there was nothing to do."""
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        return False
    return handler(gateway_name, event)


# --- Handlers -----------------------------------------------------------------------------


def _on_payment_succeeded(gateway_name: str, event: DomainEvent) -> bool:
    if _payment(gateway_name, event.transaction_id) is not None:
        return True  # the same payment reported again (charge.succeeded after payment_intent.succeeded)
    invoice = _invoice_for(gateway_name, event)
    if invoice is None:
        raise WebhookProcessingError(
            f"No invoice matches {gateway_name} payment {event.transaction_id}; it will be retried."
        )
    if event.amount is None or event.amount <= 0:
        return False
    if event.currency and event.currency.upper() != invoice.currency_id:
        raise WebhookProcessingError(
            f"{gateway_name} payment {event.transaction_id} is in {event.currency}, invoice {invoice} in "
            f"{invoice.currency_id}: record it by hand after checking with the customer."
        )
    payments.record_payment(
        invoice, amount=event.amount, gateway=gateway_name, gateway_transaction_id=event.transaction_id,
        payment_method=_method(gateway_name, event.method_ref), received_at=_when(event.occurred_at),
        raw=event.payload,
    )  # fmt: skip
    if event.subscription_ref:
        _queue_amount_sync(gateway_name, event.subscription_ref, event.amount)
    return True


def _queue_amount_sync(gateway_name: str, subscription_ref: str, collected: Decimal) -> None:
    """After a gateway-billed renewal commits, bring the gateway's next charge in line with our next invoice."""

    def sync():
        subscription = Subscription.objects.filter(
            gateway=gateway_name, gateway_subscription_id=subscription_ref
        ).first()
        if subscription is not None:
            methods.sync_gateway_subscription_amount(subscription, collected)

    transaction.on_commit(sync)


def _on_payment_failed(gateway_name: str, event: DomainEvent) -> bool:
    succeeded = _payment(gateway_name, event.transaction_id)
    if succeeded is not None and succeeded.status == Payment.Status.SUCCEEDED:
        return False  # a stale failure delivered after the success: the payment stands
    invoice = _invoice_for(gateway_name, event)
    if invoice is None or invoice.status != Invoice.Status.ISSUED:
        return False
    # A PaymentIntent can fail and later succeed: the failure gets its own id so the success
    # can still be recorded under the PaymentIntent id.
    failure_id = event.original_transaction_id or f"{event.transaction_id}:failed:{event.event_id}"
    payments.record_failed_payment(
        invoice, gateway=gateway_name, gateway_transaction_id=failure_id, failure_code=event.failure_code,
        failure_message=event.failure_message, raw=event.payload,
    )  # fmt: skip
    discord_alert(
        f"Payment failed: invoice {invoice.number}",
        f"{invoice.customer.display_name} · {gateway_name} · {event.failure_code}: {event.failure_message}",
        level="warning", dedupe_key=f"payment_failed:{gateway_name}:{failure_id}",
    )  # fmt: skip
    return True


def _on_refunded(gateway_name: str, event: DomainEvent) -> bool:
    if event.status in REFUND_FAILED_STATUSES:
        return _on_refund_failed(gateway_name, event)
    original = _payment(gateway_name, event.original_transaction_id)
    if original is None or original.status != Payment.Status.SUCCEEDED:
        raise WebhookProcessingError(
            f"Refund {event.transaction_id} refers to {event.original_transaction_id}, which is not recorded yet."
        )
    if _payment(gateway_name, event.transaction_id) is not None:
        return True  # our own refund from the admin, now confirmed by the gateway
    payments.record_refund(
        original, amount=event.amount, gateway_refund_id=event.transaction_id,
        reason=event.failure_message or "Refunded at the gateway", raw=event.payload,
    )  # fmt: skip
    return True


# A refund the gateway accepted can still fail later (closed card, bank refusal): the money never left.
REFUND_FAILED_STATUSES = frozenset({"failed", "canceled"})


def _on_refund_failed(gateway_name: str, event: DomainEvent) -> bool:
    refund = _payment(gateway_name, event.transaction_id)
    if refund is None or refund.kind != Payment.Kind.REFUND:
        return False  # never booked (e.g. started in the gateway's dashboard and failed there): nothing to undo
    if refund.status == Payment.Status.FAILED:
        return True
    reason = event.failure_message or event.failure_code or "the gateway could not send the money back"
    payments.reverse_failed_refund(refund, reason=reason)
    amount = money.format_amount(refund.amount, refund.currency_id)
    discord_alert(
        f"Refund failed: {amount}",
        f"{refund.customer} · refund {event.transaction_id} of payment {event.original_transaction_id}: {reason}. "
        "The refund was taken off the invoice; pay the customer back another way (credit or bank transfer).",
        level="error", dedupe_key=f"refund_failed:{gateway_name}:{event.transaction_id}",
    )  # fmt: skip
    return True


def _on_dispute_opened(gateway_name: str, event: DomainEvent) -> bool:
    original = _payment(gateway_name, event.original_transaction_id)
    if original is None:
        raise WebhookProcessingError(
            f"Dispute {event.transaction_id} refers to {event.original_transaction_id}, which is not recorded yet."
        )
    payments.mark_payment_disputed(original, disputed=True)
    amount = money.format_amount(event.amount, event.currency) if event.amount is not None else ""
    discord_alert(
        f"Dispute opened: {amount}",
        f"{original.customer} · payment {original.gateway_transaction_id} · reason {event.failure_code or 'unknown'}",
        level="error", dedupe_key=f"dispute_opened:{gateway_name}:{event.transaction_id}",
    )  # fmt: skip
    return True


def _on_dispute_closed(gateway_name: str, event: DomainEvent) -> bool:
    original = _payment(gateway_name, event.original_transaction_id)
    if original is None:
        raise WebhookProcessingError(f"Dispute {event.transaction_id}: payment not recorded yet.")
    if event.status in ("lost", "reversed"):
        _record_lost_payment(gateway_name, original, event)
    payments.mark_payment_disputed(original, disputed=False)
    record("payment.dispute_result", original, data={"dispute": event.transaction_id, "status": event.status})
    return True


def _record_lost_payment(gateway_name: str, original: Payment, event: DomainEvent) -> None:
    """A lost dispute or a gateway reversal: book the money taken back (once per id) and tell staff."""
    left = payments.refundable_amount(original)
    amount = left if event.amount is None else min(event.amount, left)
    if amount > 0:
        payments.record_chargeback(original, amount=amount, gateway_dispute_id=event.transaction_id,
                                   raw=event.payload)  # fmt: skip
    if event.status == "reversed":
        shown = money.format_amount(amount, original.currency_id)
        discord_alert(
            f"Payment reversed by {gateway_name}: {shown}",
            f"{original.customer} · payment {original.gateway_transaction_id} on invoice "
            f"{original.invoice.number if original.invoice_id else '-'} · {event.failure_code}. "
            "Recorded as a chargeback; check the customer's services.",
            level="error", dedupe_key=f"reversed:{gateway_name}:{event.transaction_id}",
        )  # fmt: skip


def _on_method_saved(gateway_name: str, event: DomainEvent) -> bool:
    customer = methods.customer_for_gateway_ref(gateway_name, event.customer_ref)
    if customer is None or not event.method_ref or _method(gateway_name, event.method_ref) is not None:
        return False
    methods.save_payment_method(customer, gateway_name, event.transaction_id)
    return True


def _on_method_removed(gateway_name: str, event: DomainEvent) -> bool:
    return methods.forget_payment_method(gateway_name, event.method_ref or event.transaction_id) is not None


def _on_subscription_change(gateway_name: str, event: DomainEvent) -> bool:
    subscription = Subscription.objects.filter(
        gateway=gateway_name, gateway_subscription_id=event.subscription_ref
    ).first()
    if subscription is None:
        return False
    record(f"subscription.gateway_{event.kind.value}", subscription, data={"event": event.event_id})
    if event.kind != DomainEventKind.SUBSCRIPTION_ACTIVATED:
        discord_alert(
            f"{gateway_name} subscription {event.kind.value.split('_', 1)[1]}",
            f"{subscription.customer} · {subscription} · {event.subscription_ref}: renewals will not be collected "
            "automatically until the customer approves a new one.",
            level="warning", dedupe_key=f"sub_change:{gateway_name}:{event.event_id}",
        )  # fmt: skip
    return True


_HANDLERS = {
    DomainEventKind.PAYMENT_SUCCEEDED: _on_payment_succeeded,
    DomainEventKind.PAYMENT_FAILED: _on_payment_failed,
    DomainEventKind.REFUNDED: _on_refunded,
    DomainEventKind.DISPUTE_OPENED: _on_dispute_opened,
    DomainEventKind.DISPUTE_CLOSED: _on_dispute_closed,
    DomainEventKind.METHOD_SAVED: _on_method_saved,
    DomainEventKind.METHOD_REMOVED: _on_method_removed,
    DomainEventKind.SUBSCRIPTION_ACTIVATED: _on_subscription_change,
    DomainEventKind.SUBSCRIPTION_SUSPENDED: _on_subscription_change,
    DomainEventKind.SUBSCRIPTION_CANCELLED: _on_subscription_change,
}


# --- Lookups ---------------------------------------------------------------------------------


def _payment(gateway_name: str, transaction_id: str) -> Payment | None:
    if not transaction_id:
        return None
    return Payment.objects.filter(gateway=gateway_name, gateway_transaction_id=transaction_id).first()


def _method(gateway_name: str, method_ref: str) -> PaymentMethod | None:
    if not method_ref:
        return None
    return PaymentMethod.objects.filter(gateway=gateway_name, gateway_method_id=method_ref).first()


def _invoice_for(gateway_name: str, event: DomainEvent) -> Invoice | None:
    if event.invoice_uuid:
        found = Invoice.objects.filter(uuid=_uuid_or_none(event.invoice_uuid)).first()
        if found is not None and (found.status == Invoice.Status.ISSUED or not event.subscription_ref):
            return found
    if event.subscription_ref:
        return _renewal_invoice_for(gateway_name, event)
    return None


def _renewal_invoice_for(gateway_name: str, event: DomainEvent) -> Invoice | None:
    """The open invoice a gateway-billed renewal (PayPal sale) pays; issued now if the billing run has not yet."""
    subscription = Subscription.objects.filter(
        gateway=gateway_name, gateway_subscription_id=event.subscription_ref
    ).first()
    if subscription is None:
        return None
    open_invoice = (
        subscription.invoices.filter(status=Invoice.Status.ISSUED, kind=Invoice.Kind.INVOICE)
        .order_by("renewal_period_start", "created_at")
        .first()
    )
    if open_invoice is not None:
        return open_invoice
    return issue_gateway_renewal_invoice(subscription)


def issue_gateway_renewal_invoice(subscription: Subscription) -> Invoice:
    """Issue the renewal invoice for the subscription's next period (when the gateway billed before our run).

    One per period: the (subscription, renewal_period_start) unique constraint backs the check.
    """
    from core.billing.services import invoices, subscriptions

    issue_renewal = getattr(subscriptions, "issue_renewal_invoice", None)
    if issue_renewal is not None:
        return issue_renewal(subscription)
    start, end = subscriptions.period_after(subscription)
    existing = subscription.invoices.filter(renewal_period_start=start).exclude(status=Invoice.Status.VOID).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        draft = invoices.create_draft_invoice(
            subscription.customer, currency=subscription.currency_id, purpose=Invoice.Purpose.RENEWAL,
            subscription=subscription,
            lines=[{
                "description": f"{subscription.price.product.name} ({start:%Y-%m-%d} – {end:%Y-%m-%d})",
                "quantity": Decimal("1"), "unit_amount": subscription.amount, "product": subscription.price.product,
                "subscription": subscription, "period_start": start, "period_end": end,
            }],
        )  # fmt: skip
        draft.renewal_period_start = start
        draft.save(update_fields=["renewal_period_start", "updated_at"])
        return invoices.issue_invoice(draft, email=False)


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _when(iso: str) -> dt.datetime | None:
    if not iso:
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- Synchronous outcomes (portal, sandbox) ----------------------------------------------------


def record_charge_result(
    invoice: Invoice, gateway_name: str, result: ChargeResult, *, payment_method: PaymentMethod | None = None
) -> Payment | None:
    """Book what a gateway answered directly (on-session confirm, sandbox charge) exactly as a webhook would.

    A success records the payment (idempotent by transaction id); a decline records a failed attempt;
    anything else (processing, action required, unknown) records nothing and waits for the webhook.
    """
    if result.status == ChargeStatus.SUCCEEDED:
        return payments.record_payment(
            invoice, amount=result.amount if result.amount is not None else invoice.amount_due, gateway=gateway_name,
            gateway_transaction_id=result.transaction_id, payment_method=payment_method, raw=result.raw,
        )  # fmt: skip
    if result.status == ChargeStatus.FAILED:
        return payments.record_failed_payment(
            invoice, gateway=gateway_name, gateway_transaction_id=result.transaction_id or None,
            failure_code=result.failure_code, failure_message=result.failure_message, raw=result.raw,
        )  # fmt: skip
    return None
