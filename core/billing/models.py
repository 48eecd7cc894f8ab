"""Money records: orders, subscriptions, invoices, payments, credit, coupons, tax, numbering.

Invariants kept by the database (not only forms): unique invoice numbers, one renewal
invoice per subscription period, one payment per gateway transaction id, one stored
event per gateway event id, non-negative amounts where a sign makes no sense.
"""

import hashlib
import json
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core import clock
from core.catalog.models import BillingCycle, ServiceType

from .errors import ImmutableInvoiceError

ZERO = Decimal("0")


def _dec(value, places: int) -> Decimal:
    """The value as stored by a DecimalField with `places` decimals, so in-memory and loaded rows hash alike."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def money_field(**kwargs):
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(**kwargs)


class Gateway(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PAYPAL = "paypal", "PayPal"
    MANUAL = "manual", "Bank transfer / manual"
    SANDBOX = "sandbox", "Sandbox"
    CREDIT = "credit", "Account credit"
    WHMCS = "whmcs", "Imported from WHMCS"


# --- Tax ---------------------------------------------------------------------


class TaxRate(models.Model):
    """A tax rate for a country (and optionally a region within it)."""

    name = models.CharField(max_length=64, help_text="Shown on invoices, e.g. 'VAT 19%'")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=100, blank=True, help_text="Empty: the whole country")
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 19.000",
    )
    is_eu_vat = models.BooleanField(default=False, help_text="EU VAT: reverse charge applies to B2B in other EU states")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "region"]
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="taxrate_unique_country_region"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="taxrate_rate_0_100"),
        ]

    def __str__(self):
        where = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.name} ({where})"


# --- Numbering ------------------------------------------------------------------


class NumberSequence(models.Model):
    """A gapless counter per series (and year). Locked with select_for_update when a number is taken."""

    series = models.CharField(max_length=32, help_text="e.g. 'invoice', 'credit_note'")
    year = models.PositiveIntegerField(default=0, help_text="0 when the series does not restart each year")
    last_value = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=64, default="INV-{year}-{seq:06d}")

    class Meta:
        ordering = ["series", "-year"]
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="numbersequence_unique_series_year")]

    def __str__(self):
        return f"{self.series} {self.year or ''} at {self.last_value}".strip()


# --- Coupons -----------------------------------------------------------------------


class Coupon(models.Model):
    class Kind(models.TextChoices):
        PERCENT = "percent", "Percentage"
        FIXED = "fixed", "Fixed amount"
        TRIAL = "trial", "Trial extension"

    class Duration(models.TextChoices):
        ONCE = "once", "First invoice only"
        REPEATING = "repeating", "First N cycles"
        FOREVER = "forever", "Forever"

    code = models.CharField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERCENT)
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    trial_extension_days = models.PositiveIntegerField(default=0)
    applies_to_all_products = models.BooleanField(default=True)
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="coupons")
    duration = models.CharField(max_length=16, choices=Duration.choices, default=Duration.ONCE)
    duration_cycles = models.PositiveSmallIntegerField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited")
    max_per_customer = models.PositiveIntegerField(null=True, blank=True, default=1)
    times_redeemed = models.PositiveIntegerField(default=0)
    valid_from = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(times_redeemed__lte=F("max_redemptions")),
                name="coupon_redemptions_within_limit",
            ),
        ]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.code = self.code.strip().upper()
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.kind == self.Kind.PERCENT and self.percent is None:
            raise ValidationError({"percent": "A percentage coupon needs a percent."})
        if self.duration == self.Duration.REPEATING and not self.duration_cycles:
            raise ValidationError({"duration_cycles": "Say for how many cycles the coupon applies."})
        if self.kind == self.Kind.TRIAL and not self.trial_extension_days:
            raise ValidationError({"trial_extension_days": "A trial coupon needs a number of days."})


class CouponAmount(models.Model):
    """The discount of a fixed-amount coupon in one currency."""

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="amounts")
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT)
    amount = money_field(validators=[MinValueValidator(0)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["coupon", "currency"], name="couponamount_unique_currency"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="couponamount_non_negative"),
        ]

    def __str__(self):
        return f"{self.coupon} {self.currency_id} {self.amount}"


class CouponRedemption(models.Model):
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="coupon_redemptions")
    order = models.ForeignKey("billing.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="coupon_redemptions"
    )
    redeemed_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-redeemed_at"]

    def __str__(self):
        return f"{self.coupon} by {self.customer}"


# --- Orders and subscriptions ------------------------------------------------------


class Order(models.Model):
    """What a customer asked to buy. Paying its first invoice creates subscriptions and services."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"
        REFUSED = "refused", "Refused"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    notes = models.TextField(blank=True)
    refusal_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Order {self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    price = models.ForeignKey("catalog.Price", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField(default=1)
    hostname = models.CharField(max_length=253, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="OS template, SSH key, game variables…")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="order_items"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="orderitem_quantity_positive")]

    def __str__(self):
        return f"{self.price} x{self.quantity}"


class Subscription(models.Model):
    """The system's own schedule of what a customer pays, for which product, how often."""

    class Status(models.TextChoices):
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELLED = "cancelled", "Cancelled"
        ENDED = "ended", "Ended"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="subscriptions")
    price = models.ForeignKey("catalog.Price", on_delete=models.PROTECT, related_name="subscriptions")
    # Denormalised from price for reports and constraints that must not move when a price is edited.
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    cycle = models.CharField(max_length=16, choices=BillingCycle.choices)
    amount = money_field(help_text="Recurring amount before discounts and tax")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField(db_index=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=64, blank=True)
    cancel_comment = models.TextField(blank=True)
    payment_method = models.ForeignKey(
        "billing.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    gateway = models.CharField(max_length=16, choices=Gateway.choices, blank=True)
    gateway_subscription_id = models.CharField(max_length=128, blank=True, db_index=True)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions")
    coupon_cycles_remaining = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: forever")
    whmcs_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "current_period_end"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="subscription_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")), name="subscription_period_positive"
            ),
        ]

    def __str__(self):
        return f"Subscription {self.pk} · {self.price.product}"


# --- Invoices ------------------------------------------------------------------------


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
        indexes = [models.Index(fields=["status", "due_date"]), models.Index(fields=["customer", "status"])]
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


# --- Payments and credit ----------------------------------------------------------------


class GatewayCustomer(models.Model):
    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE, related_name="gateway_customers")
    gateway = models.CharField(max_length=16, choices=Gateway.choices)
    gateway_customer_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "gateway"], name="gatewaycustomer_one_per_gateway"),
            models.UniqueConstraint(fields=["gateway", "gateway_customer_id"], name="gatewaycustomer_unique_id"),
        ]

    def __str__(self):
        return f"{self.gateway}:{self.gateway_customer_id}"


class PaymentMethod(models.Model):
    """A saved way to pay (card, PayPal billing agreement, sandbox card). Only gateway references are kept."""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE, related_name="payment_methods")
    gateway = models.CharField(max_length=16, choices=Gateway.choices)
    gateway_method_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=16, default="card")
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "gateway_method_id"], name="paymentmethod_unique_gateway_id"),
        ]

    def __str__(self):
        if self.last4:
            return f"{self.brand or self.kind} •••• {self.last4}"
        return self.label or f"{self.get_gateway_display()} {self.kind}"


class Payment(models.Model):
    """Money that moved: a payment in, a refund out, or a chargeback. Amounts are positive; kind gives the sign."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REQUIRES_ACTION = "requires_action", "Requires action"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAYMENT, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUCCEEDED, db_index=True)
    gateway = models.CharField(max_length=16, choices=Gateway.choices)
    # NULL (not "") when unknown, so the unique constraint ignores it.
    gateway_transaction_id = models.CharField(max_length=128, null=True, blank=True)
    amount = money_field(validators=[MinValueValidator(0)])
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    fee = money_field(validators=[MinValueValidator(0)])
    payment_method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    original_payment = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    reference = models.CharField(max_length=128, blank=True, help_text="Bank reference, cheque number…")
    failure_code = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    is_disputed = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=clock.now, db_index=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raw = models.JSONField(default=dict, blank=True)
    whmcs_id = models.PositiveIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "gateway_transaction_id"], name="payment_unique_gateway_transaction"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_non_negative"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="payment_fee_non_negative"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.currency_id} {self.amount}"

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.kind == self.Kind.PAYMENT else -self.amount


class CreditEntry(models.Model):
    """One movement on a customer's credit ledger (in their billing currency). Balance = sum of amounts."""

    class Reason(models.TextChoices):
        OVERPAYMENT = "overpayment", "Overpayment"
        APPLIED = "applied", "Applied to invoice"
        DOWNGRADE = "downgrade", "Downgrade proration"
        REFUND = "refund", "Refund to credit"
        CANCELLATION = "cancellation", "Cancellation credit"
        MANUAL = "manual", "Manual adjustment"
        PROVISIONING_FAILED = "provisioning_failed", "Provisioning failed"
        IMPORTED = "imported", "Imported"

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="credit_entries")
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    amount = money_field(help_text="Positive adds credit, negative uses it")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    description = models.CharField(max_length=255, blank=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "credit entries"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="creditentry_amount_not_zero")]

    def __str__(self):
        return f"{self.currency_id} {self.amount} ({self.get_reason_display()})"


# --- Webhooks --------------------------------------------------------------------------


class WebhookEvent(models.Model):
    """A verified gateway event, stored once by (gateway, event id) and processed once."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    gateway = models.CharField(max_length=16, choices=Gateway.choices)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=clock.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="webhookevent_unique_gateway_id")]

    def __str__(self):
        return f"{self.gateway} {self.event_type} {self.event_id}"


# --- Suspension policy --------------------------------------------------------------------


class SuspensionPolicy(models.Model):
    """Days after an invoice's due date before its services are suspended, then terminated, per service type."""

    service_type = models.CharField(max_length=16, choices=ServiceType.choices, unique=True)
    suspend_after_days = models.PositiveSmallIntegerField(default=5)
    terminate_after_days = models.PositiveSmallIntegerField(default=30)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "suspension policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(terminate_after_days__gt=F("suspend_after_days")),
                name="suspensionpolicy_terminate_after_suspend",
            )
        ]

    def __str__(self):
        return f"{self.get_service_type_display()}: suspend +{self.suspend_after_days}d, terminate +{self.terminate_after_days}d"


class PendingPolicyAction(models.Model):
    """A suspension or termination the billing run held back for staff approval (blast-radius guard)."""

    class Action(models.TextChoices):
        SUSPEND = "suspend", "Suspend"
        TERMINATE = "terminate", "Terminate"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved", "Approved and executed"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Approved, execution failed"

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="pending_policy_actions")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=255)
    run_date = models.DateField(help_text="The billing run that held this action back")
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["service", "action", "status"])]

    def __str__(self):
        return f"{self.get_action_display()} service {self.service_id} ({self.get_status_display()})"
