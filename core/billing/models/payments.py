"""Gateway customers, saved payment methods, payments/refunds/chargebacks, the credit ledger, webhook events."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from core import clock

from .fields import Gateway, money_field
from .invoices import Invoice


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
    # The gateway's card fingerprint (same card, same value), so a card is never saved twice.
    fingerprint = models.CharField(max_length=64, blank=True)
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
        # Refunds up to settings.STAFF_REFUND_LIMIT need refund_payment; above it, refund_any_amount.
        permissions = [
            ("refund_payment", "Can refund payments up to the staff refund limit"),
            ("refund_any_amount", "Can refund payments of any amount"),
        ]
        # Staff search payments by transaction id or bank reference (prefix match) without naming the gateway.
        indexes = [
            models.Index(fields=["gateway_transaction_id"], name="payment_gateway_txn_idx"),
            models.Index(fields=["reference"], name="payment_reference_idx"),
            # Open disputes (dashboard, admin filter) are rare: found by index, not by reading every payment.
            models.Index(fields=["is_disputed", "received_at"], name="payment_disputed_idx"),
            models.Index(fields=["amount"], name="payment_amount_idx"),  # the admin list's amount range filter
        ]
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
    whmcs_id = models.PositiveIntegerField("WHMCS ID", null=True, blank=True, unique=True)
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
