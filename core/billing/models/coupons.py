"""Coupons, their per-currency amounts and each redemption."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core import clock

from .fields import money_field


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
    # "order:<tblorders.id>" or "hosting:<tblhosting.id>" for redemptions imported from WHMCS.
    whmcs_ref = models.CharField("WHMCS reference", max_length=32, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-redeemed_at"]

    def __str__(self):
        return f"{self.coupon} by {self.customer}"
