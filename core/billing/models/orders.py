"""Orders (what a customer asked to buy) and subscriptions (what they keep paying for)."""

import uuid

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core import clock
from core.catalog.models import BillingCycle

from .coupons import Coupon
from .fields import Gateway, money_field


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
    whmcs_id = models.PositiveIntegerField("WHMCS ID", null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Order {self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    # Empty only on items imported from WHMCS that have no price here (addons, biennial cycles);
    # what WHMCS charged is in config["whmcs"]. Our own orders always name a price.
    price = models.ForeignKey("catalog.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField(default=1)
    hostname = models.CharField(max_length=253, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="OS template, SSH key, game variables…")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="order_items"
    )
    # "hosting:<tblhosting.id>" or "addon:<tblhostingaddons.id>" for items imported from WHMCS.
    whmcs_ref = models.CharField("WHMCS reference", max_length=32, null=True, blank=True, unique=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="orderitem_quantity_positive")]

    def __str__(self):
        return f"{self.price or self.config.get('whmcs', {}).get('name', 'WHMCS item')} x{self.quantity}"


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
