"""The sandbox gateway: the local demo and tests pay without any network.

Behaviour follows Stripe's test cards, so the demo exercises every path the real gateway has:
4242424242424242 succeeds, 4000000000000002 is declined, 4000002500003155 needs 3-D Secure
(completed on the portal's confirm page). Saved "cards" are PaymentMethod rows; nothing else
is stored anywhere. Webhooks are optional (results apply synchronously) but signed like the
real ones with settings.SANDBOX_WEBHOOK_SECRET so the webhook path can be exercised too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal

from django.conf import settings

from core import clock
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
from core.billing.services import methods
from core.billing.services.invoices import portal_pay_url

SUCCEEDS = "4242424242424242"
DECLINES = "4000000000000002"
REQUIRES_ACTION = "4000002500003155"
TEST_CARDS = {SUCCEEDS: "succeeds", DECLINES: "declined", REQUIRES_ACTION: "requires_action"}
SIGNATURE_HEADER = "Sandbox-Signature"
TOLERANCE_SECONDS = 300


def card_behaviour(method_id: str) -> str:
    """What a saved sandbox card does, read from its id (``sbx_pm_<last4>_<random>``)."""
    parts = (method_id or "").split("_")
    last4 = parts[2] if len(parts) > 3 else ""
    return {"4242": "succeeds", "0002": "declined", "3155": "requires_action"}.get(last4, "declined")


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The signature header value for `body`: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`` (Stripe's scheme)."""
    t = int(timestamp if timestamp is not None else time.time())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class SandboxGateway(PaymentGateway):
    name = "sandbox"
    supports_off_session = True
    supports_saved_methods = True

    def ensure_customer(self, customer) -> GatewayCustomerRef:
        existing = methods.gateway_customer_id(customer, self.name)
        if existing:
            return GatewayCustomerRef(self.name, existing)
        row = methods.remember_gateway_customer(customer, self.name, f"sbx_cus_{customer.pk}")
        return GatewayCustomerRef(self.name, row.gateway_customer_id)

    def begin_save_method(self, customer, *, return_url: str = "") -> SetupSession:
        self.ensure_customer(customer)
        return SetupSession(gateway=self.name, redirect_url=return_url, reference=f"sbx_seti_{secrets.token_hex(8)}")

    def complete_save_method(self, customer, reference: str) -> SavedMethod:
        """`reference` is the test card number the customer typed in the sandbox "add a card" form. Every
        test card can be added (4000 0000 0000 0002 then declines its charges: how the demo shows dunning)."""
        return self.describe_card(reference)

    def describe_card(self, reference: str) -> SavedMethod:
        """The card typed in the sandbox form, not saved anywhere (a payment charges it first)."""
        number = "".join(ch for ch in (reference or "") if ch.isdigit())
        if number not in TEST_CARDS:
            raise GatewayError(
                "The sandbox accepts only test cards: 4242 4242 4242 4242 (succeeds), "
                "4000 0000 0000 0002 (declined), 4000 0025 0000 3155 (needs authentication)."
            )
        last4 = number[-4:]
        return SavedMethod(
            gateway=self.name, method_id=f"sbx_pm_{last4}_{secrets.token_hex(6)}", kind="card", brand="visa",
            last4=last4, exp_month=12, exp_year=clock.today().year + 3, label=f"Sandbox Visa ending {last4}",
            fingerprint=hashlib.sha256(f"sandbox-card:{number}".encode()).hexdigest()[:16],
        )  # fmt: skip

    def list_methods(self, customer) -> list[SavedMethod]:
        return [
            SavedMethod(
                gateway=self.name,
                method_id=m.gateway_method_id,
                kind=m.kind,
                brand=m.brand,
                last4=m.last4,
                exp_month=m.exp_month,
                exp_year=m.exp_year,
                label=m.label,
                is_default=m.is_default,
            )  # fmt: skip
            for m in methods.active_payment_methods(customer).filter(gateway=self.name)
        ]

    def remove_method(self, customer, method_id: str) -> None:
        """Nothing is stored outside our database."""

    def set_default_method(self, customer, method_id: str) -> None:
        """The default lives only in our database."""

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
        if not method_id:
            return ChargeResult(
                ChargeStatus.FAILED, amount=amount, currency=invoice.currency_id, failure_code="no_payment_method",
                failure_message="No saved card: add a card in the client area.", action_url=portal_pay_url(invoice),
            )  # fmt: skip
        # Deterministic per (invoice, attempt): repeating an attempt reports the same transaction.
        transaction_id = f"sbx_pi_{invoice.uuid.hex}_{attempt}"
        behaviour = card_behaviour(method_id)
        common = {"amount": amount, "currency": invoice.currency_id, "raw": {"sandbox": behaviour, "method": method_id}}
        if behaviour == "succeeds":
            return ChargeResult(ChargeStatus.SUCCEEDED, transaction_id=transaction_id, **common)
        if behaviour == "requires_action":
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION, transaction_id=transaction_id, action_url=portal_pay_url(invoice),
                client_secret=f"{transaction_id}_secret", failure_code="authentication_required",
                failure_message="The bank asks the customer to authenticate this payment.", **common,
            )  # fmt: skip
        return ChargeResult(
            ChargeStatus.FAILED, transaction_id=f"{transaction_id}_declined", failure_code="card_declined",
            failure_message="Your card was declined.", action_url=portal_pay_url(invoice), **common,
        )  # fmt: skip

    def confirm_payment(self, invoice, reference: str) -> ChargeResult:
        """The customer passed the simulated 3-D Secure challenge for `reference`."""
        if not reference.startswith(f"sbx_pi_{invoice.uuid.hex}_"):
            raise GatewayError("This payment does not belong to this invoice.")
        return ChargeResult(
            ChargeStatus.SUCCEEDED, transaction_id=reference, amount=invoice.amount_due, currency=invoice.currency_id,
            raw={"sandbox": "authenticated"},
        )  # fmt: skip

    def find_pending_action(self, invoice) -> ChargeResult | None:
        """The billing run's last attempt, when it was made with a card that needs authentication."""
        if not invoice.charge_attempts:
            return None
        method = None
        if invoice.subscription_id:
            method = methods.payment_method_for_subscription(invoice.subscription)
        method = method or methods.default_payment_method(invoice.customer)
        if (
            method is None
            or method.gateway != self.name
            or card_behaviour(method.gateway_method_id) != "requires_action"
        ):
            return None
        return self.charge_invoice(
            invoice, amount=invoice.amount_due, method_id=method.gateway_method_id, attempt=invoice.charge_attempts
        )

    def refund(self, payment, *, amount: Decimal, reason: str = "") -> RefundResult:
        refund_id = f"sbx_re_{payment.uuid.hex[:16]}_{payment.refunds.count() + 1}"
        return RefundResult(ChargeStatus.SUCCEEDED, refund_id, amount, payment.currency_id, raw={"reason": reason})

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[DomainEvent]:
        secret = getattr(settings, "SANDBOX_WEBHOOK_SECRET", "")
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        if not secret or not header:
            raise WebhookVerificationError("Missing sandbox signature.")
        try:
            parts = dict(item.split("=", 1) for item in header.split(","))
            timestamp = int(parts["t"])
        except (ValueError, KeyError) as exc:
            raise WebhookVerificationError("Malformed sandbox signature.") from exc
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise WebhookVerificationError("Sandbox signature too old.")
        if not hmac.compare_digest(sign(body, secret, timestamp), header):
            raise WebhookVerificationError("Bad sandbox signature.")
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise WebhookVerificationError("Sandbox webhook body is not JSON.") from exc
        data = event.get("data") or {}
        kind = {
            "payment.succeeded": DomainEventKind.PAYMENT_SUCCEEDED,
            "payment.failed": DomainEventKind.PAYMENT_FAILED,
            "refund.succeeded": DomainEventKind.REFUNDED,
        }.get(event.get("type"), DomainEventKind.IGNORED)
        return [
            DomainEvent(
                kind,
                event_id=event["id"],
                event_type=event.get("type", ""),
                transaction_id=data.get("id", ""),
                invoice_uuid=data.get("invoice_uuid", ""),
                amount=Decimal(str(data["amount"])) if data.get("amount") is not None else None,
                currency=data.get("currency", ""),
                original_transaction_id=data.get("payment_id", ""),
                failure_code=data.get("failure_code", ""),
                failure_message=data.get("failure_message", ""),
                payload=event,
            )  # fmt: skip
        ]
