"""The payment gateway interface. Implementations live in integrations/payments/<name>/gateway.py
and are found through settings.PAYMENT_GATEWAY_CLASSES (core never imports integrations).

Gateways only move money; the system owns invoices and schedules. Amounts cross this
boundary as Decimal + currency code; conversion to minor units happens inside the gateway.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"  # accepted, outcome arrives by webhook
    REQUIRES_ACTION = "requires_action"  # customer must authenticate (3-D Secure) on-session
    FAILED = "failed"  # declined: a definite no
    UNKNOWN = "unknown"  # timeout/5xx: retry the same attempt with the same idempotency key


@dataclass(frozen=True)
class GatewayCustomerRef:
    gateway: str
    customer_id: str


@dataclass(frozen=True)
class SavedMethod:
    gateway: str
    method_id: str
    kind: str = "card"
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    label: str = ""
    is_default: bool = False
    fingerprint: str = ""  # the gateway's card fingerprint, where it gives one


@dataclass(frozen=True)
class SetupSession:
    """What the portal needs to let a customer save a method (Stripe client_secret, PayPal approve URL)."""

    gateway: str
    client_secret: str = ""
    redirect_url: str = ""
    reference: str = ""  # SetupIntent id, PayPal token...


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    transaction_id: str = ""  # PaymentIntent id, capture id, sandbox id
    amount: Decimal | None = None
    currency: str = ""
    failure_code: str = ""
    failure_message: str = ""
    action_url: str = ""  # where the customer completes authentication / approval
    client_secret: str = ""
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    status: ChargeStatus
    refund_id: str
    amount: Decimal
    currency: str
    raw: dict = field(default_factory=dict)


class DomainEventKind(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REQUIRES_ACTION = "payment_requires_action"
    REFUNDED = "refunded"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"
    METHOD_SAVED = "method_saved"
    METHOD_REMOVED = "method_removed"
    SUBSCRIPTION_ACTIVATED = "subscription_activated"
    SUBSCRIPTION_SUSPENDED = "subscription_suspended"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    IGNORED = "ignored"


@dataclass(frozen=True)
class DomainEvent:
    """A verified gateway event translated into our words."""

    kind: DomainEventKind
    event_id: str
    event_type: str
    transaction_id: str = ""  # the payment's id at the gateway (unique per gateway)
    invoice_uuid: str = ""  # our invoice, when the gateway carries it (metadata / custom_id)
    amount: Decimal | None = None
    currency: str = ""
    customer_ref: str = ""
    subscription_ref: str = ""
    original_transaction_id: str = ""  # for refunds and disputes
    failure_code: str = ""
    failure_message: str = ""
    occurred_at: str = ""
    payload: dict = field(default_factory=dict)
    status: str = ""  # the gateway object's own status where it matters (a dispute's won/lost)
    method_ref: str = ""  # the saved method that paid, when the gateway says


class WebhookVerificationError(Exception):
    """Signature missing or wrong: answer 400 and record nothing."""


class GatewayError(Exception):
    """The gateway refused an operation; the message is safe to show staff."""


class PaymentGateway(abc.ABC):
    """One payment provider. Every method is safe to retry with the same arguments."""

    name: str = ""
    supports_off_session: bool = True
    supports_saved_methods: bool = True

    # Customers
    @abc.abstractmethod
    def ensure_customer(self, customer) -> GatewayCustomerRef: ...

    # Saved payment methods
    @abc.abstractmethod
    def begin_save_method(self, customer, *, return_url: str = "") -> SetupSession: ...

    @abc.abstractmethod
    def complete_save_method(self, customer, reference: str) -> SavedMethod: ...

    @abc.abstractmethod
    def list_methods(self, customer) -> list[SavedMethod]: ...

    @abc.abstractmethod
    def remove_method(self, customer, method_id: str) -> None: ...

    @abc.abstractmethod
    def set_default_method(self, customer, method_id: str) -> None: ...

    # Money
    @abc.abstractmethod
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
        """Charge `amount` of `invoice`. The idempotency key derives from (invoice, attempt).

        `save_method`: the customer agreed to keep a method entered now for future payments (the gateway
        may then keep it on its side, e.g. Stripe's setup_future_usage); without it nothing is kept.
        `return_url` / `cancel_url`: where a gateway that approves on its own page (PayPal) sends the
        customer back; empty: the invoice's pay page (cancel) and its confirm page (approved).
        """

    @abc.abstractmethod
    def refund(self, payment, *, amount: Decimal, reason: str = "") -> RefundResult: ...

    def confirm_payment(self, invoice, reference: str) -> ChargeResult:
        """After an on-session step (3-D Secure, PayPal approval, sandbox challenge): the payment's outcome."""
        raise GatewayError(f"{self.name} has no on-session confirmation step.")

    # Webhooks
    @abc.abstractmethod
    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[DomainEvent]:
        """Verify the signature (raise WebhookVerificationError) and translate into domain events."""


# Gateways that move real money; non-production settings never reach them.
REAL_GATEWAYS = frozenset({"stripe", "paypal"})


@cache
def _load(name: str) -> type[PaymentGateway]:
    try:
        path = settings.PAYMENT_GATEWAY_CLASSES[name]
    except KeyError as exc:
        raise ImproperlyConfigured(f"Unknown payment gateway {name!r}") from exc
    return import_string(path)


def get_gateway(name: str) -> PaymentGateway:
    """The configured gateway `name`. Refuses gateways not enabled in settings.PAYMENT_GATEWAYS."""
    if name not in settings.PAYMENT_GATEWAYS:
        raise ImproperlyConfigured(f"Payment gateway {name!r} is not enabled (settings.PAYMENT_GATEWAYS).")
    if name in REAL_GATEWAYS and not settings.ALLOW_REAL_EXTERNAL_CALLS:
        raise ImproperlyConfigured(
            f"Refusing to use the real gateway {name!r} outside production (set ALLOW_REAL_EXTERNAL_CALLS=1)."
        )
    return _load(name)()


def enabled_gateways() -> list[str]:
    return list(settings.PAYMENT_GATEWAYS)
