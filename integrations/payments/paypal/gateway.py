"""PayPal as a PaymentGateway: Orders v2 for one-off invoices, Subscriptions v1 for fixed renewals.

PayPal cannot be charged off-session at our initiative here: one-off invoices need the payer's
approval (Orders v2: create -> approve -> capture); renewals are collected by a PayPal subscription
the customer approved once, and each `PAYMENT.SALE.COMPLETED` pays the matching renewal invoice.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core import money
from core.billing.gateways import (
    ChargeResult,
    ChargeStatus,
    DomainEvent,
    DomainEventKind,
    GatewayCustomerRef,
    GatewayError,
    PaymentGateway,
    RefundResult,
    SavedMethod,
    SetupSession,
    WebhookVerificationError,
)
from core.billing.services.invoices import portal_pay_url
from core.catalog.models import Price

from .client import TRANSMISSION_HEADERS, PayPalClient, PayPalError, PayPalUnavailable

INTERVALS = {1: ("MONTH", 1), 3: ("MONTH", 3), 6: ("MONTH", 6), 12: ("YEAR", 1)}


def paypal_value(amount: Decimal, currency: str) -> str:
    """PayPal amounts are decimal strings with the currency's digits (JPY "1500", USD "23.80")."""
    return str(money.quantize(amount, currency))


def _link(resource: dict, *rels: str) -> str:
    for link in resource.get("links") or []:
        if link.get("rel") in rels:
            return link.get("href", "")
    return ""


def _amount(obj: dict | None) -> tuple[Decimal | None, str]:
    """Orders/Payments v2 use {currency_code, value}; v1 sales use {total, currency}."""
    if not obj:
        return None, ""
    currency = (obj.get("currency_code") or obj.get("currency") or "").upper()
    value = obj.get("value") or obj.get("total")
    return (money.quantize(Decimal(value), currency) if value is not None else None), currency


class PayPalGateway(PaymentGateway):
    name = "paypal"
    supports_off_session = False
    supports_saved_methods = False

    def __init__(self, client: PayPalClient | None = None):
        try:
            self.client = client or PayPalClient.from_settings()
        except PayPalError as exc:
            raise GatewayError(str(exc)) from exc

    # --- Customers and methods -----------------------------------------------------------------
    def ensure_customer(self, customer) -> GatewayCustomerRef:
        # Orders need no PayPal customer object; the payer logs in to PayPal.
        return GatewayCustomerRef(self.name, f"customer-{customer.pk}")

    def begin_save_method(self, customer, *, return_url: str = "") -> SetupSession:
        raise GatewayError("PayPal is approved per invoice, or once per subscription from the subscription page.")

    def complete_save_method(self, customer, reference: str) -> SavedMethod:
        raise GatewayError("PayPal is approved per invoice, or once per subscription from the subscription page.")

    def list_methods(self, customer) -> list[SavedMethod]:
        from core.billing.services.methods import active_payment_methods

        return [
            SavedMethod(self.name, m.gateway_method_id, m.kind, label=m.label, is_default=m.is_default)
            for m in active_payment_methods(customer).filter(gateway=self.name)
        ]

    def remove_method(self, customer, method_id: str) -> None:
        # A saved PayPal "method" is an approved subscription (I-...): removing it cancels it.
        if method_id.startswith("I-"):
            self.cancel_subscription(method_id, reason="Payment method removed by the customer")

    def set_default_method(self, customer, method_id: str) -> None:
        """PayPal subscriptions pay only their own subscription; nothing to set at PayPal."""

    # --- One-off invoices (Orders v2) -------------------------------------------------------------------
    def charge_invoice(
        self,
        invoice,
        *,
        amount: Decimal,
        method_id: str | None,
        attempt: int,
        off_session: bool = True,
        save_method: bool = False,
        return_url: str = "",
        cancel_url: str = "",
    ) -> ChargeResult:
        currency = invoice.currency_id
        if off_session:
            subscription = invoice.subscription
            if subscription is not None and subscription.gateway == self.name and subscription.gateway_subscription_id:
                # PayPal bills the subscription itself; its sale webhook will pay this invoice.
                return ChargeResult(ChargeStatus.PROCESSING, amount=amount, currency=currency)
            return ChargeResult(
                ChargeStatus.FAILED, amount=amount, currency=currency, failure_code="paypal_needs_approval",
                failure_message="PayPal payments need your approval: pay this invoice with PayPal in the client area.",
                action_url=portal_pay_url(invoice),
            )  # fmt: skip
        pay_url = portal_pay_url(invoice)
        body = {
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": str(invoice.uuid),
                "custom_id": str(invoice.uuid),
                # Shown to the payer; suffixed because PayPal may refuse a reused invoice_id.
                "invoice_id": f"{invoice.number}-{attempt}",
                "description": f"Invoice {invoice.number}"[:127],
                "amount": {"currency_code": currency, "value": paypal_value(amount, currency)},
            }],
            "payment_source": {"paypal": {"experience_context": {
                "brand_name": settings.COMPANY["name"][:127], "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
                # An order's checkout comes back to its own page (it captures, then shows provisioning).
                "return_url": return_url or f"{pay_url}confirm/?gateway=paypal", "cancel_url": cancel_url or pay_url,
            }}},
        }  # fmt: skip
        try:
            order = self.client.create_order(body, request_id=f"inv-{invoice.uuid}-{attempt}")
        except PayPalUnavailable as exc:
            return ChargeResult(ChargeStatus.UNKNOWN, amount=amount, currency=currency, failure_message=str(exc))
        except PayPalError as exc:
            return ChargeResult(
                ChargeStatus.FAILED, amount=amount, currency=currency, failure_code=exc.issue or exc.name,
                failure_message=str(exc),
            )  # fmt: skip
        return ChargeResult(
            ChargeStatus.REQUIRES_ACTION, transaction_id=order["id"], amount=amount, currency=currency,
            action_url=_link(order, "payer-action", "approve"), raw=order,
        )  # fmt: skip

    def confirm_payment(self, invoice, reference: str) -> ChargeResult:
        """The payer came back from PayPal: capture the approved order (once) and report the capture."""
        order = self._guard(self.client.get_order, reference)
        unit = (order.get("purchase_units") or [{}])[0]
        if unit.get("custom_id") != str(invoice.uuid) and unit.get("reference_id") != str(invoice.uuid):
            raise GatewayError("This PayPal order does not belong to this invoice.")
        if order.get("status") == "APPROVED":
            try:
                order = self.client.capture_order(reference, request_id=f"capture-{reference}")
            except PayPalError as exc:
                if exc.issue == "INSTRUMENT_DECLINED":
                    return ChargeResult(
                        ChargeStatus.REQUIRES_ACTION, transaction_id=reference, failure_code=exc.issue,
                        failure_message="PayPal declined that funding source; choose another one.",
                        action_url=_link(order, "payer-action", "approve"),
                    )  # fmt: skip
                raise GatewayError(str(exc)) from exc
        elif order.get("status") != "COMPLETED":
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION,
                transaction_id=reference,
                action_url=_link(order, "payer-action", "approve"),
            )
        captures = ((order.get("purchase_units") or [{}])[0].get("payments") or {}).get("captures") or []
        if not captures:
            return ChargeResult(ChargeStatus.PROCESSING, transaction_id=reference, raw=order)
        return self._capture_result(captures[0])

    def _capture_result(self, capture: dict) -> ChargeResult:
        amount, currency = _amount(capture.get("amount"))
        status = capture.get("status")
        raw = {"resource_type": "capture", **capture}
        if status == "COMPLETED":
            return ChargeResult(ChargeStatus.SUCCEEDED, capture["id"], amount, currency, raw=raw)
        if status == "PENDING":
            return ChargeResult(ChargeStatus.PROCESSING, capture["id"], amount, currency, raw=raw)
        return ChargeResult(
            ChargeStatus.FAILED, f"{capture['id']}:{status}", amount, currency, failure_code=(status or "").lower(),
            failure_message=f"PayPal capture {status}.", raw=raw,
        )  # fmt: skip

    # --- Refunds ------------------------------------------------------------------------------------
    def refund(self, payment, *, amount: Decimal, reason: str = "") -> RefundResult:
        currency = payment.currency_id
        value = paypal_value(amount, currency)
        request_id = f"refund-{payment.uuid}-{payment.refunds.count()}-{value}"
        try:
            if (payment.raw or {}).get("resource_type") == "sale":
                answer = self.client.refund_sale(
                    payment.gateway_transaction_id,
                    {"amount": {"total": value, "currency": currency}},
                    request_id=request_id,
                )
            else:
                answer = self.client.refund_capture(
                    payment.gateway_transaction_id,
                    {"amount": {"value": value, "currency_code": currency}, "note_to_payer": reason[:255] or "Refund"},
                    request_id=request_id,
                )
        except PayPalError as exc:
            raise GatewayError(f"PayPal refused the refund: {exc}") from exc
        status = (answer.get("status") or answer.get("state") or "").upper()
        mapped = {"COMPLETED": ChargeStatus.SUCCEEDED, "PENDING": ChargeStatus.PROCESSING}.get(
            status, ChargeStatus.FAILED
        )
        return RefundResult(mapped, answer["id"], amount, currency, raw=answer)

    # --- Subscriptions (fixed recurring prices) ----------------------------------------------------------
    def ensure_plan(self, price: Price) -> str:
        """The PayPal plan for `price`, created on first use and remembered on Price.paypal_plan_id."""
        if price.paypal_plan_id:
            return price.paypal_plan_id
        months = price.cycle_months
        unit, count = INTERVALS.get(months, ("MONTH", months))
        # Request ids make a concurrent second caller get the same product and plan back.
        product = self._guard(
            self.client.create_product, name=price.product.name, description=price.product.description,
            request_id=f"product-price-{price.pk}",
        )  # fmt: skip
        plan = self._guard(
            self.client.create_plan,
            {
                "product_id": product["id"],
                "name": f"{price.product.name} ({price.get_cycle_display()}, {price.currency_id})"[:127],
                "status": "ACTIVE",
                "billing_cycles": [{
                    "frequency": {"interval_unit": unit, "interval_count": count},
                    "tenure_type": "REGULAR", "sequence": 1, "total_cycles": 0,
                    "pricing_scheme": {"fixed_price": {"value": paypal_value(price.amount, price.currency_id),
                                                       "currency_code": price.currency_id}},
                }],
                "payment_preferences": {"auto_bill_outstanding": True, "setup_fee_failure_action": "CANCEL",
                                        "payment_failure_threshold": 2},
            },
            request_id=f"plan-price-{price.pk}-{paypal_value(price.amount, price.currency_id)}",
        )  # fmt: skip
        with transaction.atomic():
            locked = Price.objects.select_for_update().get(pk=price.pk)
            if not locked.paypal_plan_id:
                locked.paypal_plan_id = plan["id"]
                locked.save(update_fields=["paypal_plan_id"])
        price.refresh_from_db()
        return price.paypal_plan_id

    @staticmethod
    def plan_override(charge) -> dict:
        """Per-subscription price on the Price's plan: the customer's own renewal total (tax and coupon included).

        The plan per Price only fixes product, interval and currency; PayPal's `plan` override in the
        create/revise request sets the amount of its one REGULAR cycle (sequence 1) per subscriber.
        """
        return {"billing_cycles": [{
            "sequence": 1, "total_cycles": 0,
            "pricing_scheme": {"fixed_price": {"value": paypal_value(charge.amount, charge.currency),
                                               "currency_code": charge.currency}},
        }]}  # fmt: skip

    def begin_subscription(self, subscription, *, return_url: str, cancel_url: str, charge=None) -> SetupSession:
        """Create the PayPal subscription for `subscription`; the customer approves it at `redirect_url`."""
        if charge is None:
            from core.billing.services.methods import next_recurring_charge

            charge = next_recurring_charge(subscription)
        plan_id = self.ensure_plan(subscription.price)
        user = subscription.customer.user
        body = {
            "plan_id": plan_id,
            "custom_id": str(subscription.uuid),
            "plan": self.plan_override(charge),
            "subscriber": {"email_address": user.email,
                           "name": {"given_name": user.first_name or "-", "surname": user.last_name or "-"}},
            "application_context": {"brand_name": settings.COMPANY["name"][:127], "user_action": "SUBSCRIBE_NOW",
                                    "shipping_preference": "NO_SHIPPING", "return_url": return_url,
                                    "cancel_url": cancel_url},
        }  # fmt: skip
        if charge.first_charge_at is not None:
            # Without it PayPal bills at approval, charging again for a period the customer already paid.
            body["start_time"] = charge.first_charge_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        value = paypal_value(charge.amount, charge.currency)
        created = self._guard(
            self.client.create_subscription, body, request_id=f"sub-{subscription.uuid}-{plan_id}-{value}"
        )
        return SetupSession(self.name, redirect_url=_link(created, "approve"), reference=created["id"])

    def update_subscription_amount(self, subscription_id: str, amount: Decimal, currency: str) -> None:
        """Change what an active PayPal subscription collects from its next cycle on (no payer approval)."""
        self._guard(
            self.client.patch_subscription, subscription_id,
            [{"op": "replace", "path": "/plan/billing_cycles/@sequence==1/pricing_scheme/fixed_price",
              "value": {"currency_code": currency, "value": paypal_value(amount, currency)}}],
        )  # fmt: skip

    def activate_subscription(self, subscription_id: str) -> dict:
        """After approval: make sure the PayPal subscription is ACTIVE; returns PayPal's record."""
        found = self._guard(self.client.get_subscription, subscription_id)
        if found.get("status") in {"APPROVED", "SUSPENDED"}:
            self._guard(self.client.subscription_action, subscription_id, "activate", "Approved by the customer")
            found = self._guard(self.client.get_subscription, subscription_id)
        if found.get("status") != "ACTIVE":
            raise GatewayError(f"The PayPal subscription is {found.get('status')}; approve it again.")
        return found

    def suspend_subscription(self, subscription_id: str, *, reason: str) -> None:
        self._guard(self.client.subscription_action, subscription_id, "suspend", reason)

    def cancel_subscription(self, subscription_id: str, *, reason: str) -> None:
        try:
            self.client.subscription_action(subscription_id, "cancel", reason)
        except PayPalError as exc:
            # Already cancelled or expired at PayPal: the goal is reached.
            if exc.issue not in {"SUBSCRIPTION_STATUS_INVALID"}:
                raise GatewayError(str(exc)) from exc

    def revise_subscription(self, subscription_id: str, new_price: Price, *, charge=None) -> str:
        """Move to `new_price`'s plan; returns the approval URL when PayPal wants the payer to agree ("" if not).

        PayPal drops earlier overrides on revise, so the customer's own amount is sent again.
        """
        body = {"plan_id": self.ensure_plan(new_price)}
        if charge is not None:
            body["plan"] = self.plan_override(charge)
        answer = self._guard(self.client.revise_subscription, subscription_id, body)
        return _link(answer or {}, "approve")

    # --- Webhooks ----------------------------------------------------------------------------------------
    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[DomainEvent]:
        lowered = {k.lower(): v for k, v in headers.items()}
        transmission = {header: lowered.get(header.lower(), "") for header in TRANSMISSION_HEADERS.values()}
        if not all(transmission.values()):
            raise WebhookVerificationError("Missing PayPal transmission headers.")
        if not self.client.webhook_id:
            raise WebhookVerificationError("PAYPAL_WEBHOOK_ID is not set; refusing unverifiable webhooks.")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise WebhookVerificationError("PayPal webhook body is not JSON.") from exc
        try:
            verified = self.client.verify_webhook_signature(transmission, event)
        except PayPalUnavailable as exc:
            raise GatewayError(str(exc)) from exc
        except PayPalError as exc:
            raise WebhookVerificationError(f"PayPal refused to verify the webhook: {exc}") from exc
        if not verified:
            raise WebhookVerificationError("PayPal says the webhook signature is not valid.")
        return [self.translate_event(event)]

    def translate_event(self, event: dict) -> DomainEvent:
        kind = event.get("event_type", "")
        resource = event.get("resource") or {}
        base = {
            "event_id": event["id"],
            "event_type": kind,
            "payload": event,
            "occurred_at": event.get("create_time", ""),
        }
        if kind == "PAYMENT.CAPTURE.COMPLETED":
            amount, currency = _amount(resource.get("amount"))
            return DomainEvent(
                DomainEventKind.PAYMENT_SUCCEEDED, transaction_id=resource["id"],
                invoice_uuid=resource.get("custom_id", ""), amount=amount, currency=currency, status="succeeded", **base,
            )  # fmt: skip
        if kind in {"PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"}:
            amount, currency = _amount(resource.get("amount"))
            return DomainEvent(
                DomainEventKind.PAYMENT_FAILED, transaction_id=resource["id"], invoice_uuid=resource.get("custom_id", ""),
                amount=amount, currency=currency, original_transaction_id=f"{resource['id']}:{resource.get('status', 'DENIED')}",
                failure_code=kind.rsplit(".", 1)[1].lower(), failure_message="PayPal did not complete the payment.", **base,
            )  # fmt: skip
        if kind == "PAYMENT.CAPTURE.REFUNDED":
            amount, currency = _amount(resource.get("amount"))
            capture_url = _link(resource, "up")
            return DomainEvent(
                DomainEventKind.REFUNDED, transaction_id=resource["id"],
                original_transaction_id=capture_url.rstrip("/").rsplit("/", 1)[-1] if capture_url else "",
                invoice_uuid=resource.get("custom_id", ""), amount=amount, currency=currency,
                failure_message=resource.get("note_to_payer", "Refunded at PayPal"), **base,
            )  # fmt: skip
        if kind == "PAYMENT.SALE.COMPLETED":
            amount, currency = _amount(resource.get("amount"))
            return DomainEvent(
                DomainEventKind.PAYMENT_SUCCEEDED, transaction_id=resource["id"],
                subscription_ref=resource.get("billing_agreement_id", ""), amount=amount, currency=currency,
                status="succeeded", **base,
            )  # fmt: skip
        if kind == "PAYMENT.SALE.REFUNDED":
            amount, currency = _amount(resource.get("amount"))
            return DomainEvent(
                DomainEventKind.REFUNDED, transaction_id=resource["id"], original_transaction_id=resource.get("sale_id", ""),
                amount=amount, currency=currency, failure_message="Refunded at PayPal", **base,
            )  # fmt: skip
        if kind in {"PAYMENT.CAPTURE.REVERSED", "PAYMENT.SALE.REVERSED"}:
            return self._reversal_event(resource, base)
        if kind == "CUSTOMER.DISPUTE.CREATED":
            disputed = (resource.get("disputed_transactions") or [{}])[0]
            amount, currency = _amount(resource.get("dispute_amount"))
            return DomainEvent(
                DomainEventKind.DISPUTE_OPENED, transaction_id=resource.get("dispute_id", ""),
                original_transaction_id=disputed.get("seller_transaction_id", ""), amount=amount, currency=currency,
                failure_code=resource.get("reason", ""), **base,
            )  # fmt: skip
        subscription_kinds = {
            "BILLING.SUBSCRIPTION.ACTIVATED": DomainEventKind.SUBSCRIPTION_ACTIVATED,
            "BILLING.SUBSCRIPTION.SUSPENDED": DomainEventKind.SUBSCRIPTION_SUSPENDED,
            "BILLING.SUBSCRIPTION.CANCELLED": DomainEventKind.SUBSCRIPTION_CANCELLED,
            "BILLING.SUBSCRIPTION.EXPIRED": DomainEventKind.SUBSCRIPTION_CANCELLED,
        }
        if kind in subscription_kinds:
            return DomainEvent(subscription_kinds[kind], subscription_ref=resource.get("id", ""), **base)
        return DomainEvent(DomainEventKind.IGNORED, **base)

    @staticmethod
    def _reversal_event(resource: dict, base: dict) -> DomainEvent:
        """PayPal took a payment back (chargeback, bank reversal): a lost dispute in our words.

        Two shapes are seen for the resource: the reversal itself (a refund-like object whose `up`
        link or `sale_id`/`capture_id` names the payment) or the payment with status REVERSED. A
        reversal has no id of its own in the second shape, so it is keyed by the payment id.
        """
        up = _link(resource, "up", "sale")
        parent = (
            resource.get("sale_id") or resource.get("capture_id")
            or (up.rstrip("/").rsplit("/", 1)[-1] if "/captures/" in up or "/sale/" in up else "")
        )  # fmt: skip
        if parent:
            original, reversal_id = parent, resource.get("id", "")
        else:
            original, reversal_id = resource.get("id", ""), f"{resource.get('id', '')}:reversed"
        amount, currency = _amount(resource.get("amount"))
        return DomainEvent(
            DomainEventKind.DISPUTE_CLOSED, transaction_id=reversal_id, original_transaction_id=original,
            amount=abs(amount) if amount is not None else None, currency=currency, status="reversed",
            failure_code=(resource.get("reason_code") or resource.get("reason") or "reversed").lower(),
            failure_message=(resource.get("status_details") or {}).get("reason") or "Reversed by PayPal", **base,
        )  # fmt: skip

    # --- Reconciliation ------------------------------------------------------------------------------
    def iter_transactions(self, since, until=None):
        from core import clock

        end = until or clock.now()
        start = since
        while start < end:
            # Transaction search covers at most 31 days per request.
            stop = min(start + dt.timedelta(days=31), end)
            for item in self.client.iter_transactions(
                start=start.strftime("%Y-%m-%dT%H:%M:%S%z"), end=stop.strftime("%Y-%m-%dT%H:%M:%S%z")
            ):
                info = item.get("transaction_info") or {}
                amount, currency = _amount(info.get("transaction_amount"))
                status = {"S": "succeeded", "P": "pending", "D": "failed", "V": "reversed"}.get(
                    info.get("transaction_status"), "other"
                )
                yield {
                    "transaction_id": info.get("transaction_id", ""), "status": status, "amount": amount,
                    "currency": currency, "invoice_uuid": info.get("custom_field", ""),
                    "is_refund": (amount or 0) < 0,
                }  # fmt: skip
            start = stop

    @staticmethod
    def _guard(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PayPalError as exc:
            raise GatewayError(str(exc)) from exc
