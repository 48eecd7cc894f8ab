"""Invoices and their lines; issued invoices are frozen snapshots."""

import hashlib
import json
import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core import clock

from ..errors import ImmutableInvoiceError
from .fields import ZERO, money_field
from .orders import Subscription


def _dec(value, places: int) -> Decimal:
    """The value as stored by a DecimalField with `places` decimals, so in-memory and loaded rows hash alike."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


class Invoice(models.Model):
    """A bill. Drafts change freely; from issue on the row is a frozen snapshot.

    The snapshot (number, billing address, lines, tax, totals) is hashed at issue;
    `manage.py check_invoices` recomputes the hash to prove nothing changed since.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    class Purpose(models.TextChoices):
        NEW_ORDER = "new_order", "New order"
        RENEWAL = "renewal", "Renewal"
        UPGRADE = "upgrade", "Plan change"
        USAGE = "usage", "Usage / overage"
        MANUAL = "manual", "Manual"
        CREDIT_NOTE = "credit_note", "Credit note"
        IMPORTED = "imported", "Imported"

    # Fields that may still change after issue (payment state). Everything else is frozen.
    MUTABLE_AFTER_ISSUE = frozenset(
        {"status", "paid_at", "voided_at", "void_reason", "amount_paid", "credit_applied", "amount_refunded",
         "next_charge_attempt_at", "charge_attempts", "last_charge_error", "pdf", "updated_at", "emailed_at"}
    )  # fmt: skip

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    series = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INVOICE)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.MANUAL, db_index=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    original_invoice = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    # Set only on renewal invoices: with the unique constraint below it makes a second
    # renewal invoice for the same period impossible, whoever tries.
    renewal_period_start = models.DateTimeField(null=True, blank=True)
    issue_date = models.DateField(null=True, blank=True, db_index=True)
    due_date = models.DateField(null=True, blank=True, db_index=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)
    # Snapshot copied at issue.
    billing_details = models.JSONField(default=dict, blank=True)
    seller_details = models.JSONField(default=dict, blank=True)
    subtotal = money_field()
    discount_total = money_field()
    tax_total = money_field()
    total = money_field()
    tax_breakdown = models.JSONField(default=list, blank=True)
    reverse_charge = models.BooleanField(default=False)
    tax_note = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    snapshot_hash = models.CharField(max_length=64, blank=True)
    # Payment state (changes after issue).
    amount_paid = money_field()
    credit_applied = money_field()
    amount_refunded = money_field()
    charge_attempts = models.PositiveSmallIntegerField(default=0)
    next_charge_attempt_at = models.DateTimeField(null=True, blank=True)
    last_charge_error = models.CharField(max_length=255, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to="invoices/%Y/", blank=True)
    whmcs_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["customer", "status"]),
            # The admin list's kind filter (credit notes are rare: without it MariaDB reads every invoice).
            models.Index(fields=["kind", "created_at"], name="invoice_kind_created_idx"),
            # Admin list at scale (backoffice/admin/scale.py): the status filter newest first, the total range filter.
            models.Index(fields=["status", "created_at"], name="invoice_status_created_idx"),
            models.Index(fields=["total"], name="invoice_total_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "renewal_period_start"], name="invoice_one_renewal_per_period"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False), name="invoice_issued_has_number"
            ),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="invoice_amount_paid_non_negative"),
            models.CheckConstraint(condition=Q(credit_applied__gte=0), name="invoice_credit_applied_non_negative"),
            models.CheckConstraint(condition=Q(amount_refunded__gte=0), name="invoice_refunded_non_negative"),
            models.CheckConstraint(
                condition=Q(kind="credit_note") | Q(total__gte=0), name="invoice_total_non_negative"
            ),
        ]

    def __str__(self):
        return self.number or f"Draft {self.pk}"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_frozen(self) -> bool:
        return self.status != self.Status.DRAFT

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid - self.credit_applied

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.ISSUED and self.due_date is not None and self.due_date < clock.today()

    def snapshot(self, lines=None) -> dict:
        """The frozen part of an issued invoice, as hashed at issue.

        `lines` lets the bulk renewal path hash invoices before their lines exist in the database;
        it must be the invoice's lines in (position, id) order.
        """
        if lines is None:
            lines = self.lines.order_by("position", "id")
        lines = [
            [ln.description, str(_dec(ln.quantity, 4)), str(_dec(ln.unit_amount, 4)), str(_dec(ln.amount, 2)),
             str(_dec(ln.tax_rate, 3)), str(_dec(ln.tax_amount, 2)), ln.kind]
            for ln in lines
        ]  # fmt: skip
        return {
            "number": self.number,
            "customer": self.customer_id,
            "currency": self.currency_id,
            "kind": self.kind,
            "issue_date": str(self.issue_date),
            "due_date": str(self.due_date),
            "billing_details": self.billing_details,
            "seller_details": self.seller_details,
            "subtotal": str(_dec(self.subtotal, 2)),
            "discount_total": str(_dec(self.discount_total, 2)),
            "tax_total": str(_dec(self.tax_total, 2)),
            "total": str(_dec(self.total, 2)),
            "tax_breakdown": self.tax_breakdown,
            "reverse_charge": self.reverse_charge,
            "tax_note": self.tax_note,
            "lines": lines,
        }

    def compute_snapshot_hash(self, lines=None) -> str:
        raw = json.dumps(self.snapshot(lines), sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()

    def save(self, *args, **kwargs):
        if self.pk and not kwargs.pop("allow_frozen_change", False):
            self._guard_frozen(kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    @classmethod
    def frozen_attnames(cls) -> list[str]:
        return [
            f.attname for f in cls._meta.concrete_fields if f.name not in cls.MUTABLE_AFTER_ISSUE and not f.primary_key
        ]

    def _guard_frozen(self, update_fields):
        names = self.frozen_attnames()
        stored = type(self).objects.filter(pk=self.pk).values("status", *names).first()
        if stored is None or stored["status"] == self.Status.DRAFT:
            return
        changed = {name for name in names if getattr(self, name) != stored[name]}
        if update_fields is not None:
            wanted = {self._meta.get_field(f).attname for f in update_fields}
            changed &= wanted
        if changed:
            raise ImmutableInvoiceError(
                f"Invoice {self.number} is issued and cannot be changed ({', '.join(sorted(changed))}). "
                "Void it or issue a credit note instead."
            )

    def delete(self, *args, **kwargs):
        if self.status != self.Status.DRAFT:
            raise ImmutableInvoiceError(f"Invoice {self.number} is issued and cannot be deleted. Void it instead.")
        return super().delete(*args, **kwargs)


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        ITEM = "item", "Item"
        SETUP = "setup", "Setup fee"
        DISCOUNT = "discount", "Discount"
        PRORATION = "proration", "Proration"
        OVERAGE = "overage", "Bandwidth overage"
        CREDIT = "credit", "Credit"
        ADJUSTMENT = "adjustment", "Adjustment"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ITEM)
    description = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("1"))
    unit_amount = money_field(decimal_places=4)
    amount = money_field(help_text="quantity x unit amount, quantised to the currency")
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3, default=ZERO)
    tax_amount = money_field()
    tax_name = models.CharField(max_length=64, blank=True)
    product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoice_lines"
    )
    service = models.ForeignKey(
        "provisioning.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="invoice_lines"
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.description

    def _invoice_is_frozen(self) -> bool:
        return Invoice.objects.filter(pk=self.invoice_id).exclude(status=Invoice.Status.DRAFT).exists()

    def save(self, *args, **kwargs):
        if self._invoice_is_frozen():
            raise ImmutableInvoiceError("Lines of an issued invoice cannot be added or changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._invoice_is_frozen():
            raise ImmutableInvoiceError("Lines of an issued invoice cannot be removed.")
        return super().delete(*args, **kwargs)
