"""The customer's credit ledger: movements in their billing currency; balance = sum, never negative.

Every movement locks the customer row first, so two callers cannot both spend the same credit.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from core import money
from core.accounts.models import Customer
from core.audit.services import record
from core.billing.errors import BillingError, InsufficientCredit, InvalidTransition
from core.billing.models import CreditEntry, Invoice

ZERO = Decimal("0")


def credit_balance(customer) -> Decimal:
    """The customer's credit in their billing currency."""
    total = CreditEntry.objects.filter(customer=customer, currency_id=customer.currency_id).aggregate(s=Sum("amount"))
    return total["s"] or ZERO


def _lock_customer(customer) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer.pk)


def add_credit(
    customer,
    amount: Decimal,
    *,
    reason: str,
    description: str = "",
    actor=None,
    invoice: Invoice | None = None,
    payment=None,
) -> CreditEntry:
    """Add (positive) credit to the customer's ledger in their billing currency."""
    amount = money.quantize(amount, customer.currency_id)
    if amount <= 0:
        raise BillingError("Credit to add must be more than zero.", field="amount")
    with transaction.atomic():
        _lock_customer(customer)
        entry = CreditEntry.objects.create(
            customer=customer, currency_id=customer.currency_id, amount=amount, reason=reason,
            description=description[:255], invoice=invoice, payment=payment, created_by=actor,
        )  # fmt: skip
        record("credit.add", customer, actor=actor, message=f"{customer.currency_id} {amount} ({reason})",
               data={"amount": str(amount), "reason": reason, "invoice": getattr(invoice, "pk", None)})  # fmt: skip
    return entry


def remove_credit(customer, amount: Decimal, *, reason: str, description: str = "", actor=None) -> CreditEntry:
    """Take credit off the ledger (staff correction); refuses to make the balance negative."""
    amount = money.quantize(amount, customer.currency_id)
    if amount <= 0:
        raise BillingError("Credit to remove must be more than zero.", field="amount")
    with transaction.atomic():
        _lock_customer(customer)
        balance = credit_balance(customer)
        if amount > balance:
            raise InsufficientCredit(f"The customer has only {customer.currency_id} {balance} of credit.")
        entry = CreditEntry.objects.create(
            customer=customer, currency_id=customer.currency_id, amount=-amount, reason=reason,
            description=description[:255], created_by=actor,
        )  # fmt: skip
        record("credit.remove", customer, actor=actor, data={"amount": str(amount), "reason": reason})
    return entry


def apply_credit(invoice: Invoice, *, amount: Decimal | None = None, actor=None) -> Decimal:
    """Use the customer's credit to pay (part of) an issued invoice. Returns the amount applied.

    Invariants: never more than the balance, never more than the invoice's amount due, only in
    the invoice's currency when it is the customer's billing currency.
    """
    from core.billing.services.invoices import settle_invoice_if_covered

    with transaction.atomic():
        customer = _lock_customer(invoice.customer)
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.ISSUED:
            raise InvalidTransition(f"Credit can only be applied to an issued, unpaid invoice ({invoice}).")
        if invoice.currency_id != customer.currency_id:
            raise BillingError(
                f"Credit is held in {customer.currency_id}; invoice {invoice} is in {invoice.currency_id}."
            )
        balance = credit_balance(customer)
        due = invoice.amount_due
        if amount is None:
            use = min(balance, due)
        else:
            use = money.quantize(amount, invoice.currency_id)
            if use <= 0:
                raise BillingError("The amount of credit to apply must be more than zero.", field="amount")
            if use > balance:
                raise InsufficientCredit(f"The customer has only {customer.currency_id} {balance} of credit.")
            if use > due:
                raise BillingError(
                    f"Invoice {invoice} has only {invoice.currency_id} {due} left to pay.", field="amount"
                )
        if use <= 0:
            return ZERO
        CreditEntry.objects.create(
            customer=customer, currency_id=customer.currency_id, amount=-use, reason=CreditEntry.Reason.APPLIED,
            description=f"Applied to invoice {invoice.number}", invoice=invoice, created_by=actor,
        )  # fmt: skip
        invoice.credit_applied += use
        invoice.save(update_fields=["credit_applied", "updated_at"])
        record("invoice.apply_credit", invoice, actor=actor, data={"amount": str(use)})
        settle_invoice_if_covered(invoice, actor=actor)
    return use
