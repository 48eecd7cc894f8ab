"""Bank transfers and other money staff record by hand.

Nothing is charged or verified here: staff record a transfer against an invoice with
`core.billing.services.payments.record_manual_payment` (amount, date, bank reference; partial
payments allowed). The gateway exists so "manual" is a normal, enabled gateway everywhere else.
"""

from __future__ import annotations

from decimal import Decimal

from core.billing.gateways import (
    ChargeResult,
    ChargeStatus,
    DomainEvent,
    GatewayCustomerRef,
    GatewayError,
    PaymentGateway,
    RefundResult,
    SavedMethod,
    SetupSession,
    WebhookVerificationError,
)


class ManualGateway(PaymentGateway):
    name = "manual"
    supports_off_session = False
    supports_saved_methods = False

    def ensure_customer(self, customer) -> GatewayCustomerRef:
        return GatewayCustomerRef(self.name, str(customer.pk))

    def begin_save_method(self, customer, *, return_url: str = "") -> SetupSession:
        raise GatewayError("Bank transfers have no saved method; pay the invoice by transfer with its number.")

    def complete_save_method(self, customer, reference: str) -> SavedMethod:
        raise GatewayError("Bank transfers have no saved method.")

    def list_methods(self, customer) -> list[SavedMethod]:
        return []

    def remove_method(self, customer, method_id: str) -> None:
        return None

    def set_default_method(self, customer, method_id: str) -> None:
        raise GatewayError("Bank transfers cannot be a default method for automatic charges.")

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
        # Not a decline: the customer has to send the money; dunning emails ask them to.
        return ChargeResult(
            ChargeStatus.FAILED, amount=amount, currency=invoice.currency_id, failure_code="manual_payment",
            failure_message="Pay this invoice by bank transfer quoting the invoice number, or pay by card.",
        )  # fmt: skip

    def refund(self, payment, *, amount: Decimal, reason: str = "") -> RefundResult:
        # Staff send the money back from the bank; this only names the record.
        refund_id = f"manual-refund-{payment.pk}-{payment.refunds.count() + 1}"
        return RefundResult(ChargeStatus.SUCCEEDED, refund_id, amount, payment.currency_id, raw={"reason": reason})

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[DomainEvent]:
        raise WebhookVerificationError("Bank transfers have no webhooks.")
