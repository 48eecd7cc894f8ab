"""The life of an invoice: draft -> issued -> paid, issued -> void; credit notes.

Issuing freezes the invoice: it takes the next number of its series (row-locked sequence),
copies the customer's billing details, the seller's details, the lines with their tax and the
totals onto the row, and stores the snapshot hash that `check_invoices` verifies later.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core import clock, money
from core.audit.services import record
from core.billing.errors import BillingError, InvalidTransition
from core.billing.models import Invoice, InvoiceLine
from core.billing.services import amounts, numbering
from core.billing.services.tax import TaxableLine, TaxCalculator, customer_tax_details, get_tax_calculator

log = logging.getLogger(__name__)
ZERO = Decimal("0")

LINE_FIELDS = (
    "description", "quantity", "unit_amount", "amount", "kind", "product", "subscription", "service",
    "period_start", "period_end",
)  # fmt: skip


def build_line(currency: str, spec: dict, position: int) -> InvoiceLine:
    """An unsaved InvoiceLine from a dict (description, unit_amount, quantity=1, kind=item, ...)."""
    unknown = set(spec) - set(LINE_FIELDS) - {"product_id", "subscription_id", "service_id", "invoice"}
    if unknown:
        raise BillingError(f"Unknown invoice line fields: {', '.join(sorted(unknown))}.")
    if not spec.get("description"):
        raise BillingError("Every invoice line needs a description.", field="lines")
    quantity = money.to_decimal(spec.get("quantity", 1))
    if quantity <= 0:
        raise BillingError("Line quantities must be more than zero (use a negative unit amount for discounts).")
    unit = money.to_decimal(spec.get("unit_amount", spec.get("amount", ZERO)))
    amount = (
        amounts.quantize(spec["amount"], currency) if "amount" in spec else amounts.quantize(quantity * unit, currency)
    )
    values = {k: v for k, v in spec.items() if k in LINE_FIELDS or k.endswith("_id")}
    values.update(quantity=quantity, unit_amount=unit, amount=amount, position=position)
    values.setdefault("kind", InvoiceLine.Kind.DISCOUNT if amount < 0 else InvoiceLine.Kind.ITEM)
    return InvoiceLine(**values)


@dataclass
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    tax_breakdown: list = field(default_factory=list)
    reverse_charge: bool = False
    tax_note: str = ""


def price_lines(lines: list[InvoiceLine], details: dict, currency: str, calculator: TaxCalculator) -> Totals:
    """Set tax on each line (in memory) and return the invoice totals.

    Discount lines are negative and reduce the taxable base; total = sum(lines) + sum(line tax).
    """
    result = calculator.calculate(details, [TaxableLine(ln.amount) for ln in lines], currency)
    for line, tax in zip(lines, result.lines, strict=True):
        line.tax_rate, line.tax_name, line.tax_amount = tax.rate, tax.name, tax.amount
    positive = sum((ln.amount for ln in lines if ln.amount > 0), ZERO)
    negative = sum((ln.amount for ln in lines if ln.amount < 0), ZERO)
    tax_total = sum((ln.tax_amount for ln in lines), ZERO)
    return Totals(
        subtotal=positive, discount_total=-negative, tax_total=tax_total, total=positive + negative + tax_total,
        tax_breakdown=result.breakdown, reverse_charge=result.reverse_charge, tax_note=result.note,
    )  # fmt: skip


def seller_details() -> dict:
    company = settings.COMPANY
    keys = ("name", "address", "country", "vat_id", "email", "website")
    return {k: company.get(k, "") for k in keys}


def default_due_date(issue_date: dt.date) -> dt.date:
    return issue_date + dt.timedelta(days=settings.BILLING["PAYMENT_TERMS_DAYS"])


def create_draft_invoice(
    customer,
    *,
    lines: list[dict],
    purpose: str = Invoice.Purpose.MANUAL,
    notes: str = "",
    subscription=None,
    currency: str | None = None,
) -> Invoice:
    """A draft in the customer's billing currency with the given lines. Drafts have no number and may change."""
    currency = currency or customer.currency_id
    with transaction.atomic():
        invoice = Invoice.objects.create(
            customer=customer, currency_id=currency, purpose=purpose, notes=notes, subscription=subscription
        )
        built = [build_line(currency, spec, pos) for pos, spec in enumerate(lines)]
        for line in built:
            line.invoice = invoice
        InvoiceLine.objects.bulk_create(built)
    return invoice


def add_invoice_line(invoice: Invoice, **spec) -> InvoiceLine:
    """Append a line to a draft (issued invoices refuse: InvoiceLine.save guards it)."""
    position = (invoice.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    line = build_line(invoice.currency_id, spec, position)
    line.invoice = invoice
    line.save()
    return line


def freeze_invoice(
    invoice: Invoice,
    lines: list[InvoiceLine],
    *,
    number: str,
    series: str,
    issue_date: dt.date,
    due_date: dt.date,
    details: dict,
    calculator: TaxCalculator,
) -> Invoice:
    """Fill the snapshot of `invoice` in memory (tax, totals, details, number, hash). Saves nothing.

    Shared by `issue_invoice` and the bulk renewal step so both freeze invoices the same way.
    """
    totals = price_lines(lines, details, invoice.currency_id, calculator)
    invoice.number = number
    invoice.series = series
    invoice.issue_date = issue_date
    invoice.due_date = due_date
    invoice.issued_at = clock.now()
    invoice.billing_details = {k: v for k, v in details.items() if k != "is_tax_exempt"}
    invoice.seller_details = seller_details()
    for name in ("subtotal", "discount_total", "tax_total", "total", "tax_breakdown", "reverse_charge", "tax_note"):
        setattr(invoice, name, getattr(totals, name))
    invoice.status = Invoice.Status.ISSUED
    invoice.snapshot_hash = invoice.compute_snapshot_hash(lines)
    return invoice


def issue_invoice(
    invoice: Invoice, *, actor=None, due_date: dt.date | None = None, email: bool = True, calculator=None
) -> Invoice:
    """Issue a draft: number it, freeze its snapshot, apply credit if the customer wants, email it.

    Invariant: a number is taken only by a transaction that also freezes the invoice, so the
    series stays gapless; an invoice is issued at most once (the row is locked and must be a draft).
    """
    calculator = calculator or get_tax_calculator()
    with transaction.atomic():
        # Lock the invoice row only: MariaDB has no FOR UPDATE OF, so a joined select_related would
        # also lock the customer and user rows (taken later, in the credit ledger's own order).
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.DRAFT:
            raise InvalidTransition(f"Invoice {invoice} is already {invoice.get_status_display().lower()}.")
        lines = list(invoice.lines.order_by("position", "id"))
        if not lines:
            raise BillingError("Add at least one line before issuing the invoice.", field="lines")
        for line in lines:  # drafts edited in the admin carry quantity x unit; the amount follows from them
            line.amount = money.quantize(line.quantity * line.unit_amount, invoice.currency_id)
        today = clock.today()
        details = customer_tax_details(invoice.customer)
        series = numbering.INVOICE
        freeze_invoice(
            invoice, lines, number=numbering.take_number(series, today), series=series, issue_date=today,
            due_date=due_date or default_due_date(today), details=details, calculator=calculator,
        )  # fmt: skip
        if invoice.total < 0:
            raise BillingError("An invoice total cannot be negative; issue a credit note instead.")
        InvoiceLine.objects.bulk_update(lines, ["amount", "tax_rate", "tax_name", "tax_amount"])
        invoice.save()
        record(
            "invoice.issue", invoice, actor=actor, data={"total": str(invoice.total), "currency": invoice.currency_id}
        )
        if invoice.customer.auto_apply_credit and invoice.total > 0:
            from core.billing.services.credit import apply_credit, credit_balance

            if invoice.currency_id == invoice.customer.currency_id and credit_balance(invoice.customer) > 0:
                apply_credit(invoice, actor=actor)
                invoice.refresh_from_db()
        settle_invoice_if_covered(invoice, actor=actor)
        if email:
            queue_invoice_email(invoice)
    invoice.refresh_from_db()
    return invoice


def settle_invoice_if_covered(invoice: Invoice, *, actor=None) -> bool:
    """Mark an issued invoice paid once payments and credit cover its total; queue what payment triggers.

    Call with the invoice row locked. Returns True when this call marked it paid.
    """
    if invoice.status != Invoice.Status.ISSUED or invoice.kind != Invoice.Kind.INVOICE or invoice.amount_due > 0:
        return False
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = clock.now()
    invoice.next_charge_attempt_at = None
    invoice.save(update_fields=["status", "paid_at", "next_charge_attempt_at", "updated_at"])
    record("invoice.paid", invoice, actor=actor, data={"total": str(invoice.total)})
    invoice_id = invoice.pk
    transaction.on_commit(lambda: after_invoice_paid(invoice_id))
    return True


def after_invoice_paid(invoice_id: int) -> None:
    """What follows a paid invoice, after the payment committed: fulfil its order, lift suspensions."""
    from core.billing.services import orders, subscriptions, suspension

    invoice = Invoice.objects.get(pk=invoice_id)
    for order in invoice.orders.all():
        try:
            orders.fulfil_order(order)
        except Exception:
            log.exception("Fulfilling order %s after invoice %s was paid failed", order.pk, invoice)
            raise
    if invoice.subscription_id:
        subscriptions.mark_subscription_current(invoice.subscription)
    suspension.unsuspend_after_payment(invoice)


def void_invoice(invoice: Invoice, *, reason: str, actor=None) -> Invoice:
    """Void an issued, unpaid invoice. Its number stays used (gapless series); money already received becomes credit."""
    if not reason:
        raise BillingError("Say why the invoice is voided.", field="reason")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.ISSUED:
            raise InvalidTransition(
                f"Only issued, unpaid invoices can be voided; {invoice} is {invoice.get_status_display().lower()}. "
                "Refund or issue a credit note instead."
            )
        received = invoice.amount_paid + invoice.credit_applied
        invoice.status = Invoice.Status.VOID
        invoice.voided_at = clock.now()
        invoice.void_reason = reason[:255]
        invoice.next_charge_attempt_at = None
        invoice.save(update_fields=["status", "voided_at", "void_reason", "next_charge_attempt_at", "updated_at"])
        record("invoice.void", invoice, actor=actor, message=reason)
        if received > 0:
            from core.billing.models import CreditEntry
            from core.billing.services.credit import add_credit

            add_credit(
                invoice.customer, received, reason=CreditEntry.Reason.REFUND, actor=actor, invoice=invoice,
                description=f"Received on voided invoice {invoice.number}",
            )  # fmt: skip
    return invoice


def create_credit_note(
    invoice: Invoice,
    *,
    amount: Decimal | None = None,
    lines: list[dict] | None = None,
    reason: str,
    actor=None,
    credit_customer: bool = False,
) -> Invoice:
    """Issue a credit note (negative invoice) against an issued or paid invoice.

    Without `amount` or `lines` it reverses the whole invoice line by line. `amount` is gross
    (tax included) and is split with the original's tax rate. Credit notes have their own series,
    are settled at issue (nothing to pay), and never exceed what the original invoiced minus
    earlier credit notes. `credit_customer` also puts the amount on the customer's credit ledger.
    """
    if not reason:
        raise BillingError("Say why the credit note is issued.", field="reason")
    with transaction.atomic():
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)  # invoice row only (see issue_invoice)
        if original.kind != Invoice.Kind.INVOICE or original.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
            raise InvalidTransition(f"Credit notes can only be issued against issued or paid invoices, not {original}.")
        currency = original.currency_id
        if lines:
            specs = [{**spec, "amount": -abs(money.quantize(spec["amount"], currency))} for spec in lines]
        elif amount is not None:
            gross = money.quantize(amount, currency)
            if gross <= 0:
                raise BillingError("A credit note amount must be more than zero.", field="amount")
            rates = {ln.tax_rate for ln in original.lines.all() if ln.amount > 0}
            rate = rates.pop() if len(rates) == 1 else ZERO
            net = money.quantize(gross * 100 / (100 + rate), currency)
            specs = [{"description": f"Credit for invoice {original.number}: {reason}"[:255], "amount": -net,
                      "unit_amount": -net, "kind": InvoiceLine.Kind.CREDIT}]  # fmt: skip
        else:
            specs = [
                {"description": ln.description, "quantity": ln.quantity, "unit_amount": -ln.unit_amount,
                 "amount": -ln.amount, "kind": ln.kind, "product_id": ln.product_id,
                 "subscription_id": ln.subscription_id, "service_id": ln.service_id}
                for ln in original.lines.order_by("position", "id")
            ]  # fmt: skip
        built = [build_line(currency, spec, pos) for pos, spec in enumerate(specs)]
        note = Invoice(
            customer=original.customer, currency_id=currency, kind=Invoice.Kind.CREDIT_NOTE,
            purpose=Invoice.Purpose.CREDIT_NOTE, original_invoice=original, subscription=original.subscription,
            notes=reason,
        )  # fmt: skip
        details = {**original.billing_details, "is_tax_exempt": False}
        calculator = _FixedRateCalculator(original)
        today = clock.today()
        freeze_invoice(
            note, built, number=numbering.take_number(numbering.CREDIT_NOTE, today), series=numbering.CREDIT_NOTE,
            issue_date=today, due_date=today, details=details, calculator=calculator,
        )  # fmt: skip
        already = -sum((cn.total for cn in original.credit_notes.exclude(status=Invoice.Status.VOID)), ZERO)
        if -note.total + already > original.total:
            raise BillingError(
                f"Credit notes would exceed invoice {original.number}'s total of {currency} {original.total} "
                f"({currency} {already} already credited).", field="amount",
            )  # fmt: skip
        note.status = Invoice.Status.PAID
        note.paid_at = clock.now()
        note.save()
        for line in built:
            line.invoice = note
        # The note's rows go in while it is settled already; lines of a frozen invoice are written once, here.
        InvoiceLine.objects.bulk_create(built)
        record("invoice.credit_note", note, actor=actor, message=reason,
               data={"original": original.number, "total": str(note.total)})  # fmt: skip
        if credit_customer:
            from core.billing.models import CreditEntry
            from core.billing.services.credit import add_credit

            add_credit(original.customer, -note.total, reason=CreditEntry.Reason.REFUND, actor=actor, invoice=note,
                       description=f"Credit note {note.number} for {original.number}")  # fmt: skip
    return note


class _FixedRateCalculator:
    """A credit note carries the tax treatment of its original invoice, whatever the rate table says today."""

    def __init__(self, original: Invoice):
        self.original = original

    def calculate(self, details, lines, currency):
        from core.billing.services.tax import HUNDRED, LineTax, TaxResult, build_breakdown

        orig_lines = [ln for ln in self.original.lines.all() if ln.amount > 0]
        rates = {(ln.tax_rate, ln.tax_name) for ln in orig_lines}
        rate, name = rates.pop() if len(rates) == 1 else (ZERO, "")
        taxes = [LineTax(rate, name, money.quantize(ln.amount * rate / HUNDRED, currency)) for ln in lines]
        breakdown = build_breakdown(lines, taxes) if rate else []
        return TaxResult(lines=taxes, reverse_charge=self.original.reverse_charge, note=self.original.tax_note,
                         breakdown=breakdown)  # fmt: skip


def queue_invoice_email(invoice: Invoice, *, resend: bool = False, actor=None) -> None:
    """Email the invoice with its PDF attached (rendered in the worker). Once per invoice unless resent."""
    from core.accounts.services import invoice_recipients
    from core.notifications.services import send_email

    if invoice.status == Invoice.Status.DRAFT:
        raise InvalidTransition("A draft invoice cannot be emailed; issue it first.")
    key = f"invoice_issued:{invoice.uuid}" + (f":resend:{clock.now().isoformat()}" if resend else "")
    kind = "Credit note" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Invoice"
    renewal = invoice.purpose == Invoice.Purpose.RENEWAL
    context = invoice_email_context(invoice)
    context["auto_charge"] = bool(renewal and invoice.subscription_id and invoice.subscription.payment_method_id)
    # The account's own address, then every contact who receives invoices (each its own outbox row).
    for position, address in enumerate(invoice_recipients(invoice.customer)):
        send_email(
            "invoice_issued",
            to=address,
            subject=f"{kind} {invoice.number} from {settings.COMPANY['name']}",
            template="renewal_invoice" if renewal else "invoice_issued",
            context=context,
            dedupe_key=key if position == 0 else f"{key}:to:{address}",
            customer=invoice.customer,
            attachment_builder="core.billing.services.pdf.invoice_attachments",
            attachment_args=(invoice.pk,),
        )
    Invoice.objects.filter(pk=invoice.pk).update(emailed_at=clock.now())
    if resend:
        record("invoice.resend", invoice, actor=actor)


def invoice_email_context(invoice: Invoice) -> dict:
    from core.billing.services.pdf import format_money

    return {
        "number": invoice.number,
        "kind": invoice.get_kind_display(),
        "customer_name": invoice.billing_details.get("name") or invoice.customer.display_name,
        "total": format_money(invoice.total, invoice.currency_id),
        "amount_due": format_money(max(invoice.amount_due, ZERO), invoice.currency_id),
        "due_date": str(invoice.due_date or ""),
        "status": invoice.status,
        "pay_url": portal_pay_url(invoice),
    }


def portal_pay_url(invoice: Invoice) -> str:
    """The portal page where the customer pays (built lazily: the portal may not define it in every setup)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return settings.SITE_URL.rstrip("/") + reverse("portal:invoice_pay", args=[invoice.uuid])
    except NoReverseMatch:
        return settings.SITE_URL.rstrip("/") + f"/portal/invoices/{invoice.uuid}/pay/"
