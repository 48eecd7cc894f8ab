"""The life of an invoice: draft -> issued -> paid, issued -> void; credit notes.

Issuing freezes the invoice: it takes the next number of its series (row-locked sequence),
copies the customer's billing details, the seller's details, the lines with their tax and the
totals onto the row, and stores the snapshot hash that `check_invoices` verifies later.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, router, transaction

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
        invoice = Invoice.objects.select_for_update().select_related("customer__user").get(pk=invoice.pk)
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
        original = Invoice.objects.select_for_update().select_related("customer__user").get(pk=invoice.pk)
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
    from core.notifications.services import send_email

    if invoice.status == Invoice.Status.DRAFT:
        raise InvalidTransition("A draft invoice cannot be emailed; issue it first.")
    key = f"invoice_issued:{invoice.uuid}" + (f":resend:{clock.now().isoformat()}" if resend else "")
    kind = "Credit note" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Invoice"
    renewal = invoice.purpose == Invoice.Purpose.RENEWAL
    context = invoice_email_context(invoice)
    context["auto_charge"] = bool(renewal and invoice.subscription_id and invoice.subscription.payment_method_id)
    send_email(
        "invoice_issued",
        to=invoice.customer.email,
        subject=f"{kind} {invoice.number} from {settings.COMPANY['name']}",
        template="renewal_invoice" if renewal else "invoice_issued",
        context=context,
        dedupe_key=key,
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


# --- Bulk issue (the billing run) ----------------------------------------------------------------
#
# The billing run issues up to 100,000 renewal invoices at once. Building Invoice and
# HistoricalInvoice model instances and letting bulk_create prepare ~45 values per row cost more
# than everything else in the run together, so rows are built as tuples here and every value
# still goes through its model field's own get_db_prep_save (only plain strings, numbers and
# Decimals pass as they are). The snapshot hash comes from Invoice.snapshot itself.


@dataclass(frozen=True)
class FrozenLine:
    """A priced line of an invoice issued in bulk: what its InvoiceLine row stores.

    Its subscription is the invoice's (bulk issue serves renewals, whose lines all belong to it).
    """

    position: int
    kind: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    tax_name: str
    product_id: int | None
    service_id: int | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None


def freeze_lines(lines: list[InvoiceLine]) -> tuple[FrozenLine, ...]:
    """Lines already priced by `price_lines`, as FrozenLine (shared safely by many invoices)."""
    return tuple(
        FrozenLine(
            position=ln.position,
            kind=ln.kind,
            description=ln.description,
            quantity=ln.quantity,
            unit_amount=ln.unit_amount,
            amount=ln.amount,
            tax_rate=ln.tax_rate,
            tax_amount=ln.tax_amount,
            tax_name=ln.tax_name,
            product_id=ln.product_id,
            service_id=ln.service_id,
            period_start=ln.period_start,
            period_end=ln.period_end,
        )  # fmt: skip
        for ln in lines
    )


@dataclass
class BulkInvoice:
    """One invoice for `issue_invoices_in_bulk`: who, what for, and its priced lines with their totals."""

    customer_id: int
    currency_id: str
    billing_details: dict  # Customer.billing_address(), as copied onto the invoice
    due_date: dt.date
    totals: Totals
    lines: tuple[FrozenLine, ...]
    subscription_id: int | None = None
    renewal_period_start: dt.datetime | None = None


class _Snapshot:
    """Duck-typed invoice for Invoice.snapshot: the hash is computed by the model's own code."""

    snapshot = Invoice.snapshot
    compute_snapshot_hash = Invoice.compute_snapshot_hash

    def __init__(self, **values):
        self.__dict__.update(values)


_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.DecimalField)


class _RowWriter:
    """INSERTs many rows of one model, a few hundred per statement.

    `columns` vary per row and are prepared by their model fields; `constants` are the same for
    every row; every other concrete field gets its default, as Model() would give it.
    Constants that are NULL, a number or the empty string are written into the statement instead
    of being sent per row. On MySQL/MariaDB, mysqlclient interpolates parameters on the client with
    one Python call per value (Connection.literal, ~1.7 us); `_insert_mysql` applies that same
    quoting once per distinct value of a column instead (a batch repeats most of its values).
    """

    ROWS_PER_STATEMENT = 500

    def __init__(self, model, columns: list[str], constants: dict):
        self.connection = connections[router.db_for_write(model)]
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.columns = list(columns)
        self.preparers = [self._preparer(fields[name]) for name in columns]
        rest = {
            name: (constants[name] if name in constants else field.get_default())
            for name, field in fields.items()
            if name not in columns and not (field.primary_key and isinstance(field, models.AutoField))
        }
        placeholders = ["%s"] * len(columns)
        self.constant_params = []
        for name, value in rest.items():
            prepare = self._preparer(fields[name])
            value = value if prepare is None else prepare(value)
            if value is None:
                placeholders.append("NULL")
            elif value == "" and isinstance(value, str):
                placeholders.append("''")
            elif isinstance(value, int | Decimal) and not isinstance(value, bool):
                placeholders.append(str(value))
            else:
                placeholders.append("%s")
                self.constant_params.append(value)
        self.constant_params = tuple(self.constant_params)
        self.constant_placeholders = placeholders[len(columns) :]
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(fields[n].column) for n in [*columns, *rest])
        # Table and column names come from the model's _meta; values are parameters or the literals above.
        self.head = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES "  # noqa: S608
        self.row_sql = "(" + ", ".join(placeholders) + ")"

    def _preparer(self, field):
        if isinstance(field, _AS_IS) or (field.is_relation and isinstance(field.target_field, models.IntegerField)):
            return None
        memo: dict = {}
        if isinstance(field, models.DateTimeField):  # a batch has few distinct datetimes

            def prepare_datetime(value):
                found = memo.get(value)
                if found is None and value is not None:
                    if len(memo) > 10_000:
                        memo.clear()
                    found = memo[value] = field.get_db_prep_save(value, self.connection)
                return found

            return prepare_datetime
        if isinstance(field, models.JSONField):  # rows of one customer or one tax treatment share the object

            def prepare_json(value):
                found = memo.get(id(value))
                if found is None or found[0] is not value:
                    found = memo[id(value)] = (value, field.get_db_prep_save(value, self.connection))
                return found[1]

            return prepare_json
        return lambda value: field.get_db_prep_save(value, self.connection)

    def prepare(self, values: tuple) -> tuple:
        """The row's varying values as the database takes them."""
        return tuple(v if p is None else p(v) for p, v in zip(self.preparers, values, strict=True))

    def insert(self, rows: list[tuple]) -> None:
        """Insert rows prepared by `prepare`."""
        if not rows:
            return
        if self.connection.vendor == "mysql":
            self._insert_mysql(rows)
            return
        tail = self.constant_params
        per_row = (len(rows[0]) if rows else 1) + len(tail)
        # SQLite caps the parameters of one statement; MySQL/MariaDB only the packet size.
        size = max(1, min(self.ROWS_PER_STATEMENT, self.connection.ops.bulk_batch_size([None] * per_row, rows)))
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                params = [v for row in chunk for v in (row + tail)] if tail else [v for row in chunk for v in row]
                cursor.execute(self.head + ", ".join([self.row_sql] * len(chunk)), params)

    def _insert_mysql(self, rows: list[tuple]) -> None:
        self.connection.ensure_connection()
        literal = self.connection.connection.literal  # the driver's own quoting, as for parameters
        params = iter(self.constant_params)
        tail = b"".join(b"," + (literal(next(params)) if p == "%s" else p.encode()) for p in self.constant_placeholders)
        memos: list[dict] = [{} for _ in self.columns]

        def render(row: tuple) -> bytes:
            out = []
            for memo, value in zip(memos, row, strict=True):
                if value is None:
                    out.append(b"NULL")
                elif value.__class__ is int:
                    out.append(b"%d" % value)
                else:
                    quoted = memo.get(value)
                    if quoted is None:
                        quoted = memo[value] = literal(value)
                    out.append(quoted)
            return b"(" + b",".join(out) + tail + b")"

        head = self.head.encode()
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), self.ROWS_PER_STATEMENT):
                # No parameters: mysqlclient then sends the statement as it is (no %-interpolation).
                cursor.execute(head + b",".join(render(row) for row in rows[start : start + self.ROWS_PER_STATEMENT]))


_INVOICE_COLUMNS = [
    "uuid", "customer_id", "currency_id", "number", "subscription_id", "renewal_period_start", "due_date",
    "billing_details", "subtotal", "discount_total", "tax_total", "total", "tax_breakdown", "reverse_charge",
    "tax_note", "snapshot_hash",
]  # fmt: skip
_LINE_COLUMNS = [
    "invoice_id", "subscription_id", "position", "kind", "description", "quantity", "unit_amount", "amount",
    "tax_rate", "tax_amount", "tax_name", "product_id", "service_id", "period_start", "period_end",
]  # fmt: skip


def issue_invoices_in_bulk(
    items: list[BulkInvoice],
    *,
    numbers: list[str],
    series: str,
    issue_date: dt.date,
    purpose: str,
    change_reason: str,
    actor=None,
) -> list[int]:
    """Insert issued invoices with their lines and their first history row; returns their ids in order.

    Same snapshot as `issue_invoice` (freeze_invoice's fields, Invoice.snapshot's hash), without
    one model instance per row. The caller owns the transaction and took `numbers` from the
    series in it (numbering.take_numbers), so the series stays gapless; nothing here applies credit,
    sends email or audits: the caller does what its invoices need.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("issue_invoices_in_bulk must run inside the transaction that took the numbers")
    if not items:
        return []
    now = clock.now()
    seller = seller_details()
    constants = {
        "series": series, "kind": Invoice.Kind.INVOICE, "purpose": purpose, "status": Invoice.Status.ISSUED,
        "issue_date": issue_date, "issued_at": now, "seller_details": seller, "created_at": now, "updated_at": now,
    }  # fmt: skip
    invoice_writer = _RowWriter(Invoice, _INVOICE_COLUMNS, constants)
    issue_day = str(issue_date)
    rows = []
    for item, number in zip(items, numbers, strict=True):
        t = item.totals
        digest = _Snapshot(
            number=number, customer_id=item.customer_id, currency_id=item.currency_id, kind=Invoice.Kind.INVOICE,
            issue_date=issue_day, due_date=item.due_date, billing_details=item.billing_details,
            seller_details=seller, subtotal=t.subtotal, discount_total=t.discount_total, tax_total=t.tax_total,
            total=t.total, tax_breakdown=t.tax_breakdown, reverse_charge=t.reverse_charge, tax_note=t.tax_note,
        ).compute_snapshot_hash(item.lines)  # fmt: skip
        rows.append(invoice_writer.prepare((
            uuid.uuid4(), item.customer_id, item.currency_id, number, item.subscription_id,
            item.renewal_period_start, item.due_date, item.billing_details, t.subtotal, t.discount_total,
            t.tax_total, t.total, t.tax_breakdown, t.reverse_charge, t.tax_note, digest,
        )))  # fmt: skip
    invoice_writer.insert(rows)
    # MySQL/MariaDB return no ids from a multi-row INSERT; the numbers are unique, so one query maps them.
    ids = dict(Invoice.objects.filter(number__in=numbers).values_list("number", "pk"))
    pks = [ids[n] for n in numbers]

    line_writer = _RowWriter(InvoiceLine, _LINE_COLUMNS, {})
    line_rows = [
        line_writer.prepare(
            (
                pk,
                item.subscription_id,
                ln.position,
                ln.kind,
                ln.description,
                ln.quantity,
                ln.unit_amount,
                ln.amount,
                ln.tax_rate,
                ln.tax_amount,
                ln.tax_name,
                ln.product_id,
                ln.service_id,
                ln.period_start,
                ln.period_end,
            )
        )  # fmt: skip
        for item, pk in zip(items, pks, strict=True)
        for ln in item.lines
    ]
    line_writer.insert(line_rows)
    if getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        _insert_history(pks, now=now, change_reason=change_reason, actor=actor)
    return pks


def _insert_history(pks: list[int], *, now: dt.datetime, change_reason: str, actor) -> None:
    """The '+' history rows simple_history's bulk_history_create would write, copied by the database
    from the invoice rows just inserted (INSERT ... SELECT: no value travels twice)."""
    history = Invoice.history.model
    connection = connections[router.db_for_write(history)]
    quote = connection.ops.quote_name
    own = {"history_id", "history_date", "history_change_reason", "history_type", "history_user_id"}
    tracked = [f for f in history._meta.concrete_fields if f.attname not in own]
    source = {f.attname: f for f in Invoice._meta.concrete_fields}
    extra = {
        "history_date": now, "history_change_reason": change_reason, "history_type": "+",
        "history_user_id": getattr(actor, "pk", actor),
    }  # fmt: skip
    fields = {f.attname: f for f in history._meta.concrete_fields}
    params = [fields[name].get_db_prep_save(value, connection) for name, value in extra.items()]
    columns = ", ".join(quote(f.column) for f in [*tracked, *(fields[n] for n in extra)])
    selected = ", ".join([*(quote(source[f.attname].column) for f in tracked), *["%s"] * len(extra)])
    head = f"INSERT INTO {quote(history._meta.db_table)} ({columns}) SELECT {selected} FROM {quote(Invoice._meta.db_table)}"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(pks), 1000):
            chunk = pks[start : start + 1000]
            where = f" WHERE {quote(source['id'].column)} IN ({', '.join(['%s'] * len(chunk))})"
            cursor.execute(head + where, [*params, *chunk])
