"""Stripe as a PaymentGateway: Customers, SetupIntents, off-session PaymentIntents, Refunds, webhooks.

Our invoices are the record (services.md 1.2, design A); Stripe only moves the money. Amounts
become minor units here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, Decimal

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
)
from core.billing.services import methods
from core.billing.services.invoices import portal_pay_url

from .client import StripeApi, StripeApiError, StripeCardError, StripeConfigError, StripeUnavailable

# Stripe wants lowercase ISO codes; three-decimal currencies must end in 0 (services.md 1.7).
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def stripe_amount(amount: Decimal, currency: str) -> int:
    """Our Decimal -> Stripe's integer minor units.

    For three-decimal currencies Stripe rejects a last digit other than 0; we round *up* to the
    next ten so the invoice is always covered, and the fraction paid over becomes credit.
    """
    units = money.to_minor_units(amount, currency)
    if currency.upper() in THREE_DECIMAL and units % 10:
        units = int((Decimal(units) / 10).to_integral_value(rounding=ROUND_CEILING) * 10)
    return units


def our_amount(units: int | None, currency: str) -> Decimal | None:
    return None if units is None else money.from_minor_units(units, currency.upper())


def idempotency_key(invoice, attempt: int) -> str:
    return f"inv-{invoice.uuid}-{attempt}"


class StripeGateway(PaymentGateway):
    name = "stripe"
    supports_off_session = True
    supports_saved_methods = True

    def __init__(self, api: StripeApi | None = None):
        self.api = api or StripeApi.from_settings()

    # --- Customers ----------------------------------------------------------------
    def ensure_customer(self, customer) -> GatewayCustomerRef:
        existing = methods.gateway_customer_id(customer, self.name)
        if existing:
            return GatewayCustomerRef(self.name, existing)
        # The idempotency key makes two racing first payments create one Stripe customer.
        remote = self._guard(
            self.api.create_customer,
            email=customer.email,
            name=customer.display_name,
            metadata={"customer_id": str(customer.pk)},
            idempotency_key=f"customer-{customer.pk}",
        )
        row = methods.remember_gateway_customer(customer, self.name, remote["id"])
        return GatewayCustomerRef(self.name, row.gateway_customer_id)

    # --- Saved methods ---------------------------------------------------------------
    def begin_save_method(self, customer, *, return_url: str = "") -> SetupSession:
        ref = self.ensure_customer(customer)
        intent = self._guard(
            self.api.create_setup_intent, customer_id=ref.customer_id, metadata={"customer_id": str(customer.pk)}
        )
        return SetupSession(
            gateway=self.name, client_secret=intent["client_secret"], redirect_url=return_url, reference=intent["id"]
        )

    def complete_save_method(self, customer, reference: str) -> SavedMethod:
        ref = self.ensure_customer(customer)
        intent = self._guard(self.api.retrieve_setup_intent, reference)
        # The reference comes back through the browser: never trust it to belong to this customer.
        if intent.get("customer") != ref.customer_id:
            raise GatewayError("This card setup belongs to another account.")
        if intent.get("status") != "succeeded":
            raise GatewayError(
                f"The card was not saved (Stripe status {intent.get('status')}). Try again or use another card."
            )
        pm = intent.get("payment_method")
        if isinstance(pm, str):
            pm = {"id": pm}
        return self._saved_method(pm or {}, default_id="")

    def list_methods(self, customer) -> list[SavedMethod]:
        ref = self.ensure_customer(customer)
        remote_customer = self._guard(self.api.retrieve_customer, ref.customer_id)
        default_id = (remote_customer.get("invoice_settings") or {}).get("default_payment_method") or ""
        if isinstance(default_id, dict):
            default_id = default_id.get("id", "")
        return [
            self._saved_method(pm, default_id) for pm in self._guard(self.api.list_payment_methods, ref.customer_id)
        ]

    def remove_method(self, customer, method_id: str) -> None:
        try:
            self.api.detach_payment_method(method_id)
        except StripeApiError as exc:
            # Already detached (e.g. in the dashboard): the goal is reached.
            if exc.code not in {"resource_missing", "payment_method_unexpected_state"}:
                raise GatewayError(str(exc)) from exc

    def set_default_method(self, customer, method_id: str) -> None:
        ref = self.ensure_customer(customer)
        self._guard(self.api.set_default_payment_method, ref.customer_id, method_id)

    def _saved_method(self, pm: dict, default_id: str) -> SavedMethod:
        card = pm.get("card") or {}
        kind = pm.get("type") or "card"
        brand = card.get("brand") or card.get("display_brand") or ""
        label = f"{brand.title()} ending {card.get('last4')}" if card.get("last4") else kind
        return SavedMethod(
            gateway=self.name, method_id=pm.get("id", ""), kind=kind, brand=brand, last4=card.get("last4") or "",
            exp_month=card.get("exp_month"), exp_year=card.get("exp_year"), label=label,
            is_default=bool(default_id) and pm.get("id") == default_id, fingerprint=card.get("fingerprint") or "",
        )  # fmt: skip

    # --- Charging ---------------------------------------------------------------------
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
        """Charge through a PaymentIntent keyed ``inv-<uuid>-<attempt>``.

        Off-session with a saved method: confirmed at once. On-session without a method: an
        unconfirmed PaymentIntent whose client_secret the portal's Payment Element confirms.
        """
        currency = invoice.currency_id
        units = stripe_amount(amount, currency)
        customer_ref = self.ensure_customer(invoice.customer)
        if attempt > 1:
            # A previous attempt may have charged although we never heard back (timeout):
            # look before making a new PaymentIntent with a new key.
            earlier = self._settled_intent_for(invoice)
            if earlier is not None:
                return self._result_from_intent(earlier, invoice)
        params = {
            "amount": units,
            "currency": currency.lower(),
            "customer": customer_ref.customer_id,
            "description": f"Invoice {invoice.number}",
            "metadata": {
                "invoice_uuid": str(invoice.uuid), "invoice_number": invoice.number or "",
                "customer_id": str(invoice.customer_id), "attempt": str(attempt),
            },
        }  # fmt: skip
        if method_id and off_session:
            params.update(payment_method=method_id, confirm=True, off_session=True)
        elif method_id:
            params.update(
                payment_method=method_id, confirm=True, return_url=portal_pay_url(invoice) + "confirm/",
                payment_method_types=["card"],
            )  # fmt: skip
        else:
            params.update(automatic_payment_methods={"enabled": True})
            if save_method:  # Stripe attaches the card to the customer only once the payment succeeded
                params.update(setup_future_usage="off_session")
        try:
            intent = self.api.create_payment_intent(params, idempotency_key=idempotency_key(invoice, attempt))
        except StripeCardError as exc:
            return self._result_from_card_error(exc, invoice, units)
        except StripeUnavailable as exc:
            return ChargeResult(
                ChargeStatus.UNKNOWN, amount=amount, currency=currency, failure_code="gateway_unavailable",
                failure_message=str(exc), raw={"idempotency_key": idempotency_key(invoice, attempt)},
            )  # fmt: skip
        except StripeConfigError as exc:
            raise GatewayError(str(exc)) from exc
        except StripeApiError as exc:
            return ChargeResult(
                ChargeStatus.FAILED, amount=amount, currency=currency, failure_code=exc.code or "invalid_request",
                failure_message=str(exc),
            )  # fmt: skip
        if not method_id:
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION, transaction_id=intent["id"], amount=our_amount(units, currency),
                currency=currency, client_secret=intent.get("client_secret") or "", action_url=portal_pay_url(invoice),
                raw=intent,
            )  # fmt: skip
        return self._result_from_intent(intent, invoice)

    def confirm_payment(self, invoice, reference: str) -> ChargeResult:
        """Where a PaymentIntent confirmed on-session (3-D Secure, Payment Element) ended up."""
        intent = self._guard(self.api.retrieve_payment_intent, reference)
        if (intent.get("metadata") or {}).get("invoice_uuid") != str(invoice.uuid):
            raise GatewayError("This payment does not belong to this invoice.")
        return self._result_from_intent(intent, invoice)

    def find_pending_action(self, invoice) -> ChargeResult | None:
        """The PaymentIntent an off-session charge left waiting for authentication, to confirm on-session."""
        try:
            found = self.api.find_payment_intents_for_invoice(str(invoice.uuid))
        except StripeApiError:
            return None
        for intent in found:
            error = intent.get("last_payment_error") or {}
            waiting = intent.get("status") in {"requires_action", "requires_confirmation"} or (
                intent.get("status") == "requires_payment_method" and error.get("code") == "authentication_required"
            )
            if waiting:
                method = _id(error.get("payment_method")) or _id(intent.get("payment_method"))
                return ChargeResult(
                    ChargeStatus.REQUIRES_ACTION, transaction_id=intent["id"], currency=invoice.currency_id,
                    amount=our_amount(intent.get("amount"), invoice.currency_id),
                    client_secret=intent.get("client_secret") or "", action_url=portal_pay_url(invoice),
                    raw={"payment_method": method},
                )  # fmt: skip
        return None

    def _settled_intent_for(self, invoice) -> dict | None:
        try:
            found = self.api.find_payment_intents_for_invoice(str(invoice.uuid))
        except StripeApiError:
            return None
        for intent in found:
            if intent.get("status") in {"succeeded", "processing"}:
                return intent
        return None

    def _result_from_intent(self, intent: dict, invoice) -> ChargeResult:
        currency = (intent.get("currency") or invoice.currency_id).upper()
        status = intent.get("status")
        common = {"transaction_id": intent["id"], "currency": currency, "raw": intent}
        if status == "succeeded":
            received = intent.get("amount_received") or intent.get("amount")
            return ChargeResult(ChargeStatus.SUCCEEDED, amount=our_amount(received, currency), **common)
        if status == "processing":
            return ChargeResult(ChargeStatus.PROCESSING, amount=our_amount(intent.get("amount"), currency), **common)
        if status in {"requires_action", "requires_confirmation"}:
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION, amount=our_amount(intent.get("amount"), currency),
                client_secret=intent.get("client_secret") or "", action_url=portal_pay_url(invoice), **common,
            )  # fmt: skip
        error = intent.get("last_payment_error") or {}
        # The failure is keyed by its charge so the PaymentIntent id stays free for a later success.
        common["transaction_id"] = error.get("charge") or intent.get("latest_charge") or f"{intent['id']}:declined"
        return ChargeResult(
            ChargeStatus.FAILED, amount=our_amount(intent.get("amount"), currency),
            failure_code=error.get("decline_code") or error.get("code") or status or "failed",
            failure_message=error.get("message") or f"Payment {status}.",
            client_secret=intent.get("client_secret") or "", action_url=portal_pay_url(invoice), **common,
        )  # fmt: skip

    def _result_from_card_error(self, exc: StripeCardError, invoice, units: int) -> ChargeResult:
        intent = exc.payment_intent or {}
        currency = invoice.currency_id
        if exc.needs_authentication and intent.get("id"):
            return ChargeResult(
                ChargeStatus.REQUIRES_ACTION, transaction_id=intent["id"], amount=our_amount(units, currency),
                currency=currency, failure_code="authentication_required", failure_message=str(exc),
                client_secret=intent.get("client_secret") or "", action_url=portal_pay_url(invoice), raw=intent,
            )  # fmt: skip
        # A decline is one failed attempt; the PaymentIntent may still succeed later (new card,
        # on-session retry), so the failure is keyed by the charge, never the PaymentIntent id.
        failure_id = exc.charge_id or (f"{intent['id']}:declined" if intent.get("id") else "")
        return ChargeResult(
            ChargeStatus.FAILED, transaction_id=failure_id, amount=our_amount(units, currency), currency=currency,
            failure_code=exc.decline_code or exc.code or "card_declined", failure_message=str(exc),
            action_url=portal_pay_url(invoice), raw={"payment_intent": intent, "code": exc.code},
        )  # fmt: skip

    # --- Refunds ---------------------------------------------------------------------------
    def refund(self, payment, *, amount: Decimal, reason: str = "") -> RefundResult:
        currency = payment.currency_id
        units = stripe_amount(amount, currency)
        previous = payment.refunds.count()
        refund = self._guard(
            self.api.create_refund,
            payment_intent_id=payment.gateway_transaction_id,
            amount_minor=units,
            metadata={"payment_uuid": str(payment.uuid), "reason": reason[:400]},
            # Two partial refunds of the same amount are legitimate; a double click is not.
            idempotency_key=f"refund-{payment.uuid}-{previous}-{units}",
            reason="requested_by_customer",
        )
        status = {"succeeded": ChargeStatus.SUCCEEDED, "pending": ChargeStatus.PROCESSING}.get(
            refund.get("status"), ChargeStatus.FAILED
        )
        return RefundResult(status, refund["id"], our_amount(refund.get("amount"), currency), currency, raw=refund)

    # --- Webhooks -----------------------------------------------------------------------------
    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[DomainEvent]:
        signature = _header(headers, "Stripe-Signature")
        event = self.api.construct_event(body, signature)
        return self.translate_event(event)

    def translate_event(self, event: dict) -> list[DomainEvent]:
        kind = event.get("type", "")
        obj = (event.get("data") or {}).get("object") or {}
        base = {
            "event_id": event["id"], "event_type": kind, "payload": event,
            "occurred_at": _iso(event.get("created")),
        }  # fmt: skip
        if kind == "payment_intent.succeeded":
            return [self._payment_event(obj, obj["id"], obj.get("amount_received") or obj.get("amount"), base)]
        if kind == "charge.succeeded":
            # The same payment as payment_intent.succeeded: keyed by the PaymentIntent so it is recorded once.
            return [self._payment_event(obj, obj.get("payment_intent") or obj["id"], obj.get("amount_captured") or obj.get("amount"), base)]  # fmt: skip
        if kind == "payment_intent.payment_failed":
            error = obj.get("last_payment_error") or {}
            return [
                DomainEvent(
                    DomainEventKind.PAYMENT_FAILED, transaction_id=obj["id"],
                    invoice_uuid=(obj.get("metadata") or {}).get("invoice_uuid", ""),
                    amount=our_amount(obj.get("amount"), obj.get("currency", "usd")),
                    currency=obj.get("currency", "").upper(), customer_ref=obj.get("customer") or "",
                    original_transaction_id=error.get("charge") or "", status=obj.get("status", ""),
                    failure_code=error.get("decline_code") or error.get("code") or "payment_failed",
                    failure_message=error.get("message") or "The payment failed.", **base,
                )
            ]  # fmt: skip
        if kind == "payment_intent.requires_action":
            return [
                DomainEvent(
                    DomainEventKind.PAYMENT_REQUIRES_ACTION, transaction_id=obj["id"],
                    invoice_uuid=(obj.get("metadata") or {}).get("invoice_uuid", ""),
                    currency=obj.get("currency", "").upper(), **base,
                )
            ]  # fmt: skip
        if kind == "charge.refunded":
            # A refunded charge had succeeded: say so first, so a refund arriving before the
            # payment_intent.succeeded event still finds its payment.
            events = [self._payment_event(obj, obj.get("payment_intent") or obj["id"], obj.get("amount_captured") or obj.get("amount"), base)]  # fmt: skip
            refunds = (obj.get("refunds") or {}).get("data")
            if refunds is None:
                # Charge.refunds is not included by default since API 2022-11-15: ask for them.
                refunds = self._guard(self.api.list_refunds, payment_intent_id=obj.get("payment_intent") or "")
            events += [self._refund_event(r, base, obj) for r in refunds if r.get("status") == "succeeded"]
            return events
        if kind in {"refund.created", "refund.updated", "charge.refund.updated", "refund.failed"}:
            status = obj.get("status")
            if status in {"failed", "canceled"}:
                # Booked when Stripe accepted it, failed later (e.g. the card was closed): undo our booking.
                return [self._refund_event(obj, base, None, status=status)]
            if status != "succeeded":
                return [DomainEvent(DomainEventKind.IGNORED, **base)]
            return [self._refund_event(obj, base, None)]
        if kind in {"charge.dispute.created", "charge.dispute.closed", "charge.dispute.funds_withdrawn"}:
            opened = kind != "charge.dispute.closed"
            return [
                DomainEvent(
                    DomainEventKind.DISPUTE_OPENED if opened else DomainEventKind.DISPUTE_CLOSED,
                    transaction_id=obj["id"], original_transaction_id=obj.get("payment_intent") or obj.get("charge") or "",
                    amount=our_amount(obj.get("amount"), obj.get("currency", "usd")),
                    currency=obj.get("currency", "").upper(), status=obj.get("status", ""),
                    failure_code=obj.get("reason", ""), failure_message=f"Dispute {obj.get('reason', '')}".strip(),
                    **base,
                )
            ]  # fmt: skip
        if kind == "setup_intent.succeeded":
            return [
                DomainEvent(
                    DomainEventKind.METHOD_SAVED, transaction_id=obj["id"], customer_ref=obj.get("customer") or "",
                    method_ref=_id(obj.get("payment_method")), **base,
                )
            ]  # fmt: skip
        if kind == "payment_method.detached":
            return [DomainEvent(DomainEventKind.METHOD_REMOVED, transaction_id=obj["id"], method_ref=obj["id"], **base)]
        return [DomainEvent(DomainEventKind.IGNORED, **base)]

    def _payment_event(self, obj: dict, transaction_id: str, units, base: dict) -> DomainEvent:
        currency = obj.get("currency", "usd")
        return DomainEvent(
            DomainEventKind.PAYMENT_SUCCEEDED, transaction_id=transaction_id,
            invoice_uuid=(obj.get("metadata") or {}).get("invoice_uuid", ""), amount=our_amount(units, currency),
            currency=currency.upper(), customer_ref=obj.get("customer") or "", method_ref=_id(obj.get("payment_method")),
            status="succeeded", **base,
        )  # fmt: skip

    def _refund_event(self, refund: dict, base: dict, charge: dict | None, *, status: str = "succeeded") -> DomainEvent:
        currency = refund.get("currency", "usd")
        original = refund.get("payment_intent") or (charge or {}).get("payment_intent") or refund.get("charge") or ""
        if status == "succeeded":
            message = (refund.get("metadata") or {}).get("reason") or refund.get("reason") or ""
        else:
            message = f"Stripe refund {status}: {refund.get('failure_reason') or 'unknown reason'}"
        return DomainEvent(
            DomainEventKind.REFUNDED, transaction_id=refund["id"], original_transaction_id=original,
            invoice_uuid=((charge or {}).get("metadata") or {}).get("invoice_uuid", ""),
            amount=our_amount(refund.get("amount"), currency), currency=currency.upper(), status=status,
            failure_code=refund.get("failure_reason") or "", failure_message=message, **base,
        )  # fmt: skip

    # --- Reconciliation -------------------------------------------------------------------------
    def iter_transactions(self, since: dt.datetime, until: dt.datetime | None = None):
        """(transaction id, status, amount, currency, invoice uuid) of every PaymentIntent in the window."""
        for intent in self.api.iter_payment_intents(
            created_gte=int(since.timestamp()), created_lt=int(until.timestamp()) if until else None
        ):
            currency = (intent.get("currency") or "usd").upper()
            status = intent.get("status")
            units = intent.get("amount_received") if status == "succeeded" else intent.get("amount")
            yield {
                "transaction_id": intent["id"],
                "status": "succeeded" if status == "succeeded" else ("pending" if status == "processing" else "other"),
                "amount": our_amount(units, currency),
                "currency": currency,
                "invoice_uuid": (intent.get("metadata") or {}).get("invoice_uuid", ""),
            }

    @staticmethod
    def _guard(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StripeApiError as exc:
            raise GatewayError(str(exc)) from exc


def _header(headers, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def _id(value) -> str:
    if isinstance(value, dict):
        return value.get("id", "")
    return value or ""


def _iso(timestamp) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC).isoformat()
